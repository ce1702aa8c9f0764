use rpc::rpc;

#[rpc(prefix = "math")]
trait Service {
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
