use std::cell::Cell;

use rpc::rpc;

#[rpc]
trait Counter {
    async fn next(&self) -> u64;
}

// Calls run concurrently on a shared service, so it must be `Sync`.
struct Plain {
    count: Cell<u64>,
}

impl Counter for Plain {
    async fn next(&self) -> u64 {
        self.count.replace(self.count.get() + 1)
    }
}

fn main() {}
