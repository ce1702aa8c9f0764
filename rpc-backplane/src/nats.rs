//! The backplane on NATS: broadcasts on core pub/sub, topic messages in a
//! JetStream stream.
//!
//! The stream `RPC_TOPICS` holds topic messages under subjects
//! `rpc.topic.TOKEN`, TOKEN being the topic's name in base64url (so any name
//! is one valid subject token; the empty name is `_`). A message's event id
//! is its sequence number in the stream, in decimal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use rpc_core::backplane::{Broker, Deliver, Follow, Logged, Read, TopicLog};
use rpc_core::subscription::Retention;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{backoff, redacted, Error};

/// Messages waiting to be handed to the NATS client: beyond, dropped.
const QUEUE: usize = 4096;
/// The JetStream stream of topic messages.
const STREAM: &str = "RPC_TOPICS";
/// What every topic's subject starts with.
const SUBJECT: &str = "rpc.topic.";
/// The subjects of the stream: every topic.
const SUBJECTS: &str = "rpc.topic.>";
/// The longest JetStream may take to answer a request.
const WAIT: Duration = Duration::from_secs(10);
/// How long one pull of the follower waits for news.
const BLOCK: Duration = Duration::from_secs(1);
/// Most messages pulled at once (following and replaying).
const PAGE: usize = 512;
/// Appends whose acknowledgements are awaited at once.
const IN_FLIGHT: usize = 256;
/// A set-up that lasted this long resets the back-off.
const HEALTHY: Duration = Duration::from_secs(10);
/// A consumer of ours that nobody pulls from for this long is removed by
/// the server (one left behind by a lost connection).
const IDLE_CONSUMER: Duration = Duration::from_secs(60);

/// A NATS broker: async-nats keeps the connection (reconnecting with
/// back-off, subscriptions made again); publishing while disconnected
/// drops the message rather than replaying it later. One task publishes,
/// in order; one task per channel listens; all end with the broker.
///
/// Topic messages go to the JetStream stream `RPC_TOPICS` (the server runs
/// with JetStream: `nats-server -js`; without it, readiness says so and
/// topic messages stay on their instance), created at connection, and its
/// limits set again after every reconnection. JetStream cannot keep "the
/// last N messages or the last 5 minutes, whichever is more": each topic
/// keeps its last [`Retention::messages`] whatever their age
/// (`max_messages_per_subject`; [`Retention::age`] is not used), and the
/// whole stream at most [`Retention::bytes`] (`max_bytes`, oldest first).
/// Each instance follows the stream with a consumer of its own that,
/// after a loss, starts again after the last message handed over.
pub struct NatsBroker {
    client: async_nats::Client,
    outgoing: mpsc::Sender<(String, Bytes)>,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
    log: Arc<NatsLog>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("url", &self.log.state.url)
            .finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// A broker at `url` (`nats://HOST:PORT`), reached in the background:
    /// returns without waiting for the server.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let shown = redacted(url);
        let invalid = |reason: String| Error::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        // What the connection's events say, for the log's keeper.
        let (connected, connection) = watch::channel(false);
        let options = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Each instance drops its own messages anyway: do not send them back.
            .no_echo()
            .reconnect_delay_callback({
                let waits = std::sync::Mutex::new(crate::backoff());
                move |attempt| match waits.lock() {
                    Ok(mut waits) => {
                        // A new run of failures starts from the shortest wait.
                        if attempt <= 1 {
                            waits.reset();
                        }
                        waits.next_delay()
                    }
                    Err(_) => std::time::Duration::from_secs(1),
                }
            })
            .event_callback(move |event| {
                match event {
                    async_nats::Event::Connected => {
                        connected.send_replace(true);
                    }
                    async_nats::Event::Disconnected => {
                        connected.send_replace(false);
                    }
                    _ => {}
                }
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!(target: "rpc::backplane", "connected to NATS")
                        }
                        async_nats::Event::Disconnected => tracing::warn!(
                            target: "rpc::backplane",
                            "lost NATS; serving local clients, reconnecting"
                        ),
                        // Debug, which escapes what the server may have said.
                        other => tracing::debug!(target: "rpc::backplane", event = ?other, "NATS"),
                    }
                }
            });
        // With `retry_on_initial_connect` the client comes back at once and
        // connects in the background.
        let client = options
            .connect(url)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        let (outgoing, mut queue) = mpsc::channel::<(String, Bytes)>(QUEUE);
        let stop = CancellationToken::new();
        let publisher = client.clone();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let (subject, payload) = tokio::select! {
                    () = stopped.cancelled() => return,
                    next = queue.recv() => match next {
                        Some(next) => next,
                        None => return,
                    },
                };
                if publisher.connection_state() != async_nats::connection::State::Connected {
                    // Not replayed later: it stays local.
                    continue;
                }
                if let Err(error) = publisher.publish(subject, payload).await {
                    tracing::debug!(target: "rpc::backplane", error = error.to_string(), "NATS publish failed");
                }
            }
        });
        let log = NatsLog::start(client.clone(), connection, shown, stop.clone());
        Ok(NatsBroker {
            client,
            outgoing,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            log,
        })
    }

    /// Keeps what `retention` says of the topics (default
    /// [`Retention::default`]; see the type's documentation for what NATS
    /// makes of it). The limits are the stream's, shared by every
    /// instance: the last one to connect sets them, so give them all the
    /// same.
    pub fn with_retention(self, retention: Retention) -> Self {
        if let Ok(mut r) = self.log.state.retention.lock() {
            *r = retention;
        }
        self.log.state.changed.notify_one();
        self
    }
}

