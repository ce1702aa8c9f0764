use rpc::{rpc, Subscription};

#[rpc]
trait Feed {
    // The method that ends one is missing.
    #[rpc(subscription = "ticks")]
    async fn subscribe_ticks(&self) -> Subscription<u64>;

    // A stream without saying which notification carries it.
    async fn subscribe_news(&self) -> Subscription<String>;

    // A subscription must return one.
    #[rpc(subscription = "sums", unsubscribe = "unsubscribe_sums")]
    async fn subscribe_sums(&self) -> u64;
}

fn main() {}
