use rpc::rpc;

#[rpc]
trait Service {
    #[rpc(notification)]
    async fn log(&self, line: String) -> bool;
}

fn main() {}
