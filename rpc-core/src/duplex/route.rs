//! How the dispatcher hands back what concerns the connection itself:
//! answers to our calls, the order of notifications, refusal while draining.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use super::pending::PendingCalls;
use crate::cancel::Running;
use crate::dispatch::Peer;
use crate::message::Reply;
use crate::ErrorObject;

/// The connection, as the dispatcher sees it while it handles one message.
pub(super) struct Link {
    pub(super) pending: Arc<PendingCalls>,
    /// One permit: notifications start in the order they arrived.
    pub(super) order: Arc<Semaphore>,
    /// Set while the connection drains.
    pub(super) refusal: Option<ErrorObject>,
    /// The peer's calls that `$/cancelRequest` may cancel.
    pub(super) running: Arc<Running>,
    /// Where the notices of our subscriptions go.
    pub(super) routes: Arc<crate::client::Routes>,
}

impl Peer for Link {
    fn answers(&self, batch: bool, replies: Vec<Reply<Box<RawValue>>>) {
        self.pending.deliver(batch, replies);
    }

    fn unreadable(&self, body: &[u8]) {
        let waiting = self.pending.waiting();
        if waiting > 0 {
            // Perhaps the answer we wait for, garbled: say so rather than
            // let the calls time out without a word.
            tracing::warn!(
                waiting,
                message = ?String::from_utf8_lossy(&body[..body.len().min(200)]),
                "the peer sent something that is not JSON-RPC while calls wait for answers"
            );
        }
    }

    fn order(&self) -> &Semaphore {
        &self.order
    }

    fn refusal(&self) -> Option<&ErrorObject> {
        self.refusal.as_ref()
    }

    fn running(&self) -> &Arc<Running> {
        &self.running
    }

    fn routes(&self) -> &crate::client::Routes {
        &self.routes
    }
}
