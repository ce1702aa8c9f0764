//! Rate limiting of calls per peer, per method, or both, as a call
//! middleware (on governor's GCRA): a call over the limit is answered
//! -32005 "Rate limit exceeded" with the wait in its message, and its
//! handler does not run. Other calls, and other peers, are unaffected.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use rpc_core::middleware::Call;
use rpc_core::{code, BoxError, ErrorObject};
use serde_json::value::RawValue;
use tower::{Layer, Service};

/// What a limit is counted by.
#[derive(Clone, Copy, Debug)]
enum By {
    Peer,
    Method,
    PeerAndMethod,
}

/// The key a call is counted under.
type Key = (Option<IpAddr>, Option<Box<str>>);

/// Limits calls to `calls` per `every`, with bursts of up to `calls`.
/// Peers are counted by IPv4 address or IPv6 /64; method names by their
/// first 64 characters. The limiter forgets keys whose allowance is full
/// again, so its memory follows the callers of the last `every`.
///
/// ```no_run
/// # fn demo(methods: rpc_core::MethodTable) {
/// use std::time::Duration;
/// use rpc_http::limit::RateLimitLayer;
/// // Each client address may make 100 calls per second.
/// let server = rpc_http::http::Server::new(methods)
///     .with_layer(RateLimitLayer::per_peer(100, Duration::from_secs(1)));
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<DefaultKeyedRateLimiter<Key>>,
    by: By,
    checks: Arc<AtomicU64>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("by", &self.by)
            .finish()
    }
}

impl RateLimitLayer {
    /// A limit for each peer address (calls without an address, such as
    /// in-process ones, share one limit).
    pub fn per_peer(calls: u32, every: Duration) -> Self {
        Self::new(By::Peer, calls, every)
    }

    /// A limit for each method, whoever calls it.
    pub fn per_method(calls: u32, every: Duration) -> Self {
        Self::new(By::Method, calls, every)
    }

    /// A limit for each method called by each peer.
    pub fn per_peer_and_method(calls: u32, every: Duration) -> Self {
        Self::new(By::PeerAndMethod, calls, every)
    }

    /// `calls` of 0 counts as 1; `every` of zero as a nanosecond.
    fn new(by: By, calls: u32, every: Duration) -> Self {
        let burst = std::num::NonZeroU32::new(calls.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        let period = (every / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        RateLimitLayer {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            by,
            checks: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] puts around calls.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

/// How often the limiter forgets keys that are back to a full allowance.
const FORGET_EVERY: u64 = 4096;

/// Longest method name kept as a key: a caller sending ever new long names
/// cannot make the limiter's keys large.
const MAX_NAME: usize = 64;

fn bounded(name: &str) -> &str {
    match name.char_indices().nth(MAX_NAME) {
        Some((cut, _)) => &name[..cut],
        None => name,
    }
}

/// The peer as limits count it: an IPv4 address, or an IPv6 /64 (one
/// subscriber's network: rotating addresses inside it does not give a
/// caller new allowances, nor the limiter new keys).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(std::net::Ipv6Addr::from(segments))
        }
        v4 => v4,
    }
}

impl<S> Service<Call> for RateLimit<S>
where
    S: Service<Call, Response = Box<RawValue>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Box<RawValue>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Box<RawValue>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let peer = || {
            let ctx = call.context();
            let peer = ctx.peer().map(|a| network(a.ip()));
            if peer.is_none()
                && ctx
                    .transport()
                    .is_some_and(|t| t != rpc_core::TransportKind::InProcess)
            {
                no_peer_address();
            }
            peer
        };
        let method = || Some(Box::<str>::from(bounded(call.method())));
        let key = match self.layer.by {
            By::Peer => (peer(), None),
            By::Method => (None, method()),
            By::PeerAndMethod => (peer(), method()),
        };
        let limiter = &self.layer.limiter;
        if self.layer.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        match limiter.check_key(&key) {
            Ok(()) => Box::pin(self.inner.call(call)),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let error = ErrorObject::new(
                    code::OVERLOADED,
                    format!(
                        "Rate limit exceeded: retry in {} ms",
                        wait.as_millis().max(1)
                    ),
                );
                Box::pin(std::future::ready(Err(BoxError::from(error))))
            }
        }
    }
}

/// Says once that calls arrive with no peer address, so every caller
/// shares one per-peer limit: a router mounted in an app served by plain
/// `axum::serve` has none.
fn no_peer_address() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::warn!(
            "a per-peer rate limit sees calls with no peer address, so all callers share one limit: \
             serve your app with `rpc::http::serve_app` (or axum's `into_make_service_with_connect_info`)"
        );
    });
}
