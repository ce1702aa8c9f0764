use rpc::rpc;

#[rpc(namespace = "ma th")]
trait Service {
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
