use rpc::rpc;

// Described, but neither Serialize nor Deserialize.
#[derive(schemars::JsonSchema)]
struct Point {
    x: i64,
    y: i64,
}

#[rpc]
trait Service {
    async fn origin(&self) -> Point;
}

fn main() {}
