//! The backplane on NATS core pub/sub.

use bytes::Bytes;
use futures_util::StreamExt;
use rpc_core::backplane::{Broker, Deliver};

use crate::Error;

/// A NATS broker: async-nats keeps the connection (reconnecting with
/// back-off, subscriptions made again); publishing while disconnected
/// drops the message rather than replaying it later.
pub struct NatsBroker {
    client: async_nats::Client,
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
            .reconnect_delay_callback(|attempt| crate::backoff(attempt.min(32) as u32))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!(target: "rpc::backplane", "connected to NATS")
                    }
                    async_nats::Event::Disconnected => tracing::warn!(
                        target: "rpc::backplane",
                        "lost NATS; serving local clients, reconnecting"
                    ),
                    other => tracing::debug!(target: "rpc::backplane", event = %other, "NATS"),
                }
            });
        // With `retry_on_initial_connect` the client comes back at once and
        // connects in the background.
        let client = options
            .connect(url)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        Ok(NatsBroker { client })
    }
}

impl Broker for NatsBroker {
    fn publish(&self, channel: &str, payload: Bytes) {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            tracing::debug!(target: "rpc::backplane", channel, "NATS not reachable: a message stays local");
            return;
        }
        let (client, subject) = (self.client.clone(), channel.to_owned());
        tokio::spawn(async move {
            if let Err(error) = client.publish(subject, payload).await {
                tracing::debug!(target: "rpc::backplane", %error, "NATS publish failed");
            }
        });
    }

    fn listen(&self, channel: &str, deliver: Deliver) {
        let (client, subject) = (self.client.clone(), channel.to_owned());
        tokio::spawn(async move {
            let mut messages = match client.subscribe(subject.clone()).await {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(target: "rpc::backplane", %subject, %error, "cannot subscribe on NATS");
                    return;
                }
            };
            while let Some(message) = messages.next().await {
                deliver(message.payload);
            }
        });
    }
}
