//! Named topics that clients subscribe to and anyone publishes to.
//!
//! A message is encoded once, when it is published, and shared by every
//! subscriber until its notice is written: a subscriber costs its queue's
//! byte budget, never a copy of every message. A subscription that ends
//! (unsubscribed, lagged, or its connection closed) leaves its topic at
//! once. Each message gets an event id and is retained for a while
//! ([`Retention`]), so that a subscriber that comes back resumes after the
//! last event it saw ([`Topics::subscribe_since`]); a topic with neither
//! subscribers nor retained messages is forgotten.
//!
//! With a backplane whose broker keeps a log ([`TopicLog`]: Redis Streams,
//! NATS JetStream), the log gives the event ids: a message published here
//! is appended to it, every instance (this one too) delivers it as the
//! log hands it over, so all instances use the same ids, and a subscriber
//! resuming from an id this instance does not hold is replayed from the
//! log. While the broker is away, what is published here is delivered here
//! with ids of this instance's own.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backplane::{Backplane, Logged, TopicLog};
use super::subscription::{Item, Subscription};
use crate::protocol::ErrorObject;

/// The longest topic name accepted by default, in bytes.
pub const MAX_TOPIC_NAME: usize = 256;

/// How much of each topic is kept for subscribers that resume: at least
/// the last [`messages`](Self::messages), or every message younger than
/// [`age`](Self::age), whichever is more; and never more than
/// [`bytes`](Self::bytes) across all topics (the oldest go first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept per topic whatever their age (default 1000).
    pub messages: usize,
    /// Messages kept per topic whatever their number (default 5 minutes).
    pub age: Duration,
    /// Bytes kept across all topics, at most (default 64 MiB).
    pub bytes: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            messages: 1000,
            age: Duration::from_secs(300),
            bytes: 64 * 1024 * 1024,
        }
    }
}

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
    topics: Mutex<HashMap<Box<str>, Topic>>,
    /// Serial numbers of subscribers.
    next: AtomicU64,
    max_name: usize,
    retention: Retention,
    /// What this instance's event ids start with: ids of another instance
    /// (or of this one before a restart) are not taken for its own.
    epoch: u64,
    /// Bytes retained across all topics.
    retained_bytes: AtomicUsize,
    backplane: std::sync::OnceLock<Backplane>,
    /// The backplane broker's log, when it keeps one.
    log: std::sync::OnceLock<Arc<dyn TopicLog>>,
}

/// One topic: its subscribers, by serial number, and its retained messages.
#[derive(Default)]
struct Topic {
    subscribers: HashMap<u64, Subscriber>,
    retained: VecDeque<Stored>,
    /// The sequence number of the next message.
    next_seq: u64,
    /// The log's place of the last message it handed over.
    last_order: Option<u128>,
}

/// A retained message.
struct Stored {
    seq: u64,
    at: Instant,
    event: Arc<str>,
    message: Arc<RawValue>,
}

impl Stored {
    fn size(&self) -> usize {
        self.message.get().len() + self.event.len() + STORED_OVERHEAD
    }
}

/// What a retained message costs besides its text and id (an estimate).
const STORED_OVERHEAD: usize = 64;

/// A message on its way to a subscriber: event id, text, place in the log.
type Live = (Arc<str>, Arc<RawValue>, Option<u128>);

/// Where one subscriber's messages go, with their event ids.
struct Subscriber {
    sender: mpsc::Sender<Live>,
    /// Cancelled when its buffer is full: it ends as lagged.
    lagged: CancellationToken,
}

/// Messages buffered per topic subscriber: beyond, it ends as lagged.
const TOPIC_BUFFER: usize = 256;

/// The backplane channel of topic messages.
const TOPICS: &str = "rpc.topic";

