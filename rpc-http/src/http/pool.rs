//! Keep-alive HTTP/1.1 connections to one endpoint, for the HTTP client:
//! hyper's connection API and a list of idle connections, nothing more (no
//! redirects, cookies, decompression or per-request URL handling: a
//! JSON-RPC endpoint is one URL).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rpc_core::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::proxy::Proxy;
use crate::CONNECT_TIMEOUT;

/// An idle connection is closed after this long unused by default: below
/// the keep-alive timeouts of common servers (node's 5 s, this crate's
/// 7.5 s), so that a call is rarely sent on a connection that the server
/// is closing at that very moment.
pub(super) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// At most this many idle connections are kept; more are closed when their
/// call ends (a burst of callers opens more, then they shrink back as they
/// expire).
const MAX_IDLE: usize = 1024;

/// Where requests go and how to reach it.
#[derive(Clone)]
pub(super) struct Route {
    /// `host:port` of the endpoint.
    pub(super) target: String,
    /// The host name, for TLS's server name.
    pub(super) host: String,
    /// `Some` for `https://`.
    pub(super) tls: Option<tokio_rustls::TlsConnector>,
    /// The HTTP proxy to go through, if any.
    pub(super) proxy: Option<Proxy>,
}

/// Connections to one [`Route`], shared by the clones of one `HttpClient`.
pub(super) struct Pool {
    route: Route,
    /// Oldest first: connections are taken and put back at the end.
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
    /// Whether a task is closing expired idle connections.
    reaping: AtomicBool,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// A connection in use; [`Pool::put_back`] returns it once its answer is
/// read. Dropped instead, it closes.
pub(super) struct Checkout {
    sender: SendRequest<Full<Bytes>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.route.target)
            .field("tls", &self.route.tls.is_some())
            .field("proxy", &self.route.proxy)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(super) fn new(route: Route, idle_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            route,
            idle: Mutex::new(Vec::new()),
            idle_timeout,
            reaping: AtomicBool::new(false),
        })
    }

    /// A pool to the same place whose connections expire after `idle`.
    pub(super) fn with_idle_timeout(&self, idle: Duration) -> Arc<Pool> {
        Pool::new(self.route.clone(), idle)
    }

    /// Sends `request` on an idle connection, or a new one. A request that a
    /// reused connection could not take (the server had just closed it) is
    /// sent again on a new connection: it was never written.
    pub(super) async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<hyper::body::Incoming>, Checkout), Error> {
        let mut request = request;
        if let Some(mut sender) = self.take_idle() {
            // Ready at once, or not used: a connection still busy (a server
            // that answered before reading the whole request) would hold
            // this call up; a new one is opened instead.
            if matches!(sender.ready().now_or_never(), Some(Ok(()))) {
                match sender.try_send_request(request).await {
                    Ok(response) => return Ok((response, Checkout { sender })),
                    Err(mut refused) => match refused.take_message() {
                        Some(unsent) => request = unsent,
                        None => return Err(request_error(refused.into_error())),
                    },
                }
            }
        }
        let mut sender = self.connect().await?;
        sender.ready().await.map_err(request_error)?;
        match sender.send_request(request).await {
            Ok(response) => Ok((response, Checkout { sender })),
            Err(e) => Err(request_error(e)),
        }
    }

    /// Keeps a connection whose answer has been read for the next call.
    pub(super) fn put_back(self: &Arc<Self>, checkout: Checkout) {
        if checkout.sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        self.expire(&mut idle);
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender: checkout.sender,
                since: Instant::now(),
            });
        }
        drop(idle);
        if !self.reaping.swap(true, Ordering::AcqRel) {
            tokio::spawn(reap(Arc::downgrade(self), self.idle_timeout));
        }
    }

    /// The most recently used open connection.
    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().ok()?;
        self.expire(&mut idle);
        while let Some(connection) = idle.pop() {
            if !connection.sender.is_closed() {
                return Some(connection.sender);
            }
        }
        None
    }

    /// Closes the connections idle for too long (the oldest, at the front)
    /// and those the server closed.
    fn expire(&self, idle: &mut Vec<Idle>) {
        let expired = idle.partition_point(|c| c.since.elapsed() >= self.idle_timeout);
        idle.drain(..expired);
        idle.retain(|c| !c.sender.is_closed());
    }

    /// A new connection: TCP (through the proxy when there is one), TLS for
    /// `https://`, then HTTP/1.1; within the connect timeout.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let connecting = async {
            let route = &self.route;
            let tcp = match (&route.proxy, &route.tls) {
                (Some(proxy), Some(_)) => proxy.tunnel(&route.target).await?,
                (Some(proxy), None) => proxy.connect().await?,
                (None, _) => {
                    let tcp = TcpStream::connect(&route.target)
                        .await
                        .map_err(|e| crate::proxy::connect_error(&route.target, e))?;
                    crate::tune(&tcp);
                    tcp
                }
            };
            match &route.tls {
                None => handshake(tcp).await,
                Some(tls) => {
                    let name = rustls::pki_types::ServerName::try_from(route.host.clone())
                        .map_err(|e| Error::Connect(Box::new(e)))?;
                    let stream = tls
                        .connect(name, tcp)
                        .await
                        .map_err(|e| Error::Connect(Box::new(e)))?;
                    handshake(stream).await
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| Error::Timeout(CONNECT_TIMEOUT))?
    }
}

/// Closes expired idle connections while there are any, also when no call
/// comes to do it; ends with the pool, or when none are left idle.
async fn reap(pool: Weak<Pool>, every: Duration) {
    loop {
        tokio::time::sleep(every.max(Duration::from_millis(100))).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let Ok(mut idle) = pool.idle.lock() else {
            return;
        };
        pool.expire(&mut idle);
        if idle.is_empty() {
            pool.reaping.store(false, Ordering::Release);
            return;
        }
    }
}

/// HTTP/1.1 on `stream`; the connection runs in its own task until it
/// closes or its last sender is dropped.
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::Connect(Box::new(Described::new(e))))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "HTTP connection ended");
        }
    });
    Ok(sender)
}

/// A request that failed on its way or before its answer's head came.
pub(super) fn request_error(e: hyper::Error) -> Error {
    Error::Transport(Box::new(Described::new(e)))
}

/// An error whose message names its causes too (hyper's own is terse:
/// "connection error"); the error itself stays the source.
#[derive(Debug)]
struct Described {
    message: String,
    error: hyper::Error,
}

impl Described {
    fn new(error: hyper::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Described { message, error }
    }
}

impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Described {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