impl Broker for NatsBroker {
    fn publish(&self, channel: &str, payload: Bytes) {
        if self.client.connection_state() != async_nats::connection::State::Connected
            || self
                .outgoing
                .try_send((channel.to_owned(), payload))
                .is_err()
        {
            tracing::debug!(target: "rpc::backplane", channel, "NATS not reachable: a message stays local");
        }
    }

    fn listen(&self, channel: &str, deliver: Deliver) {
        let (client, subject, stop) = (self.client.clone(), channel.to_owned(), self.stop.clone());
        tokio::spawn(async move {
            let mut messages = match client.subscribe(subject.clone()).await {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(target: "rpc::backplane", subject = subject.as_str(), error = error.to_string(), "cannot subscribe on NATS");
                    return;
                }
            };
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    message = messages.next() => match message {
                        Some(message) => deliver(message.payload),
                        None => return,
                    },
                }
            }
        });
    }

    fn log(&self) -> Option<Arc<dyn TopicLog>> {
        Some(self.log.clone())
    }

    fn readiness(&self) -> Result<(), String> {
        let state = &self.log.state;
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(format!("NATS at {} unreachable", state.url));
        }
        let status = state
            .status
            .lock()
            .map_err(|_| "the broker's state is poisoned".to_owned())?;
        status.stream.clone()?;
        match &status.follower {
            Some(follower) => follower.clone(),
            None => Ok(()),
        }
    }
}

/// The topic log on a JetStream stream.
struct NatsLog {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    appends: mpsc::Sender<(String, Bytes)>,
    state: Arc<LogState>,
}

/// What the log and its tasks share.
struct LogState {
    /// Without credentials.
    url: String,
    /// The stream was set up once at least: appends go on across a
    /// reconnection while it is checked again.
    set_up: AtomicBool,
    /// The stream's creation time in ns: the high half of every place in
    /// the log (a stream made again orders after the one it replaces,
    /// though its sequence numbers start again). 0 before it is known.
    epoch: AtomicU64,
    followers: Mutex<Vec<Follow>>,
    retention: Mutex<Retention>,
    /// Wakes the keeper: a first follower, or new limits.
    changed: Notify,
    status: Mutex<Status>,
}

/// What readiness reports besides the connection.
struct Status {
    /// The stream, set up on this connection: `Err` says why not.
    stream: Result<(), String>,
    /// The log's follower, once it is asked for.
    follower: Option<Result<(), String>>,
}