impl Default for Topics {
    fn default() -> Self {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Topics {
            inner: Arc::new(TopicsInner {
                topics: Mutex::default(),
                next: AtomicU64::new(0),
                max_name: MAX_TOPIC_NAME,
                retention: Retention::default(),
                epoch,
                retained_bytes: AtomicUsize::new(0),
                backplane: std::sync::OnceLock::new(),
                log: std::sync::OnceLock::new(),
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

    /// Keeps what `retention` says of each topic for subscribers that
    /// resume (default [`Retention::default`]). Set it before sharing the
    /// topics.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.retention = retention,
            None => tracing::warn!("with_retention on topics already shared: ignored"),
        }
        self
    }

    /// Bytes of messages retained across all topics (bounded by
    /// [`Retention::bytes`]).
    pub fn retained_bytes(&self) -> usize {
        self.inner.retained_bytes.load(Ordering::Relaxed)
    }

    /// Shares what is published with the other instances on `backplane`.
    /// Set once; later calls are ignored.
    pub fn with_backplane(self, backplane: Backplane) -> Self {
        if self.inner.backplane.set(backplane.clone()).is_err() {
            return self;
        }
        if let Some(log) = backplane.log() {
            let topics = Arc::downgrade(&self.inner);
            log.follow(Arc::new(move |topic: &str, logged: Logged| {
                let Some(inner) = topics.upgrade() else {
                    return;
                };
                match logged_json(&logged.message) {
                    Ok(message) => {
                        let event = Arc::from(logged.event);
                        Topics { inner }.deliver(topic, message, Some((event, logged.order)));
                    }
                    Err(error) => tracing::warn!(
                        topic,
                        error,
                        "a topic message in the log that is not JSON: skipped"
                    ),
                }
            }));
            let _ = self.inner.log.set(log);
            return self;
        }
        let topics = Arc::downgrade(&self.inner);
        backplane.listen(TOPICS, move |message| {
            let Some(inner) = topics.upgrade() else {
                return;
            };
            #[derive(serde::Deserialize)]
            struct Published<'a>(String, #[serde(borrow)] &'a RawValue);
            match serde_json::from_slice::<Published<'_>>(&message) {
                Ok(Published(topic, value)) => {
                    Topics { inner }.deliver(&topic, Arc::from(value.to_owned()), None);
                }
                Err(error) => {
                    tracing::warn!(
                        error = error.to_string(),
                        "an unreadable topic message from the backplane"
                    )
                }
            }
        });
        self
    }

