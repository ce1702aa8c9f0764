use rpc::rpc;

#[rpc]
trait Service {
    async fn add(&self, (a, b): (i64, i64)) -> i64;
}

fn main() {}
