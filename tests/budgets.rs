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

/// The tests here read the process's resident memory: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn board() -> (std::net::SocketAddr, rpc::Client) {
    let (addr, _stop) =
        common::http_server(rpc::http::Server::new(BoardService::default().into_rpc())).await;
    let client = rpc::Client::new(rpc::http::HttpClient::new(&format!("http://{addr}/")).unwrap());
    (addr, client)
}

/// A WebSocket that never reads what the server sends (a small receive
/// buffer, so that the server's writes stall at once).
async fn deaf_socket(
    addr: std::net::SocketAddr,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let stream = deaf_tcp(addr).await;
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
    let _alone = ONE_AT_A_TIME.lock().await;
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
    let _alone = ONE_AT_A_TIME.lock().await;
    let (addr, client) = board().await;
    // A name over the limit: -32602, nothing kept.
    let ws = rpc::Client::new(
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

/// CPU time this thread has used: a current-thread runtime runs the server
/// and its clients here, whatever other tests do meanwhile.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A TCP server of the demo service, and the service's count of live `hold`s.
async fn demo_tcp() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use common::Demo;
    let service = common::DemoService::default();
    let live = service.live.clone();
    let listening = rpc::tcp::TcpServer::new(service.into_rpc())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listening.local_addr().unwrap();
    tokio::spawn(listening.run());
    (addr, live)
}

/// A TCP socket that never reads (a small receive buffer).
async fn deaf_tcp(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Calls `add` over a fresh TCP connection; how long the answer took.
async fn timed_add(addr: std::net::SocketAddr) -> Duration {
    use common::DemoClient;
    let asked = Instant::now();
    let client = rpc::Client::new(
        rpc::tcp::connect(
            addr,
            &rpc::tcp::StreamOptions::default(),
            rpc::MethodTable::new(),
        )
        .await
        .unwrap(),
    );
    assert_eq!(client.add(2, 3).await.unwrap(), 5);
    asked.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_calls_in_large_messages_hold_no_more_than_the_running_budget() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use tokio::io::AsyncWriteExt;
    let (addr, live) = demo_tcp().await;
    let before = common::resident();
    // 200 calls that run 20 s, each in a 1 MB message: the server keeps a
    // message while its call runs.
    let mut attacker = tokio::net::TcpStream::connect(addr).await.unwrap();
    let pad = "x".repeat(1 << 20);
    let sending = tokio::spawn(async move {
        for id in 0..200 {
            let call = format!(
                r#"{{"jsonrpc":"2.0","method":"hold","params":[20000],"id":{id},"pad":"{pad}"}}"#
            );
            if attacker.write_all(call.as_bytes()).await.is_err()
                || attacker.write_all(b"\n").await.is_err()
            {
                break;
            }
        }
        attacker
    });
    let mut peak = 0;
    let mut most_live = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        peak = peak.max(common::resident().saturating_sub(before));
        most_live = most_live.max(live.load(std::sync::atomic::Ordering::SeqCst));
        assert!(timed_add(addr).await < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "200 slow calls in 1 MB messages on one connection: {most_live} ran at once, the server grew by at most {} MB",
        peak >> 20
    );
    // 4 MiB of running messages: four of them run, the rest wait unread.
    assert!(
        (1..=5).contains(&most_live),
        "{most_live} calls ran at once"
    );
    assert!(peak < 48 << 20, "the server grew by {} MB", peak >> 20);
    sending.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_rpc_discover_from_peers_that_never_read_stay_within_the_budget() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use tokio::io::AsyncWriteExt;
    let (addr, _) = demo_tcp().await;
    let before = common::resident();
    let batch = serde_json::to_string(
        &(0..1000)
            .map(|id| serde_json::json!({"jsonrpc": "2.0", "method": "rpc.discover", "id": id}))
            .collect::<Vec<_>>(),
    )
    .unwrap()
        + "\n";
    let mut attackers = Vec::new();
    for _ in 0..50 {
        let mut socket = deaf_tcp(addr).await;
        let batch = batch.clone();
        attackers.push(tokio::spawn(async move {
            for _ in 0..2 {
                if socket.write_all(batch.as_bytes()).await.is_err() {
                    break;
                }
            }
            // Held open, never read.
            tokio::time::sleep(Duration::from_secs(60)).await;
        }));
    }
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        peak = peak.max(common::resident().saturating_sub(before));
        assert!(timed_add(addr).await < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "50 peers sending batches of 1000 rpc.discover, never reading ({} KB each): the server grew by at most {} MB",
        (2 * batch.len()) >> 10,
        peak >> 20
    );
    assert!(peak < 100 << 20, "the server grew by {} MB", peak >> 20);
    attackers.iter().for_each(|a| a.abort());
}

#[tokio::test]
async fn a_batch_of_long_pushes_to_a_peer_that_never_reads_costs_no_cpu() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use tokio::io::AsyncWriteExt;
    // A current-thread runtime: the server's work is this thread's CPU time.
    let (addr, _) = demo_tcp().await;
    let mut deaf = deaf_tcp(addr).await;
    let batch = serde_json::to_string(
        &(0..1000)
            .map(|id| serde_json::json!({"jsonrpc": "2.0", "method": "notify_me", "params": [100_000], "id": id}))
            .collect::<Vec<_>>(),
    )
    .unwrap()
        + "\n";
    deaf.write_all(batch.as_bytes()).await.unwrap();
    // The budget fills; then the pushes wait for a peer that does not read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = common::resident();
    let cpu = thread_cpu();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        assert!(timed_add(addr).await < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let used = thread_cpu().saturating_sub(cpu);
    let grown = common::resident().saturating_sub(before);
    eprintln!(
        "a batch of 1000 notify_me(100000) from a peer that never reads: {used:?} of CPU in 3 s, the server grew by {} MB",
        grown >> 20
    );
    assert!(used < Duration::from_millis(600), "{used:?} of CPU in 3 s");
    assert!(grown < 16 << 20, "grew by {} MB", grown >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_from_one_address_cannot_lock_the_others_out() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // A cap of 400 (a quarter, 100, per address): 400 WebSockets from
    // 127.0.0.1, the lock-out attack at a 25th of the default's scale.
    let (addr, _stop) = common::http_server(
        rpc::http::Server::new(BoardService::default().into_rpc()).with_max_connections(400),
    )
    .await;
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..400 {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let upgrade = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::client_async(format!("ws://{addr}/"), stream),
        )
        .await;
        match upgrade {
            Ok(Ok((ws, _))) => open.push(ws),
            _ => refused += 1,
        }
    }
    eprintln!(
        "400 WebSockets from one address: {} open, {refused} closed at once",
        open.len()
    );
    assert_eq!(open.len(), 100);
    // Another address is answered at once: a POST and `/ready`.
    let other = rpc::http::reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let asked = Instant::now();
    let client = rpc::Client::new(
        rpc::http::HttpClient::from_client(other.clone(), &format!("http://{addr}/")).unwrap(),
    );
    assert_eq!(client.topics().await.unwrap(), 0);
    let ready = other
        .get(format!("http://{addr}/ready"))
        .send()
        .await
        .unwrap();
    assert!(ready.status().is_success());
    assert!(asked.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bodies_whose_calls_run_hold_no_more_than_the_servers_running_bytes() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use common::Demo;
    let service = common::DemoService::default();
    let live = service.live.clone();
    let (addr, _stop) = common::http_server(
        rpc::http::Server::new(service.into_rpc())
            .with_connections(rpc::duplex::Connections::new().with_max_running_bytes(8 << 20)),
    )
    .await;
    // 40 calls at once, each running 300 ms in a 1 MB body: room for 8.
    let pad = "x".repeat(1 << 20);
    let http = rpc::http::reqwest::Client::new();
    let calls: Vec<_> = (0..40)
        .map(|id| {
            let body = format!(
                r#"{{"jsonrpc":"2.0","method":"hold","params":[300],"id":{id},"pad":"{pad}"}}"#
            );
            let request = http
                .post(format!("http://{addr}/"))
                .header("content-type", "application/json")
                .body(body);
            tokio::spawn(async move {
                let body = request.send().await.unwrap().bytes().await.unwrap();
                serde_json::from_slice::<Value>(&body).unwrap()
            })
        })
        .collect();
    let mut most_live = 0;
    while calls.iter().any(|c| !c.is_finished()) {
        most_live = most_live.max(live.load(std::sync::atomic::Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for call in calls {
        assert_eq!(call.await.unwrap()["result"], 300, "every call is answered");
    }
    eprintln!("40 calls in 1 MB bodies against 8 MiB of running bytes: {most_live} ran at once");
    assert!((1..=9).contains(&most_live), "{most_live} ran at once");
}
