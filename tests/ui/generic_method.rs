use rpc::rpc;

#[rpc]
trait Service {
    async fn echo<T>(&self, value: T) -> T;
}

fn main() {}
