use rpc::rpc;

#[rpc]
trait Service {
    async fn bump(&mut self) -> i64;
}

fn main() {}
