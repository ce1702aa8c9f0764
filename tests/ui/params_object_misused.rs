// `params_object` takes the whole params object as the one parameter.
use rpc::rpc;

#[rpc]
trait Editor {
    #[rpc(params_object)]
    async fn open(&self, uri: String, version: i64) -> bool;

    #[rpc(params_object, named_params)]
    async fn close(&self, uri: String) -> bool;
}

fn main() {}
