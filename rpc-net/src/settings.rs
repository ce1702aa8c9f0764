//! What every server is configured with, and the builder methods for it,
//! written once for the HTTP and the TCP server.

use rpc_core::duplex::Connections;
use rpc_core::{Limits, MethodTable};

use crate::listener::DEFAULT_MAX_CONNECTIONS;
use crate::Shutdown;

/// The settings both servers share.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) methods: MethodTable,
    pub(crate) limits: Limits,
    pub(crate) max_connections: usize,
    pub(crate) connections: Connections,
    pub(crate) shutdown: Shutdown,
}

impl Settings {
    pub(crate) fn new(methods: MethodTable) -> Self {
        Settings {
            methods,
            limits: Limits::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connections: Connections::new(),
            shutdown: Shutdown::new(),
        }
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
