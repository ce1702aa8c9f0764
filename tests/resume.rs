//! Resumable topics across instances, through real brokers' logs (Redis
//! Streams on `redis-server`, JetStream on `nats-server -js`, started here
//! on free loopback ports): every instance gives a message the same event
//! id; a subscriber that comes back on another instance (one that saw the
//! messages, or one started since) gets exactly what it missed, then live
//! messages; an id the log no longer holds, or never did, gets one gap
//! notice first; while the broker is down an instance serves its own
//! subscribers, and readiness says the broker is away until it is back.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::broker::Broker;
use futures_util::{SinkExt, StreamExt};
use rpc::backplane::Backplane;
use rpc::client::SubscriptionStream;
use rpc::subscription::{Retention, Topics};
use rpc::{rpc, ErrorObject, Subscription};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

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

/// One instance of the service: its topics on the broker's backplane,
/// served over WebSocket.
struct Instance {
    topics: Topics,
    backplane: Backplane,
    addr: SocketAddr,
    _shutdown: rpc::Shutdown,
}

/// An instance on `broker`, keeping what `retention` says in the log;
/// returned once the broker is reached and the log followed.
async fn instance(broker: &Broker, retention: Retention) -> Instance {
    let backplane = match broker.kind {
        "redis" => Backplane::new(
            rpc_backplane::RedisBroker::new(&broker.url())
                .unwrap()
                .with_retention(retention),
        ),
        _ => Backplane::new(
            rpc_backplane::NatsBroker::connect(&broker.url())
                .await
                .unwrap()
                .with_retention(retention),
        ),
    };
    let topics = Topics::new().with_backplane(backplane.clone());
    let desk = Desk {
        topics: topics.clone(),
    };
    let (addr, shutdown) = common::http_server(rpc::http::Server::new(desk.into_rpc())).await;
    let instance = Instance {
        topics,
        backplane,
        addr,
        _shutdown: shutdown,
    };
    instance.ready(broker.kind).await;
    instance
}

