//! Subscriptions end to end over WebSocket and TCP: typed streams on the
//! client, the jsonrpsee wire format, the end of a finite subscription,
//! unsubscribing, publishing to a topic, and a clear error over HTTP.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rpc::subscription::Publisher;
use rpc::tcp::{Framing, TcpServer};
use rpc::{rpc, MethodTable, Subscription};
use serde_json::{json, Value};

#[rpc]
trait Feed {
    /// `count` ticks (for ever without), one every 10 ms.
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn subscribe_ticks(&self, count: Option<u64>) -> Subscription<u64>;

    /// Messages published to `topic`.
    #[rpc(subscription = "topic", unsubscribe = "unsubscribe_topic")]
    async fn subscribe_topic(&self, topic: String) -> Subscription<Value>;

    /// Delivers `message` to the topic's subscribers; how many took it.
    async fn publish(&self, topic: String, message: Value) -> u64;
}

#[derive(Clone, Default)]
struct FeedService {
    topics: Arc<Mutex<HashMap<String, Vec<Publisher<Value>>>>>,
}

impl Feed for FeedService {
    async fn subscribe_ticks(&self, count: Option<u64>) -> Subscription<u64> {
        let ticks = futures_util::stream::unfold(0u64, |i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Some((i, i + 1))
        });
        match count {
            Some(n) => Subscription::new(ticks.take(n as usize)),
            None => Subscription::new(ticks),
        }
    }

    async fn subscribe_topic(&self, topic: String) -> Subscription<Value> {
        let (publisher, subscription) = Subscription::channel(16);
        self.topics
            .lock()
            .unwrap()
            .entry(topic)
            .or_default()
            .push(publisher);
        subscription
    }

    async fn publish(&self, topic: String, message: Value) -> u64 {
        let mut topics = self.topics.lock().unwrap();
        let subscribers = topics.entry(topic).or_default();
        subscribers.retain(|p| !p.is_closed());
        subscribers
            .iter()
            .filter(|p| p.publish(message.clone()))
            .count() as u64
    }
}

async fn feeds() -> Vec<(String, rpc::Client)> {
    let methods = FeedService::default().into_rpc();
    let (http, stop) = common::http_server(rpc::http::Server::new(methods.clone())).await;
    std::mem::forget(stop);
    let mut clients = vec![(
        "websocket".to_owned(),
        rpc::Client::new(
            rpc::ws::connect(&format!("ws://{http}/"), MethodTable::new())
                .await
                .unwrap(),
        ),
    )];
    for framing in [
        Framing::Newline,
        Framing::LengthPrefix1,
        Framing::LengthPrefix2,
        Framing::LengthPrefix4,
    ] {
        let tcp = TcpServer::new(methods.clone())
            .with_framing(framing)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = tcp.local_addr().unwrap();
        tokio::spawn(tcp.run());
        let options = rpc::tcp::StreamOptions::framing(framing);
        clients.push((
            format!("tcp {framing}"),
            rpc::Client::new(
                rpc::tcp::connect(addr, &options, MethodTable::new())
                    .await
                    .unwrap(),
            ),
        ));
    }
    clients
}

#[tokio::test]
async fn a_finite_subscription_streams_its_items_then_ends() {
    for (transport, client) in feeds().await {
        let ticks = client.subscribe_ticks(Some(5)).await.unwrap();
        assert!(!ticks.id().is_empty());
        let items: Vec<u64> =
            tokio::time::timeout(Duration::from_secs(5), ticks.map(|t| t.unwrap()).collect())
                .await
                .unwrap();
        assert_eq!(items, [0, 1, 2, 3, 4], "{transport}");
    }
}

