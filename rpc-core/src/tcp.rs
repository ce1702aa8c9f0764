//! JSON-RPC over TCP, Unix sockets, stdio: anything `AsyncRead + AsyncWrite`,
//! with a choice of [`Framing`]. Connections are duplex: both sides may
//! call and notify.

use std::io;
use std::net::SocketAddr;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::codec::{Framing, StreamCodec, DEFAULT_MAX_FRAME};
use crate::duplex::{Connections, DuplexConfig, DuplexConnection};
use crate::{code, Context, Dispatcher, Error, ErrorObject, MethodTable};

/// Options of a stream connection, for both servers and clients.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// How messages are delimited (default: newline).
    pub framing: Framing,
    /// Longest message accepted; a longer one closes the connection with an error.
    pub max_frame: usize,
    /// Engine settings (in-flight limit, queue size; keep-alive is unused on streams).
    pub duplex: DuplexConfig,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            framing: Framing::Newline,
            max_frame: DEFAULT_MAX_FRAME,
            duplex: DuplexConfig {
                keep_alive: None,
                ..DuplexConfig::default()
            },
        }
    }
}

impl StreamOptions {
    /// Options with the given framing and defaults otherwise.
    pub fn framing(framing: Framing) -> Self {
        StreamOptions {
            framing,
            ..StreamOptions::default()
        }
    }
}

/// Runs the duplex engine on any byte stream: answers the peer's requests
/// through `dispatcher`, and returns the handle for calling the peer.
pub fn connect_stream<S>(
    io: S,
    options: &StreamOptions,
    dispatcher: Dispatcher,
    context: Context,
    registry: Option<&Connections>,
) -> DuplexConnection
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (sink, stream) =
        Framed::new(io, StreamCodec::new(options.framing, options.max_frame)).split();
    let stream = stream.map(|frame| {
        frame.map(BytesMut::freeze).map_err(|e| {
            let code = if e.kind() == io::ErrorKind::InvalidData {
                code::REQUEST_TOO_LARGE
            } else {
                code::PARSE_ERROR
            };
            ErrorObject::new(code, format!("Invalid frame: {e}"))
        })
    });
    let mut config = options.duplex.clone();
    if let Some(cap) = options.framing.max_message() {
        config.max_message = Some(config.max_message.map_or(cap, |max| max.min(cap)));
    }
    DuplexConnection::spawn(stream, sink, dispatcher, context, registry, config)
}

/// A TCP JSON-RPC server.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use rpc_core::tcp::{StreamOptions, TcpServer};
/// use rpc_core::codec::Framing;
/// let server = TcpServer::bind("127.0.0.1:4000", StreamOptions::framing(Framing::LengthPrefix(4))).await?;
/// server.serve(methods).await;
/// # Ok(()) }
/// ```
pub struct TcpServer {
    listener: TcpListener,
    options: StreamOptions,
    connections: Connections,
    shutdown: CancellationToken,
}

impl TcpServer {
    /// Binds the listening socket.
    pub async fn bind(addr: impl ToSocketAddrs, options: StreamOptions) -> io::Result<TcpServer> {
        Ok(TcpServer {
            listener: TcpListener::bind(addr).await?,
            options,
            connections: Connections::new(),
            shutdown: CancellationToken::new(),
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Shares a registry of connections (e.g. with a WebSocket server), so
    /// that a broadcast reaches the clients of both.
    pub fn with_connections(mut self, connections: Connections) -> Self {
        self.connections = connections;
        self
    }

    /// The registry of this server's open connections.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// A token that stops the server when cancelled: no new connections
    /// are accepted and open ones are closed.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves `methods` until the shutdown token is cancelled.
    pub async fn serve(self, methods: MethodTable) {
        self.serve_with(Dispatcher::new(methods)).await;
    }

    /// Serves through an existing dispatcher (custom limits).
    pub async fn serve_with(self, dispatcher: Dispatcher) {
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = self.shutdown.cancelled() => break,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let context = Context::new().with(peer);
            let connection = connect_stream(
                stream,
                &self.options,
                dispatcher.clone(),
                context,
                Some(&self.connections),
            );
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = connection.closed() => {}
                    _ = shutdown.cancelled() => connection.close(),
                }
            });
        }
    }
}

/// Connects to a TCP JSON-RPC server. The returned connection is a
/// [`Transport`](crate::Transport): wrap it in a generated client.
///
/// `methods` serves what the server sends this client (its notifications
/// and calls); pass an empty table to ignore them.
pub async fn connect(
    addr: impl ToSocketAddrs,
    options: &StreamOptions,
    methods: MethodTable,
) -> Result<DuplexConnection, Error> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    Ok(connect_stream(
        stream,
        options,
        Dispatcher::new(methods),
        Context::new(),
        None,
    ))
}