impl Instance {
    /// Waits until readiness says the broker is reached and followed.
    async fn ready(&self, kind: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while let Err(why) = self.backplane.readiness() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind}: not ready within 30 s: {why}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until readiness says the broker is away; why.
    async fn unready(&self, kind: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Err(why) = self.backplane.readiness() {
                return why;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind}: still ready 30 s after the broker stopped"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A WebSocket client subscribed to `topic` after `since`.
    async fn subscribe(
        &self,
        topic: &str,
        since: Option<&str>,
    ) -> (rpc::Client, SubscriptionStream<Value>) {
        let connection = rpc::ws::connect(&format!("ws://{}/", self.addr), rpc::MethodTable::new())
            .await
            .unwrap();
        let client = rpc::Client::new(connection);
        let stream = client
            .subscribe_news(topic.to_owned(), since.map(str::to_owned))
            .await
            .unwrap();
        (client, stream)
    }
}

/// The next item and its event id.
async fn next(stream: &mut SubscriptionStream<Value>) -> (Value, String) {
    let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an item within 10 s")
        .expect("the subscription open")
        .expect("an item, not an error");
    let event = stream.last_event().expect("an event id").to_owned();
    (item, event)
}

/// The next item, if one comes within `wait`.
async fn next_within(stream: &mut SubscriptionStream<Value>, wait: Duration) -> Option<Value> {
    match tokio::time::timeout(wait, stream.next()).await {
        Ok(Some(Ok(item))) => Some(item),
        Ok(other) => panic!("the subscription ended: {other:?}"),
        Err(_) => None,
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON message on a raw WebSocket.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Retention small enough to see messages go: 5 per topic, whatever their age.
const FIVE: Retention = Retention {
    messages: 5,
    age: Duration::ZERO,
    bytes: 1 << 20,
};

async fn a_subscriber_resumes_on_any_instance(kind: &'static str) {
    let mut broker = Broker::new(kind);
    broker.start();
    let a = instance(&broker, Retention::default()).await;
    let b = instance(&broker, Retention::default()).await;
    let (client_a, mut on_a) = a.subscribe("news", None).await;
    let (_client_b, mut on_b) = b.subscribe("news", None).await;

    // Published on A and on B in turn: each reaches both subscribers, in
    // the same order, under the same event id.
    const N: u64 = 10;
    let mut events = Vec::new();
    for n in 0..N {
        let on = if n % 2 == 0 { &a } else { &b };
        on.topics.publish("news", &n);
        let (item_a, event_a) = next(&mut on_a).await;
        let (item_b, event_b) = next(&mut on_b).await;
        assert_eq!((item_a, item_b), (json!(n), json!(n)), "{kind}");
        assert_eq!(event_a, event_b, "{kind}: one id for one message");
        events.push(event_a);
    }
    let distinct: std::collections::HashSet<_> = events.iter().collect();
    assert_eq!(distinct.len(), events.len(), "{kind}: {events:?}");

    // A's subscriber goes away; M more are published on B meanwhile.
    let seen = events.last().cloned().unwrap();
    drop((on_a, client_a));
    const M: u64 = 5;
    for n in N..N + M {
        b.topics.publish("news", &n);
        let (item, event) = next(&mut on_b).await;
        assert_eq!(item, json!(n), "{kind}");
        events.push(event);
    }

    // It resumes on B: exactly the M it missed, in order, then live ones.
    let (_client, mut resumed) = b.subscribe("news", Some(&seen)).await;
    for n in N..N + M {
        let (item, event) = next(&mut resumed).await;
        assert_eq!(item, json!(n), "{kind}: replayed on B");
        assert_eq!(event, events[n as usize], "{kind}");
    }
    a.topics.publish("news", &(N + M));
    let (live, live_event) = next(&mut resumed).await;
    assert_eq!(
        live,
        json!(N + M),
        "{kind}: live after the replay, none twice"
    );
    assert_eq!(next(&mut on_b).await, (json!(N + M), live_event.clone()));
    events.push(live_event);
    assert_eq!(resumed.gaps(), 0, "{kind}");

    // On an instance started since, which holds none of them: read from
    // the broker's log, with the same ids, then live ones.
    let c = instance(&broker, Retention::default()).await;
    assert_eq!(
        c.topics.retained_bytes(),
        0,
        "{kind}: follows from the log's end"
    );
    let (_client, mut on_c) = c.subscribe("news", Some(&seen)).await;
    for n in N..=N + M {
        let (item, event) = next(&mut on_c).await;
        assert_eq!(item, json!(n), "{kind}: replayed from the log");
        assert_eq!(event, events[n as usize], "{kind}");
    }
    c.topics.publish("news", &(N + M + 1));
    let (live, live_event) = next(&mut on_c).await;
    assert_eq!(
        live,
        json!(N + M + 1),
        "{kind}: live after the log, none twice"
    );
    assert_eq!(on_c.gaps(), 0, "{kind}");
    assert_eq!(
        next(&mut resumed).await,
        (json!(N + M + 1), live_event.clone())
    );
    events.push(live_event);

    // An id that was never one: a gap, then every message the log holds.
    for on in [&b, &c] {
        let (_client, mut bogus) = on.subscribe("news", Some("no-such-event")).await;
        for n in 0..=N + M + 1 {
            let (item, event) = next(&mut bogus).await;
            assert_eq!(item, json!(n), "{kind}");
            assert_eq!(event, events[n as usize], "{kind}");
            assert_eq!(bogus.gaps(), 1, "{kind}: the gap comes first");
        }
    }
}

async fn an_id_no_longer_held_gets_a_gap(kind: &'static str) {
    let mut broker = Broker::new(kind);
    broker.start();
    let a = instance(&broker, FIVE).await;
    let (_client, mut on_a) = a.subscribe("t", None).await;
    const TOTAL: u64 = 20;
    let mut events = Vec::new();
    for n in 0..TOTAL {
        a.topics.publish("t", &n);
        let (item, event) = next(&mut on_a).await;
        assert_eq!(item, json!(n), "{kind}");
        events.push(event);
    }

    // On an instance that holds none of them, after the first message:
    // the log keeps the last five (Redis: a few more between two trims),
    // so one gap notice, as it goes on the wire, then those it keeps.
    let c = instance(&broker, FIVE).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", c.addr))
        .await
        .unwrap();
    let call =
        json!({"jsonrpc": "2.0", "method": "subscribe_news", "params": ["t", events[0]], "id": 1});
    socket.send(Message::text(call.to_string())).await.unwrap();
    let answer = next_json(&mut socket).await;
    let id = answer["result"].clone();
    assert!(id.is_string(), "{kind}: {answer}");
    let gap = next_json(&mut socket).await;
    assert_eq!(
        gap,
        json!({"jsonrpc": "2.0", "method": "news", "params": {"subscription": id, "gap": true}}),
        "{kind}"
    );
    let mut kept = Vec::new();
    while kept.last() != Some(&(TOTAL - 1)) {
        let params = next_json(&mut socket).await["params"].clone();
        let n = params["result"].as_u64().expect("an item");
        assert_eq!(params["event"], json!(events[n as usize]), "{kind}");
        kept.push(n);
    }
    let oldest = kept[0];
    assert_eq!(
        kept,
        (oldest..TOTAL).collect::<Vec<_>>(),
        "{kind}: the newest, in order"
    );
    assert!(
        (5..TOTAL - 5).contains(&(TOTAL - oldest)),
        "{kind}: kept {kept:?}"
    );

    // After a message it still holds: the rest, and no gap.
    let (_client, mut resumed) = c.subscribe("t", Some(&events[TOTAL as usize - 3])).await;
    for n in TOTAL - 2..TOTAL {
        assert_eq!(next(&mut resumed).await.0, json!(n), "{kind}");
    }
    assert_eq!(resumed.gaps(), 0, "{kind}");
}

async fn the_log_keeps_within_its_byte_budget(kind: &'static str) {
    let mut broker = Broker::new(kind);
    broker.start();
    // Room for about ten of these messages, whatever their number or age.
    let budget = Retention {
        messages: 1000,
        age: Duration::from_secs(3600),
        bytes: 20_000,
    };
    let a = instance(&broker, budget).await;
    let (_client, mut on_a) = a.subscribe("big", None).await;
    const TOTAL: u64 = 50;
    for n in 0..TOTAL {
        a.topics
            .publish("big", &json!({"n": n, "pad": "x".repeat(2000)}));
        assert_eq!(next(&mut on_a).await.0["n"], json!(n), "{kind}");
    }
    // All it holds, from an instance that holds none.
    let c = instance(&broker, budget).await;
    let (_client, mut all) = c.subscribe("big", Some("no-such-event")).await;
    let mut kept = Vec::new();
    while kept.last() != Some(&(TOTAL - 1)) {
        kept.push(next(&mut all).await.0["n"].as_u64().expect("an item"));
    }
    assert_eq!(all.gaps(), 1, "{kind}");
    let oldest = kept[0];
    assert_eq!(kept, (oldest..TOTAL).collect::<Vec<_>>(), "{kind}");
    assert!(
        (1..=12).contains(&kept.len()),
        "{kind}: {} messages of 2 KB kept in 20 KB",
        kept.len()
    );
}

async fn an_instance_serves_its_own_subscribers_while_the_broker_is_down(kind: &'static str) {
    let mut broker = Broker::new(kind);
    broker.start();
    let a = instance(&broker, Retention::default()).await;
    let b = instance(&broker, Retention::default()).await;
    let (_client_a, mut on_a) = a.subscribe("news", None).await;
    let (_client_b, mut on_b) = b.subscribe("news", None).await;
    a.topics.publish("news", "before");
    assert_eq!(next(&mut on_a).await.0, json!("before"), "{kind}");
    assert_eq!(next(&mut on_b).await.0, json!("before"), "{kind}");

    broker.stop();
    let why = a.unready(kind).await;
    assert!(
        why.contains("127.0.0.1"),
        "{kind}: says which broker: {why}"
    );
    b.unready(kind).await;
    // What A publishes meanwhile reaches A's subscriber (the few published
    // at the very moment the loss is noticed may not).
    let mut n = 0;
    let local = loop {
        a.topics.publish("news", &json!({"local": n}));
        if let Some(item) = next_within(&mut on_a, Duration::from_millis(300)).await {
            break item;
        }
        n += 1;
        assert!(n < 100, "{kind}: nothing delivered locally");
    };
    assert!(local["local"].is_u64(), "{kind}: {local}");

    broker.start();
    a.ready(kind).await;
    b.ready(kind).await;
    // Across instances again; what stayed local did not cross.
    let mut n = 0;
    let across = loop {
        a.topics.publish("news", &json!({"after": n}));
        if let Some(item) = next_within(&mut on_b, Duration::from_millis(300)).await {
            break item;
        }
        n += 1;
        assert!(
            n < 100,
            "{kind}: nothing crossed after the broker came back"
        );
    };
    assert!(across["after"].is_u64(), "{kind}: {across}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_subscriber_resumes_on_any_instance() {
    a_subscriber_resumes_on_any_instance("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_a_subscriber_resumes_on_any_instance() {
    a_subscriber_resumes_on_any_instance("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_an_id_no_longer_held_gets_a_gap() {
    an_id_no_longer_held_gets_a_gap("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_an_id_no_longer_held_gets_a_gap() {
    an_id_no_longer_held_gets_a_gap("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_the_log_keeps_within_its_byte_budget() {
    the_log_keeps_within_its_byte_budget("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_the_log_keeps_within_its_byte_budget() {
    the_log_keeps_within_its_byte_budget("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_an_instance_serves_its_own_subscribers_while_the_broker_is_down() {
    an_instance_serves_its_own_subscribers_while_the_broker_is_down("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_an_instance_serves_its_own_subscribers_while_the_broker_is_down() {
    an_instance_serves_its_own_subscribers_while_the_broker_is_down("nats").await;
}

/// The soak: 100 000 messages published on two instances in turn, while a
/// subscriber leaves every 300 messages and resumes on the other instance
/// after the last event it got: every message once, in the log's order
/// (event ids rising; each publisher's messages in the order it published
/// them: two instances' appends have no order between them but the log's),
/// no gap.
async fn soak_across_instances(kind: &'static str) {
    let mut broker = Broker::new(kind);
    broker.start();
    let instances = [
        instance(&broker, Retention::default()).await,
        instance(&broker, Retention::default()).await,
    ];
    const TOTAL: u64 = 100_000;
    const EVERY: usize = 300;
    let started = std::time::Instant::now();
    // Subscribed before the first message: every one of them is owed.
    let (mut client, mut stream) = instances[0].subscribe("soak", None).await;
    let publishers: Vec<Topics> = instances.iter().map(|i| i.topics.clone()).collect();
    // About 10 000 messages/s, well within what the broker takes: an
    // append the broker's client cannot queue stays local (at most once).
    let publisher = tokio::spawn(async move {
        for n in 1..=TOTAL {
            publishers[(n % 2) as usize].publish("soak", &n);
            if n % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    // An event id's place: Redis `MS-SEQ`, JetStream `SEQ`.
    let place = |event: &str| -> (u64, u64) {
        let mut parts = event
            .split('-')
            .map(|p| p.parse::<u64>().expect("a log id"));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let mut seen = vec![false; TOTAL as usize + 1];
    let (mut count, mut resumes, mut on) = (0usize, 0u32, 0usize);
    let mut last_of_publisher = [0u64; 2];
    let mut last_place = (0, 0);
    while count < TOTAL as usize {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("{kind}: {count} messages, then none within 10 s"))
            .expect("the subscription open")
            .expect("an item, not an error");
        let n = item.as_u64().expect("a number");
        let event = stream.last_event().expect("an event id").to_owned();
        assert!(
            !seen[n as usize],
            "{kind}: {n} twice (after {resumes} resumes)"
        );
        seen[n as usize] = true;
        let publisher = (n % 2) as usize;
        assert!(
            n > last_of_publisher[publisher],
            "{kind}: {n} after {} from the same instance",
            last_of_publisher[publisher]
        );
        last_of_publisher[publisher] = n;
        assert!(
            place(&event) > last_place,
            "{kind}: event {event} not after the one before"
        );
        last_place = place(&event);
        count += 1;
        if count % EVERY == 0 && count < TOTAL as usize {
            assert_eq!(stream.gaps(), 0, "{kind}: a gap before {count}");
            drop((stream, client));
            on = 1 - on;
            (client, stream) = instances[on].subscribe("soak", Some(&event)).await;
            resumes += 1;
        }
    }
    assert_eq!(stream.gaps(), 0, "{kind}: a gap at the end");
    assert!(seen[1..].iter().all(|s| *s), "{kind}: every message");
    publisher.await.unwrap();
    println!(
        "soak ({kind}): {TOTAL} messages on 2 instances, {resumes} resumes on the other instance in {:.1} s: 0 missing, 0 duplicated, in the log's order",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_soak_resuming_across_instances_misses_and_repeats_nothing() {
    soak_across_instances("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_soak_resuming_across_instances_misses_and_repeats_nothing() {
    soak_across_instances("nats").await;
}