impl LogState {
    fn set_stream(&self, status: Result<(), String>) {
        if let Ok(mut s) = self.status.lock() {
            s.stream = status;
        }
    }

    fn set_follower(&self, status: Result<(), String>) {
        if let Ok(mut s) = self.status.lock() {
            if s.follower.is_some() || status.is_ok() {
                s.follower = Some(status);
            }
        }
    }

    fn has_followers(&self) -> bool {
        self.followers.lock().is_ok_and(|f| !f.is_empty())
    }

    fn order(&self, sequence: u64) -> u128 {
        (u128::from(self.epoch.load(Ordering::Acquire)) << 64) | u128::from(sequence)
    }
}

impl NatsLog {
    /// The log of `client`, and its tasks: one appends, one keeps the
    /// stream set up and follows it.
    fn start(
        client: async_nats::Client,
        connection: watch::Receiver<bool>,
        url: String,
        stop: CancellationToken,
    ) -> Arc<NatsLog> {
        let jetstream = jetstream::new(client.clone());
        let state = Arc::new(LogState {
            status: Mutex::new(Status {
                stream: Err(format!(
                    "NATS at {url}: the stream {STREAM} is not set up yet"
                )),
                follower: None,
            }),
            url,
            set_up: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            followers: Mutex::default(),
            retention: Mutex::new(Retention::default()),
            changed: Notify::new(),
        });
        let (appends, queue) = mpsc::channel(QUEUE);
        tokio::spawn(append_in_order(jetstream.clone(), queue, stop.clone()));
        tokio::spawn(keep(
            client.clone(),
            jetstream.clone(),
            state.clone(),
            connection,
            stop,
        ));
        Arc::new(NatsLog {
            client,
            jetstream,
            appends,
            state,
        })
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

impl TopicLog for NatsLog {
    fn append(&self, topic: &str, message: Bytes) -> bool {
        if !self.connected() || !self.state.set_up.load(Ordering::Acquire) {
            return false;
        }
        self.appends.try_send((subject(topic), message)).is_ok()
    }

    fn follow(&self, deliver: Follow) {
        if let Ok(mut followers) = self.state.followers.lock() {
            followers.push(deliver);
        }
        if let Ok(mut status) = self.state.status.lock() {
            if status.follower.is_none() {
                status.follower = Some(Err(format!(
                    "NATS at {}: not following the stream yet",
                    self.state.url
                )));
            }
        }
        self.state.changed.notify_one();
    }

    fn read(&self, topic: &str, after: Option<&str>) -> BoxFuture<'static, Result<Read, String>> {
        let url = self.state.url.clone();
        let stream = match self.state.status.lock() {
            Ok(status) => status.stream.clone(),
            Err(_) => Err("the broker's state is poisoned".to_owned()),
        };
        let unavailable = match stream {
            _ if !self.connected() => Some(format!("NATS at {url} unreachable")),
            Err(why) => Some(why),
            Ok(()) => None,
        };
        if let Some(why) = unavailable {
            return Box::pin(std::future::ready(Err(why)));
        }
        let (jetstream, state) = (self.jetstream.clone(), self.state.clone());
        let (subject, after) = (subject(topic), after.map(str::to_owned));
        Box::pin(async move {
            tokio::time::timeout(WAIT, read(&jetstream, &state, &subject, after.as_deref()))
                .await
                .map_err(|_| format!("NATS at {url}: no answer reading {STREAM}"))?
                .map_err(|e| format!("NATS at {url}: {e}"))
        })
    }
}

/// Publishes appends in order, awaiting their acknowledgements a window at
/// a time, until the broker is dropped.
async fn append_in_order(
    jetstream: jetstream::Context,
    mut queue: mpsc::Receiver<(String, Bytes)>,
    stop: CancellationToken,
) {
    let mut acks = futures_util::stream::FuturesUnordered::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            Some(ack) = acks.next(), if !acks.is_empty() => {
                if let Err(error) = ack {
                    let error: jetstream::context::PublishError = error;
                    tracing::debug!(target: "rpc::backplane", error = error.to_string(), "a topic message was not stored in NATS");
                }
            }
            next = queue.recv(), if acks.len() < IN_FLIGHT => {
                let Some((subject, payload)) = next else {
                    return;
                };
                match jetstream.publish(subject, payload).await {
                    Ok(ack) => acks.push(std::future::IntoFuture::into_future(ack)),
                    Err(error) => tracing::debug!(target: "rpc::backplane", error = error.to_string(), "a topic message was not sent to NATS"),
                }
            }
        }
    }
}

