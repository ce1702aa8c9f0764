//! A reconnecting client's subscriptions: each user stream outlives the
//! connections it is fed from; after a reconnection the subscription is
//! made again. One with a `since` param (a topic's) resumes after the last
//! event id its stream got, and the server replays what was missed; any
//! other is told of the gap.
//!
//! One forwarder task per subscription and connection moves the
//! connection's notices to the user stream. The forwarder of a new
//! connection starts with the gap notice, once the previous forwarder has
//! handed over what its connection delivered: items never mix across the
//! gap. Only the record's current generation may end or unsubscribe it: a
//! late notice or a stale id from an older connection (whose server may
//! reuse ids after a restart) never touches what the subscription is now.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{is_lost, Shared, RESUBSCRIBE_TIMEOUT};
use crate::client::{Error, Subscriptions};
use crate::client::{Inbox, Notice, Opened, ServerId, SubscribeCall};

/// Notices moved to a user stream and not read yet, at most.
const STREAM_BUFFER: usize = 256;
use crate::duplex::DuplexConnection;
use crate::protocol::notice;

/// One subscription as the reconnecting client keeps it.
struct Record {
    /// How to make it again.
    call: SubscribeCall,
    /// Its user stream.
    stream: mpsc::Sender<Notice>,
    /// Set to end the stream as lagged.
    lagged: Arc<AtomicBool>,
    /// The server's id for it on the connection of `generation`.
    server_id: ServerId,
    /// That id as the connection's routes know it.
    route: String,
    /// The connection it was last made on.
    generation: u64,
    /// The task moving that connection's notices to the stream.
    forwarder: Option<JoinHandle<()>>,
    /// The event id of the last item handed to the stream.
    last_event: LastEvent,
}

/// The event id of the last item a forwarder handed to its stream.
type LastEvent = Arc<Mutex<Option<String>>>;

