//! Named topics that clients subscribe to and anyone publishes to.
//!
//! A message is encoded once, when it is published, and shared by every
//! subscriber until its notice is written: a subscriber costs its queue's
//! byte budget, never a copy of every message. A subscription that ends
//! (unsubscribed, lagged, or its connection closed) leaves its topic at
//! once, and a topic without subscribers is forgotten.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backplane::Backplane;
use super::subscription::Subscription;
use crate::protocol::ErrorObject;

/// The longest topic name accepted by default, in bytes.
pub const MAX_TOPIC_NAME: usize = 256;

/// Named topics that clients subscribe to and anyone publishes to: each
/// subscriber gets what is published after it subscribed. Cheap to clone.
/// With a [backplane](Topics::with_backplane), what is published on one
/// instance also reaches the subscribers of every other.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use rpc_core::subscription::{Subscription, Topics};
/// let topics = Topics::new();
/// // What a handler returns: typed as the method declares its items.
/// let news: Subscription<serde_json::Value> = topics.subscribe("news")?;
/// assert_eq!(topics.publish("news", &serde_json::json!("hello")), 1);
/// assert_eq!(topics.publish("sport", &serde_json::json!(1)), 0);
/// drop(news); // its subscription ended: the topic is gone
/// assert_eq!(topics.len(), 0);
/// // Any serializable type, encoded once for every subscriber.
/// #[derive(serde::Serialize)]
/// struct Todo { id: u64, title: String }
/// let changes: Subscription<Todo> = topics.subscribe("changes")?;
/// assert_eq!(topics.publish("changes", &Todo { id: 1, title: "milk".into() }), 1);
/// # drop(changes);
/// # Ok::<_, rpc_core::ErrorObject>(()) });
/// ```
#[derive(Clone)]
pub struct Topics {
    inner: Arc<TopicsInner>,
}

struct TopicsInner {
    /// Each topic's subscribers, by serial number.
    subscribers: Mutex<HashMap<Box<str>, HashMap<u64, Subscriber>>>,
    next: AtomicU64,
    max_name: usize,
    backplane: std::sync::OnceLock<Backplane>,
}

/// Where one subscriber's messages go.
struct Subscriber {
    sender: mpsc::Sender<Arc<RawValue>>,
    /// Cancelled when its buffer is full: it ends as lagged.
    lagged: CancellationToken,
}

/// Messages buffered per topic subscriber: beyond, it ends as lagged.
const TOPIC_BUFFER: usize = 256;

/// The backplane channel of topic messages.
const TOPICS: &str = "rpc.topic";

impl Default for Topics {
    fn default() -> Self {
        Topics {
            inner: Arc::new(TopicsInner {
                subscribers: Mutex::default(),
                next: AtomicU64::new(0),
                max_name: MAX_TOPIC_NAME,
                backplane: std::sync::OnceLock::new(),
            }),
        }
    }
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topics")
            .field("topics", &self.len())
            .finish_non_exhaustive()
    }
}

impl Topics {
    /// No topics yet, on this instance only.
    pub fn new() -> Self {
        Topics::default()
    }

