//! The registry of a server's open connections, for broadcasting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;

use super::budget::{
    Budget, Pool, DEFAULT_MAX_SERVER_QUEUED_BYTES, DEFAULT_MAX_SERVER_RUNNING_BYTES,
};
use super::shared::{DuplexConnection, Leave, WeakConnection};
use super::writer::Refused;
use super::Frame;
use crate::client::Error;
use crate::protocol::encode;
use crate::server::backplane::Backplane;

/// The live connections of a server, for broadcasting. Cheap to clone.
/// Handlers find it in their [`Context`](crate::protocol::Context)
/// (`ctx.get::<Connections>()`).
#[derive(Clone)]
pub struct Connections {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    connections: Mutex<HashMap<u64, WeakConnection>>,
    /// The byte budget of what is queued toward all these connections.
    queued: Arc<Pool>,
    /// The byte budget of these connections' messages whose calls run.
    running: Arc<Pool>,
    /// Where broadcasts also go, for the clients of other instances.
    backplane: std::sync::OnceLock<Backplane>,
}

/// Bytes held against a server's budget of running bytes until dropped
/// (from [`Connections::hold_running`]).
#[derive(Debug)]
pub struct RunningHold {
    budget: Budget,
}

impl RunningHold {
    /// Takes `bytes` more, waiting for room at most `wait` (`None`: as long
    /// as it takes); whether it got them. When the budget is spent by
    /// others, it waits; when nothing is held anywhere, any size goes.
    pub async fn take(&mut self, bytes: usize, wait: Option<std::time::Duration>) -> bool {
        self.budget.take(bytes, wait).await
    }

    /// Gives back what this hold has taken beyond `bytes` (a reservation
    /// larger than what came).
    pub fn keep(&mut self, bytes: usize) {
        self.budget.give(self.budget.used().saturating_sub(bytes));
    }

    /// Holds exactly `bytes` from now on, whatever the budget (a transport
    /// accounting for what it has buffered already): takes or gives back
    /// the difference.
    pub fn set(&mut self, bytes: usize) {
        self.budget.set(bytes);
    }

    /// Whether the server's budget is spent: a transport stops reading more
    /// of a message that has started arriving until there is
    /// [`room`](Self::room).
    pub fn spent(&self) -> bool {
        self.budget.server_full()
    }

    /// Resolves once the server's budget is no longer spent.
    pub fn room(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.budget.server_room()
    }

    /// Bytes this hold has taken.
    pub fn held(&self) -> usize {
        self.budget.used()
    }
}

/// The backplane channel of broadcasts.
const BROADCASTS: &str = "rpc.broadcast";

impl Default for Connections {
    fn default() -> Self {
        Connections {
            inner: Arc::new(RegistryInner {
                connections: Mutex::default(),
                queued: Arc::new(Pool::new(DEFAULT_MAX_SERVER_QUEUED_BYTES)),
                running: Arc::new(Pool::new(DEFAULT_MAX_SERVER_RUNNING_BYTES)),
                backplane: std::sync::OnceLock::new(),
            }),
        }
    }
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("len", &self.len())
            .finish()
    }
}

impl Connections {
    /// An empty registry, whose connections may queue
    /// [`DEFAULT_MAX_SERVER_QUEUED_BYTES`] toward their peers in all.
    pub fn new() -> Self {
        Connections::default()
    }