/// What made the keeper start over.
enum Outcome {
    /// The connection was lost (the client says so itself).
    Disconnected,
    /// Setting up or following failed: why.
    Failed(String),
    /// A first follower, new limits, or a new connection: set up again at
    /// once.
    Changed,
}

/// Keeps the stream set up (again after every reconnection) and, once
/// someone follows, follows it, until the broker is dropped.
async fn keep(
    client: async_nats::Client,
    jetstream: jetstream::Context,
    state: Arc<LogState>,
    mut connection: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    // The sequence number of the last message handed over.
    let mut last: Option<u64> = None;
    let mut waits = backoff();
    let mut attempt = 0;
    loop {
        // Connected first.
        while client.connection_state() != async_nats::connection::State::Connected {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = connection.changed() => {}
                // In case an event was missed.
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        connection.borrow_and_update();
        let started = Instant::now();
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            _ = connection.changed() => match *connection.borrow_and_update() {
                true => Outcome::Changed,
                false => Outcome::Disconnected,
            },
            () = state.changed.notified() => Outcome::Changed,
            outcome = keep_connection(&jetstream, &state, &mut last) => outcome,
        };
        let reason = match outcome {
            Outcome::Changed => continue,
            Outcome::Disconnected => "the connection was lost".to_owned(),
            Outcome::Failed(reason) => {
                if attempt % 10 == 0 {
                    tracing::warn!(target: "rpc::backplane", url = state.url.as_str(), reason = reason.as_str(), "the topic log on NATS is not available; retrying");
                }
                reason
            }
        };
        state.set_stream(Err(format!("NATS at {}: {reason}", state.url)));
        state.set_follower(Err(format!(
            "NATS at {}: not following the stream: {reason}",
            state.url
        )));
        // A set-up that did not last is not made again at once.
        if started.elapsed() >= HEALTHY {
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

/// Sets the stream up, then follows it if anyone follows; returns when that
/// fails.
async fn keep_connection(
    jetstream: &jetstream::Context,
    state: &LogState,
    last: &mut Option<u64>,
) -> Outcome {
    let retention = state.retention.lock().map(|r| *r).unwrap_or_default();
    let (stream, info) = match tokio::time::timeout(WAIT, set_up(jetstream, &retention)).await {
        Ok(Ok(set_up)) => set_up,
        Ok(Err(error)) => {
            return Outcome::Failed(format!("cannot set up the stream {STREAM}: {error}"))
        }
        Err(_) => return Outcome::Failed(format!("no answer setting up the stream {STREAM}")),
    };
    let epoch = u64::try_from(info.created.unix_timestamp_nanos()).unwrap_or(0);
    let known = state.epoch.swap(epoch, Ordering::AcqRel);
    if known != 0 && known != epoch && last.is_some() {
        // Made again since: all it holds came after what was handed over.
        tracing::warn!(target: "rpc::backplane", url = state.url.as_str(), "the stream {STREAM} was made again: following it from its start");
        *last = Some(0);
    }
    state.set_up.store(true, Ordering::Release);
    state.set_stream(Ok(()));
    if !state.has_followers() {
        return std::future::pending().await;
    }
    let start = match *last {
        Some(last) => last + 1,
        // The first time: what is appended from now on.
        None => info.state.last_sequence + 1,
    };
    *last = Some(start - 1);
    Outcome::Failed(follow(&stream, state, start, last).await)
}

/// The stream, created with `retention` or given it; and what it holds.
async fn set_up(
    jetstream: &jetstream::Context,
    retention: &Retention,
) -> Result<(stream::Stream, stream::Info), String> {
    let wanted = stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![SUBJECTS.to_owned()],
        max_messages_per_subject: i64::try_from(retention.messages.max(1)).unwrap_or(i64::MAX),
        max_bytes: i64::try_from(retention.bytes.max(1)).unwrap_or(i64::MAX),
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    let mut stream = jetstream
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|e| e.to_string())?;
    let held = stream.cached_info().config.clone();
    if held.subjects != wanted.subjects
        || held.max_messages_per_subject != wanted.max_messages_per_subject
        || held.max_bytes != wanted.max_bytes
        || held.discard != wanted.discard
    {
        // What an operator set besides (replicas, placement, ...) stays.
        let config = stream::Config {
            subjects: wanted.subjects,
            max_messages_per_subject: wanted.max_messages_per_subject,
            max_bytes: wanted.max_bytes,
            discard: wanted.discard,
            ..held
        };
        jetstream
            .update_stream(config)
            .await
            .map_err(|e| e.to_string())?;
    }
    let info = stream.info().await.map_err(|e| e.to_string())?.clone();
    Ok((stream, info))
}

/// Follows the stream from sequence `start` with a consumer of its own,
/// handing each message over, until that fails: why.
async fn follow(
    stream: &stream::Stream,
    state: &LogState,
    start: u64,
    last: &mut Option<u64>,
) -> String {
    let consumer = tokio::time::timeout(
        WAIT,
        stream.create_consumer(consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ack_policy: consumer::AckPolicy::None,
            filter_subject: SUBJECTS.to_owned(),
            inactive_threshold: IDLE_CONSUMER,
            memory_storage: true,
            ..Default::default()
        }),
    )
    .await;
    let consumer = match consumer {
        Ok(Ok(consumer)) => consumer,
        Ok(Err(error)) => return format!("cannot follow the stream: {error}"),
        Err(_) => return "no answer creating a consumer".to_owned(),
    };
    state.set_follower(Ok(()));
    tracing::debug!(target: "rpc::backplane", url = state.url.as_str(), start, "following the topic log on NATS");
    let lost = 'pulling: loop {
        let batch = consumer
            .batch()
            .max_messages(PAGE)
            .expires(BLOCK)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(error) => break error.to_string(),
        };
        while let Some(message) = batch.next().await {
            let message = match message {
                Ok(message) => message,
                Err(error) => break 'pulling error.to_string(),
            };
            let Ok(sequence) = message.info().map(|info| info.stream_sequence) else {
                continue;
            };
            // Handed over already (a consumer made again starts after it).
            if last.is_some_and(|last| sequence <= last) {
                continue;
            }
            *last = Some(sequence);
            let Some(topic) = topic_of(&message.subject) else {
                tracing::warn!(target: "rpc::backplane", sequence, "a message in the topic stream that no instance wrote: skipped");
                continue;
            };
            let logged = Logged {
                event: sequence.to_string(),
                order: state.order(sequence),
                message: message.payload.clone(),
            };
            let followers = state
                .followers
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default();
            for deliver in &followers {
                deliver(&topic, logged.clone());
            }
        }
    };
    // Not waited for: the server removes it anyway once idle.
    let (stream, name) = (stream.clone(), consumer.cached_info().name.clone());
    tokio::spawn(async move {
        let _ = tokio::time::timeout(WAIT, stream.delete_consumer(&name)).await;
    });
    lost
}

