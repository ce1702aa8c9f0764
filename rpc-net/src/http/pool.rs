//! Keep-alive HTTP/1.1 connections to one endpoint, for the HTTP client:
//! hyper's connection API and a list of idle connections, nothing more (no
//! redirects, cookies, decompression or per-request URL handling: a
//! JSON-RPC endpoint is one URL).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rpc_core::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::proxy::Proxy;
use crate::CONNECT_TIMEOUT;

/// An idle connection is closed after this long unused (servers close
/// theirs too, typically after a minute or more).
const IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// At most this many idle connections are kept; more are closed when their
/// call ends (a burst of callers opens more, then they shrink back).
const MAX_IDLE: usize = 256;

/// Where requests go and how to reach it.
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
    idle: Mutex<Vec<Idle>>,
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
    pub(super) fn new(route: Route) -> Arc<Pool> {
        Arc::new(Pool {
            route,
            idle: Mutex::new(Vec::new()),
        })
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
            if sender.ready().await.is_ok() {
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
    pub(super) fn put_back(&self, checkout: Checkout) {
        if checkout.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(Idle {
                    sender: checkout.sender,
                    since: Instant::now(),
                });
            }
        }
    }

    /// The most recently used open connection, closing stale ones.
    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(connection) = idle.pop() {
            if connection.sender.is_closed() {
                continue;
            }
            if connection.since.elapsed() > IDLE_TIMEOUT {
                // The rest are older still.
                idle.clear();
                return None;
            }
            return Some(connection.sender);
        }
        None
    }

    /// A new connection: TCP (through the proxy when there is one), TLS for
    /// `https://`, then HTTP/1.1; within the connect timeout.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let connecting = async {
            let route = &self.route;
            let tcp = match (&route.proxy, &route.tls) {
                (Some(proxy), Some(_)) => proxy.tunnel(&route.target).await?,
                (Some(proxy), None) => proxy.connect().await?,
                (None, _) => TcpStream::connect(&route.target)
                    .await
                    .map_err(|e| Error::Connect(Box::new(e)))?,
            };
            let _ = tcp.set_nodelay(true);
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
