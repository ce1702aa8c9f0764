//! Serving HTTP/1 connections from the listener with hyper: a header read
//! timeout (which also closes idle keep-alive connections), upgrades for
//! WebSocket, and a graceful end on shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::listener::Listener;
use crate::Shutdown;

/// Accepts connections until the shutdown drains, then waits for them to
/// finish (the grace period bounds the wait); `tracker` also holds the
/// WebSocket connections upgraded from them.
pub(crate) async fn serve(
    mut listener: Listener,
    router: Router,
    shutdown: Shutdown,
    header_read_timeout: Duration,
    tracker: TaskTracker,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    while let Some((io, peer)) = listener.accept(shutdown.draining_token()).await {
        let router = router.clone();
        // Requests of this connection being answered: a drain lets them
        // finish, but does not wait for a header that is still arriving.
        let busy = Arc::new(AtomicUsize::new(0));
        let in_flight = busy.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = Busy::new(&in_flight);
            let answer = router.clone().oneshot(request);
            async move {
                // Busy until the answer's body has been written out.
                answer.await.map(|response| {
                    response.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _writing = &busy;
                            frame
                        }))
                    })
                })
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            tokio::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                () = shutdown.draining() => {
                    if busy.load(Ordering::Acquire) == 0 {
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
                log_connection_error(peer, &error);
            }
        });
    }
    drop(listener);
    shutdown.wait_for(tracker).await;
    Ok(())
}

/// Counts a request of a connection until its answer is ready.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::AcqRel);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn log_connection_error(peer: SocketAddr, error: &hyper::Error) {
    if error.is_timeout() {
        tracing::debug!(%peer, "closing a connection that sent no complete request header in time");
    } else {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}
