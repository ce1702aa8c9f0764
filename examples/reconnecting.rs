//! A client that survives its server: it follows the calculator's ticks
//! over WebSocket or TCP, and goes on when the calculator is killed and
//! started again (or fails over to the next URL given).
//!
//! ```sh
//! cargo run --example calculator -- serve --http 127.0.0.1:3000 --tcp 127.0.0.1:4000 &
//! cargo run --example reconnecting -- ws://127.0.0.1:3000/ tcp://127.0.0.1:4000
//! # kill the calculator, start it again: the ticks go on after a gap
//! ```

use futures_util::StreamExt;
use rpc::reconnect::{Endpoint, Reconnect};
use rpc::tcp::StreamOptions;
use rpc::{rpc, MethodTable, Subscription};

/// The calculator's methods this client calls.
#[rpc]
trait Ticker {
    /// Adds two integers.
    #[rpc(idempotent)]
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Ticks `0, 1, ...` every `interval_ms`.
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn subscribe_ticks(&self, interval_ms: u64, count: Option<u64>) -> Subscription<u64>;
}

/// An endpoint for a `ws://`, `wss://` or `tcp://` URL.
fn endpoint(url: &str) -> Result<Endpoint, String> {
    match url.split_once("://") {
        Some(("ws" | "wss", _)) => Ok(rpc::ws::endpoint(url, MethodTable::new())),
        Some(("tcp", addr)) => Ok(rpc::tcp::endpoint(
            addr.trim_end_matches('/'),
            StreamOptions::default(),
            MethodTable::new(),
        )),
        _ => Err(format!("{url}: expected ws://, wss:// or tcp://")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    let Some((first, others)) = urls.split_first() else {
        return Err("usage: reconnecting URL [URL...] (ws://, wss:// or tcp://)".into());
    };
    let mut reconnect = Reconnect::new(endpoint(first)?);
    for url in others {
        reconnect = reconnect.with_endpoint(endpoint(url)?);
    }
    let connection = reconnect.connect().await?;
    let client = rpc::Client::new(connection.clone());

    // Print every change of the connection's state.
    let mut states = connection.watch_state();
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = states.borrow_and_update().clone();
            eprintln!("[{state}]");
        }
    });

    let mut ticks = client.subscribe_ticks(500, None).await?;
    let mut gaps = 0;
    while let Some(tick) = ticks.next().await {
        let i = tick?;
        if ticks.gaps() != gaps {
            // Ticks cannot resume: made again, they start over.
            gaps = ticks.gaps();
            eprintln!("[subscription made again: ticks were missed]");
        }
        println!("tick {i}; 2 + {i} = {}", client.add(2, i as i64).await?);
    }
    Ok(())
}
