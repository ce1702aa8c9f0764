//! The backplane on Redis: broadcasts on pub/sub, topic messages in Redis
//! Streams.
//!
//! The topic log is two kinds of streams, every key under the `{rpc}` hash
//! tag (one slot):
//! - `{rpc}:topics`, the log that every instance follows: one entry per
//!   message, fields `t` (topic) and `m` (message), capped at about
//!   100 000 entries ([`LOG_CAP`]);
//! - `{rpc}:topic:NAME`, the messages of topic NAME under the same ids, that
//!   a subscriber resuming is replayed from.
//!
//! One script appends to both at once and trims (`redis/append.lua`).
//! Needs Redis 6.2 or later (`XTRIM MINID`, exclusive ranges).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use rpc_core::backplane::{Broker, Deliver, Follow, Logged, Read, TopicLog};
use rpc_core::subscription::Retention;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{backoff, redacted, Error};

/// Messages waiting to be published while connected: beyond, dropped.
const QUEUE: usize = 4096;
/// Most messages published in one round trip.
const PIPELINE: usize = 256;
/// The longest Redis may take to connect or to answer.
const WAIT: Duration = Duration::from_secs(10);
/// How often an idle subscription connection is pinged (a half-open one
/// is noticed within this and `WAIT`).
const PING: Duration = Duration::from_secs(15);
/// A connection that lasted this long resets the back-off.
const HEALTHY: Duration = Duration::from_secs(10);

/// The log of every topic message, that every instance follows.
const LOG: &str = "{rpc}:topics";
/// What a topic's own stream is called: this, then the topic's name.
const TOPIC: &str = "{rpc}:topic:";
/// Entries the log keeps, about (`MAXLEN ~`): how far an instance cut off
/// from Redis can catch up. A topic's own stream is kept by [`Retention`].
const LOG_CAP: usize = 100_000;
/// Appends to a stream between two trims of it (fewer for a smaller
/// `Retention::messages`): what a trim costs is spread over them.
const TRIM_EVERY: usize = 64;
/// How long a topic's stream outlives its last append, at least (longer
/// when [`Retention::age`] is).
const IDLE_TOPIC: Duration = Duration::from_secs(24 * 60 * 60);
/// How long one `XREAD` of the follower waits for news.
const BLOCK: Duration = Duration::from_secs(1);
/// Most entries read in one round trip (following and replaying).
const PAGE: usize = 512;

/// The script that appends and trims (see the file).
const APPEND: &str = include_str!("redis/append.lua");

/// A Redis broker. Broadcasts go over pub/sub: one connection publishes
/// (and appends topic messages), one listens; both are made again, with
/// back-off, whenever either is lost.
///
/// It keeps a [log](TopicLog) of topic messages in Redis Streams, so that
/// every instance gives a message the same event id (the entry's id, as
/// `1733000000000-0`) and a subscriber resumes on any instance. Each topic
/// keeps at least its last [`Retention::messages`] or every message younger
/// than [`Retention::age`], whichever is more (checked every 64 appends or
/// so, so a little more is held between two checks), and each stream is cut
/// to about [`Retention::bytes`] as Redis estimates its memory (per topic,
/// not across topics; the log too); a topic nobody publishes to for a day (or for `age`, if
/// longer) is forgotten, so that topics used once do not pile up in Redis.
/// A third connection follows the log; after a loss it goes on from the
/// last entry it handed over (as far as the log, about 100 000 entries,
/// still holds it). Messages are appended at most once: those on their way
/// when the connection is lost may be lost.
pub struct RedisBroker {
    outgoing: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
    log: Arc<RedisLog>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.log.url)
            .finish_non_exhaustive()
    }
}

/// What the connection task sends.
enum Outgoing {
    Publish { channel: String, payload: Bytes },
    Append { topic: String, message: Bytes },
}

/// What the broker, its log and its tasks share.
struct Shared {
    listeners: Mutex<HashMap<String, Vec<Deliver>>>,
    /// Wakes the connection task when a channel is added.
    added: Notify,
    /// Whether the publishing and listening connections are up.
    connected: AtomicBool,
    /// The publishing connection while it is up: reads share it.
    reader: Mutex<Option<MultiplexedConnection>>,
    followers: Mutex<Vec<Follow>>,
    retention: Mutex<Retention>,
    /// Why the broker is not ready, if it is not.
    status: Mutex<Status>,
}

/// What readiness reports.
struct Status {
    /// The publishing and listening connections: `Err` says why they are down.
    pubsub: Result<(), String>,
    /// The log's follower, once it is asked for.
    follower: Option<Result<(), String>>,
}

