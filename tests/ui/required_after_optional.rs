use rpc::rpc;

#[rpc]
trait Service {
    async fn greet(&self, title: Option<String>, name: String) -> String;
}

fn main() {}
