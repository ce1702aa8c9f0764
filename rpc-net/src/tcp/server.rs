//! The TCP server.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rpc_core::codec::Framing;
use rpc_core::duplex::Connections;
use rpc_core::{Context, Dispatcher, Limits, MethodTable};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::task::TaskTracker;

use super::{connect_stream, StreamOptions};
use crate::listener::{Listener, DEFAULT_MAX_CONNECTIONS};
use crate::Shutdown;

/// Configures and builds a TCP JSON-RPC server, with the same defaults as
/// the HTTP server (the crate documentation lists them).
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use rpc_net::tcp::TcpServer;
/// use rpc_core::codec::Framing;
/// let server = TcpServer::new(methods)
///     .framing(Framing::LengthPrefix(4))
///     .bind("127.0.0.1:4000")
///     .await?;
/// println!("listening on {}", server.local_addr()?);
/// server.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct TcpServer {
    methods: MethodTable,
    options: StreamOptions,
    limits: Limits,
    max_connections: usize,
    connections: Connections,
    shutdown: Shutdown,
}

impl TcpServer {
    /// A server for `methods` with newline framing and safe defaults.
    pub fn new(methods: MethodTable) -> Self {
        TcpServer {
            methods,
            options: StreamOptions::default(),
            limits: Limits::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connections: Connections::new(),
            shutdown: Shutdown::new(),
        }
    }

    /// How messages are delimited.
    pub fn framing(mut self, framing: Framing) -> Self {
        self.options.framing = framing;
        self
    }

    /// Framing and engine settings at once.
    pub fn options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// Largest message accepted; a larger one is answered with an error,
    /// then the connection closes.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_message_bytes = bytes;
        self
    }

    /// Longest a message's calls may run before each is answered with a
    /// timeout error.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = Some(timeout);
        self
    }

    /// Replaces all message limits at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Most connections open at once; more clients wait in the kernel's backlog.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Shares a registry of connections (e.g. with a WebSocket server), so
    /// that a broadcast reaches the clients of both.
    pub fn connections(mut self, connections: Connections) -> Self {
        self.connections = connections;
        self
    }

    /// Drains on this shutdown (share one between the servers of a process).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Binds `addr`; call [`TcpListening::run`] to serve.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<TcpListening> {
        let listener = Listener::new(TcpListener::bind(addr).await?, self.max_connections);
        Ok(TcpListening {
            listener,
            dispatcher: Dispatcher::new(self.methods).with_limits(self.limits),
            options: self.options,
            connections: self.connections,
            shutdown: self.shutdown,
        })
    }
}

/// A bound TCP server, ready to run.
pub struct TcpListening {
    listener: Listener,
    dispatcher: Dispatcher,
    options: StreamOptions,
    connections: Connections,
    shutdown: Shutdown,
}

impl TcpListening {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The registry of this server's open connections.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The shutdown this server drains on; [`Shutdown::trigger`] stops it.
    pub fn shutdown_handle(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Serves until the shutdown has drained every connection (or its
    /// grace period is over).
    pub async fn run(self) -> io::Result<()> {
        let TcpListening {
            mut listener,
            dispatcher,
            options,
            connections,
            shutdown,
        } = self;
        let tracker = TaskTracker::new();
        while let Some((stream, peer)) = listener.accept(shutdown.draining_token()).await {
            let connection = connect_stream(
                stream,
                &options,
                dispatcher.clone(),
                Context::new().with(peer),
                Some(&connections),
            );
            let shutdown = shutdown.clone();
            tracker.spawn(async move { shutdown.follow(&connection).await });
        }
        drop(listener);
        shutdown.wait_for(tracker).await;
        Ok(())
    }
}