    /// Sets how many bytes may be queued toward all the peers of this
    /// registry's connections together (answers, notifications,
    /// subscription items and broadcasts not yet written): past it, each
    /// connection is held as if its own budget were spent. Set it before
    /// connections open: they take the budget in force when they open.
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        let inner = Arc::get_mut(&mut self.inner);
        match inner {
            Some(inner) => inner.queued = Arc::new(Pool::new(bytes)),
            None => tracing::warn!("with_max_queued_bytes on a registry already shared: ignored"),
        }
        self
    }

    /// Sets how many bytes the messages whose calls are still running may
    /// hold over all this registry's connections together (default
    /// [`DEFAULT_MAX_SERVER_RUNNING_BYTES`]): past it, every connection
    /// stops reading until calls finish. Set it before connections open.
    pub fn with_max_running_bytes(mut self, bytes: usize) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.running = Arc::new(Pool::new(bytes)),
            None => {
                tracing::warn!("with_max_running_bytes on a registry already shared: ignored")
            }
        }
        self
    }

    /// Bytes queued toward the peers of this registry's connections now.
    pub fn queued_bytes(&self) -> usize {
        self.inner.queued.used()
    }

    pub(super) fn queue_pool(&self) -> Arc<Pool> {
        self.inner.queued.clone()
    }

    pub(super) fn running_pool(&self) -> Arc<Pool> {
        self.inner.running.clone()
    }

    /// A hold on this registry's budget of running bytes
    /// ([`with_max_running_bytes`](Self::with_max_running_bytes)), for a
    /// transport that keeps a request outside a duplex connection (an HTTP
    /// body while its calls run): what it takes counts until it is dropped.
    ///
    /// ```
    /// # async fn demo() {
    /// let connections = rpc_core::duplex::Connections::new().with_max_running_bytes(100);
    /// let mut hold = connections.hold_running();
    /// assert!(hold.take(80, None).await);
    /// let mut other = connections.hold_running();
    /// // No room: it would wait until `hold` is dropped.
    /// assert!(!other.take(40, Some(std::time::Duration::from_millis(10))).await);
    /// drop(hold);
    /// assert!(other.take(40, None).await);
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo());
    /// ```
    pub fn hold_running(&self) -> RunningHold {
        RunningHold {
            budget: Budget::new(usize::MAX, Some(self.inner.running.clone())),
        }
    }

    /// Shares broadcasts with the other instances on `backplane`: what
    /// [`broadcast`](Self::broadcast) sends here also reaches their clients,
    /// and theirs reaches this registry's. Set once; later calls are ignored.
    ///
    /// ```
    /// # use rpc_core::{backplane::{Backplane, Broker, Deliver}, duplex::Connections};
    /// # struct Nowhere;
    /// # impl Broker for Nowhere {
    /// #     fn publish(&self, _: &str, _: bytes::Bytes) {}
    /// #     fn listen(&self, _: &str, _: Deliver) {}
    /// # }
    /// let connections = Connections::new().with_backplane(Backplane::new(Nowhere));
    /// assert!(connections.backplane().is_some());
    /// ```
    pub fn with_backplane(self, backplane: Backplane) -> Self {
        if self.inner.backplane.set(backplane.clone()).is_ok() {
            let registry = Arc::downgrade(&self.inner);
            backplane.listen(BROADCASTS, move |body| {
                let Some(inner) = registry.upgrade() else {
                    return;
                };
                // Only a notification goes to clients, written compactly
                // (one line, whatever the framing).
                let notification = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .filter(|m| m.get("method").is_some_and(|m| m.is_string()) && m.get("id").is_none());
                let Some(body) = notification.and_then(|m| serde_json::to_vec(&m).ok()) else {
                    tracing::warn!(target: "rpc::backplane", "a broadcast from the backplane that is no notification: dropped");
                    return;
                };
                let reached = Connections { inner }.deliver(&Bytes::from(body));
                tracing::trace!(reached, "a broadcast from another instance");
            });
        }
        self
    }

    /// The backplane broadcasts go through, if any.
    pub fn backplane(&self) -> Option<&Backplane> {
        self.inner.backplane.get()
    }

    /// How a connection leaves this registry when it ends.
    pub(super) fn handle(&self) -> Leave {
        let inner = Arc::downgrade(&self.inner);
        Leave(Box::new(move |id| {
            if let Some(inner) = inner.upgrade() {
                if let Ok(mut map) = inner.connections.lock() {
                    map.remove(&id);
                }
            }
        }))
    }

    pub(super) fn insert(&self, connection: &DuplexConnection) {
        if let Ok(mut map) = self.inner.connections.lock() {
            map.insert(connection.id(), connection.downgrade());
        }
    }

    /// The connections currently open.
    pub fn all(&self) -> Vec<DuplexConnection> {
        let Ok(map) = self.inner.connections.lock() else {
            return Vec::new();
        };
        map.values()
            .filter_map(WeakConnection::upgrade)
            .filter(|c| !c.is_closed())
            .collect()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.all().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a notification to every open connection; returns how many it
    /// reached.
    ///
    /// It never waits for a slow peer: a connection whose outgoing queue is
    /// full (its peer does not read fast enough) is closed, with a warning
    /// in the log, and does not count as reached.
    ///
    /// With a [backplane](Self::with_backplane), the notification also goes
    /// to the other instances, whose clients it reaches too; the count is
    /// this instance's.
    pub async fn broadcast<P: Serialize>(&self, method: &str, params: P) -> Result<usize, Error> {
        let body = Bytes::from(encode::notification(method, &params).map_err(Error::Encode)?);
        if let Some(backplane) = self.inner.backplane.get() {
            backplane.publish(BROADCASTS, &body);
        }
        Ok(self.deliver(&body))
    }

    /// Sends an encoded notification to this registry's connections.
    fn deliver(&self, body: &Bytes) -> usize {
        let mut reached = 0;
        for connection in self.all() {
            if connection
                .shared
                .max_message
                .is_some_and(|max| body.len() > max)
            {
                // Too long for this connection's framing: not sent, not counted.
                tracing::debug!(
                    connection = connection.id(),
                    "broadcast too long for the framing"
                );
                continue;
            }
            match connection
                .shared
                .queue
                .try_send(Frame::Message(body.clone()).into())
            {
                Ok(()) => reached += 1,
                Err(Refused::Full) => {
                    tracing::warn!(
                        connection = connection.id(),
                        queued = connection.shared.queue.budget().used(),
                        "closing a connection that does not keep up with broadcasts"
                    );
                    connection.close();
                }
                Err(Refused::Closed) => {}
            }
        }
        reached
    }
}
