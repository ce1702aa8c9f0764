use rpc::rpc;

#[rpc]
trait Service {
    async fn add(&self, a: i64, b: i64) -> i64;

    #[rpc(aliases = ["minus", "add"])]
    async fn subtract(&self, a: i64, b: i64) -> i64;
}

fn main() {}
