//! Resumable topics: every item carries its event id; a subscriber that
//! comes back with `since` gets what it missed, then live messages, with
//! nothing missing or repeated at the seam; an id no longer retained gets
//! one gap notice first.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rpc::subscription::{Retention, Topics};
use rpc::{rpc, ErrorObject, Subscription};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[rpc]
trait News {
    /// Messages published to `topic`, resumed after `since`.
    #[rpc(subscription = "news", unsubscribe = "unsubscribe_news")]
    async fn subscribe_news(
        &self,
        topic: String,
        since: Option<String>,
    ) -> Result<Subscription<Value>, ErrorObject>;
}

#[derive(Clone)]
struct Desk {
    topics: Topics,
}

impl News for Desk {
    async fn subscribe_news(
        &self,
        topic: String,
        since: Option<String>,
    ) -> Result<Subscription<Value>, ErrorObject> {
        self.topics.subscribe_since(&topic, since.as_deref())
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn serve(topics: &Topics) -> std::net::SocketAddr {
    let desk = Desk {
        topics: topics.clone(),
    };
    common::http_server(rpc::http::Server::new(desk.into_rpc()))
        .await
        .0
}

/// A WebSocket subscribed to `topic` after `since`; its subscription id.
async fn subscribe(
    addr: std::net::SocketAddr,
    topic: &str,
    since: Option<&str>,
) -> (Socket, Value) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    let call =
        json!({"jsonrpc": "2.0", "method": "subscribe_news", "params": [topic, since], "id": 1});
    socket.send(Message::text(call.to_string())).await.unwrap();
    let answer = next(&mut socket).await;
    let id = answer["result"].clone();
    assert!(id.is_string(), "{answer}");
    (socket, id)
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The next notice's params.
async fn notice(socket: &mut Socket) -> Value {
    let notice = next(socket).await;
    assert_eq!(notice["method"], "news", "{notice}");
    notice["params"].clone()
}

#[tokio::test]
async fn a_subscriber_resumes_after_its_last_event_and_a_lost_one_gets_a_gap() {
    let topics = Topics::new().with_retention(Retention {
        messages: 3,
        age: Duration::ZERO,
        bytes: 1 << 20,
    });
    let addr = serve(&topics).await;
    let (mut first, id) = subscribe(addr, "t", None).await;
    let mut events = Vec::new();
    for i in 1..=3 {
        assert_eq!(topics.publish("t", &json!({"n": i})), 1);
        let params = notice(&mut first).await;
        assert_eq!(params["subscription"], id);
        assert_eq!(params["result"], json!({"n": i}));
        events.push(params["event"].as_str().expect("an event id").to_owned());
    }
    drop(first);
    // Published while nobody listens: retained (the last three).
    topics.publish("t", &json!({"n": 4}));
    topics.publish("t", &json!({"n": 5}));
    assert!(topics.retained_bytes() > 0);

    // Resumed after event 3: 4 and 5, then live ones, nothing twice.
    let (mut again, _) = subscribe(addr, "t", Some(&events[2])).await;
    assert_eq!(notice(&mut again).await["result"], json!({"n": 4}));
    let five = notice(&mut again).await;
    assert_eq!(five["result"], json!({"n": 5}));
    topics.publish("t", &json!({"n": 6}));
    let six = notice(&mut again).await;
    assert_eq!(six["result"], json!({"n": 6}));
    assert_ne!(five["event"], six["event"]);

    // Event 1 is gone (three are kept: 4, 5, 6): a gap, then what is kept.
    let (mut late, late_id) = subscribe(addr, "t", Some(&events[0])).await;
    assert_eq!(
        notice(&mut late).await,
        json!({"subscription": late_id, "gap": true})
    );
    for n in 4..=6 {
        assert_eq!(notice(&mut late).await["result"], json!({"n": n}));
    }
    // An id that was never this instance's: the same.
    let (mut bogus, _) = subscribe(addr, "t", Some("not-an-event")).await;
    assert_eq!(notice(&mut bogus).await["gap"], true);
    assert_eq!(notice(&mut bogus).await["result"], json!({"n": 4}));
    // The last event: nothing to replay, then live.
    let (mut current, _) = subscribe(addr, "t", six["event"].as_str()).await;
    topics.publish("t", &json!({"n": 7}));
    assert_eq!(notice(&mut current).await["result"], json!({"n": 7}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_messages_keep_coming_misses_and_repeats_nothing() {
    let topics = Topics::new();
    let addr = serve(&topics).await;
    const TOTAL: u64 = 3000;
    // Subscribed before the first message: every one of them is owed.
    let (mut socket, _) = subscribe(addr, "stream", None).await;
    let publisher = {
        let topics = topics.clone();
        tokio::spawn(async move {
            for n in 1..=TOTAL {
                topics.publish("stream", &n);
                if n % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let mut seen = Vec::new();
    let mut last: Option<String> = None;
    // Reconnects every 200 messages, resuming after the last event seen.
    loop {
        for _ in 0..200 {
            if seen.len() == TOTAL as usize {
                break;
            }
            let params = notice(&mut socket).await;
            assert!(params.get("gap").is_none(), "a gap: {params}");
            seen.push(params["result"].as_u64().unwrap());
            last = params["event"].as_str().map(str::to_owned);
        }
        if seen.len() == TOTAL as usize {
            break;
        }
        drop(socket);
        socket = subscribe(addr, "stream", last.as_deref()).await.0;
    }
    publisher.await.unwrap();
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn retention_is_bounded_in_bytes() {
    let topics = Topics::new().with_retention(Retention {
        messages: 1_000_000,
        age: Duration::from_secs(3600),
        bytes: 100_000,
    });
    let big = "x".repeat(10_000);
    for _ in 0..100 {
        topics.publish("big", &big);
    }
    assert!(
        topics.retained_bytes() <= 100_000,
        "{}",
        topics.retained_bytes()
    );
    assert!(topics.retained_bytes() > 50_000);
}

#[tokio::test]
async fn the_client_stream_keeps_the_last_event_and_counts_gaps() {
    let topics = Topics::new();
    let addr = serve(&topics).await;
    let client = rpc::Client::new(
        rpc::ws::connect(&format!("ws://{addr}/"), rpc::MethodTable::new())
            .await
            .unwrap(),
    );
    topics.publish("c", &"one");
    let mut stream = client
        .subscribe_news("c".into(), Some("no-such-event".into()))
        .await
        .unwrap();
    // The gap is no error: the retained message follows it.
    assert_eq!(stream.next().await.unwrap().unwrap(), json!("one"));
    assert_eq!(stream.gaps(), 1);
    let first = stream.last_event().expect("an event id").to_owned();
    topics.publish("c", &"two");
    assert_eq!(stream.next().await.unwrap().unwrap(), json!("two"));
    assert_ne!(stream.last_event(), Some(first.as_str()));
    // Resuming after the first event gives the second again, and no gap.
    let mut resumed = client
        .subscribe_news("c".into(), Some(first))
        .await
        .unwrap();
    assert_eq!(resumed.next().await.unwrap().unwrap(), json!("two"));
    assert_eq!(resumed.gaps(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_resumes_topics_without_a_gap() {
    use std::sync::{Arc, Mutex};

    use rpc::reconnect::{Endpoint, Reconnect};
    use rpc::server::Dispatcher;
    use rpc::tcp::{connect_stream, StreamOptions};

    let topics = Topics::new();
    let dispatcher = Dispatcher::new(
        Desk {
            topics: topics.clone(),
        }
        .into_rpc(),
    );
    // Each connection is an in-memory pipe to a server end kept here, so
    // that the test can cut it while the topics (the server) live on.
    let servers = Arc::new(Mutex::new(Vec::new()));
    let kept = servers.clone();
    let endpoint = Endpoint::new("in-memory", move || {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = connect_stream(
            server_io,
            &StreamOptions::default(),
            dispatcher.clone(),
            rpc::Context::new(),
            None,
        );
        kept.lock().unwrap().push(server);
        let quiet = StreamOptions {
            first_message_timeout: None,
            ..StreamOptions::default()
        };
        let client = connect_stream(
            client_io,
            &quiet,
            Dispatcher::new(rpc::MethodTable::new()),
            rpc::Context::new(),
            None,
        );
        async move { Ok(client) }
    });
    let connection = Reconnect::new(endpoint)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .connect()
        .await
        .unwrap();
    let client = rpc::Client::new(connection.clone());
    let mut stream = client.subscribe_news("r".into(), None).await.unwrap();
    const TOTAL: u64 = 3000;
    // About 10 000 messages/s: a subscriber catching up after a
    // reconnection keeps up (a faster publisher would lag it out, -32004,
    // as the lag policy says).
    let publisher = {
        let topics = topics.clone();
        tokio::spawn(async move {
            for n in 1..=TOTAL {
                topics.publish("r", &n);
                if n % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < TOTAL as usize {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no item within 10 s after {} ({}; {} reconnects)",
                    seen.len(),
                    connection.state(),
                    connection.reconnects()
                )
            })
            .expect("the stream goes on")
            .unwrap();
        seen.push(item.as_u64().unwrap());
        // Cut the connection every 200 messages, items still in flight.
        if seen.len() % 200 == 0 {
            let current = servers.lock().unwrap().last().cloned().unwrap();
            current.close();
        }
    }
    publisher.await.unwrap();
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(seen, expected, "every message once, in order");
    assert_eq!(stream.gaps(), 0, "resumed each time: no gap");
    assert!(
        connection.reconnects() >= 10,
        "it did reconnect: {}",
        connection.reconnects()
    );
}
