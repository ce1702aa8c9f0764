// A typed batch of 25 calls: one past the cap, with a message naming the
// way out (two batches, or `batch_of`).
use rpc::rpc;

#[rpc]
trait Counter {
    async fn add(&self, a: i64, b: i64) -> i64;
}

async fn too_long(client: rpc::Client) {
    let b = client.batch();
    let b = b.add(0, 1).add(1, 1).add(2, 1).add(3, 1).add(4, 1);
    let b = b.add(5, 1).add(6, 1).add(7, 1).add(8, 1).add(9, 1);
    let b = b.add(10, 1).add(11, 1).add(12, 1).add(13, 1).add(14, 1);
    let b = b.add(15, 1).add(16, 1).add(17, 1).add(18, 1).add(19, 1);
    let b = b.add(20, 1).add(21, 1).add(22, 1).add(23, 1);
    let _ = b.add(24, 1).send().await;
}

fn main() {
    let _ = too_long;
}
