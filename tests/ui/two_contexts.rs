use rpc::{rpc, Context};

#[rpc]
trait Service {
    async fn whoami(&self, ctx: Context, again: Context) -> String;
}

fn main() {}