    /// A subscription to `topic`: what a subscription handler returns.
    /// A name longer than the limit is refused with -32602. `T` is the item
    /// type the method declares (`Subscription<Todo>`, or `serde_json::Value`
    /// for anything): the messages go out as [`publish`](Self::publish)ed,
    /// encoded once, so publish values of that shape. Each item carries its
    /// event id (`"event"` beside `"result"`).
    pub fn subscribe<T: Send + 'static>(
        &self,
        topic: &str,
    ) -> Result<Subscription<T>, ErrorObject> {
        self.subscribe_since(topic, None)
    }

    /// [`subscribe`](Self::subscribe), resuming after event `since`: first
    /// every retained message published after it, in order, then live ones,
    /// with none missing or repeated at the seam. A `since` no longer
    /// retained (or not this instance's) yields one gap notice
    /// (`{"subscription": ID, "gap": true}`) first, then every retained
    /// message.
    pub fn subscribe_since<T: Send + 'static>(
        &self,
        topic: &str,
        since: Option<&str>,
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
        let mut replay: Vec<Item<T>> = Vec::new();
        // A `since` this instance does not hold, read from the log.
        let mut from_log = None;
        if let Ok(mut topics) = self.inner.topics.lock() {
            let entry = topics.entry(topic.into()).or_default();
            self.inner.expire(entry, Instant::now());
            if let Some(since) = since {
                let start = match self.inner.position_after(entry, since) {
                    Found::At(start) => start,
                    Found::Elsewhere if self.inner.log.get().is_some() => {
                        from_log = self.inner.log.get().cloned();
                        entry.retained.len()
                    }
                    Found::Elsewhere | Found::Gone => {
                        replay.push(Item::Gap);
                        0
                    }
                };
                replay.extend(entry.retained.range(start..).map(|m| Item::Encoded {
                    message: m.message.clone(),
                    event: Some(m.event.clone()),
                }));
            }
            // Registered under the same lock as the replay was read: what
            // is published next goes to the channel, after the replay.
            entry.subscribers.insert(
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
        let live =
            futures_util::stream::unfold((receiver, leave), |(mut receiver, leave)| async move {
                let live = receiver.recv().await?;
                Some((live, (receiver, leave)))
            });
        let item = |(event, message, _): Live| Item::Encoded {
            message,
            event: Some(event),
        };
        use futures_util::StreamExt;
        let Some(log) = from_log else {
            let items = futures_util::stream::iter(replay).chain(live.map(item));
            return Ok(Subscription::encoded(items, lagged));
        };
        // Live messages wait in the channel while the log is read; those
        // the read already returned are skipped (the log orders both).
        let (topic, since) = (topic.to_owned(), since.unwrap_or_default().to_owned());
        let items = futures_util::stream::once(async move {
            let (read, last) = read_log(&*log, &topic, &since).await;
            let live = live
                .filter(move |(_, _, order)| {
                    let fresh = match (order, last) {
                        (Some(order), Some(last)) => *order > last,
                        _ => true,
                    };
                    std::future::ready(fresh)
                })
                .map(item);
            futures_util::stream::iter(read).chain(live)
        })
        .flatten();
        Ok(Subscription::encoded(items, lagged))
    }

    /// Delivers `message` to every subscriber of `topic`, here and (with a
    /// backplane) on the other instances; returns how many subscriptions
    /// on this instance took it (a full one ends as lagged). The message
    /// is encoded once, whatever the number of subscribers.
    ///
    /// With a broker that keeps a log, the message is appended to it and
    /// delivered here (as everywhere) when the log hands it back, a moment
    /// later: the count is then of the subscriptions on this instance when
    /// it was published.
    pub fn publish<M: serde::Serialize + ?Sized>(&self, topic: &str, message: &M) -> u64 {
        let Ok(encoded) = serde_json::value::to_raw_value(message) else {
            return 0;
        };
        if topic.len() > self.inner.max_name {
            return 0;
        }
        if let Some(log) = self.inner.log.get() {
            if log.append(topic, bytes::Bytes::from(encoded.get().to_owned())) {
                return self.inner.topics.lock().map_or(0, |topics| {
                    topics.get(topic).map_or(0, |t| t.subscribers.len() as u64)
                });
            }
            // The broker is away: delivered here only.
            return self.deliver(topic, Arc::from(encoded), None);
        }
        if let Some(backplane) = self.inner.backplane.get() {
            if let Ok(encoded) = serde_json::to_vec(&(topic, &encoded)) {
                backplane.publish(TOPICS, &encoded);
            }
        }
        self.deliver(topic, Arc::from(encoded), None)
    }

    /// Retains `message` and hands it to the topic's subscribers here, with
    /// the log's event id and place when it came from the log (a place
    /// already passed: handed over twice, dropped), else an id of this
    /// instance's own.
    fn deliver(
        &self,
        topic: &str,
        message: Arc<RawValue>,
        logged: Option<(Arc<str>, u128)>,
    ) -> u64 {
        let Ok(mut topics) = self.inner.topics.lock() else {
            return 0;
        };
        if topic.len() > self.inner.max_name {
            return 0;
        }
        let entry = topics.entry(topic.into()).or_default();
        let (event, order) = match logged {
            Some((event, order)) => {
                if entry.last_order.is_some_and(|last| order <= last) {
                    return 0;
                }
                entry.last_order = Some(order);
                (event, Some(order))
            }
            None => (
                Arc::from(format!("{:x}-{}", self.inner.epoch, entry.next_seq)),
                None,
            ),
        };
        let seq = entry.next_seq;
        entry.next_seq += 1;
        let stored = Stored {
            seq,
            at: Instant::now(),
            event: event.clone(),
            message: message.clone(),
        };
        self.inner.retain(entry, stored);
        let mut reached = 0;
        for subscriber in entry.subscribers.values() {
            match subscriber
                .sender
                .try_send((event.clone(), message.clone(), order))
            {
                Ok(()) => reached += 1,
                Err(mpsc::error::TrySendError::Full(_)) => subscriber.lagged.cancel(),
                // Ended: it leaves by itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if entry.subscribers.is_empty() && entry.retained.is_empty() {
            topics.remove(topic);
        }
        reached
    }

    /// How many topics have subscribers on this instance.
    pub fn len(&self) -> usize {
        self.inner.topics.lock().map_or(0, |topics| {
            topics
                .values()
                .filter(|t| !t.subscribers.is_empty())
                .count()
        })
    }

    /// Whether no topic has subscribers on this instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TopicsInner {
    /// Keeps `stored` in `topic`, then drops what retention no longer asks
    /// for, and the oldest while over the byte budget (this message too, if
    /// it cannot fit at all).
    fn retain(&self, topic: &mut Topic, stored: Stored) {
        let size = stored.size();
        topic.retained.push_back(stored);
        self.retained_bytes.fetch_add(size, Ordering::Relaxed);
        self.expire(topic, Instant::now());
        while self.retained_bytes.load(Ordering::Relaxed) > self.retention.bytes {
            let Some(oldest) = topic.retained.pop_front() else {
                break;
            };
            self.retained_bytes
                .fetch_sub(oldest.size(), Ordering::Relaxed);
        }
    }

    /// Drops the messages both beyond the count and older than the age.
    fn expire(&self, topic: &mut Topic, now: Instant) {
        while topic.retained.len() > self.retention.messages {
            let Some(oldest) = topic.retained.front() else {
                break;
            };
            if now.duration_since(oldest.at) <= self.retention.age {
                break;
            }
            if let Some(oldest) = topic.retained.pop_front() {
                self.retained_bytes
                    .fetch_sub(oldest.size(), Ordering::Relaxed);
            }
        }
    }

    /// Where, in `topic`'s retained messages, those after event `since`
    /// start.
    fn position_after(&self, topic: &Topic, since: &str) -> Found {
        if let Some(seq) = self.seq_of(since) {
            // One of this instance's own ids.
            let oldest = topic.retained.front().map_or(topic.next_seq, |m| m.seq);
            if seq < topic.next_seq && seq + 1 >= oldest {
                return Found::At(topic.retained.partition_point(|m| m.seq <= seq));
            }
            return Found::Gone;
        }
        match topic.retained.iter().rposition(|m| &*m.event == since) {
            Some(at) => Found::At(at + 1),
            None => Found::Elsewhere,
        }
    }

    /// The sequence number in this instance's event id `event`.
    fn seq_of(&self, event: &str) -> Option<u64> {
        let (epoch, seq) = event.split_once('-')?;
        if u64::from_str_radix(epoch, 16).ok()? != self.epoch {
            return None;
        }
        seq.parse().ok()
    }
}

/// Where a resumed subscription starts.
enum Found {
    /// At this index of the retained messages.
    At(usize),
    /// An id of this instance's own that is no longer retained: a gap.
    Gone,
    /// Not an id of this instance's, nor one retained here (perhaps the log
    /// holds it).
    Elsewhere,
}

/// A logged message's text as JSON, checked (the log is another program's
/// to write to).
fn logged_json(message: &[u8]) -> Result<Arc<RawValue>, String> {
    let text = String::from_utf8(message.to_vec()).map_err(|e| e.to_string())?;
    RawValue::from_string(text)
        .map(Arc::from)
        .map_err(|e| e.to_string())
}

/// The items replayed from the log after `since` (a gap first, if the log
/// says so or cannot be read), and the log's place of the last of them.
async fn read_log<T>(log: &dyn TopicLog, topic: &str, since: &str) -> (Vec<Item<T>>, Option<u128>) {
    let read = match log.read(topic, Some(since)).await {
        Ok(read) => read,
        Err(error) => {
            tracing::warn!(topic, error, "cannot read the topic's log to resume: a gap");
            return (vec![Item::Gap], None);
        }
    };
    let mut items = Vec::with_capacity(read.messages.len() + 1);
    if read.gap {
        items.push(Item::Gap);
    }
    // With nothing after `since` yet, `since` itself is the floor: this
    // instance, catching up, may still deliver it live.
    let mut last = read.after;
    for logged in read.messages {
        let Ok(message) = logged_json(&logged.message) else {
            continue;
        };
        last = Some(logged.order);
        items.push(Item::Encoded {
            message,
            event: Some(Arc::from(logged.event)),
        });
    }
    (items, last)
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
        let Ok(mut topics) = inner.topics.lock() else {
            return;
        };
        if let Some(topic) = topics.get_mut(&self.topic) {
            topic.subscribers.remove(&self.serial);
            if topic.subscribers.is_empty() && topic.retained.is_empty() {
                topics.remove(&self.topic);
            }
        }
    }
}
