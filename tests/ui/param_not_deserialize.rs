use rpc::rpc;

// Serialize only: the client can send it, the server cannot read it.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Point {
    x: i64,
    y: i64,
}

#[rpc]
trait Service {
    async fn norm(&self, point: Point) -> i64;

    async fn scale(&self, factor: i64, origin: Option<Point>) -> i64;
}

fn main() {}
