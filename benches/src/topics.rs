//! Resumable topics: what retention and the brokers' logs cost. A message
//! published on one instance is timed until a WebSocket subscriber of
//! another instance has it (in-process: the same instance), with
//! retention on and off, and through each broker's log (Redis Streams,
//! NATS JetStream) against its plain pub/sub; the bytes 1000 retained
//! messages take; and the time to replay 1000 messages to a subscriber
//! that resumes, from the instance's own retention and from a broker's log
//! (on an instance started after they were published).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rpc::backplane::{Backplane, Broker, Deliver};
use rpc::client::SubscriptionStream;
use rpc::subscription::{Retention, Topics};
use rpc::{rpc, ErrorObject, Subscription};
use serde_json::{json, Value};

#[rpc]
trait Feed {
    /// Messages published to `topic`, after event `since`.
    #[rpc(subscription = "news", unsubscribe = "unsubscribe_news")]
    async fn subscribe_news(
        &self,
        topic: String,
        since: Option<String>,
    ) -> Result<Subscription<Value>, ErrorObject>;
}

struct Desk(Topics);

impl Feed for Desk {
    async fn subscribe_news(
        &self,
        topic: String,
        since: Option<String>,
    ) -> Result<Subscription<Value>, ErrorObject> {
        self.0.subscribe_since(&topic, since.as_deref())
    }
}

/// A broker without its log: topic messages as plain pub/sub, as before
/// the logs (each instance's own event ids, nothing to replay across).
struct PubSubOnly(Arc<dyn Broker>);

impl Broker for PubSubOnly {
    fn publish(&self, channel: &str, payload: bytes::Bytes) {
        self.0.publish(channel, payload);
    }
    fn listen(&self, channel: &str, deliver: Deliver) {
        self.0.listen(channel, deliver);
    }
    fn readiness(&self) -> Result<(), String> {
        self.0.readiness()
    }
}

/// How topics travel between instances.
#[derive(Clone, Copy, PartialEq)]
pub enum Carrier {
    /// One instance, no broker.
    Local,
    /// The broker's log.
    Log,
    /// The broker's pub/sub only.
    PubSub,
}

