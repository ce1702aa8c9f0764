use rpc::rpc;

type Result<T> = std::result::Result<T, String>;

#[rpc]
trait Service {
    async fn read(&self, path: String) -> Result<String>;
}

fn main() {}
