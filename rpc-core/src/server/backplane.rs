//! Push across instances: a [`Backplane`] carries broadcasts and topic
//! messages between the instances of a service through a broker.
//!
//! HTTP calls scale out behind any balancer; server push does not: a
//! broadcast reaches the clients of the instance that sent it. Give every
//! instance's [`Connections`](crate::duplex::Connections) and
//! [`Topics`](crate::server::topics::Topics) the same backplane, and what one
//! instance broadcasts or publishes also reaches the clients connected to
//! every other. In-process (no broker) is the default: nothing crosses.
//! The brokers live in the `rpc-backplane` crate (Redis pub/sub, NATS),
//! each behind a Cargo feature; anything else implements [`Broker`].
//!
//! Broadcasts are delivered at most once and never wait: while the broker
//! is down, each instance serves its own clients, what is broadcast
//! meanwhile reaches only local clients (it is not replayed), and the
//! broker's client reconnects by itself. An instance never receives back
//! what it broadcast: each message carries its sender's id.
//!
//! Topic messages go further where the broker keeps a log ([`TopicLog`]:
//! Redis Streams, NATS JetStream): the broker orders them and gives them
//! their event ids, every instance follows the log (and catches up on
//! what was appended while it was cut off), and a subscriber that resumes
//! on any instance is replayed from the log what it missed.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

/// Carries messages between instances: what a broker client (Redis,
/// NATS) implements. Neither method may wait for the broker.
pub trait Broker: Send + Sync + 'static {
    /// Sends `payload` on `channel` to every instance listening there (this
    /// one included: the [`Backplane`] drops its own). Never waits: while the
    /// broker cannot be reached the message is dropped.
    fn publish(&self, channel: &str, payload: Bytes);

    /// Hands every message published on `channel` to `deliver`, from now
    /// on and across the broker's reconnections.
    fn listen(&self, channel: &str, deliver: Deliver);

    /// The broker's log of topic messages, if it keeps one (default: none:
    /// topic messages then travel as broadcasts do, and event ids are each
    /// instance's own).
    fn log(&self) -> Option<Arc<dyn TopicLog>> {
        None
    }

    /// Whether the broker is reachable and listening now: `Err` says why
    /// not (what the readiness probe answers). Default: always ready.
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A broker's shared, ordered and retained log of topic messages, as
/// [`Topics`](crate::server::topics::Topics) uses it when the backplane's
/// broker has one. The log gives each message its event id; every
/// instance follows the whole log, so all of them hand out the same ids in
/// the same order, and any of them can replay a topic from an id.
pub trait TopicLog: Send + Sync + 'static {
    /// Appends `message` (JSON text) to `topic`'s log, without waiting;
    /// `false` when the broker cannot take it now (the message is then
    /// delivered on this instance only, with an id of its own).
    fn append(&self, topic: &str, message: Bytes) -> bool;

    /// Hands every message appended from now on, to any topic, by any
    /// instance (this one included), to `deliver`, in the log's order.
    /// After the broker was lost, it goes on from the last message handed
    /// over, so that nothing appended meanwhile is skipped (unless the log
    /// no longer holds it).
    fn follow(&self, deliver: Follow);

    /// The messages of `topic` after event `after` (after none: all),
    /// oldest first, as the log still holds them. An `after` that the log
    /// no longer holds, or never did, reads as a gap plus every message
    /// held. `Err` when the broker cannot be asked now.
    fn read(&self, topic: &str, after: Option<&str>) -> BoxFuture<'static, Result<Read, String>>;
}

/// What a [`TopicLog`] hands to [`follow`](TopicLog::follow)ers: the topic
/// and the message.
pub type Follow = Arc<dyn Fn(&str, Logged) + Send + Sync>;

/// A message in a [`TopicLog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Its event id, as clients see it and resume from.
    pub event: String,
    /// Its place in the log: later messages have larger ones (how
    /// instances drop a message handed to them twice).
    pub order: u128,
    /// The message's JSON text.
    pub message: Bytes,
}

/// The answer to [`TopicLog::read`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// The `after` asked for is not in the log (any more): what follows may
    /// not be all that came after it.
    pub gap: bool,
    /// The place of `after` in the log, when it holds it: live messages at
    /// or before it are not sent again, even when no message follows it yet.
    pub after: Option<u128>,
    /// The messages, oldest first.
    pub messages: Vec<Logged>,
}

