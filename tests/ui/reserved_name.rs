use rpc::rpc;

#[rpc]
trait Service {
    #[rpc(name = "rpc.discover")]
    async fn discover(&self) -> String;
}

fn main() {}
