use rpc::rpc;

// Type parameters are served with each implementation's concrete types;
// lifetimes and const parameters have no meaning on the wire.
#[rpc]
trait Borrowing<'a> {
    async fn get(&self) -> i64;
}

#[rpc]
trait Sized<const N: usize> {
    async fn get(&self) -> i64;
}

fn main() {}
