//! Broadcasts and topic messages across calculator instances through real
//! brokers (`redis-server` and `nats-server`, started here on free loopback
//! ports): delivery from one instance to the clients of another, local
//! service through a broker outage and delivery back by itself after it,
//! and a broker that is down when the instances start.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::Broker;
use common::calculator::Served;
use futures_util::StreamExt;
use rpc::rpc;
use tokio::sync::mpsc;

async fn calculator(backplane: &str) -> Served {
    let backplane = backplane.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(common::calculator::binary());
        command
            .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .args(["--backplane", &backplane])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null());
        Served::spawn(command)
    })
    .await
    .unwrap()
}

/// What a client hears: the `message` notifications of broadcasts.
#[rpc]
trait Hear {
    #[rpc(notification)]
    async fn message(&self, message: String);
}

struct Ear(mpsc::UnboundedSender<String>);

impl Hear for Ear {
    async fn message(&self, message: String) {
        let _ = self.0.send(message);
    }
}

/// A WebSocket client of `served` and what it hears.
async fn listener(served: &Served) -> (rpc::Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let connection = rpc::ws::connect(&served.ws(), Ear(tx).into_rpc())
        .await
        .unwrap();
    (rpc::Client::new(connection), rx)
}

async fn call<T: serde::de::DeserializeOwned>(
    served: &Served,
    method: &str,
    args: &[serde_json::Value],
) -> T {
    let client = rpc::Client::new(rpc::http::HttpClient::new(&served.http).unwrap());
    let mut params = rpc::client::ParamsBuilder::new(false);
    for (i, arg) in args.iter().enumerate() {
        params.push(["a", "b", "c"][i.min(2)], arg);
    }
    client.call(method, params).await.unwrap()
}

/// Broadcasts `text` through `from` until `heard` gets it (at most `within`).
async fn until_heard(
    from: &Served,
    heard: &mut mpsc::UnboundedReceiver<String>,
    text: &str,
    within: Duration,
) {
    let started = Instant::now();
    loop {
        let _: u64 = call(from, "broadcast", &[serde_json::json!(text)]).await;
        let got = tokio::time::timeout(Duration::from_millis(200), async {
            while let Some(message) = heard.recv().await {
                if message == text {
                    return true;
                }
            }
            false
        })
        .await;
        if got == Ok(true) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "`{text}` never reached the other instance"
        );
    }
}

/// Everything `heard` got within `wait`.
async fn drain(heard: &mut mpsc::UnboundedReceiver<String>, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        while let Some(m) = heard.recv().await {
            out.push(m);
        }
    })
    .await;
    out
}

async fn across_instances(kind: &'static str) {
    let mut broker = Broker::new(kind);
    broker.start();
    let (a, b) = (
        calculator(&broker.url()).await,
        calculator(&broker.url()).await,
    );
    let (_on_a, mut heard_a) = listener(&a).await;
    let (on_b, mut heard_b) = listener(&b).await;

    // A broadcast through A reaches B's client, once.
    until_heard(&a, &mut heard_b, "first", Duration::from_secs(10)).await;
    let reached: u64 = call(&a, "broadcast", &[serde_json::json!("once")]).await;
    assert_eq!(reached, 1, "{kind}: counted on A only");
    let on_b_heard = drain(&mut heard_b, Duration::from_millis(500)).await;
    assert_eq!(
        on_b_heard.iter().filter(|m| *m == "once").count(),
        1,
        "{kind}: {on_b_heard:?}"
    );
    let on_a_heard = drain(&mut heard_a, Duration::from_millis(100)).await;
    assert_eq!(
        on_a_heard.iter().filter(|m| *m == "once").count(),
        1,
        "{kind}: no echo on A: {on_a_heard:?}"
    );

    // A topic published through A reaches B's subscriber.
    let mut params = rpc::client::ParamsBuilder::new(false);
    params.push("topic", "news");
    let mut news = on_b
        .subscribe::<serde_json::Value>("subscribe_topic", params, "topic", "unsubscribe_topic")
        .await
        .unwrap();
    let published: u64 = call(
        &a,
        "publish",
        &[serde_json::json!("news"), serde_json::json!({"n": 1})],
    )
    .await;
    assert_eq!(published, 0, "{kind}: no subscriber on A");
    let item = tokio::time::timeout(Duration::from_secs(5), news.next()).await;
    assert_eq!(
        item.unwrap().unwrap().unwrap(),
        serde_json::json!({"n": 1}),
        "{kind}"
    );

    // The broker stops: each instance serves its own clients.
    broker.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reached: u64 = call(&a, "broadcast", &[serde_json::json!("local")]).await;
    assert_eq!(reached, 1, "{kind}");
    assert!(drain(&mut heard_a, Duration::from_millis(300))
        .await
        .contains(&"local".to_owned()));
    let sum: i64 = call(&b, "add", &[serde_json::json!(2), serde_json::json!(3)]).await;
    assert_eq!(sum, 5);

    // It comes back: delivery across instances resumes by itself.
    broker.start();
    until_heard(&a, &mut heard_b, "back", Duration::from_secs(20)).await;
    let _: u64 = call(
        &a,
        "publish",
        &[serde_json::json!("news"), serde_json::json!({"n": 2})],
    )
    .await;
    let item = tokio::time::timeout(Duration::from_secs(5), news.next()).await;
    assert_eq!(
        item.unwrap().unwrap().unwrap(),
        serde_json::json!({"n": 2}),
        "{kind}"
    );
}

async fn down_at_start(kind: &'static str) {
    let mut broker = Broker::new(kind);
    let (a, b) = (
        calculator(&broker.url()).await,
        calculator(&broker.url()).await,
    );
    // Serving meanwhile, but not ready: the probe says why.
    let sum: i64 = call(&a, "add", &[serde_json::json!(1), serde_json::json!(1)]).await;
    assert_eq!(sum, 2);
    let (status, body) = ready(&a).await;
    assert_eq!(status, 503, "{kind}: {body}");
    assert!(body.starts_with("backplane: "), "{kind}: {body}");
    let (_on_b, mut heard_b) = listener(&b).await;
    broker.start();
    until_heard(&a, &mut heard_b, "late", Duration::from_secs(20)).await;
    // Ready once the broker's subscription is live.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = ready(&a).await;
        if status == 200 {
            assert_eq!(body, "ready\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{kind}: /ready still says {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /ready` of a served calculator: its status and body.
async fn ready(served: &Served) -> (u16, String) {
    let response = reqwest::get(format!("{}ready", served.http)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_carries_broadcasts_and_topics_across_an_outage() {
    across_instances("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_carries_broadcasts_and_topics_across_an_outage() {
    across_instances("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_at_start_is_retried_in_the_background() {
    down_at_start("redis").await;
    down_at_start("nats").await;
}

#[test]
fn an_unknown_backplane_url_is_refused_at_start() {
    let out = Command::new(common::calculator::binary())
        .args(["serve", "--http", "127.0.0.1:0", "--backplane", "kafka://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported backplane URL"));
}
