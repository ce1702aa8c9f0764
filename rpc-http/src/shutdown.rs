//! Graceful shutdown, shared by every server of a process.
//!
//! [`Shutdown::trigger`] (or SIGTERM / Ctrl-C with [`Shutdown::on_signals`])
//! starts it:
//! 1. the readiness probe (`GET /ready` on HTTP servers) answers 503 at once;
//! 2. after the drain delay (default none), listeners stop accepting: new
//!    connections are refused;
//! 3. open connections drain: HTTP connections finish the request in flight
//!    and close, WebSocket and TCP connections answer the calls in flight,
//!    refuse new ones (-32099) and close (WebSockets with code 1001);
//! 4. after the grace period (default 30 s) whatever is left is closed,
//!    whatever the peers do, and the servers' `run` futures return.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long connections may take to drain by default: 30 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// A shutdown signal shared by servers (clone it into each). Cheap to clone.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use rpc_http::Shutdown;
/// // Drain on SIGTERM or Ctrl-C; both servers stop together.
/// let shutdown = Shutdown::new().on_signals();
/// let http = rpc_http::http::Server::new(methods.clone()).with_shutdown(shutdown.clone()).bind("127.0.0.1:3000").await?;
/// let tcp = rpc_http::tcp::TcpServer::new(methods).with_shutdown(shutdown.clone()).bind("127.0.0.1:4000").await?;
/// let (a, b) = tokio::join!(http.run(), tcp.run());
/// a?;
/// b?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Cancelled by `trigger`: not ready any more.
    triggered: CancellationToken,
    /// Cancelled after the drain delay: stop accepting, drain connections.
    draining: CancellationToken,
    /// Cancelled after the grace period: close whatever is left.
    forced: CancellationToken,
    drain_delay: Duration,
    grace: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A shutdown with no drain delay and a 30 s grace period.
    pub fn new() -> Self {
        Shutdown::with_timing(Duration::ZERO, DEFAULT_GRACE)
    }

    /// A shutdown whose listeners keep serving for `drain_delay` after the
    /// trigger while the readiness probe already says 503 (so that a load
    /// balancer stops sending new clients), then drain for at most `grace`.
    pub fn with_timing(drain_delay: Duration, grace: Duration) -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                triggered: CancellationToken::new(),
                draining: CancellationToken::new(),
                forced: CancellationToken::new(),
                drain_delay,
                grace,
            }),
        }
    }

    /// Triggers on SIGTERM (what systemd, Docker and Kubernetes send) or
    /// SIGINT (Ctrl-C); a second signal ends the grace period at once. The
    /// handlers are in place when this returns. Call it inside a Tokio
    /// runtime.
    pub fn on_signals(self) -> Self {
        let mut signals = Signals::install();
        let this = self.clone();
        tokio::spawn(async move {
            signals.next().await;
            tracing::info!("shutdown signal received: draining (a second signal stops at once)");
            this.trigger();
            signals.next().await;
            tracing::warn!("second shutdown signal: closing every connection now");
            this.inner.draining.cancel();
            this.inner.forced.cancel();
        });
        self
    }

    /// Starts the shutdown (see the [module documentation](self)). Calling
    /// it again does nothing. Outside a Tokio runtime there is nothing to
    /// time the delays with: the servers drain and close at once.
    pub fn trigger(&self) {
        if self.inner.triggered.is_cancelled() {
            return;
        }
        self.inner.triggered.cancel();
        let inner = self.inner.clone();
        let timeline = async move {
            tokio::time::sleep(inner.drain_delay).await;
            inner.draining.cancel();
            tokio::time::sleep(inner.grace).await;
            inner.forced.cancel();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(timeline)),
            // No runtime to time the delays with: drain at once, and close
            // what is left at once too.
            Err(_) => {
                self.inner.draining.cancel();
                self.inner.forced.cancel();
            }
        }
    }

    /// Whether the shutdown has been triggered (the server is not ready).
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.is_cancelled()
    }

    /// Resolves when listeners must stop accepting and connections drain.
    pub async fn draining(&self) {
        self.inner.draining.cancelled().await;
    }

    /// Resolves when the grace period is over: close what is left.
    pub async fn forced(&self) {
        self.inner.forced.cancelled().await;
    }

    #[cfg_attr(not(any(feature = "http", feature = "tcp")), allow(dead_code))]
    pub(crate) fn draining_token(&self) -> &CancellationToken {
        &self.inner.draining
    }
}

/// SIGTERM and SIGINT, watched from the moment they are installed.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        Signals {
            term: watch(SignalKind::terminate(), "SIGTERM"),
            int: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    #[cfg(not(unix))]
    fn install() -> Signals {
        Signals {}
    }

    /// The next signal; never, if none can be watched.
    #[cfg(unix)]
    async fn next(&mut self) {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            let received = match signal {
                Some(signal) => signal.recv().await.is_some(),
                None => false,
            };
            if !received {
                std::future::pending::<()>().await;
            }
        }
        tokio::select! {
            () = recv(&mut self.term) => {}
            () = recv(&mut self.int) => {}
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

// What the servers compiled in use (all of it with the default features).
#[allow(dead_code)]
impl Shutdown {
    /// Waits for a server's connections to end, at most until the grace
    /// period is over (they close themselves then).
    pub(crate) async fn wait_for(&self, connections: tokio_util::task::TaskTracker) {
        connections.close();
        tokio::select! {
            () = connections.wait() => {}
            () = self.forced() => tracing::warn!("grace period over: closing the connections left"),
        }
    }

    /// Runs until `connection` ends: drains it when the shutdown drains,
    /// closes it when the grace period is over.
    pub(crate) async fn follow(&self, connection: &rpc_core::duplex::DuplexConnection) {
        self.follow_with(None, connection).await;
    }

    /// As [`follow`](Self::follow), draining with `other` too (the server
    /// serving a router mounted in an app, when it has its own).
    pub(crate) async fn follow_with(
        &self,
        other: Option<&Shutdown>,
        connection: &rpc_core::duplex::DuplexConnection,
    ) {
        tokio::select! {
            () = connection.closed() => return,
            () = first(self.draining(), other.map(Shutdown::draining)) => connection.drain(),
        }
        tokio::select! {
            () = connection.closed() => {}
            () = first(self.forced(), other.map(Shutdown::forced)) => connection.close(),
        }
    }
}

/// Resolves when `one` does, or `other` if there is one.
// Used as `follow_with` is (by the servers compiled in).
#[allow(dead_code)]
async fn first(one: impl Future<Output = ()>, other: Option<impl Future<Output = ()>>) {
    match other {
        Some(other) => {
            tokio::select! {
                () = one => {}
                () = other => {}
            }
        }
        None => one.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_outside_a_runtime_drains_and_closes_at_once() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        assert!(shutdown.is_triggered());
        assert!(shutdown.inner.draining.is_cancelled());
        assert!(shutdown.inner.forced.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_waits_for_its_delay_and_the_grace_period_follows() {
        let shutdown = Shutdown::with_timing(Duration::from_secs(5), Duration::from_secs(30));
        shutdown.trigger();
        assert!(shutdown.is_triggered());
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!shutdown.inner.draining.is_cancelled());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(shutdown.inner.draining.is_cancelled());
        assert!(!shutdown.inner.forced.is_cancelled());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(shutdown.inner.forced.is_cancelled());
    }
}
