//! The backplane on Redis pub/sub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use rpc_core::backplane::{Broker, Deliver};
use tokio::sync::{mpsc, Notify};

use crate::{backoff, Error};

/// Messages waiting to be published while connected: beyond, dropped.
const QUEUE: usize = 4096;
/// Most messages published in one round trip.
const PIPELINE: usize = 256;
/// The longest Redis may take to connect or to answer.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often an idle subscription connection is pinged (a half-open one
/// is noticed within this and `WAIT`).
const PING: std::time::Duration = std::time::Duration::from_secs(15);
/// A connection that lasted this long resets the back-off.
const HEALTHY: std::time::Duration = std::time::Duration::from_secs(10);

/// A Redis pub/sub broker: one connection publishes, one listens; both are
/// made again, with back-off, whenever either is lost.
pub struct RedisBroker {
    outgoing: mpsc::Sender<(String, Bytes)>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    listeners: Mutex<HashMap<String, Vec<Deliver>>>,
    /// Wakes the connection task when a channel is added.
    added: Notify,
}

impl RedisBroker {
    /// A broker at `url` (`redis://HOST:PORT`), reached in the background.
    /// Needs a Tokio runtime.
    pub fn new(url: &str) -> Result<Self, Error> {
        let client = ::redis::Client::open(url).map_err(|e| Error::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let (outgoing, queue) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared::default());
        tokio::spawn(run(client, queue, shared.clone(), url.to_owned()));
        Ok(RedisBroker { outgoing, shared })
    }
}

impl Broker for RedisBroker {
    fn publish(&self, channel: &str, payload: Bytes) {
        if self
            .outgoing
            .try_send((channel.to_owned(), payload))
            .is_err()
        {
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
}

/// Keeps the two connections up and moves messages, until the broker is dropped.
async fn run(
    client: ::redis::Client,
    mut queue: mpsc::Receiver<(String, Bytes)>,
    shared: Arc<Shared>,
    url: String,
) {
    let mut attempt = 0;
    let mut waits = backoff();
    loop {
        let connected = tokio::time::timeout(WAIT, async {
            let publisher = client.get_multiplexed_async_connection().await?;
            let (sink, stream) = client.get_async_pubsub().await?.split();
            Ok::<_, ::redis::RedisError>((publisher, sink, stream))
        })
        .await
        .unwrap_or_else(|_| Err((::redis::ErrorKind::IoError, "timed out connecting").into()));
        let (mut publisher, mut sink, mut stream) = match connected {
            Ok(connected) => connected,
            Err(error) => {
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
        let since = std::time::Instant::now();
        while queue.try_recv().is_ok() {}
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
            tokio::select! {
                next = queue.recv() => match next {
                    Some(first) => {
                        // What waits goes in the same round trip.
                        let mut pipeline = ::redis::pipe();
                        let mut next = Some(first);
                        let mut count = 0;
                        while let Some((channel, payload)) = next.take() {
                            pipeline.cmd("PUBLISH").arg(channel).arg(payload.as_ref()).ignore();
                            count += 1;
                            if count < PIPELINE {
                                next = queue.try_recv().ok();
                            }
                        }
                        let sent = tokio::time::timeout(WAIT, pipeline.query_async::<()>(&mut publisher)).await;
                        match sent {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => break error.to_string(),
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
