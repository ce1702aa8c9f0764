//! Cancellation of a peer's running calls on a duplex connection: the
//! `$/cancelRequest` notification (LSP's convention, params `{"id": ID}`)
//! stops the call with that id if it is still running; it is answered
//! -32800 "Request cancelled" (inside its batch when it is a batch member).
//! Unknown or finished ids are ignored. Only calls still running after
//! their first poll are registered: the others are already answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::protocol::Id;

/// A connection's calls that may still be cancelled, by id.
#[derive(Default)]
pub(crate) struct Running {
    calls: Mutex<HashMap<Id, (u64, CancellationToken)>>,
    next: AtomicU64,
}

impl Running {
    /// Registers a running call; cancelled through [`cancel`](Self::cancel)
    /// until the returned guard is dropped.
    pub(crate) fn register(self: &Arc<Self>, id: Id) -> Option<Registered> {
        let token = CancellationToken::new();
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let mut calls = self.calls.lock().ok()?;
        calls.insert(id.clone(), (serial, token.clone()));
        Some(Registered {
            running: self.clone(),
            id,
            serial,
            cancelled: Box::pin(token.cancelled_owned()),
        })
    }

    /// Cancels the running call `id`, if any.
    pub(crate) fn cancel(&self, id: &Id) -> bool {
        let token = self
            .calls
            .lock()
            .ok()
            .and_then(|mut calls| calls.remove(id))
            .map(|(_, token)| token);
        match token {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// A registered call: resolves [`cancelled`](Registered::cancelled) when
/// cancelled; unregisters when dropped.
pub(crate) struct Registered {
    running: Arc<Running>,
    id: Id,
    serial: u64,
    pub(crate) cancelled: std::pin::Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.running.calls.lock() {
            // Only our own entry: a later call may reuse the id.
            if calls
                .get(&self.id)
                .is_some_and(|(serial, _)| *serial == self.serial)
            {
                calls.remove(&self.id);
            }
        }
    }
}
