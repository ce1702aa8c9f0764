use rpc::rpc;

#[rpc]
trait Service {
    async fn ping(self) -> i64;
}

fn main() {}
