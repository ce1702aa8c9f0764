//! A reconnecting client's subscriptions: each user stream outlives the
//! connections it is fed from; after a reconnection the subscription is
//! made again, and the stream told of the gap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{is_lost, Shared, RESUBSCRIBE_TIMEOUT};
use crate::client::{subscription_key, Inbox, Notice, Opened, ServerId, SubscribeCall, BUFFER};
use crate::duplex::DuplexConnection;
use crate::{encode, Error, Id, Outgoing, Transport};

/// One subscription as the reconnecting client keeps it.
struct Record {
    /// How to make it again.
    call: SubscribeCall,
    /// Its user stream.
    stream: mpsc::Sender<Notice>,
    /// Set to end the stream as lagged.
    lagged: Arc<AtomicBool>,
    /// The server's id for it on the current connection.
    server_id: ServerId,
    /// That id as the connection's routes know it.
    route: String,
    /// The connection it was made on.
    generation: u64,
}

/// Every live subscription, by key.
#[derive(Default)]
pub(super) struct Subscriptions {
    records: Mutex<HashMap<u64, Record>>,
    next_key: AtomicU64,
}

impl Subscriptions {
    fn remove(&self, key: u64) -> Option<Record> {
        self.records.lock().ok()?.remove(&key)
    }

    /// Ends every stream (the client is closed).
    pub(super) fn clear(&self) {
        if let Ok(mut records) = self.records.lock() {
            records.clear();
        }
    }

    /// The user dropped or unsubscribed the stream `key`: it is not made
    /// again, and its route on the current connection closes.
    pub(super) fn close(&self, shared: &Shared, key: &str) {
        let Some(record) = key.parse().ok().and_then(|key| self.remove(key)) else {
            return;
        };
        if let Some(connection) = &shared.current.borrow().connection {
            connection.close_subscription(&record.route);
        }
    }

    /// Makes every subscription older than `generation` again on
    /// `connection`, all at once.
    pub(super) async fn resubscribe(
        &self,
        shared: &Arc<Shared>,
        connection: &DuplexConnection,
        generation: u64,
    ) {
        let stale: Vec<u64> = match self.records.lock() {
            Ok(records) => records
                .iter()
                .filter(|(_, r)| r.generation < generation)
                .map(|(key, _)| *key)
                .collect(),
            Err(_) => return,
        };
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
        let (raw_id, inbox) = match subscribe_on(&shared, &connection, &call).await {
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
        let route = subscription_key(&raw_id);
        let server_id: ServerId = Arc::new(Mutex::new(raw_id));
        let (stream, receiver) = mpsc::channel(BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let record = Record {
            call,
            stream: stream.clone(),
            lagged: lagged.clone(),
            server_id: server_id.clone(),
            route: route.clone(),
            generation,
        };
        if let Ok(mut records) = shared.subscriptions.records.lock() {
            records.insert(key, record);
        }
        tokio::spawn(forward(shared.clone(), key, inbox, stream, None));
        // A new connection may have come while this one answered, after
        // its resubscription pass: make this one again there too.
        if shared.generation() != generation {
            if let Some(newer) = shared.current.borrow().connection.clone() {
                let newer_generation = shared.generation();
                tokio::spawn(resubscribe_one(
                    shared.clone(),
                    newer,
                    newer_generation,
                    key,
                ));
            }
        }
        return Ok(Opened {
            inbox: Inbox { receiver, lagged },
            id: route,
            key: key.to_string(),
            server_id,
        });
    }
}

/// Calls the subscribe method on `connection` and opens the route of the
/// id it answers.
async fn subscribe_on(
    shared: &Shared,
    connection: &DuplexConnection,
    call: &SubscribeCall,
) -> Result<(Box<RawValue>, Inbox), Error> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let body = encode::request(&call.method, call.params.as_deref(), Some(id));
    let answer = connection
        .request(Outgoing::request(body, vec![Id::from(id)]))
        .await?;
    let raw_id: Box<RawValue> = answer.result(&call.method, &Id::from(id))?;
    let inbox = connection
        .open_subscription(&subscription_key(&raw_id))
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
    let call = match shared.subscriptions.records.lock() {
        Ok(records) => match records.get(&key) {
            Some(record) if record.generation < generation => record.call.clone(),
            _ => return,
        },
        Err(_) => return,
    };
    let made = tokio::time::timeout(
        RESUBSCRIBE_TIMEOUT,
        subscribe_on(&shared, &connection, &call),
    )
    .await
    .unwrap_or(Err(Error::Timeout(RESUBSCRIBE_TIMEOUT)));
    let (raw_id, inbox) = match made {
        Ok(made) => made,
        // Lost again: the next connection makes it.
        Err(error) if is_lost(&error) => return,
        Err(Error::Call(error)) => {
            tracing::warn!(target: "rpc::reconnect", method = %call.method, code = error.code, "the server refused to make a subscription again: its stream ends");
            if let Some(record) = shared.subscriptions.remove(key) {
                let _ = record.stream.try_send(Notice::End(Some(error)));
            }
            return;
        }
        Err(error) => {
            tracing::warn!(target: "rpc::reconnect", method = %call.method, %error, "a subscription could not be made again: its stream ends");
            shared.subscriptions.remove(key);
            return;
        }
    };
    let route = subscription_key(&raw_id);
    let stream = match shared.subscriptions.records.lock() {
        Ok(mut records) => match records.get_mut(&key) {
            Some(record) if record.generation < generation => {
                record.generation = generation;
                record.route = route.clone();
                if let Ok(mut id) = record.server_id.lock() {
                    *id = raw_id.clone();
                }
                Some(record.stream.clone())
            }
            _ => None,
        },
        Err(_) => None,
    };
    let Some(stream) = stream else {
        // Closed by the user meanwhile, or made again by another pass:
        // this one is not wanted.
        connection.close_subscription(&route);
        let unsubscribe = connection.client();
        tokio::spawn(async move {
            let mut params = crate::ParamsBuilder::new(false);
            params.push("id", &raw_id);
            let _ = unsubscribe.call::<bool>(call.unsubscribe, params).await;
        });
        return;
    };
    tracing::info!(target: "rpc::reconnect", method = %call.method, id = %route, "subscription made again");
    tokio::spawn(forward(
        shared,
        key,
        inbox,
        stream,
        Some(Notice::Resubscribed(route)),
    ));
}

/// Moves one connection's notices of subscription `key` to its user
/// stream (after `first`, the gap notice), until the subscription or the
/// connection ends, or the user goes.
async fn forward(
    shared: Arc<Shared>,
    key: u64,
    inbox: Inbox,
    stream: mpsc::Sender<Notice>,
    first: Option<Notice>,
) {
    let Inbox {
        mut receiver,
        lagged,
    } = inbox;
    if let Some(first) = first {
        if stream.send(first).await.is_err() {
            return;
        }
    }
    while let Some(notice) = receiver.recv().await {
        let end = matches!(notice, Notice::End(_));
        if stream.send(notice).await.is_err() {
            return;
        }
        if end {
            shared.subscriptions.remove(key);
            return;
        }
    }
    if lagged.load(Ordering::Relaxed) {
        // The user did not keep up: the stream ends as lagged.
        if let Some(record) = shared.subscriptions.remove(key) {
            record.lagged.store(true, Ordering::Relaxed);
        }
    }
    // Else the connection ended: the record waits for the next one.
}
