use rpc::rpc;

#[derive(Debug)]
struct MathError;

#[rpc]
trait Service {
    async fn divide(&self, a: f64, b: f64) -> Result<f64, MathError>;
}

fn main() {}
