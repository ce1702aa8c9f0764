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
//! Delivery is at most once and never waits: while the broker is down,
//! each instance serves its own clients, what is published meanwhile
//! reaches only local clients (it is not replayed), and the broker's
//! client reconnects by itself. An instance never receives back what it
//! published: each message carries its sender's id.

use std::sync::Arc;

use bytes::Bytes;

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
