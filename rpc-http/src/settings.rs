//! What every server is configured with, and the builder methods for it,
//! written once for the HTTP and the TCP server.

use std::sync::Arc;

use rpc_core::duplex::Connections;
use rpc_core::{Dispatcher, Limits, MethodTable};

use crate::listener::DEFAULT_MAX_CONNECTIONS;
use crate::Shutdown;

/// The settings both servers share.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) methods: MethodTable,
    pub(crate) limits: Limits,
    pub(crate) max_connections: usize,
    /// `None`: a share of `max_connections`.
    pub(crate) max_connections_per_address: Option<usize>,
    pub(crate) connections: Connections,
    pub(crate) shutdown: Shutdown,
    /// Middleware, in the order added (each wraps the ones before).
    pub(crate) layers: Vec<AddLayer>,
    /// Per-call metrics through the `metrics` facade.
    pub(crate) metrics: bool,
}

/// Puts one layer around a dispatcher's calls.
pub(crate) type AddLayer = Arc<dyn Fn(Dispatcher) -> Dispatcher + Send + Sync>;

impl Settings {
    pub(crate) fn new(methods: MethodTable) -> Self {
        Settings {
            methods,
            limits: Limits::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: None,
            connections: Connections::new(),
            shutdown: Shutdown::new(),
            layers: Vec::new(),
            metrics: false,
        }
    }

    /// The dispatcher these settings describe.
    pub(crate) fn dispatcher(&self) -> Dispatcher {
        let mut dispatcher = Dispatcher::new(self.methods.clone()).with_limits(self.limits);
        if self.metrics {
            dispatcher = dispatcher.with_metrics();
        }
        self.layers.iter().fold(dispatcher, |d, add| add(d))
    }
}

/// The builder methods of [`Settings`], for a server type with a
/// `settings` field.
macro_rules! settings_methods {
    () => {
        /// Largest message accepted (default 5 MiB); a larger one is answered
        /// with error -32098 (over HTTP with status 413, before the body is
        /// read when `Content-Length` announces it; over a stream, the
        /// connection then closes).
        pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
            self.settings.limits.max_message_bytes = bytes;
            self
        }

        /// Most members in one batch (default 1000).
        pub fn with_max_batch_len(mut self, len: usize) -> Self {
            self.settings.limits.max_batch_len = len;
            self
        }

        /// Longest a message's calls may run before each is answered with a
        /// timeout error (default 60 s); over HTTP it also bounds reading the body.
        pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.limits.request_timeout = Some(timeout);
            self
        }

        /// Replaces all message limits at once.
        pub fn with_limits(mut self, limits: rpc_core::Limits) -> Self {
            self.settings.limits = limits;
            self
        }

        /// Most connections open at once (default 10 000); more clients wait
        /// in the kernel's backlog until one closes.
        pub fn with_max_connections(mut self, max: usize) -> Self {
            self.settings.max_connections = max;
            self
        }

        /// Most connections open at once from one address (an IPv6
        /// address's /64 counts as one); by default a quarter of
        /// [`with_max_connections`](Self::with_max_connections), but at least
        /// 64 (2 500 of the default 10 000). A connection over it is closed
        /// at once. Behind a reverse proxy every client has the proxy's
        /// address: raise it (`usize::MAX` turns it off).
        pub fn with_max_connections_per_address(mut self, max: usize) -> Self {
            self.settings.max_connections_per_address = Some(max);
            self
        }

        /// Shares a registry of duplex connections with other servers, so
        /// that a broadcast reaches the clients of all of them.
        pub fn with_connections(mut self, connections: rpc_core::duplex::Connections) -> Self {
            self.settings.connections = connections;
            self
        }

        /// Drains on this shutdown (share one between the servers of a
        /// process); the default is one that only [`Shutdown::trigger`](crate::Shutdown::trigger) starts.
        pub fn with_shutdown(mut self, shutdown: crate::Shutdown) -> Self {
            self.settings.shutdown = shutdown;
            self
        }

        /// Wraps every call in `layer`, a tower layer over a
        /// [`CallService`](rpc_core::middleware::CallService): single calls,
        /// each member of a batch and notifications alike. The layer added
        /// last sees a call first. Tower's own layers (timeout, concurrency
        /// limit, load shedding) work unchanged.
        pub fn with_layer<L>(mut self, layer: L) -> Self
        where
            L: rpc_core::middleware::CallLayer + Clone + Send + Sync + 'static,
        {
            self.settings
                .layers
                .push(std::sync::Arc::new(move |d: rpc_core::Dispatcher| {
                    d.with_layer(layer.clone())
                }));
            self
        }

        /// Records per-call metrics through the `metrics` facade (install a
        /// recorder, e.g. a Prometheus exporter): `rpc_server_calls_total`
        /// {method, transport}, `rpc_server_errors_total` {method, code},
        /// `rpc_server_duration_seconds` {method}, `rpc_server_calls_in_flight`,
        /// `rpc_server_connections` {transport}.
        /// A method that is not registered is labelled `<unknown>`.
        pub fn with_metrics(mut self) -> Self {
            self.settings.metrics = true;
            self
        }

        /// The registry of this server's open duplex connections.
        pub fn connections(&self) -> &rpc_core::duplex::Connections {
            &self.settings.connections
        }

        /// The shutdown this server drains on.
        pub fn shutdown(&self) -> &crate::Shutdown {
            &self.settings.shutdown
        }
    };
}

pub(crate) use settings_methods;