impl Shared {
    fn set_pubsub(&self, status: Result<(), String>) {
        if let Ok(mut s) = self.status.lock() {
            s.pubsub = status;
        }
    }

    fn set_follower(&self, status: Result<(), String>) {
        if let Ok(mut s) = self.status.lock() {
            s.follower = Some(status);
        }
    }
}

impl RedisBroker {
    /// A broker at `url` (`redis://HOST:PORT`), reached in the background.
    /// Needs a Tokio runtime.
    pub fn new(url: &str) -> Result<Self, Error> {
        let client = ::redis::Client::open(url).map_err(|e| Error::InvalidUrl {
            url: redacted(url),
            reason: e.to_string(),
        })?;
        let url = redacted(url);
        let (outgoing, queue) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared {
            listeners: Mutex::default(),
            added: Notify::new(),
            connected: AtomicBool::new(false),
            reader: Mutex::new(None),
            followers: Mutex::default(),
            retention: Mutex::new(Retention::default()),
            status: Mutex::new(Status {
                pubsub: Err(format!("Redis at {url}: not connected yet")),
                follower: None,
            }),
        });
        tokio::spawn(run(client.clone(), queue, shared.clone(), url.clone()));
        let stop = CancellationToken::new();
        let log = Arc::new(RedisLog {
            outgoing: outgoing.clone(),
            shared: shared.clone(),
            client,
            url,
            follower: Once::new(),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        });
        Ok(RedisBroker {
            outgoing,
            shared,
            log,
        })
    }

    /// Keeps what `retention` says of each topic's stream (default
    /// [`Retention::default`]: 1000 messages or 5 minutes, whichever is
    /// more, and 64 MiB). Each instance trims by its own retention when it
    /// appends: give them all the same.
    pub fn with_retention(self, retention: Retention) -> Self {
        if let Ok(mut r) = self.shared.retention.lock() {
            *r = retention;
        }
        self
    }
}

impl Broker for RedisBroker {
    fn publish(&self, channel: &str, payload: Bytes) {
        let message = Outgoing::Publish {
            channel: channel.to_owned(),
            payload,
        };
        if self.outgoing.try_send(message).is_err() {
            tracing::debug!(target: "rpc::backplane", channel, "Redis not reachable: a message stays local");
        }
    }

    fn listen(&self, channel: &str, deliver: Deliver) {
        if let Ok(mut listeners) = self.shared.listeners.lock() {
            listeners
                .entry(channel.to_owned())
                .or_default()
                .push(deliver);
        }
        self.shared.added.notify_one();
    }

    fn log(&self) -> Option<Arc<dyn TopicLog>> {
        Some(self.log.clone())
    }

    fn readiness(&self) -> Result<(), String> {
        let status = self
            .shared
            .status
            .lock()
            .map_err(|_| "the broker's state is poisoned".to_owned())?;
        status.pubsub.clone()?;
        match &status.follower {
            Some(follower) => follower.clone(),
            None => Ok(()),
        }
    }
}

/// The topic log on Redis Streams.
struct RedisLog {
    outgoing: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
    client: ::redis::Client,
    /// Without credentials.
    url: String,
    /// Starts the follower, on the first `follow`.
    follower: Once,
    /// Ends the follower.
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl TopicLog for RedisLog {
    fn append(&self, topic: &str, message: Bytes) -> bool {
        if !self.shared.connected.load(Ordering::Acquire) {
            return false;
        }
        let append = Outgoing::Append {
            topic: topic.to_owned(),
            message,
        };
        self.outgoing.try_send(append).is_ok()
    }

    fn follow(&self, deliver: Follow) {
        if let Ok(mut followers) = self.shared.followers.lock() {
            followers.push(deliver);
        }
        self.follower.call_once(|| {
            self.shared
                .set_follower(Err(format!("Redis at {}: not following yet", self.url)));
            tokio::spawn(follow(
                self.client.clone(),
                self.shared.clone(),
                self.url.clone(),
                self.stop.clone(),
            ));
        });
    }

    fn read(&self, topic: &str, after: Option<&str>) -> BoxFuture<'static, Result<Read, String>> {
        let connection = self.shared.reader.lock().ok().and_then(|r| r.clone());
        let (key, after, url) = (
            format!("{TOPIC}{topic}"),
            after.map(str::to_owned),
            self.url.clone(),
        );
        Box::pin(async move {
            let Some(mut connection) = connection else {
                return Err(format!("Redis at {url} unreachable"));
            };
            tokio::time::timeout(WAIT, read(&mut connection, &key, after.as_deref()))
                .await
                .map_err(|_| format!("Redis at {url}: no answer to XRANGE"))?
                .map_err(|e| format!("Redis at {url}: {e}"))
        })
    }
}

