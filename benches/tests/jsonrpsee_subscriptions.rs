//! jsonrpsee's own WebSocket client subscribes to our server: the wire
//! format of subscriptions is jsonrpsee's (and Ethereum's).

use std::time::Duration;

use futures_util::StreamExt;
use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc::{rpc, Subscription};

#[rpc]
trait Ticks {
    /// `count` ticks (for ever without), one every 10 ms.
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn subscribe_ticks(&self, count: Option<u64>) -> Subscription<u64>;

    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Service;

impl Ticks for Service {
    async fn subscribe_ticks(&self, count: Option<u64>) -> Subscription<u64> {
        let ticks = futures_util::stream::unfold(0u64, |i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Some((i, i + 1))
        });
        Subscription::new(ticks.take(count.map_or(usize::MAX, |c| c as usize)))
    }

    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

#[tokio::test]
async fn jsonrpsees_client_subscribes_receives_and_unsubscribes() {
    let server = rpc::http::Server::new(Service.into_rpc())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    let client = WsClientBuilder::default()
        .build(format!("ws://{addr}/"))
        .await
        .unwrap();
    let sum: i64 = client.request("add", rpc_params![20, 22]).await.unwrap();
    assert_eq!(sum, 42);
    // An endless subscription: items in order, then jsonrpsee unsubscribes.
    let mut ticks = client
        .subscribe::<u64, _>("subscribe_ticks", rpc_params![], "unsubscribe_ticks")
        .await
        .unwrap();
    assert_eq!(first_three(&mut ticks).await, [0, 1, 2]);
    ticks.unsubscribe().await.unwrap();
    // A finite one: its items, then the end closes jsonrpsee's stream.
    let finite = client
        .subscribe::<u64, _>("subscribe_ticks", rpc_params![2], "unsubscribe_ticks")
        .await
        .unwrap();
    let items: Vec<u64> = tokio::time::timeout(
        Duration::from_secs(5),
        finite
            .take_while(|i| std::future::ready(i.is_ok()))
            .map(|i| i.unwrap())
            .collect(),
    )
    .await
    .unwrap();
    assert_eq!(items, [0, 1]);
    // The connection is still good.
    let sum: i64 = client.request("add", rpc_params![1, 1]).await.unwrap();
    assert_eq!(sum, 2);
}

#[tokio::test]
async fn our_client_subscribes_to_a_jsonrpsee_server() {
    use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
    let mut module = RpcModule::new(());
    module
        .register_subscription(
            "subscribe_count",
            "count",
            "unsubscribe_count",
            |params, pending: PendingSubscriptionSink, _, _| async move {
                let n: u64 = params.one().unwrap_or(3);
                let sink = pending.accept().await?;
                for i in 0..n {
                    let message = SubscriptionMessage::from(serde_json::value::to_raw_value(&i)?);
                    sink.send(message).await?;
                }
                Ok(())
            },
        )
        .unwrap();
    let server = jsonrpsee::server::Server::builder()
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(module);
    let connection = rpc::ws::connect(&format!("ws://{addr}/"), rpc::MethodTable::new())
        .await
        .unwrap();
    let client = rpc::Client::new(connection);
    let mut params = rpc::client::ParamsBuilder::new(false);
    params.push("n", &3u64);
    let mut counts = client
        .subscribe::<u64>("subscribe_count", params, "count", "unsubscribe_count")
        .await
        .unwrap();
    assert_eq!(first_three(&mut counts).await, [0, 1, 2]);
    // Unsubscribing from jsonrpsee (its ids are numbers) goes through.
    let mut params = rpc::client::ParamsBuilder::new(false);
    params.push("n", &1000u64);
    let endless = client
        .subscribe::<u64>("subscribe_count", params, "count", "unsubscribe_count")
        .await
        .unwrap();
    assert!(endless.unsubscribe().await.unwrap());
    handle.stop().unwrap();
}

/// The calculator example binary of the main workspace (built by its tests).
/// The first three items of a subscription (jsonrpsee's or ours), each
/// within 5 s.
async fn first_three<S, E>(items: &mut S) -> Vec<u64>
where
    S: futures_util::Stream<Item = Result<u64, E>> + Unpin,
    E: std::fmt::Debug,
{
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let item = tokio::time::timeout(Duration::from_secs(5), items.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(item);
    }
    seen
}

fn calculator() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = root.join("target/debug/examples/calculator");
    if !bin.exists() {
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .current_dir(&root)
            .args(["build", "--example", "calculator"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

#[tokio::test]
async fn jsonrpsees_client_consumes_the_calculators_ticks() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(calculator())
        .args(["serve", "--http", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let ws = first.replacen("http://", "ws://", 1);
    let client = WsClientBuilder::default().build(&ws).await.unwrap();
    let ticks = client
        .subscribe::<u64, _>("subscribe_ticks", rpc_params![10, 5], "unsubscribe_ticks")
        .await
        .unwrap();
    let items: Vec<u64> = tokio::time::timeout(
        Duration::from_secs(5),
        ticks
            .take_while(|i| std::future::ready(i.is_ok()))
            .map(|i| i.unwrap())
            .collect(),
    )
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(items, [0, 1, 2, 3, 4]);
}
