//! Keep-alive: pings, and a deadline for hearing back.

use std::time::Duration;

/// A ping every `interval`; a peer from which nothing at all (no pong, no
/// message) arrives for `interval + timeout` is taken for gone (a half-open
/// connection) and the connection closes.
///
/// ```
/// use std::time::Duration;
/// use rpc_core::duplex::KeepAlive;
/// let keep_alive = KeepAlive::new(Duration::from_secs(10), Duration::from_secs(5)).unwrap();
/// assert_eq!(keep_alive.interval(), Duration::from_secs(10));
/// assert!(KeepAlive::new(Duration::ZERO, Duration::from_secs(5)).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    interval: Duration,
    timeout: Duration,
}

/// A keep-alive interval or timeout that is zero or longer than a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a keep-alive interval and timeout must be longer than zero and at most a day")]
pub struct InvalidKeepAlive;

impl KeepAlive {
    /// Pings every `interval`; gives the peer `timeout` more to answer.
    pub fn new(interval: Duration, timeout: Duration) -> Result<KeepAlive, InvalidKeepAlive> {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        let valid = |d: Duration| !d.is_zero() && d <= DAY;
        if !valid(interval) || !valid(timeout) {
            return Err(InvalidKeepAlive);
        }
        Ok(KeepAlive { interval, timeout })
    }

    /// How often a ping is sent.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long after a ping the peer has to show it is there.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The longest the peer may stay silent.
    pub(super) fn silence_allowed(&self) -> Duration {
        self.interval + self.timeout
    }
}

/// A clock ticking every `period`, first after one period; `None` (no
/// keep-alive) never ticks.
pub(super) fn clock(period: Option<Duration>) -> Option<tokio::time::Interval> {
    period.map(|p| tokio::time::interval_at(tokio::time::Instant::now() + p, p))
}

/// The next tick of a [`clock`]; never, for `None`.
pub(super) async fn tick(clock: &mut Option<tokio::time::Interval>) {
    match clock {
        Some(clock) => {
            clock.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Default for KeepAlive {
    /// A ping every 30 s, 20 s to answer it.
    fn default() -> Self {
        KeepAlive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(20),
        }
    }
}
