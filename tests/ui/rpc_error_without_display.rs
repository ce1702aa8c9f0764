// `#[derive(RpcError)]` takes messages from `Display`, which this enum lacks.
#[derive(Debug, rpc::RpcError)]
enum MathError {
    #[rpc(code = -32000)]
    DivisionByZero,
}

fn main() {}
