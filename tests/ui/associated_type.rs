use rpc::rpc;

#[rpc]
trait Service {
    type Item;

    async fn ping(&self) -> i64;
}

fn main() {}
