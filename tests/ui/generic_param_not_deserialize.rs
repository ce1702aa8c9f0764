use rpc::rpc;

// A type parameter travels like any type: its bounds say it can.
#[rpc]
trait Store<T: Send + Sync + 'static> {
    async fn put(&self, item: T) -> u64;
}

fn main() {}