/// Keeps the two connections up and moves messages, until the broker is dropped.
async fn run(
    client: ::redis::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
    url: String,
) {
    let mut attempt = 0;
    let mut waits = backoff();
    loop {
        let connected = tokio::time::timeout(WAIT, async {
            let mut publisher = client.get_multiplexed_async_connection().await?;
            let script: String = ::redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(APPEND)
                .query_async(&mut publisher)
                .await?;
            let (sink, stream) = client.get_async_pubsub().await?.split();
            Ok::<_, ::redis::RedisError>((publisher, script, sink, stream))
        })
        .await
        .unwrap_or_else(|_| Err((::redis::ErrorKind::IoError, "timed out connecting").into()));
        let (mut publisher, mut script, mut sink, mut stream) = match connected {
            Ok(connected) => connected,
            Err(error) => {
                shared.set_pubsub(Err(format!("Redis at {url} unreachable: {error}")));
                if attempt % 10 == 0 {
                    // What the server said, as a string value: log formatters escape it.
                    tracing::warn!(target: "rpc::backplane", %url, error = error.to_string(), attempt, "cannot reach Redis; serving local clients, retrying");
                }
                // Published while down: not replayed.
                while queue.try_recv().is_ok() {}
                if queue.is_closed() {
                    return;
                }
                waits.sleep().await;
                attempt += 1;
                continue;
            }
        };
        let mut subscribed: Vec<String> = Vec::new();
        tracing::info!(target: "rpc::backplane", %url, "connected to Redis");
        let since = Instant::now();
        while queue.try_recv().is_ok() {}
        if let Ok(mut reader) = shared.reader.lock() {
            *reader = Some(publisher.clone());
        }
        let mut ping = tokio::time::interval(PING);
        ping.tick().await;
        let lost = loop {
            // Listen on every channel asked for.
            match tokio::time::timeout(WAIT, subscribe_all(&shared, &mut sink, &mut subscribed))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(error)) => break error.to_string(),
                Err(_) => break "no answer to SUBSCRIBE".to_owned(),
            }
            if !shared.connected.swap(true, Ordering::AcqRel) {
                shared.set_pubsub(Ok(()));
            }
            tokio::select! {
                next = queue.recv() => match next {
                    Some(first) => {
                        // What waits goes in the same round trip.
                        let retention = shared.retention.lock().map(|r| *r).unwrap_or_default();
                        let mut pipeline = ::redis::pipe();
                        let mut next = Some(first);
                        let mut count = 0;
                        while let Some(outgoing) = next.take() {
                            match outgoing {
                                Outgoing::Publish { channel, payload } => {
                                    pipeline.cmd("PUBLISH").arg(channel).arg(payload.as_ref()).ignore();
                                }
                                Outgoing::Append { topic, message } => {
                                    append(&mut pipeline, &script, &topic, &message, &retention);
                                }
                            }
                            count += 1;
                            if count < PIPELINE {
                                next = queue.try_recv().ok();
                            }
                        }
                        let sent = tokio::time::timeout(WAIT, pipeline.query_async::<()>(&mut publisher)).await;
                        match sent {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) if error.is_unrecoverable_error() => break error.to_string(),
                            Ok(Err(error)) if error.kind() == ::redis::ErrorKind::NoScriptError => {
                                // Someone flushed the scripts: what this round appended is lost.
                                tracing::warn!(target: "rpc::backplane", %url, "Redis forgot the append script: loading it again; some topic messages were lost");
                                match ::redis::cmd("SCRIPT").arg("LOAD").arg(APPEND).query_async(&mut publisher).await {
                                    Ok(loaded) => script = loaded,
                                    Err(error) => break error.to_string(),
                                }
                            }
                            // Refused (out of memory, ...): those messages are lost, the connection is fine.
                            Ok(Err(error)) => tracing::warn!(target: "rpc::backplane", %url, error = error.to_string(), "Redis refused messages"),
                            Err(_) => break "no answer to PUBLISH".to_owned(),
                        }
                    }
                    // The broker was dropped.
                    None => return,
                },
                message = stream.next() => match message {
                    Some(message) => {
                        let channel = message.get_channel_name().to_owned();
                        let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                        let listeners = shared
                            .listeners
                            .lock()
                            .map(|l| l.get(&channel).cloned().unwrap_or_default())
                            .unwrap_or_default();
                        for deliver in listeners {
                            deliver(payload.clone());
                        }
                    }
                    None => break "the subscription connection closed".to_owned(),
                },
                () = shared.added.notified() => {}
                _ = ping.tick() => {
                    // A half-open subscription connection answers nothing.
                    match tokio::time::timeout(WAIT, sink.ping::<String>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => break error.to_string(),
                        Err(_) => break "no answer to PING".to_owned(),
                    }
                }
            }
        };
        shared.connected.store(false, Ordering::Release);
        if let Ok(mut reader) = shared.reader.lock() {
            *reader = None;
        }
        shared.set_pubsub(Err(format!("Redis at {url} lost: {lost}")));
        tracing::warn!(target: "rpc::backplane", %url, reason = lost.as_str(), "lost Redis; serving local clients, reconnecting");
        // A connection that did not last is not made again at once.
        if since.elapsed() >= HEALTHY {
            attempt = 0;
            waits.reset();
        }
        waits.sleep().await;
        attempt += 1;
    }
}

