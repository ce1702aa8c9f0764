use rpc::rpc;

#[rpc]
trait Service {
    fn ping(&self) -> i64;
}

fn main() {}
