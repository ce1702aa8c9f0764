//! Calls the calculator's `add` from a crate that compiles no server:
//! `rpc` with `default-features = false, features = ["client", "http",
//! "ws", "tcp"]`. CI checks that its dependency tree has no axum.
//!
//! ```sh
//! cargo run --example calculator -- serve --http 127.0.0.1:3000 --tcp 127.0.0.1:4000 &
//! cargo run -p client-only -- http://127.0.0.1:3000/ 2 3
//! cargo run -p client-only -- ws://127.0.0.1:3000/ 2 3
//! cargo run -p client-only -- tcp://127.0.0.1:4000 2 3
//! ```

use std::process::ExitCode;

use rpc::rpc;

/// The part of the calculator this program calls. The trait could come from
/// a shared crate; declaring it here costs nothing on the server side.
#[rpc]
pub trait Calculator {
    /// Adds two integers.
    async fn add(&self, a: i64, b: i64) -> i64;
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, a, b] = args.as_slice() else {
        eprintln!("usage: client-only URL A B  (URL: http://, ws:// or tcp://HOST:PORT)");
        return ExitCode::from(2);
    };
    let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) else {
        eprintln!("A and B must be integers");
        return ExitCode::from(2);
    };
    match add(url, a, b).await {
        Ok(sum) => {
            println!("{sum}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn add(url: &str, a: i64, b: i64) -> Result<i64, rpc::Error> {
    let client = if let Some(address) = url.strip_prefix("tcp://") {
        let options = rpc::tcp::StreamOptions::default();
        let connection = rpc::tcp::connect(address, &options, rpc::MethodTable::new()).await?;
        rpc::Client::new(connection)
    } else if url.starts_with("ws://") || url.starts_with("wss://") {
        rpc::Client::new(rpc::ws::connect(url, rpc::MethodTable::new()).await?)
    } else {
        rpc::Client::new(rpc::http::HttpClient::new(url)?)
    };
    client.add(a, b).await
}