/// Adds the script that appends `message` to `topic` to `pipeline`.
fn append(
    pipeline: &mut ::redis::Pipeline,
    script: &str,
    topic: &str,
    message: &[u8],
    retention: &Retention,
) {
    let every = TRIM_EVERY.min(retention.messages).max(1);
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    pipeline
        .cmd("EVALSHA")
        .arg(script)
        .arg(2)
        .arg(LOG)
        .arg(format!("{TOPIC}{topic}"))
        .arg(topic)
        .arg(message)
        .arg(LOG_CAP)
        .arg(retention.messages)
        .arg(ms(retention.age))
        .arg(retention.bytes)
        .arg(every)
        .arg(ms(retention.age.max(IDLE_TOPIC)))
        .ignore();
}

/// Subscribes to the channels listened on that are not subscribed yet.
async fn subscribe_all(
    shared: &Shared,
    sink: &mut ::redis::aio::PubSubSink,
    subscribed: &mut Vec<String>,
) -> Result<(), ::redis::RedisError> {
    let wanted: Vec<String> = shared
        .listeners
        .lock()
        .map(|l| l.keys().cloned().collect())
        .unwrap_or_default();
    for channel in wanted {
        if !subscribed.contains(&channel) {
            sink.subscribe(&channel).await?;
            subscribed.push(channel);
        }
    }
    Ok(())
}

/// Follows the log on a connection of its own, again after every loss,
/// until the log is dropped.
async fn follow(
    client: ::redis::Client,
    shared: Arc<Shared>,
    url: String,
    stop: CancellationToken,
) {
    // The id of the last entry handed over: where the next read starts.
    let mut last: Option<String> = None;
    let mut attempt = 0;
    let mut waits = backoff();
    loop {
        let since = Instant::now();
        let lost = tokio::select! {
            () = stop.cancelled() => return,
            lost = follow_connection(&client, &shared, &url, &mut last) => lost,
        };
        shared.set_follower(Err(format!("Redis at {url} unreachable: {lost}")));
        if attempt % 10 == 0 {
            tracing::warn!(target: "rpc::backplane", %url, reason = lost.as_str(), "not following the topic log on Redis; reconnecting");
        }
        if since.elapsed() >= HEALTHY {
            attempt = 0;
            waits.reset();
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = waits.sleep() => {}
        }
        attempt += 1;
    }
}