async fn backplane(url: &str, carrier: Carrier) -> Option<Backplane> {
    // Room for the 1001 messages of the replay (JetStream keeps the last
    // N per topic whatever their age).
    let retention = Retention {
        messages: 2000,
        ..Retention::default()
    };
    let broker: Arc<dyn Broker> = if url.starts_with("redis") {
        Arc::new(
            rpc_backplane::RedisBroker::new(url)
                .ok()?
                .with_retention(retention),
        )
    } else {
        Arc::new(
            rpc_backplane::NatsBroker::connect(url)
                .await
                .ok()?
                .with_retention(retention),
        )
    };
    let backplane = match carrier {
        Carrier::PubSub => Backplane::new(PubSubOnly(broker)),
        _ => Backplane::shared(broker),
    };
    // Until the broker is reached (and its log followed).
    let started = Instant::now();
    while backplane.readiness().is_err() {
        if started.elapsed() > Duration::from_secs(15) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(backplane)
}

/// An instance: its topics, served over WebSocket.
async fn instance(backplane: Option<Backplane>, retention: Retention) -> (Topics, SocketAddr) {
    let mut topics = Topics::new().with_retention(retention);
    if let Some(backplane) = backplane {
        topics = topics.with_backplane(backplane);
    }
    let listening = rpc::http::Server::new(Desk(topics.clone()).into_rpc())
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listening.local_addr().expect("addr");
    tokio::spawn(listening.run());
    (topics, addr)
}

async fn subscribe(
    addr: SocketAddr,
    topic: &str,
    since: Option<&str>,
) -> Option<(rpc::Client, SubscriptionStream<Value>)> {
    let connection = rpc::ws::connect(&format!("ws://{addr}/"), rpc::MethodTable::new())
        .await
        .ok()?;
    let client = rpc::Client::new(connection);
    let stream = client
        .subscribe_news(topic.to_owned(), since.map(str::to_owned))
        .await
        .ok()?;
    Some((client, stream))
}

/// A message of about 120 bytes.
fn message(n: u64) -> Value {
    json!({"n": n, "text": "a message of about a hundred and twenty bytes, as a small event in a feed would be"})
}

/// Messages published on the first instance and received by a subscriber
/// of the second (the same one, `Local`), per second: 20 000 of them, at
/// most 200 ahead of the subscriber (no lag).
pub async fn delivery(url: Option<&str>, carrier: Carrier, retention: Retention) -> Option<f64> {
    let (publisher, receiver) = match url {
        Some(url) => {
            let a = instance(Some(backplane(url, carrier).await?), retention).await;
            let b = instance(Some(backplane(url, carrier).await?), retention).await;
            (a.0, b.1)
        }
        None => {
            let a = instance(None, retention).await;
            (a.0, a.1)
        }
    };
    let (_client, mut stream) = subscribe(receiver, "bench", None).await?;
    let received = Arc::new(AtomicU64::new(0));
    let counted = received.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(_)) = stream.next().await {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Until the subscription is reached from the publisher.
    let ready = Instant::now();
    while received.load(Ordering::Relaxed) == 0 {
        if ready.elapsed() > Duration::from_secs(15) {
            return None;
        }
        publisher.publish("bench", &message(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    const N: u64 = 20_000;
    let before = received.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut sent = 0;
    while received.load(Ordering::Relaxed) - before < N {
        if started.elapsed() > Duration::from_secs(60) {
            return None;
        }
        if sent < N && sent - (received.load(Ordering::Relaxed) - before).min(sent) < 200 {
            publisher.publish("bench", &message(sent));
            sent += 1;
        } else {
            tokio::task::yield_now().await;
        }
    }
    let rate = N as f64 / started.elapsed().as_secs_f64();
    reader.abort();
    Some(rate)
}

/// The bytes that 1000 retained messages of about 120 bytes take, and
/// their JSON text's.
pub fn retained_bytes() -> (f64, f64) {
    let topics = Topics::new();
    let mut text = 0;
    for n in 0..1000 {
        let message = message(n);
        text += message.to_string().len();
        topics.publish("kept", &message);
    }
    (topics.retained_bytes() as f64, text as f64)
}

/// Milliseconds to replay 1000 messages to a subscriber resuming after
/// the event before them: from the instance that retained them, and (with
/// a broker) from the log, on an instance started after they were
/// published.
pub async fn replay(url: Option<&str>) -> Option<(f64, Option<f64>)> {
    let backplane_of = |url: Option<&str>| {
        let url = url.map(str::to_owned);
        async move {
            match url {
                Some(url) => backplane(&url, Carrier::Log).await.map(Some),
                None => Some(None),
            }
        }
    };
    let (topics, addr) = instance(backplane_of(url).await?, Retention::default()).await;
    let since = {
        let (_client, mut stream) = subscribe(addr, "replay", None).await?;
        topics.publish("replay", &message(0));
        stream.next().await?.ok()?;
        stream.last_event()?.to_owned()
    };
    // With no subscriber to outrun, then a moment for the log to be
    // followed back to this instance.
    for n in 1..=1000 {
        topics.publish("replay", &message(n));
        if n % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let timed = |addr: SocketAddr, since: String| async move {
        let started = Instant::now();
        let (_client, mut stream) = subscribe(addr, "replay", Some(&since)).await?;
        for i in 0..1000 {
            match stream.next().await {
                Some(Ok(_)) => {}
                other => {
                    eprintln!("replay: item {i}: {other:?}");
                    return None;
                }
            }
        }
        if stream.gaps() != 0 {
            eprintln!("replay: a gap resuming after {since}");
            return None;
        }
        Some(started.elapsed().as_secs_f64() * 1000.0)
    };
    let local = timed(addr, since.clone()).await?;
    let from_log = match url {
        Some(_) => {
            let (_, later) = instance(backplane_of(url).await?, Retention::default()).await;
            Some(timed(later, since).await?)
        }
        None => None,
    };
    Some((local, from_log))
}
