use rpc::rpc;

#[rpc]
trait Service {
    #[rpc(rename = "plus")]
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
