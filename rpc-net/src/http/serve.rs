//! Serving HTTP/1 connections from the listener with hyper: a header read
//! timeout (which also closes idle keep-alive connections), upgrades for
//! WebSocket, and a graceful end on shutdown.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
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
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
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

fn log_connection_error(peer: SocketAddr, error: &hyper::Error) {
    if error.is_timeout() {
        tracing::debug!(%peer, "closing a connection that sent no complete request header in time");
    } else {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}
