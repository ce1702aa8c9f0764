use rpc::rpc;

#[rpc]
trait Service {
    async fn ping(a: i64) -> i64;
}

fn main() {}
