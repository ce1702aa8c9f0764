// A `Result` alias is followed to its error type (here `String`, which is
// no error type): the message is about the error type, at the alias.
use rpc::rpc;

type Result<T> = std::result::Result<T, String>;

#[rpc]
trait Service {
    async fn read(&self, path: String) -> Result<String>;
}

fn main() {}
