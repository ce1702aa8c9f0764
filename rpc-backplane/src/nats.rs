//! The backplane on NATS core pub/sub.

use bytes::Bytes;
use futures_util::StreamExt;
use rpc_core::backplane::{Broker, Deliver};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::Error;

/// Messages waiting to be handed to the NATS client: beyond, dropped.
const QUEUE: usize = 4096;

/// A NATS broker: async-nats keeps the connection (reconnecting with
/// back-off, subscriptions made again); publishing while disconnected
/// drops the message rather than replaying it later. One task publishes,
/// in order; one task per channel listens; all end with the broker.
pub struct NatsBroker {
    client: async_nats::Client,
    outgoing: mpsc::Sender<(String, Bytes)>,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker").finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// A broker at `url` (`nats://HOST:PORT`), reached in the background:
    /// returns without waiting for the server.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
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
            .event_callback(|event| async move {
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
        Ok(NatsBroker {
            client,
            outgoing,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        })
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
}
