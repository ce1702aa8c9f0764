use rpc::{rpc, Context};

#[rpc]
trait Service {
    async fn whoami(&self, ctx: &Context) -> String;
}

fn main() {}
