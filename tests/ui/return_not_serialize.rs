use rpc::rpc;

struct Point {
    x: i64,
    y: i64,
}

#[rpc]
trait Service {
    async fn origin(&self) -> Point;
}

fn main() {}
