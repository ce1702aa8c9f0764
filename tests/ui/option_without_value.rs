use rpc::rpc;

#[rpc]
trait Service {
    #[rpc(name)]
    async fn add(&self, a: i64, b: i64) -> i64;

    #[rpc(notification = true)]
    async fn log(&self, line: String);
}

fn main() {}
