//! The one listener every server uses: a cap on open connections and one
//! per address, back-off when accepting fails, and an end when the shutdown
//! drains.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rpc_core::backoff::Backoff;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Most connections a server keeps open by default: 10 000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The most connections one address may hold open when the server says
/// nothing: a quarter of the server's cap, but at least 64 (or the whole cap
/// when it is smaller), so that one address cannot lock the others out.
pub(crate) fn default_per_address(max_connections: usize) -> usize {
    (max_connections / 4).max(max_connections.min(64))
}

/// A socket that accepts connections: TCP, or a Unix domain socket.
pub(crate) trait Accept: Send + 'static {
    /// An accepted connection.
    type Stream: Send + 'static;
    /// Who it is from.
    type Peer: Send + 'static;
    /// The next connection.
    fn accept_one(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send;
    /// The address a connection counts under for the per-address cap;
    /// `None`: it counts under the server's cap only.
    fn address(peer: &Self::Peer) -> Option<IpAddr>;
    /// Socket options for a new connection.
    fn tune(_stream: &Self::Stream) {}
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    type Peer = SocketAddr;

    fn accept_one(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        self.accept()
    }

    fn address(peer: &SocketAddr) -> Option<IpAddr> {
        Some(peer.ip())
    }

    fn tune(stream: &TcpStream) {
        crate::tune(stream);
    }
}

/// Every local process shares one "address": a Unix socket has the
/// server's cap only (its file's mode says who may connect at all).
#[cfg(all(unix, feature = "unix"))]
impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    type Peer = tokio::net::unix::SocketAddr;

    fn accept_one(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send {
        self.accept()
    }

    fn address(_: &Self::Peer) -> Option<IpAddr> {
        None
    }
}

/// Accepts connections while fewer than the cap are open (further clients
/// wait in the kernel's backlog until one closes), closes at once those of an
/// address over its own cap, backs off when accepting fails (out of file
/// descriptors, say) instead of spinning, and stops when told to.
pub(crate) struct Listener<L = TcpListener> {
    listener: L,
    permits: Arc<Semaphore>,
    per_address: PerAddress,
    backoff: Backoff,
    /// Failed accepts in a row: one warning per run of them.
    failures: u32,
}

impl Listener<TcpListener> {
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<L: Accept> Listener<L> {
    /// A listener under `max_connections`, and `per_address` connections
    /// per address ([`default_per_address`] when `None`).
    pub(crate) fn new(listener: L, max_connections: usize, per_address: Option<usize>) -> Self {
        let per_address = per_address.unwrap_or_else(|| default_per_address(max_connections));
        Listener {
            listener,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            per_address: PerAddress {
                cap: per_address.max(1),
                open: Arc::default(),
            },
            backoff: Backoff::new(ACCEPT_BACKOFF.0, ACCEPT_BACKOFF.1, 0.0),
            failures: 0,
        }
    }

    /// The next connection, or `None` once `stop` is cancelled.
    pub(crate) async fn accept(
        &mut self,
        stop: &CancellationToken,
    ) -> Option<(Counted<L::Stream>, L::Peer)> {
        loop {
            let permit = tokio::select! {
                permit = self.permits.clone().acquire_owned() => permit.ok()?,
                () = stop.cancelled() => return None,
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept_one() => accepted,
                () = stop.cancelled() => return None,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if self.failures > 0 {
                        tracing::info!(failures = self.failures, "accepting again");
                        self.failures = 0;
                        self.backoff.reset();
                    }
                    // Over its address's cap: closed at once (dropped with
                    // its permit), not left waiting in the backlog.
                    let address = match L::address(&peer) {
                        None => None,
                        Some(ip) => match self.per_address.enter(ip) {
                            Some(slot) => Some(slot),
                            None => {
                                tracing::debug!(
                                    %ip,
                                    cap = self.per_address.cap,
                                    "closing a connection over its address's cap"
                                );
                                continue;
                            }
                        },
                    };
                    L::tune(&stream);
                    return Some((
                        Counted {
                            stream,
                            _permit: permit,
                            _address: address,
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

/// Open connections per address, each under a cap. IPv6 addresses count
/// by their /64 (one host usually holds a whole /64); an IPv4 address mapped
/// into IPv6 counts as itself.
struct PerAddress {
    cap: usize,
    /// Only addresses with connections open: an entry goes with its last one.
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    /// One more connection from `ip`, or `None` when its address is at the cap.
    fn enter(&self, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            key,
            open: self.open.clone(),
        })
    }
}

/// What connections are counted by: the address, or an IPv6 address's /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// A connection's place under its address's cap, given back when dropped.
struct AddressSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// An accepted connection holding its place under the caps until dropped.
pub(crate) struct Counted<S> {
    stream: S,
    _permit: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

impl<S> Counted<S> {
    /// The connection itself (the Unix server reads its peer's credentials).
    #[cfg_attr(not(all(unix, feature = "unix")), allow(dead_code))]
    pub(crate) fn get_ref(&self) -> &S {
        &self.stream
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_whole_and_ipv6_by_its_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
    }

    #[test]
    fn an_address_at_its_cap_is_refused_until_one_leaves() {
        let per_address = PerAddress {
            cap: 2,
            open: Arc::default(),
        };
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = per_address.enter(ip).unwrap();
        let _second = per_address.enter(ip).unwrap();
        assert!(per_address.enter(ip).is_none());
        assert!(per_address.enter("192.0.2.8".parse().unwrap()).is_some());
        drop(first);
        assert!(per_address.enter(ip).is_some());
    }

    #[test]
    fn an_address_empties_its_entry_when_its_last_connection_leaves() {
        let per_address = PerAddress {
            cap: 2,
            open: Arc::default(),
        };
        drop(per_address.enter("192.0.2.7".parse().unwrap()));
        assert!(per_address.open.lock().unwrap().is_empty());
    }

    #[test]
    fn the_default_share_is_a_quarter_but_at_least_64() {
        assert_eq!(default_per_address(10_000), 2_500);
        assert_eq!(default_per_address(100), 64);
        assert_eq!(default_per_address(3), 3);
    }
}