/// The messages of `subject` after `after` (see [`TopicLog::read`]).
async fn read(
    jetstream: &jetstream::Context,
    state: &LogState,
    subject: &str,
    after: Option<&str>,
) -> Result<Read, String> {
    let stream = jetstream
        .get_stream_no_info(STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let mut read = Read::default();
    let after = match after {
        None => None,
        Some(after) => match sequence_of(after) {
            None => {
                read.gap = true;
                None
            }
            // Still held, and a message of this topic?
            Some(sequence) => match stream.get_raw_message(sequence).await {
                Ok(message) if message.subject.as_str() == subject => {
                    read.after = Some(state.order(sequence));
                    Some(sequence)
                }
                Ok(_) => {
                    read.gap = true;
                    None
                }
                Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                    read.gap = true;
                    None
                }
                Err(error) => return Err(error.to_string()),
            },
        },
    };
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            deliver_policy: match after {
                Some(after) => consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                None => consumer::DeliverPolicy::All,
            },
            ack_policy: consumer::AckPolicy::None,
            filter_subject: subject.to_owned(),
            inactive_threshold: IDLE_CONSUMER,
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    // What it holds now: later ones come live.
    let mut pending = consumer.cached_info().num_pending;
    let pulled = async {
        while pending > 0 {
            let mut batch = consumer
                .fetch()
                .max_messages(usize::try_from(pending).unwrap_or(PAGE).min(PAGE))
                .messages()
                .await
                .map_err(|e| e.to_string())?;
            let mut got = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| e.to_string())?;
                got += 1;
                let Ok(sequence) = message.info().map(|info| info.stream_sequence) else {
                    continue;
                };
                read.messages.push(Logged {
                    event: sequence.to_string(),
                    order: state.order(sequence),
                    message: message.payload.clone(),
                });
            }
            if got == 0 {
                break;
            }
            pending = pending.saturating_sub(got);
        }
        Ok::<_, String>(())
    }
    .await;
    let name = consumer.cached_info().name.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(WAIT, stream.delete_consumer(&name)).await;
    });
    pulled.map(|()| read)
}

