//! Brokers for the backplane of the `rpc` framework: broadcasts and topic
//! messages cross instances through Redis pub/sub (feature `redis`) or NATS
//! (feature `nats`). Users who need neither compile neither.
//!
//! ```no_run
//! # async fn demo(methods: rpc_core::MethodTable) -> Result<(), rpc_backplane::Error> {
//! use rpc_core::duplex::Connections;
//! use rpc_core::subscription::Topics;
//! let backplane = rpc_backplane::connect("redis://127.0.0.1:6379").await?;
//! let connections = Connections::new().with_backplane(backplane.clone());
//! let topics = Topics::new().with_backplane(backplane);
//! // Serve with `.with_connections(connections)`; hand `topics` to the service.
//! # Ok(()) }
//! ```
//!
//! Both brokers behave alike: `connect` returns at once and the broker is
//! reached in the background, again after every loss, with back-off; while
//! it is unreachable each instance serves its own clients, messages
//! published meanwhile reach only local clients (they are not replayed),
//! readiness ([`Backplane::readiness`]) says why, and failures are logged
//! (target `rpc::backplane`).
//!
//! Both keep a [log](rpc_core::backplane::TopicLog) of topic messages in
//! the broker (Redis Streams, NATS JetStream), which gives every message
//! its event id: each instance follows the log, so all hand out the same
//! ids in the same order, and a subscriber that resumes on any instance
//! is replayed what it missed, as far as the log retains it
//! ([`Retention`]). Broadcasts are not logged.

use rpc_core::backplane::Backplane;
/// How much of each topic the brokers' logs retain
/// (`RedisBroker::with_retention`, `NatsBroker::with_retention`).
pub use rpc_core::subscription::Retention;

#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "nats")]
pub use nats::NatsBroker;
#[cfg(feature = "redis")]
pub use redis::RedisBroker;

/// A broker URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not a URL this build knows.
    #[error("unsupported backplane URL `{0}`: expected {1}")]
    Unsupported(String, &'static str),
    /// A URL of the right scheme that the broker's client refuses.
    #[error("invalid backplane URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// `url` with any `user:password@` replaced by `***@`: what logs and
/// readiness show of it.
#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// What `connect` takes in this build.
const SCHEMES: &str = match (cfg!(feature = "redis"), cfg!(feature = "nats")) {
    (true, true) => "redis://HOST:PORT or nats://HOST:PORT",
    (true, false) => "redis://HOST:PORT (built without `nats`)",
    (false, true) => "nats://HOST:PORT (built without `redis`)",
    (false, false) => "nothing: build with the `redis` or `nats` feature",
};

/// A backplane on the broker at `url` (`redis://` or `nats://`), reached in
/// the background: it returns without waiting for the broker. Needs a
/// Tokio runtime.
pub async fn connect(url: &str) -> Result<Backplane, Error> {
    #[cfg(feature = "redis")]
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return Ok(Backplane::new(RedisBroker::new(url)?));
    }
    #[cfg(feature = "nats")]
    if url.starts_with("nats://") || url.starts_with("tls://") {
        return Ok(Backplane::new(NatsBroker::connect(url).await?));
    }
    Err(Error::Unsupported(url.to_owned(), SCHEMES))
}

/// The waits between attempts to reach a broker: 100 ms doubling to 5 s,
/// plus up to half again at random, so that instances restarted together
/// do not all knock at once.
#[cfg(any(feature = "redis", feature = "nats"))]
pub(crate) fn backoff() -> rpc_core::backoff::Backoff {
    use std::time::Duration;
    rpc_core::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 0.5)
}

#[cfg(all(test, any(feature = "redis", feature = "nats")))]
mod tests {
    #[test]
    fn credentials_in_a_url_are_never_shown() {
        assert_eq!(
            super::redacted("redis://:s3cret@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(super::redacted("nats://ann:pw@a:4222"), "nats://***@a:4222");
        assert_eq!(super::redacted("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(super::redacted("redis://h/x@y"), "redis://h/x@y");
    }
}