#[tokio::test]
async fn unsubscribing_stops_the_items_and_answers_whether_it_was_open() {
    for (transport, client) in feeds().await {
        let mut ticks = client.subscribe_ticks(None).await.unwrap();
        assert_eq!(ticks.next().await.unwrap().unwrap(), 0, "{transport}");
        let id = ticks.id().to_owned();
        assert!(ticks.unsubscribe().await.unwrap(), "{transport}");
        // Unknown (or already ended) ids answer false.
        let engine = &client;
        let mut params = rpc::client::ParamsBuilder::new(false);
        params.push("id", &id);
        assert!(!engine
            .call::<bool>("unsubscribe_ticks", params)
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn published_messages_reach_every_subscriber_of_the_topic() {
    for (transport, client) in feeds().await {
        let mut news = client.subscribe_topic("news".into()).await.unwrap();
        let mut more = client.subscribe_topic("news".into()).await.unwrap();
        let mut other = client.subscribe_topic("sport".into()).await.unwrap();
        assert_eq!(
            client
                .publish("news".into(), json!({"n": 1}))
                .await
                .unwrap(),
            2,
            "{transport}"
        );
        assert_eq!(news.next().await.unwrap().unwrap(), json!({"n": 1}));
        assert_eq!(more.next().await.unwrap().unwrap(), json!({"n": 1}));
        let nothing = tokio::time::timeout(Duration::from_millis(100), other.next()).await;
        assert!(
            nothing.is_err(),
            "{transport}: another topic's subscriber got it"
        );
        // A dropped subscription is unsubscribed: the topic has one subscriber left.
        drop(more);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            client.publish("news".into(), json!(2)).await.unwrap(),
            1,
            "{transport}"
        );
        assert_eq!(news.next().await.unwrap().unwrap(), json!(2));
    }
}

/// A feed server over HTTP (and WebSocket), running for the test's life.
async fn feed_http() -> std::net::SocketAddr {
    let (http, stop) =
        common::http_server(rpc::http::Server::new(FeedService::default().into_rpc())).await;
    std::mem::forget(stop);
    http
}

/// A raw WebSocket to a feed server, to see the bytes on the wire.
async fn raw_feed_socket(
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let http = feed_http().await;
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{http}/"))
        .await
        .unwrap();
    socket
}

#[tokio::test]
async fn the_wire_format_is_jsonrpsees() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut socket = raw_feed_socket().await;
    socket
        .send(Message::text(
            r#"{"jsonrpc":"2.0","method":"subscribe_ticks","params":[2],"id":1}"#,
        ))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("connection ended")
        };
        seen.push(serde_json::from_str::<Value>(&text).unwrap());
    }
    // The id first, then the items, then the end with `"error": null`.
    let id = seen[0]["result"].as_str().unwrap().to_owned();
    assert_eq!(seen[0]["id"], 1);
    for (i, notice) in seen[1..3].iter().enumerate() {
        assert_eq!(notice["method"], "ticks");
        assert_eq!(notice["params"], json!({"subscription": id, "result": i}));
    }
    assert_eq!(
        seen[3]["params"],
        json!({"subscription": id, "error": null})
    );
}

#[tokio::test]
async fn over_http_a_subscription_is_a_clear_error() {
    let http = feed_http().await;
    let client = rpc::Client::new(rpc::http::HttpClient::new(&format!("http://{http}/")).unwrap());
    let error = client.subscribe_ticks(Some(1)).await.unwrap_err();
    let error = error.error_object().unwrap();
    assert_eq!(error.code, -32002, "{error:?}");
    // It names the method called, not the notification its items travel in.
    assert!(
        error.message.contains("`subscribe_ticks`"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_is_ended_and_others_go_on() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let methods = FeedService::default().into_rpc();
    let tcp = TcpServer::new(methods).bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(tcp.run());
    // A raw subscriber that reads the answer, then nothing more.
    let mut stalled = BufReader::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    stalled
        .get_mut()
        .write_all(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"subscribe_topic\",\"params\":[\"big\"],\"id\":1}\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stalled.read_line(&mut answer).await.unwrap();
    assert!(answer.contains("\"result\""), "{answer}");
    // A subscriber that reads.
    let options = rpc::tcp::StreamOptions::default();
    let reader = rpc::Client::new(
        rpc::tcp::connect(addr, &options, MethodTable::new())
            .await
            .unwrap(),
    );
    let mut news = reader.subscribe_topic("big".into()).await.unwrap();
    let drain = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some(Ok(_)) = news.next().await {
            got += 1;
        }
        got
    });
    let publisher = rpc::Client::new(
        rpc::tcp::connect(addr, &options, MethodTable::new())
            .await
            .unwrap(),
    );
    let blob = json!("x".repeat(16 * 1024));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Until only the reading subscriber takes messages: the stalled one
    // was ended (its connection's queue filled) without holding anyone up.
    loop {
        let reached = publisher.publish("big".into(), blob.clone()).await.unwrap();
        if reached == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled subscriber was never ended"
        );
    }
    assert_eq!(
        publisher
            .publish("big".into(), json!("last"))
            .await
            .unwrap(),
        1
    );
    drop(publisher);
    drop(reader);
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

#[tokio::test]
async fn the_calculator_prints_a_subscriptions_items() {
    let served = tokio::task::spawn_blocking(|| common::calculator::Served::start("newline"))
        .await
        .unwrap();
    let ws = served.ws();
    let tcp = format!("tcp://{}", served.tcp);
    let outputs = tokio::task::spawn_blocking(move || {
        [ws, tcp].map(|url| {
            std::process::Command::new(common::calculator::binary())
                .args(["call", &url, "subscribe_ticks", "10", "3"])
                .output()
                .unwrap()
        })
    })
    .await
    .unwrap();
    for out in outputs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n2\n");
    }
    let http = std::process::Command::new(common::calculator::binary())
        .args(["call", &served.http, "subscribe_ticks", "10", "3"])
        .output()
        .unwrap();
    assert_eq!(http.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&http.stderr).contains("-32002"));
}