/// An event id as a sequence number: decimal digits, not 0.
fn sequence_of(event: &str) -> Option<u64> {
    if event.is_empty() || !event.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    event.parse().ok().filter(|&sequence| sequence > 0)
}

/// The subject of `topic`'s messages.
fn subject(topic: &str) -> String {
    if topic.is_empty() {
        return format!("{SUBJECT}_");
    }
    let mut subject = String::with_capacity(SUBJECT.len() + topic.len() * 4 / 3 + 2);
    subject.push_str(SUBJECT);
    base64url(topic.as_bytes(), &mut subject);
    subject
}

/// The topic whose messages go to `subject`, if it is one.
fn topic_of(subject: &str) -> Option<String> {
    let token = subject.strip_prefix(SUBJECT)?;
    if token == "_" {
        return Some(String::new());
    }
    String::from_utf8(from_base64url(token)?).ok()
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `bytes` in base64url without padding, appended to `out`.
fn base64url(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
}

/// The bytes of base64url text without padding (`None`: not such text).
fn from_base64url(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let value = BASE64URL.iter().position(|&b| b == c)?;
            n |= (value as u32) << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        // Bits past the last byte must be zero: one text per name.
        if n & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_topic_name_is_one_subject_token_and_comes_back() {
        for topic in [
            "",
            "a",
            "ab",
            "abc",
            "news",
            "a.b.c",
            "*",
            ">",
            "with space",
            "ünïcödé ✓",
            "_",
        ] {
            let subject = subject(topic);
            let token = subject.strip_prefix(SUBJECT).unwrap();
            assert!(!token.is_empty(), "{topic:?}");
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{topic:?}: {token}"
            );
            assert_eq!(topic_of(&subject).as_deref(), Some(topic), "{subject}");
        }
        assert_eq!(subject("news"), "rpc.topic.bmV3cw");
        assert_eq!(subject("\u{ff}"), "rpc.topic.w78");
    }

    #[test]
    fn only_what_an_instance_writes_reads_as_a_topic() {
        assert_eq!(topic_of("rpc.other.bmV3cw"), None);
        // Not base64url, a length no text has, bits left over.
        for token in ["bmV3c!", "bmV3c", "bmV3cx", "w79"] {
            assert_eq!(topic_of(&format!("{SUBJECT}{token}")), None, "{token}");
        }
    }

    #[test]
    fn event_ids_are_sequence_numbers() {
        assert_eq!(sequence_of("42"), Some(42));
        for not_one in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "1733000000000-0",
            "x",
            "18446744073709551616",
        ] {
            assert_eq!(sequence_of(not_one), None, "{not_one}");
        }
    }
}
