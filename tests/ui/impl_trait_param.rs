use rpc::rpc;

#[rpc]
trait Service {
    async fn show(&self, value: impl std::fmt::Display) -> String;
}

fn main() {}