#[test]
fn the_openrpc_document_describes_subscriptions() {
    let dispatcher = rpc::server::Dispatcher::new(FeedService::default().into_rpc());
    let document: Value = serde_json::from_str(dispatcher.discovery_document().get()).unwrap();
    let methods = document["methods"].as_array().unwrap();
    let find = |name: &str| methods.iter().find(|m| m["name"] == name).cloned();
    let ticks = find("subscribe_ticks").unwrap();
    assert_eq!(
        ticks["x-subscription"],
        json!({
            "notification": "ticks",
            "unsubscribe": "unsubscribe_ticks",
            "item": {"type": "integer", "format": "uint64", "minimum": 0}
        })
    );
    let unsubscribe = find("unsubscribe_ticks").unwrap();
    assert_eq!(unsubscribe["params"][0]["name"], "id");
}

/// `calculator serve --auth-token t`, and a client with the token over WebSocket.
async fn calculator_admin() -> (common::calculator::Served, rpc::Client) {
    let served = tokio::task::spawn_blocking(|| {
        let mut command = std::process::Command::new(common::calculator::binary());
        command
            .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .args(["--auth-token", "t"])
            .env("RUST_LOG", "warn");
        common::calculator::Served::spawn(command)
    })
    .await
    .unwrap();
    let admin = rpc::ws::WsClient::new(&served.ws())
        .with_header("authorization", "Bearer t")
        .unwrap()
        .connect(MethodTable::new())
        .await
        .unwrap();
    (served, rpc::Client::new(admin))
}

