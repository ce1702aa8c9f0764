use rpc::{rpc, Subscription};

#[rpc]
trait Service {
    /// Nothing comes back to retry on.
    #[rpc(notification, idempotent)]
    async fn log(&self, line: String);

    /// A reconnecting client makes subscriptions again anyway.
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks", idempotent)]
    async fn subscribe_ticks(&self) -> Subscription<u64>;

    /// Takes no value.
    #[rpc(idempotent = true)]
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
