use rpc::rpc;

#[rpc]
trait Service {
    const LIMIT: usize;

    async fn ping(&self) -> i64;
}

fn main() {}