/// Follows the log on one connection, from `last` (the log's end when
/// none), until it fails: why.
async fn follow_connection(
    client: &::redis::Client,
    shared: &Shared,
    url: &str,
    last: &mut Option<String>,
) -> String {
    let connected = tokio::time::timeout(WAIT, client.get_multiplexed_async_connection()).await;
    let mut connection = match connected {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return error.to_string(),
        Err(_) => return "timed out connecting".to_owned(),
    };
    let mut from = match last.clone() {
        Some(last) => last,
        // The first time: what is appended from now on.
        None => {
            let newest = tokio::time::timeout(
                WAIT,
                ::redis::cmd("XREVRANGE")
                    .arg(LOG)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async::<StreamRangeReply>(&mut connection),
            )
            .await;
            match newest {
                Ok(Ok(newest)) => newest
                    .ids
                    .into_iter()
                    .next()
                    .map_or_else(|| "0-0".to_owned(), |entry| entry.id),
                Ok(Err(error)) => return error.to_string(),
                Err(_) => return "no answer to XREVRANGE".to_owned(),
            }
        }
    };
    *last = Some(from.clone());
    shared.set_follower(Ok(()));
    tracing::debug!(target: "rpc::backplane", url, from = from.as_str(), "following the topic log on Redis");
    loop {
        let read = tokio::time::timeout(
            WAIT + BLOCK,
            ::redis::cmd("XREAD")
                .arg("COUNT")
                .arg(PAGE)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(LOG)
                .arg(&from)
                .query_async::<Option<StreamReadReply>>(&mut connection),
        )
        .await;
        let reply = match read {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => return error.to_string(),
            Err(_) => return "no answer to XREAD".to_owned(),
        };
        let entries = reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids);
        let followers = shared
            .followers
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        for mut entry in entries {
            from = entry.id.clone();
            let topic = match entry.map.remove("t") {
                Some(::redis::Value::BulkString(topic)) => String::from_utf8(topic).ok(),
                _ => None,
            };
            match (topic, logged(entry)) {
                (Some(topic), Some(logged)) => {
                    for deliver in &followers {
                        deliver(&topic, logged.clone());
                    }
                }
                _ => {
                    tracing::warn!(target: "rpc::backplane", id = from.as_str(), "an entry in the topic log that no instance wrote: skipped");
                }
            }
        }
        *last = Some(from.clone());
    }
}

/// The messages of the stream `key` after `after` (see [`TopicLog::read`]).
async fn read(
    connection: &mut MultiplexedConnection,
    key: &str,
    after: Option<&str>,
) -> Result<Read, ::redis::RedisError> {
    let mut read = Read::default();
    // Where the next page starts, inclusive (`-`: the oldest) or not (`(ID`).
    let mut from = "-".to_owned();
    match after {
        Some(after) if order_of(after).is_some() => {
            // `after` itself first: if it is not there, it was trimmed away
            // (or is some other topic's).
            let page = range(connection, key, after).await?;
            let full = page.len() == PAGE;
            let mut page = page.into_iter();
            if page.next().is_some_and(|first| first.id == after) {
                read.after = order_of(after);
                let page: Vec<StreamId> = page.collect();
                let newest = page
                    .last()
                    .map_or_else(|| after.to_owned(), |e| e.id.clone());
                read.messages.extend(page.into_iter().filter_map(logged));
                if !full {
                    return Ok(read);
                }
                from = format!("({newest}");
            } else {
                read.gap = true;
            }
        }
        Some(_) => read.gap = true,
        None => {}
    }
    loop {
        let page = range(connection, key, &from).await?;
        let full = page.len() == PAGE;
        if let Some(newest) = page.last() {
            from = format!("({}", newest.id);
        }
        read.messages.extend(page.into_iter().filter_map(logged));
        if !full {
            return Ok(read);
        }
    }
}

/// One page of the stream `key` from `from` on.
async fn range(
    connection: &mut MultiplexedConnection,
    key: &str,
    from: &str,
) -> Result<Vec<StreamId>, ::redis::RedisError> {
    let reply: StreamRangeReply = ::redis::cmd("XRANGE")
        .arg(key)
        .arg(from)
        .arg("+")
        .arg("COUNT")
        .arg(PAGE)
        .query_async(connection)
        .await?;
    Ok(reply.ids)
}

/// A stream entry as a logged message (`None`: not one of ours).
fn logged(mut entry: StreamId) -> Option<Logged> {
    let order = order_of(&entry.id)?;
    let Some(::redis::Value::BulkString(message)) = entry.map.remove("m") else {
        return None;
    };
    Some(Logged {
        event: entry.id,
        order,
        message: Bytes::from(message),
    })
}

/// The place of a stream entry id (`MS-SEQ`) in the log: its time, then its
/// sequence number. `None` for what is not an entry id.
fn order_of(id: &str) -> Option<u128> {
    let (ms, seq) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    Some((u128::from(ms) << 64) | u128::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_by_time_then_sequence() {
        let order = |id| order_of(id).unwrap();
        assert!(order("1733000000000-0") < order("1733000000000-1"));
        assert!(order("1733000000000-99") < order("1733000000001-0"));
        assert_eq!(order("0-0"), 0);
        assert_eq!(
            order_of(&format!("{}-{}", u64::MAX, u64::MAX)),
            Some(u128::MAX)
        );
        for not_an_id in [
            "",
            "-",
            "1-",
            "-1",
            "1",
            "a-1",
            "1-b",
            "+1-0",
            "1-0-0",
            "18446744073709551616-0",
        ] {
            assert_eq!(order_of(not_an_id), None, "{not_an_id}");
        }
    }
}
