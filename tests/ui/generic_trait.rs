use rpc::rpc;

#[rpc]
trait Service<T> {
    async fn get(&self) -> i64;
}

fn main() {}