fn read(last: &LastEvent) -> Option<String> {
    match last.lock() {
        Ok(last) => last.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Every live subscription, by key.
#[derive(Default)]
pub(super) struct Tracked {
    records: Mutex<HashMap<u64, Record>>,
    next_key: AtomicU64,
}

impl Tracked {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Record>> {
        match self.records.lock() {
            Ok(records) => records,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Forgets subscription `key` if it is still the one of `generation`.
    fn remove_if_current(&self, key: u64, generation: u64) -> Option<Record> {
        let mut records = self.lock();
        match records.get(&key) {
            Some(record) if record.generation == generation => records.remove(&key),
            _ => None,
        }
    }

    /// Ends every stream (the client is closed).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// The user dropped the stream `key` after its end: its route on the
    /// current connection closes, and it is not made again.
    pub(super) fn close(&self, shared: &Shared, key: &str) {
        let Some(record) = key.parse().ok().and_then(|key| self.lock().remove(&key)) else {
            return;
        };
        if let Some((connection, generation)) = shared.connected() {
            if generation == record.generation {
                Subscriptions::close(&connection, &record.route);
            }
        }
    }

    /// Ends subscription `key`: on the current connection, with the id it
    /// has there; `false` when it was not made on the current connection
    /// (the server that had it is gone).
    pub(super) async fn unsubscribe(
        &self,
        shared: &Shared,
        key: &str,
        method: &'static str,
    ) -> Result<bool, Error> {
        let Some(record) = key.parse().ok().and_then(|key| self.lock().remove(&key)) else {
            return Ok(false);
        };
        let Some((connection, generation)) = shared.connected() else {
            return Ok(false);
        };
        if generation != record.generation {
            return Ok(false);
        }
        Subscriptions::close(&connection, &record.route);
        let server_id = match record.server_id.lock() {
            Ok(id) => id.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut params = crate::client::ParamsBuilder::new(false);
        params.push("id", &server_id);
        call_on(&connection, method, params.into_bytes()?.as_deref()).await
    }

    /// Makes every subscription older than `generation` again on
    /// `connection`, all at once.
    pub(super) async fn resubscribe(
        &self,
        shared: &Arc<Shared>,
        connection: &DuplexConnection,
        generation: u64,
    ) {
        let stale: Vec<u64> = self
            .lock()
            .iter()
            .filter(|(_, r)| r.generation < generation)
            .map(|(key, _)| *key)
            .collect();
        let remade = stale
            .into_iter()
            .map(|key| resubscribe_one(shared.clone(), connection.clone(), generation, key));
        futures_util::future::join_all(remade).await;
    }
}

/// Opens a subscription for the user: on the current connection, or on
/// the next one if that one is lost before it answers.
pub(super) async fn open(shared: Arc<Shared>, call: SubscribeCall) -> Result<Opened, Error> {
    let mut after = 0;
    loop {
        let wait = shared.wait_while_disconnected || after > 0;
        let (connection, generation) = shared.connection(after, wait).await?;
        let (raw_id, inbox) = match subscribe_on(&connection, &call).await {
            Ok(opened) => opened,
            // The subscription died with its connection: nothing to undo.
            Err(error) if is_lost(&error) => {
                after = generation;
                continue;
            }
            Err(error) => return Err(error),
        };
        let key = shared
            .subscriptions
            .next_key
            .fetch_add(1, Ordering::Relaxed);
        let route = notice::key(&raw_id);
        let server_id: ServerId = Arc::new(Mutex::new(raw_id));
        // The forwarders wait for room here; past it, each connection's
        // inbox (bounded in bytes) fills.
        let (stream, receiver) = mpsc::channel(STREAM_BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let last_event = LastEvent::default();
        {
            // The forwarder starts under the lock: it finds its record.
            let mut records = shared.subscriptions.lock();
            let forwarder = tokio::spawn(forward(
                shared.clone(),
                Feed {
                    key,
                    generation,
                    inbox,
                    stream: stream.clone(),
                    last_event: last_event.clone(),
                },
                None,
            ));
            records.insert(
                key,
                Record {
                    call,
                    stream,
                    lagged: lagged.clone(),
                    server_id: server_id.clone(),
                    route: route.clone(),
                    generation,
                    forwarder: Some(forwarder),
                    last_event,
                },
            );
        }
        // A new connection may have come while this one answered, after
        // its resubscription pass: make this one again there too.
        if let Some((newer, newer_generation)) = shared.connected() {
            if newer_generation != generation {
                tokio::spawn(resubscribe_one(
                    shared.clone(),
                    newer,
                    newer_generation,
                    key,
                ));
            }
        }
        return Ok(Opened {
            inbox: Inbox {
                receiver: crate::client::Queued::new(receiver, Default::default()),
                lagged,
            },
            id: route,
            key: key.to_string(),
            server_id,
        });
    }
}

/// Calls `method` on `connection` through the client engine (its ids
/// are the reconnecting client's since the connection was installed); the
/// callers bound the wait themselves.
async fn call_on<T: serde::de::DeserializeOwned>(
    connection: &DuplexConnection,
    method: &str,
    params: Option<&[u8]>,
) -> Result<T, Error> {
    connection
        .client()
        .without_timeout()
        .call_encoded(method, params, false)
        .await
}

/// Calls the subscribe method on `connection` and opens the route of the
/// id it answers.
async fn subscribe_on(
    connection: &DuplexConnection,
    call: &SubscribeCall,
) -> Result<(Box<RawValue>, Inbox), Error> {
    // Items may come right behind the answer, before its id is known here.
    let _expecting = Subscriptions::expect(connection, call.notification);
    let raw_id: Box<RawValue> = call_on(connection, &call.method, call.params.as_deref()).await?;
    let inbox = Subscriptions::open(connection, call.notification, &notice::key(&raw_id))
        .ok_or(Error::Closed)?;
    Ok((raw_id, inbox))
}

/// Makes subscription `key` again on `connection` (of `generation`).
async fn resubscribe_one(
    shared: Arc<Shared>,
    connection: DuplexConnection,
    generation: u64,
    key: u64,
) {
    // A subscription that can resume stops taking what its old connection
    // delivered but did not hand over yet: the server replays it.
    let stopped = match shared.subscriptions.lock().get_mut(&key) {
        Some(record) if record.generation < generation && record.call.resume.is_some() => {
            record.forwarder.take().inspect(JoinHandle::abort)
        }
        _ => None,
    };
    if let Some(stopped) = stopped {
        let _ = stopped.await;
    }
    let (call, resumed) = match shared.subscriptions.lock().get(&key) {
        Some(record) if record.generation < generation => {
            // After the last event handed to the stream.
            let last = read(&record.last_event);
            match last.as_deref().and_then(|last| record.call.resumed(last)) {
                Some(resumed) => (resumed, Resumed::After),
                // No item yet: as first made, from its own `since` if it
                // had one.
                None if last.is_none() && record.call.resume.is_some_and(|r| r.given) => {
                    (record.call.clone(), Resumed::After)
                }
                None => (record.call.clone(), Resumed::No),
            }
        }
        _ => return,
    };
    let made = tokio::time::timeout(RESUBSCRIBE_TIMEOUT, subscribe_on(&connection, &call))
        .await
        .unwrap_or(Err(Error::Timeout(RESUBSCRIBE_TIMEOUT)));
    let (raw_id, inbox) = match made {
        Ok(made) => made,
        // Lost again, or no answer: the next connection makes it.
        Err(error) if is_lost(&error) => return,
        Err(Error::Timeout(limit)) => {
            tracing::warn!(target: "rpc::reconnect", method = %call.method, timeout_ms = limit.as_millis() as u64, "no answer when making a subscription again: left for the next connection");
            return;
        }
        Err(error) => {
            tracing::warn!(target: "rpc::reconnect", method = &*call.method, error = error.to_string(), "a subscription could not be made again: its stream ends");
            let Some(record) = shared.subscriptions.lock().remove(&key) else {
                return;
            };
            if let Error::Call(refusal) = error {
                // Its end, in order after what came before.
                tokio::spawn(async move {
                    let _ = record.stream.send(Notice::End(Some(refusal))).await;
                });
            }
            return;
        }
    };
    let route = notice::key(&raw_id);
    let mut records = shared.subscriptions.lock();
    let record = match records.get_mut(&key) {
        Some(record) if record.generation < generation => record,
        _ => {
            drop(records);
            // Closed by the user meanwhile, or made again by another pass:
            // this one is not wanted.
            Subscriptions::close(&connection, &route);
            tokio::spawn(async move {
                let mut params = crate::client::ParamsBuilder::new(false);
                params.push("id", &raw_id);
                if let Ok(params) = params.into_bytes() {
                    let _ = call_on::<bool>(&connection, call.unsubscribe, params.as_deref()).await;
                }
            });
            return;
        }
    };
    record.generation = generation;
    record.route = route.clone();
    if let Ok(mut id) = record.server_id.lock() {
        *id = raw_id;
    }
    tracing::info!(target: "rpc::reconnect", method = &*call.method, id = &*route, resumed = matches!(resumed, Resumed::After), "subscription made again");
    let previous = record.forwarder.take();
    record.forwarder = Some(tokio::spawn(forward(
        shared.clone(),
        Feed {
            key,
            generation,
            inbox,
            stream: record.stream.clone(),
            last_event: record.last_event.clone(),
        },
        Some(Handover {
            previous,
            route,
            resumed,
        }),
    )));
}

/// How a subscription was made again.
enum Resumed {
    /// Resuming after the last event id handed to the stream (or from the
    /// call's own `since`): the server replays what came after, no gap
    /// unless it says so.
    After,
    /// Afresh: what was sent meanwhile is missed.
    No,
}

/// What one forwarder moves: a connection's notices of subscription `key`
/// to its user stream.
struct Feed {
    key: u64,
    /// The connection's.
    generation: u64,
    inbox: Inbox,
    stream: mpsc::Sender<Notice>,
    last_event: LastEvent,
}

/// What a forwarder after a reconnection takes over from the one before.
struct Handover {
    previous: Option<JoinHandle<()>>,
    /// The subscription's route on the new connection.
    route: String,
    resumed: Resumed,
}

/// Moves the notices of a subscription on one connection to its user
/// stream, until the subscription or the connection ends, or the user
/// goes. A forwarder after a reconnection first waits for the previous one
/// to hand over what it had (a resumed subscription's was stopped: the
/// replay brings what it had not handed over); then, if the subscription
/// was made afresh, it sends the gap notice.
async fn forward(shared: Arc<Shared>, feed: Feed, handover: Option<Handover>) {
    let Feed {
        key,
        generation,
        inbox,
        stream,
        last_event,
    } = feed;
    let Inbox {
        mut receiver,
        lagged,
    } = inbox;
    if let Some(Handover {
        previous,
        route,
        resumed,
    }) = handover
    {
        if let Some(previous) = previous {
            let _ = previous.await;
        }
        if matches!(resumed, Resumed::No) && stream.send(Notice::Resubscribed(route)).await.is_err()
        {
            return;
        }
    }
    while let Some(notice) = receiver.recv().await {
        if matches!(notice, Notice::End(_)) {
            // An end from a connection the subscription has moved on from
            // (made again already) is not the end of the stream.
            if shared
                .subscriptions
                .remove_if_current(key, generation)
                .is_some()
            {
                let _ = stream.send(notice).await;
            }
            return;
        }
        let event = match &notice {
            Notice::Event { event, .. } => Some(event.clone()),
            _ => None,
        };
        // Stopped while waiting here (the subscription resumes elsewhere),
        // the notice is not sent, and the last event stays the one before.
        if stream.send(notice).await.is_err() {
            return;
        }
        if let Some(event) = event {
            if let Ok(mut last) = last_event.lock() {
                *last = Some(event);
            }
        }
    }
    if lagged.load(Ordering::Relaxed) {
        // The user did not keep up: the stream ends as lagged.
        if let Some(record) = shared.subscriptions.remove_if_current(key, generation) {
            record.lagged.store(true, Ordering::Relaxed);
        }
    }
    // Else the connection ended: the record waits for the next one.
}
