//! Serving HTTP/1 connections from the listener with hyper, over TCP or
//! TLS: a header read timeout (which also closes idle keep-alive
//! connections), upgrades for WebSocket, and a graceful end on shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::listener::Listener;
use crate::tls::ServerTls;
use crate::Shutdown;

/// The server a request came through, in its extensions: its shutdown, and
/// the tracker its run waits on (a WebSocket upgraded by a router mounted in
/// an app counts there too, so that the server's run returns only once the
/// WebSocket has drained and closed).
#[derive(Clone)]
pub(crate) struct Serving {
    pub(crate) shutdown: Shutdown,
    /// Counts the long-lived connections (WebSocket, event streams).
    pub(crate) tracker: TaskTracker,
}

/// Accepts connections until the shutdown drains, then waits for them to
/// finish (the grace period bounds the wait); `tracker` also holds the
/// WebSocket connections upgraded from them. With `tls`, each connection's
/// handshake runs first, in its own task.
pub(crate) async fn serve(
    mut listener: Listener,
    router: Router,
    shutdown: Shutdown,
    header_read_timeout: Duration,
    tracker: TaskTracker,
    tls: Option<ServerTls>,
) -> io::Result<()> {
    let builder = http1::Builder::new();
    while let Some((io, peer)) = listener.accept(shutdown.draining_token()).await {
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            header_read_timeout,
            peer,
        };
        match &tls {
            None => tracker.spawn(connection.run(io)),
            // The handshake runs in the connection's task, under its own
            // timeout: a slow one never holds up accepting, and meanwhile
            // `io` holds its place under the connection caps.
            Some(tls) => {
                let tls = tls.clone();
                tracker.spawn(async move {
                    if let Some(io) = tls.accept(io, &peer, &connection.shutdown).await {
                        connection.run(io).await;
                    }
                })
            }
        };
    }
    drop(listener);
    shutdown.wait_for(tracker).await;
    Ok(())
}

/// One accepted connection, served over whatever stream it came as (TCP,
/// or TLS over it).
struct Connection {
    builder: http1::Builder,
    router: Router,
    shutdown: Shutdown,
    tracker: TaskTracker,
    header_read_timeout: Duration,
    peer: SocketAddr,
}

impl Connection {
    /// Serves requests until the peer leaves, the header timeout closes an
    /// idle connection, or the shutdown drains it.
    async fn run<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            builder,
            router,
            shutdown,
            tracker,
            header_read_timeout,
            peer,
        } = self;
        let activity = Arc::new(Activity::default());
        let seen = activity.clone();
        let shutdown_seen = shutdown.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // A router mounted in an app drains with the server serving it.
            request.extensions_mut().insert(Serving {
                shutdown: shutdown_seen.clone(),
                tracker: tracker.clone(),
            });
            let busy = Busy::new(&seen);
            let answer = router.clone().oneshot(request);
            async move {
                // Busy until the answer's body has been written out.
                answer.await.map(|response| {
                    response.map(|body| {
                        body.map_frame(move |frame| {
                            let _writing = &busy;
                            frame
                        })
                    })
                })
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let outcome = tokio::select! {
            outcome = connection.as_mut() => outcome,
            () = activity.quiet_for(header_read_timeout) => {
                tracing::debug!(%peer, "closing a connection that sent no complete request header in time");
                return;
            }
            () = shutdown.draining() => {
                if !activity.is_busy() {
                    // Idle, or a header still arriving: close now.
                    return;
                }
                // Finish the request in flight, then close.
                connection.as_mut().graceful_shutdown();
                tokio::select! {
                    outcome = connection.as_mut() => outcome,
                    () = shutdown.forced() => Ok(()),
                }
            }
        };
        if let Err(error) = outcome {
            tracing::debug!(%peer, %error, "HTTP connection ended with an error");
        }
    }
}

/// What a connection is doing, as the header timeout and the drain see it.
///
/// The timeout is kept here rather than in hyper (whose own header timeout
/// allocates and arms a timer for every request): one timer per connection
/// ticks four times per timeout period, and a connection with no request in
/// progress that has seen no request start or finish for three ticks in a
/// row (at least three quarters of the timeout, at most all of it) is closed. That
/// covers a client that connects and sends nothing, one that sends its
/// header a byte at a time, and an idle keep-alive connection.
#[derive(Default)]
struct Activity {
    /// Requests being answered.
    busy: AtomicUsize,
    /// Requests started plus requests finished: changes on any progress.
    events: AtomicU64,
}

impl Activity {
    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// Resolves once the connection has been without a request for the timeout.
    async fn quiet_for(&self, timeout: Duration) {
        const TICKS: u32 = 4;
        let period = (timeout / TICKS).max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // After a stall, wait whole periods again rather than tick in a burst.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut last, mut quiet) = (self.events.load(Ordering::Acquire), 0);
        loop {
            ticker.tick().await;
            // `busy` first: a request that starts after this load changes `events`.
            let busy = self.is_busy();
            let now = self.events.load(Ordering::Acquire);
            quiet = if now == last && !busy { quiet + 1 } else { 0 };
            if quiet >= TICKS - 1 {
                return;
            }
            last = now;
        }
    }
}

/// Counts a request of a connection until its answer has been written.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Busy {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        activity.events.fetch_add(1, Ordering::AcqRel);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.events.fetch_add(1, Ordering::AcqRel);
    }
}
