use rpc::rpc;

#[rpc]
trait Service {
    async fn new(&self, name: String) -> u64;

    async fn send(&self, to: String, text: String);
}

fn main() {}
