use std::pin::Pin;

use futures_util::stream::{BoxStream, Stream};
use rpc::rpc;

// A stream is not a value to serialize: each return type below is one error,
// at the type, pointing to `Subscription<T>`.
#[rpc]
trait Feed {
    async fn boxed(&self) -> BoxStream<'static, u64>;

    async fn pinned(&self) -> Pin<Box<dyn Stream<Item = u64> + Send>>;

    async fn opaque(&self) -> impl Stream<Item = u64>;

    async fn fallible(&self) -> Result<BoxStream<'static, u64>, rpc::ErrorObject>;

    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn declared(&self) -> futures_util::stream::BoxStream<'static, u64>;
}

fn main() {}
