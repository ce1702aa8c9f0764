use rpc::rpc;

#[rpc]
trait Service {
    #[rpc(name = "plus", name = "sum")]
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
