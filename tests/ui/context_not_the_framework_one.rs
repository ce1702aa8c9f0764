use rpc::rpc;

mod app {
    #[derive(serde::Deserialize)]
    pub struct Context {
        pub tenant: String,
    }
}

use app::Context;

#[rpc]
trait Service {
    // A bare `Context` is taken as the request context: this one is not it.
    async fn whoami(&self, ctx: Context) -> String;
}

fn main() {}
