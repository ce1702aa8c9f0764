use rpc::rpc;

#[rpc]
trait Service {
    async fn add(&self, a: i64, b: i64) -> i64;

    // The one mistake: not async.
    fn broken(&self) -> i64;
}

struct Impl;

impl Service for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    fn broken(&self) -> i64 {
        0
    }
}

// Code that uses the service compiles against what was generated: no
// "no method named `into_rpc`" or "no method named `add`" follows.
async fn use_it() -> Result<i64, rpc::Error> {
    let table = Impl.into_rpc();
    let client = rpc::Client::new(rpc::InProcess::new(table));
    client.add(1, 2).await
}

fn main() {
    let _ = use_it;
}