/// Where a [`Broker`] hands the messages of a channel.
pub type Deliver = Arc<dyn Fn(Bytes) + Send + Sync>;

/// The instances' shared broker, as [`Connections`](crate::duplex::Connections)
/// and [`Topics`](crate::server::topics::Topics) use it. Cheap to clone.
#[derive(Clone)]
pub struct Backplane {
    broker: Arc<dyn Broker>,
    /// This instance's id, on everything it publishes.
    origin: u64,
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backplane")
            .field("origin", &format_args!("{:016x}", self.origin))
            .finish_non_exhaustive()
    }
}

/// The length of the origin written before each message: 16 hex digits
/// and a newline.
const ORIGIN: usize = 17;

impl Backplane {
    /// A backplane over `broker`, for one instance.
    pub fn new(broker: impl Broker) -> Self {
        Backplane::shared(Arc::new(broker))
    }

    /// A backplane over a broker shared with other parts of the program.
    pub fn shared(broker: Arc<dyn Broker>) -> Self {
        Backplane {
            broker,
            origin: instance_id(),
        }
    }

    /// The broker's log of topic messages, if it keeps one.
    pub fn log(&self) -> Option<Arc<dyn TopicLog>> {
        self.broker.log()
    }

    /// Whether the broker is reachable and listening now (`Err`: why not).
    pub fn readiness(&self) -> Result<(), String> {
        self.broker.readiness()
    }

    /// Publishes `message` on `channel` for the other instances.
    pub(crate) fn publish(&self, channel: &str, message: &[u8]) {
        let mut payload = Vec::with_capacity(ORIGIN + message.len());
        payload.extend_from_slice(format!("{:016x}\n", self.origin).as_bytes());
        payload.extend_from_slice(message);
        self.broker.publish(channel, Bytes::from(payload));
    }

    /// Hands what other instances publish on `channel` to `deliver`.
    pub(crate) fn listen(&self, channel: &str, deliver: impl Fn(Bytes) + Send + Sync + 'static) {
        let own = format!("{:016x}\n", self.origin);
        self.broker.listen(
            channel,
            Arc::new(move |payload: Bytes| {
                let stamped = payload.len() >= ORIGIN
                    && payload[..ORIGIN - 1].iter().all(u8::is_ascii_hexdigit)
                    && payload[ORIGIN - 1] == b'\n';
                if !stamped {
                    tracing::warn!(target: "rpc::backplane", "a message on the backplane that no instance sent: dropped");
                    return;
                }
                if payload.starts_with(own.as_bytes()) {
                    return;
                }
                deliver(payload.slice(ORIGIN..));
            }),
        );
    }
}

/// An id for this instance: random enough that two never share one.
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A broker in memory: every listener of a channel gets every message.
    #[derive(Default, Clone)]
    struct Memory(Arc<Mutex<Vec<(String, Deliver)>>>);

    impl Broker for Memory {
        fn publish(&self, channel: &str, payload: Bytes) {
            let listeners = self.0.lock().unwrap().clone();
            for (c, deliver) in listeners {
                if c == channel {
                    deliver(payload.clone());
                }
            }
        }
        fn listen(&self, channel: &str, deliver: Deliver) {
            self.0.lock().unwrap().push((channel.to_owned(), deliver));
        }
    }

    #[test]
    fn an_instance_hears_the_others_and_never_itself() {
        let broker: Arc<dyn Broker> = Arc::new(Memory::default());
        let (a, b) = (Backplane::shared(broker.clone()), Backplane::shared(broker));
        let heard = Arc::new(Mutex::new(Vec::new()));
        for (name, backplane) in [("a", &a), ("b", &b)] {
            let heard = heard.clone();
            backplane.listen("news", move |m| {
                heard.lock().unwrap().push((name, m));
            });
        }
        a.publish("news", b"from a");
        b.publish("news", b"from b");
        b.publish("other", b"elsewhere");
        // Something another program put on the channel, unstamped: dropped.
        broker_of(&a).publish("news", Bytes::from_static(b"{\"method\":\"x\"}"));
        let heard = heard.lock().unwrap().clone();
        assert_eq!(
            heard,
            vec![("b", Bytes::from("from a")), ("a", Bytes::from("from b"))]
        );
    }

    fn broker_of(backplane: &Backplane) -> Arc<dyn Broker> {
        backplane.broker.clone()
    }
}
