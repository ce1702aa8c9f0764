use rpc::rpc;

#[rpc]
trait Service {
    async fn greet(&self, name: &str) -> String;
}

fn main() {}
