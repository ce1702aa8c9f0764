//! What one duplex connection's handle, its two loops and its registry
//! share, and the handles to it (strong and weak). The engine that starts
//! and drives a connection is in `connection`; this holds no logic of its
//! own beyond ending the connection.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use tokio_util::sync::CancellationToken;

use super::pending::PendingCalls;
use super::writer::Queue;
use crate::client::{Error, Routes};
use crate::server::subscription::Active;

/// How a connection leaves its registry when it ends (given its id).
pub(super) struct Leave(pub(super) Box<dyn FnOnce(u64) + Send + Sync>);

/// What the handle, the loops and the registry share.
pub(super) struct Shared {
    pub(super) id: u64,
    pub(super) queue: Queue,
    /// Largest message the framing can carry, if it has a limit.
    pub(super) max_message: Option<usize>,
    pub(super) pending: Arc<PendingCalls>,
    /// Ids of our calls on this connection, shared by every client on it.
    /// (A reconnecting client puts its own, which outlives connections.)
    pub(super) next_id: std::sync::Mutex<Arc<AtomicU64>>,
    /// Why the connection ended, when a violation ended it.
    pub(super) ended_by: std::sync::OnceLock<(u16, &'static str)>,
    /// Cancelled when the connection ends, for whatever reason: running
    /// calls are dropped, the loops stop.
    pub(super) done: CancellationToken,
    /// Cancelled to end the connection gracefully (see [`DuplexConnection::drain`]).
    pub(super) drain: CancellationToken,
    /// Cancelled when the writer has finished: everything is written or
    /// abandoned, and the transport is closed.
    pub(super) finished: CancellationToken,
    /// Takes the connection out of its registry when it ends.
    pub(super) leave: Option<Leave>,
    /// The subscriptions the peer holds on this connection.
    pub(super) subscriptions: Active,
    /// Where the notices of our subscriptions to the peer go.
    pub(super) routes: Arc<Routes>,
}

impl Shared {
    /// Ends the connection at once: pending calls fail with `Closed`.
    pub(super) fn close(&self) {
        self.done.cancel();
        self.pending.clear();
        // Our subscriptions' streams end with the connection.
        self.routes.clear();
    }

    /// Whether the connection has ended, for whatever reason.
    pub(super) fn is_ended(&self) -> bool {
        self.done.is_cancelled() || self.queue.is_closed()
    }

    /// What a call that can no longer be answered fails with.
    pub(super) fn closed_error(&self) -> Error {
        match self.ended_by.get() {
            Some(&(code, reason)) => Error::Ended { code, reason },
            None => Error::Closed,
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Nobody holds the connection any more: stop reading, which closes it.
        self.done.cancel();
        if let Some(Leave(leave)) = self.leave.take() {
            leave(self.id);
        }
    }
}

/// A handle to one duplex connection: send notifications and calls to the
/// peer. Cheap to clone. Handlers reach their caller's with [`caller`](super::caller).
#[derive(Clone)]
pub struct DuplexConnection {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for DuplexConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplexConnection")
            .field("id", &self.shared.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A connection handle that does not keep the connection alive; what
/// handlers get in their context and what the registry holds.
#[derive(Clone)]
pub(crate) struct WeakConnection {
    pub(super) shared: Weak<Shared>,
}

impl WeakConnection {
    pub(crate) fn upgrade(&self) -> Option<DuplexConnection> {
        self.shared
            .upgrade()
            .map(|shared| DuplexConnection { shared })
    }
}
