//! The TCP server, and TLS over TCP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rpc_core::codec::Framing;
use rpc_core::duplex::Connections;
use rpc_core::{Context, Dispatcher, MethodTable, TransportKind};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::task::TaskTracker;

use super::{connect_stream, StreamOptions};
use crate::listener::Listener;
use crate::settings::{settings_methods, Settings};
use crate::tls::ServerTls;
use crate::Shutdown;

/// Configures and builds a TCP JSON-RPC server, with the same defaults as
/// the HTTP server (the crate documentation lists them).
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use rpc_http::tcp::TcpServer;
/// use rpc_core::codec::Framing;
/// let server = TcpServer::new(methods)
///     .with_framing(Framing::LengthPrefix4)
///     .bind("127.0.0.1:4000")
///     .await?;
/// println!("listening on {}", server.local_addr()?);
/// server.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct TcpServer {
    settings: Settings,
    options: StreamOptions,
    tls: Option<ServerTls>,
}

impl std::fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer").finish_non_exhaustive()
    }
}

impl TcpServer {
    /// A server for `methods` with newline framing and safe defaults.
    pub fn new(methods: MethodTable) -> Self {
        TcpServer {
            settings: Settings::new(methods),
            options: StreamOptions::default(),
            tls: None,
        }
    }

    settings_methods!();

    /// How messages are delimited.
    pub fn with_framing(mut self, framing: Framing) -> Self {
        self.options.framing = framing;
        self
    }

    /// How long a new connection may send nothing before it is closed
    /// (default [`DEFAULT_MESSAGE_READ_TIMEOUT`], as HTTP's header read;
    /// `None`: as long as it likes).
    ///
    /// [`DEFAULT_MESSAGE_READ_TIMEOUT`]: super::DEFAULT_MESSAGE_READ_TIMEOUT
    pub fn with_first_message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.first_message_timeout = timeout;
        self
    }

    /// How long a message may take to arrive once its first byte has; past
    /// it the peer is answered -32097 and the connection closes (default
    /// [`DEFAULT_MESSAGE_READ_TIMEOUT`]; `None`: as long as it takes). Idle
    /// connections between messages are never closed.
    ///
    /// [`DEFAULT_MESSAGE_READ_TIMEOUT`]: super::DEFAULT_MESSAGE_READ_TIMEOUT
    pub fn with_partial_message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.partial_message_timeout = timeout;
        self
    }

    /// Framing, timeouts and engine settings at once.
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// Serves TLS over TCP (and only that) with this certificate, the
    /// framing running inside it (`tls://ADDR`; clients:
    /// [`TlsClient`](crate::tls::TlsClient), or any TLS socket). Each
    /// connection's handshake runs in its own task, within the handshake
    /// timeout, counted against the connection caps; a client that does
    /// not speak TLS has its connection closed. Keep a clone to
    /// [`reload`](ServerTls::reload) the certificate later.
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Binds `addr`; call [`TcpListening::run`] to serve.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<TcpListening> {
        let dispatcher = self.settings.dispatcher();
        let Settings {
            max_connections,
            max_connections_per_address,
            connections,
            shutdown,
            ..
        } = self.settings;
        Ok(TcpListening {
            listener: Listener::new(
                TcpListener::bind(addr).await?,
                max_connections,
                max_connections_per_address,
            ),
            tls: self.tls,
            serving: Serving {
                dispatcher,
                options: self.options,
                connections,
                shutdown,
            },
        })
    }
}

/// What serving an accepted byte stream takes, for every stream server
/// (TCP, Unix sockets).
#[derive(Clone)]
pub(crate) struct Serving {
    pub(crate) dispatcher: Dispatcher,
    pub(crate) options: StreamOptions,
    pub(crate) connections: Connections,
    pub(crate) shutdown: Shutdown,
}

impl Serving {
    /// Starts the duplex engine on `stream` at once; the future follows
    /// the shutdown (drain, then close at the grace's end) until the
    /// connection has ended.
    pub(crate) fn start<S>(&self, stream: S, context: Context) -> impl Future<Output = ()> + Send
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let connection = connect_stream(
            stream,
            &self.options,
            self.dispatcher.clone(),
            context,
            Some(&self.connections),
        );
        let shutdown = self.shutdown.clone();
        async move { shutdown.follow(&connection).await }
    }
}

/// A bound TCP server, ready to run.
pub struct TcpListening {
    listener: Listener,
    tls: Option<ServerTls>,
    serving: Serving,
}

impl std::fmt::Debug for TcpListening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListening").finish_non_exhaustive()
    }
}

impl TcpListening {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The registry of this server's open connections.
    pub fn connections(&self) -> &Connections {
        &self.serving.connections
    }

    /// The shutdown this server drains on; [`Shutdown::trigger`] stops it.
    pub fn shutdown(&self) -> &Shutdown {
        &self.serving.shutdown
    }

    /// Serves until the shutdown has drained every connection (or its
    /// grace period is over).
    pub async fn run(self) -> io::Result<()> {
        let TcpListening {
            mut listener,
            tls,
            serving,
        } = self;
        let tracker = TaskTracker::new();
        while let Some((stream, peer)) = listener.accept(serving.shutdown.draining_token()).await {
            let context = Context::new().with(peer).with(TransportKind::Tcp);
            let Some(tls) = &tls else {
                tracker.spawn(serving.start(stream, context));
                continue;
            };
            // The handshake runs in the connection's task, under its own
            // timeout: a slow one never holds up accepting, and meanwhile
            // `stream` holds its place under the connection caps.
            let (tls, serving) = (tls.clone(), serving.clone());
            tracker.spawn(async move {
                let Some(stream) = tls.accept(stream, &peer, &serving.shutdown).await else {
                    return;
                };
                serving.start(stream, context).await;
            });
        }
        drop(listener);
        serving.shutdown.wait_for(tracker).await;
        Ok(())
    }
}
