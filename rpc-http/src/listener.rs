//! The one listener every server uses: a cap on open connections, back-off
//! when accepting fails, and an end when the shutdown drains.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rpc_core::backoff::Backoff;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Most connections a server keeps open by default: 10 000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Accepts connections while fewer than the cap are open (further clients
/// wait in the kernel's backlog until one closes), backs off when accepting
/// fails (out of file descriptors, say) instead of spinning, and stops when
/// told to.
pub(crate) struct Listener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    backoff: Backoff,
    /// Failed accepts in a row: one warning per run of them.
    failures: u32,
}

impl Listener {
    pub(crate) fn new(listener: TcpListener, max_connections: usize) -> Self {
        Listener {
            listener,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            backoff: Backoff::new(ACCEPT_BACKOFF.0, ACCEPT_BACKOFF.1, 0.0),
            failures: 0,
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection, or `None` once `stop` is cancelled.
    pub(crate) async fn accept(
        &mut self,
        stop: &CancellationToken,
    ) -> Option<(Counted<TcpStream>, SocketAddr)> {
        loop {
            let permit = tokio::select! {
                permit = self.permits.clone().acquire_owned() => permit.ok()?,
                () = stop.cancelled() => return None,
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = stop.cancelled() => return None,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if self.failures > 0 {
                        tracing::info!(failures = self.failures, "accepting again");
                        self.failures = 0;
                        self.backoff.reset();
                    }
                    crate::tune(&stream);
                    return Some((
                        Counted {
                            stream,
                            _permit: permit,
                        },
                        peer,
                    ));
                }
                // The peer gave up before we accepted: nothing to wait for.
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    if self.failures == 0 {
                        tracing::warn!(error = %e, "accept failed; backing off until it succeeds");
                    }
                    self.failures = self.failures.saturating_add(1);
                    let pause = self.backoff.sleep();
                    tokio::select! {
                        () = pause => {}
                        () = stop.cancelled() => return None,
                    }
                }
            }
        }
    }
}

/// Errors about one connection, not about the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Waits between failed accepts: 5 ms, doubling to 1 s.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// An accepted connection holding its place under the cap until dropped.
pub(crate) struct Counted<S> {
    stream: S,
    _permit: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