    /// Accepts topic names of at most `bytes` bytes (default
    /// [`MAX_TOPIC_NAME`]). Set it before sharing the topics.
    pub fn with_max_name_len(mut self, bytes: usize) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.max_name = bytes,
            None => tracing::warn!("with_max_name_len on topics already shared: ignored"),
        }
        self
    }

    /// Shares what is published with the other instances on `backplane`.
    /// Set once; later calls are ignored.
    pub fn with_backplane(self, backplane: Backplane) -> Self {
        if self.inner.backplane.set(backplane.clone()).is_ok() {
            let topics = Arc::downgrade(&self.inner);
            backplane.listen(TOPICS, move |message| {
                let Some(inner) = topics.upgrade() else {
                    return;
                };
                #[derive(serde::Deserialize)]
                struct Published<'a>(String, #[serde(borrow)] &'a RawValue);
                match serde_json::from_slice::<Published<'_>>(&message) {
                    Ok(Published(topic, value)) => {
                        Topics { inner }.deliver(&topic, Arc::from(value.to_owned()));
                    }
                    Err(error) => {
                        tracing::warn!(
                            error = error.to_string(),
                            "an unreadable topic message from the backplane"
                        )
                    }
                }
            });
        }
        self
    }

    /// A subscription to `topic`: what a subscription handler returns.
    /// A name longer than the limit is refused with -32602. `T` is the item
    /// type the method declares (`Subscription<Todo>`, or `serde_json::Value`
    /// for anything): the messages go out as [`publish`](Self::publish)ed,
    /// encoded once, so publish values of that shape.
    pub fn subscribe<T: Send + 'static>(
        &self,
        topic: &str,
    ) -> Result<Subscription<T>, ErrorObject> {
        if topic.len() > self.inner.max_name {
            return Err(ErrorObject::invalid_params(format_args!(
                "topic name of {} bytes; the limit is {}",
                topic.len(),
                self.inner.max_name
            )));
        }
        let (sender, receiver) = mpsc::channel(TOPIC_BUFFER);
        let lagged = CancellationToken::new();
        let serial = self.inner.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut subscribers) = self.inner.subscribers.lock() {
            subscribers.entry(topic.into()).or_default().insert(
                serial,
                Subscriber {
                    sender,
                    lagged: lagged.clone(),
                },
            );
        }
        // Leaves the topic when the subscription's items are dropped (it
        // ended, whatever ended it).
        let leave = Leave {
            topics: Arc::downgrade(&self.inner),
            topic: topic.into(),
            serial,
        };
        let items =
            futures_util::stream::unfold((receiver, leave), |(mut receiver, leave)| async move {
                receiver.recv().await.map(|item| (item, (receiver, leave)))
            });
        Ok(Subscription::encoded(items, lagged))
    }

    /// Delivers `message` to every subscriber of `topic`, here and (with a
    /// backplane) on the other instances; returns how many subscriptions
    /// on this instance took it (a full one ends as lagged). The message
    /// is encoded once, whatever the number of subscribers.
    pub fn publish<M: serde::Serialize + ?Sized>(&self, topic: &str, message: &M) -> u64 {
        let Ok(encoded) = serde_json::value::to_raw_value(message) else {
            return 0;
        };
        if let Some(backplane) = self.inner.backplane.get() {
            if let Ok(encoded) = serde_json::to_vec(&(topic, &encoded)) {
                backplane.publish(TOPICS, &encoded);
            }
        }
        self.deliver(topic, Arc::from(encoded))
    }

    fn deliver(&self, topic: &str, message: Arc<RawValue>) -> u64 {
        let Ok(subscribers) = self.inner.subscribers.lock() else {
            return 0;
        };
        let Some(topic) = subscribers.get(topic) else {
            return 0;
        };
        let mut reached = 0;
        for subscriber in topic.values() {
            match subscriber.sender.try_send(message.clone()) {
                Ok(()) => reached += 1,
                Err(mpsc::error::TrySendError::Full(_)) => subscriber.lagged.cancel(),
                // Ended: it leaves by itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        reached
    }

    /// How many topics have subscribers on this instance.
    pub fn len(&self) -> usize {
        self.inner.subscribers.lock().map_or(0, |s| s.len())
    }

    /// Whether no topic has subscribers on this instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A subscriber's place in its topic, given up when dropped.
struct Leave {
    topics: Weak<TopicsInner>,
    topic: Box<str>,
    serial: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let Some(inner) = self.topics.upgrade() else {
            return;
        };
        let Ok(mut subscribers) = inner.subscribers.lock() else {
            return;
        };
        if let Some(topic) = subscribers.get_mut(&self.topic) {
            topic.remove(&self.serial);
            if topic.is_empty() {
                subscribers.remove(&self.topic);
            }
        }
    }
}
