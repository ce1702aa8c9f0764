//! What a reconnecting client tells its user about its connection.

use std::time::Duration;

/// The state of a reconnecting client's connection, as
/// [`Reconnecting::state`](super::Reconnecting::state) reports it and
/// [`Reconnecting::watch_state`](super::Reconnecting::watch_state) follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected to the endpoint of this name.
    Connected {
        /// The endpoint's name (its URL, for the rpc-http endpoints).
        endpoint: String,
    },
    /// Not connected: attempt `attempt` (counted from 1 since the
    /// connection was lost, or since the start) is under way, or waits
    /// `retry_in` after the last one failed.
    Reconnecting {
        /// The attempt under way or next.
        attempt: u32,
        /// The endpoint it tries.
        endpoint: String,
        /// How long it waits before trying (zero while it tries).
        retry_in: Duration,
        /// Why the last attempt failed, or why the connection was lost.
        last_error: Option<String>,
    },
    /// Closed: [`Reconnecting::close`](super::Reconnecting::close) was
    /// called, or it gave up (see [`Reconnect::with_max_attempts`](super::Reconnect::with_max_attempts)).
    /// Every call fails.
    Closed {
        /// Why.
        reason: String,
    },
}

impl ConnectionState {
    /// Whether calls go through now.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected { .. })
    }

    /// Whether it is over for good.
    pub fn is_closed(&self) -> bool {
        matches!(self, ConnectionState::Closed { .. })
    }
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionState::Connected { endpoint } => write!(f, "connected to {endpoint}"),
            ConnectionState::Reconnecting {
                attempt,
                endpoint,
                retry_in,
                last_error,
            } => {
                write!(f, "reconnecting to {endpoint} (attempt {attempt}")?;
                if !retry_in.is_zero() {
                    write!(f, " in {} ms", retry_in.as_millis())?;
                }
                if let Some(error) = last_error {
                    write!(f, "; last error: {error}")?;
                }
                f.write_str(")")
            }
            ConnectionState::Closed { reason } => write!(f, "closed: {reason}"),
        }
    }
}