async fn admin_count(admin: &rpc::Client, method: &str) -> u64 {
    admin
        .call(method, rpc::client::ParamsBuilder::new(false))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hundred_subscriptions_on_one_connection_and_a_closed_one_frees_everything() {
    let (served, admin) = calculator_admin().await;
    let connection = rpc::ws::connect(&served.ws(), MethodTable::new())
        .await
        .unwrap();
    let client = rpc::Client::new(connection.clone());
    let mut subscriptions = Vec::new();
    for _ in 0..100 {
        let mut params = rpc::client::ParamsBuilder::new(false);
        params.push("interval_ms", &50u64);
        subscriptions.push(
            client
                .subscribe::<u64>("subscribe_ticks", params, "ticks", "unsubscribe_ticks")
                .await
                .unwrap(),
        );
    }
    for subscription in &mut subscriptions {
        assert_eq!(subscription.next().await.unwrap().unwrap(), 0);
    }
    // 50 slow calls on another connection: counted, then freed when it closes.
    let slow = rpc::ws::connect(&served.ws(), MethodTable::new())
        .await
        .unwrap();
    let slow_client = rpc::Client::new(slow.clone());
    let mut held = Vec::new();
    for _ in 0..50 {
        let slow_client = slow_client.clone();
        held.push(tokio::spawn(async move {
            let mut params = rpc::client::ParamsBuilder::new(false);
            params.push("ms", &60_000u64);
            slow_client.call::<u64>("sleep", params).await
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while admin_count(&admin, "admin.active_calls").await < 51 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow calls never all ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Subscription streams are not calls: 50 sleeps and this call.
    assert_eq!(admin_count(&admin, "admin.active_calls").await, 51);
    assert_eq!(admin_count(&admin, "admin.connections").await, 3);
    slow.close();
    drop(slow_client);
    for call in held {
        let _ = call.await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while admin_count(&admin, "admin.active_calls").await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "closed calls still count after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Closing the subscriber's connection ends its 100 subscriptions with it.
    drop(subscriptions);
    connection.close();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while admin_count(&admin, "admin.connections").await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connection still counts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[rpc]
trait Relay {
    /// Subscribes to the caller's own `subscribe_ticks` and returns what came.
    async fn relay(&self, count: u64, ctx: rpc::Context) -> Result<Vec<u64>, rpc::ErrorObject>;
}

struct RelayService;

impl Relay for RelayService {
    async fn relay(&self, count: u64, ctx: rpc::Context) -> Result<Vec<u64>, rpc::ErrorObject> {
        let caller = rpc::duplex::caller(&ctx)
            .ok_or_else(|| rpc::ErrorObject::new(-32002, "needs a duplex connection"))?;
        let feed = caller.client();
        let ticks = feed
            .subscribe_ticks(Some(count))
            .await
            .map_err(rpc::ErrorObject::internal_error)?;
        Ok(ticks.filter_map(|t| async move { t.ok() }).collect().await)
    }
}

#[tokio::test]
async fn subscriptions_work_in_both_directions_of_a_connection() {
    let (http, stop) = common::http_server(rpc::http::Server::new(RelayService.into_rpc())).await;
    std::mem::forget(stop);
    // The client serves the feed; the server subscribes to it.
    let connection = rpc::ws::connect(&format!("ws://{http}/"), FeedService::default().into_rpc())
        .await
        .unwrap();
    let relay = rpc::Client::new(connection);
    assert_eq!(relay.relay(4).await.unwrap(), [0, 1, 2, 3]);
}

#[tokio::test]
async fn a_subscription_sent_as_a_notification_starts_nothing_and_big_items_end_clearly() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut socket = raw_feed_socket().await;
    // No id: it could never learn its subscription's id, so none starts.
    socket
        .send(Message::text(
            r#"{"jsonrpc":"2.0","method":"subscribe_ticks","params":[3]}"#,
        ))
        .await
        .unwrap();
    socket
        .send(Message::text(
            r#"{"jsonrpc":"2.0","method":"publish","params":["none",1],"id":7}"#,
        ))
        .await
        .unwrap();
    let mut texts = Vec::new();
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(300), socket.next()).await
    {
        texts.push(text.to_string());
    }
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains(r#""id":7"#));

    // An item too long for a one-byte length prefix ends its subscription
    // with that reason.
    let feed = FeedService::default();
    let tcp = TcpServer::new(feed.clone().into_rpc())
        .with_framing(Framing::LengthPrefix1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(tcp.run());
    // The publisher calls over a framing with room for the message.
    let wide = TcpServer::new(feed.into_rpc())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let wide_addr = wide.local_addr().unwrap();
    tokio::spawn(wide.run());
    let publisher = rpc::Client::new(
        rpc::tcp::connect(
            wide_addr,
            &rpc::tcp::StreamOptions::default(),
            MethodTable::new(),
        )
        .await
        .unwrap(),
    );
    let options = rpc::tcp::StreamOptions::framing(Framing::LengthPrefix1);
    let client = rpc::Client::new(
        rpc::tcp::connect(addr, &options, MethodTable::new())
            .await
            .unwrap(),
    );
    let mut topic = client.subscribe_topic("t".into()).await.unwrap();
    publisher
        .publish("t".into(), json!("x".repeat(300)))
        .await
        .unwrap();
    let error = topic.next().await.unwrap().unwrap_err();
    let object = error.error_object().unwrap();
    assert_eq!(object.code, -32098, "{object:?}");
    assert!(topic.next().await.is_none());
}
