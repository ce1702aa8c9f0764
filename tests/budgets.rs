//! Attacks on memory by peers that do not read: topic fan-out and topic
//! state stay within the byte budgets, and others are answered meanwhile.

mod common;

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use rpc::subscription::Topics;
use rpc::{rpc, ErrorObject, Subscription};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

#[rpc]
trait Board {
    /// Messages published to `topic`.
    #[rpc(subscription = "topic", unsubscribe = "unsubscribe_topic")]
    async fn subscribe_topic(&self, topic: String) -> Result<Subscription<Value>, ErrorObject>;

    /// Delivers `message` to the topic's subscribers; how many took it.
    async fn publish(&self, topic: String, message: Value) -> u64;

    /// Topics with subscribers.
    async fn topics(&self) -> usize;
}

#[derive(Clone, Default)]
struct BoardService {
    topics: Topics,
}

impl Board for BoardService {
    async fn subscribe_topic(&self, topic: String) -> Result<Subscription<Value>, ErrorObject> {
        self.topics.subscribe(&topic)
    }

    async fn publish(&self, topic: String, message: Value) -> u64 {
        self.topics.publish(&topic, &message)
    }

    async fn topics(&self) -> usize {
        self.topics.len()
    }
}

async fn board() -> (std::net::SocketAddr, BoardClient) {
    let (addr, _stop) =
        common::http_server(rpc::http::Server::new(BoardService::default().into_rpc())).await;
    let client = BoardClient::new(rpc::http::HttpClient::new(&format!("http://{addr}/")).unwrap());
    (addr, client)
}

/// A WebSocket that never reads what the server sends (a small receive
/// buffer, so that the server's writes stall at once).
async fn deaf_socket(
    addr: std::net::SocketAddr,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
        .await
        .unwrap();
    ws
}

async fn subscribe_all(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    topics: impl Iterator<Item = String>,
) {
    for (id, topic) in topics.enumerate() {
        let call = serde_json::json!({"jsonrpc": "2.0", "method": "subscribe_topic", "params": [topic], "id": id});
        ws.feed(Message::text(call.to_string())).await.unwrap();
    }
    ws.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_publish_to_a_thousand_subscribers_that_never_read_stays_within_the_budget() {
    let (addr, client) = board().await;
    let mut deaf = deaf_socket(addr).await;
    subscribe_all(&mut deaf, (0..1000).map(|_| "news".to_owned())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = common::resident();
    let message = Value::String("x".repeat(1 << 20));
    let reached = client.publish("news".into(), message).await.unwrap();
    // Every subscription lags out or gets its turn; memory is sampled meanwhile.
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        peak = peak.max(common::resident().saturating_sub(before));
        // Others are answered within 2 s throughout.
        let asked = Instant::now();
        client.topics().await.unwrap();
        assert!(asked.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "a 1 MB message published to {reached} subscriptions of a peer that never reads: the server grew by at most {} MB",
        peak >> 20
    );
    assert!(reached > 0, "nobody subscribed");
    assert!(peak < 48 << 20, "the server grew by {} MB", peak >> 20);
    drop(deaf);
}

#[tokio::test]
async fn topic_state_is_freed_when_subscribers_leave_and_long_names_are_refused() {
    let (addr, client) = board().await;
    // A name over the limit: -32602, nothing kept.
    let ws = BoardClient::new(
        rpc::ws::connect(&format!("ws://{addr}/"), rpc::MethodTable::new())
            .await
            .unwrap(),
    );
    let refused = ws.subscribe_topic("n".repeat(300)).await.unwrap_err();
    assert_eq!(
        refused.error_object().map(|e| e.code),
        Some(rpc::code::INVALID_PARAMS)
    );
    // Three rounds of a peer subscribing to 500 long-named topics, then
    // leaving: every topic goes with it.
    let before = common::resident();
    for round in 0..3 {
        let mut deaf = deaf_socket(addr).await;
        subscribe_all(
            &mut deaf,
            (0..500).map(|i| format!("{round}-{i}-{}", "t".repeat(200))),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while client.topics().await.unwrap() < 500 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            client.topics().await.unwrap(),
            500,
            "round {round}: subscribed"
        );
        drop(deaf);
        let deadline = Instant::now() + Duration::from_secs(2);
        while client.topics().await.unwrap() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            client.topics().await.unwrap(),
            0,
            "round {round}: topics left behind"
        );
    }
    let grown = common::resident().saturating_sub(before);
    eprintln!(
        "three rounds of 500 long-named topics: the server grew by {} MB",
        grown >> 20
    );
    assert!(grown < 32 << 20, "grew by {} MB", grown >> 20);
}
