//! Byte budgets of what is queued toward peers: each connection's, and the
//! sum over every connection of a server (its [`Connections`] registry).
//! A message counts from the moment it is queued until the transport has
//! flushed it, so a peer that does not read holds its budget, not more.
//!
//! The same budgets, a second pair of them, bound what peers hold the other
//! way: the bytes of their messages whose calls are still running (a
//! message is kept while its calls borrow from it). Past either, the
//! connection stops reading until calls finish.
//!
//! What happens at a full budget depends on who sends: answers and a
//! handler's own pushes wait for room (and the connection stops reading
//! meanwhile: the peer cannot make more work), a subscription waits a
//! little and then ends as lagged, a broadcast never waits (the
//! connection that cannot take it is closed).
//!
//! [`Connections`]: super::Connections

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Bytes queued toward one connection's peer by default: 1 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 1024 * 1024;

/// Bytes queued toward all the peers of one server by default: 64 MiB.
pub const DEFAULT_MAX_SERVER_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Bytes of a connection's messages whose calls are still running, by
/// default: 4 MiB.
pub const DEFAULT_MAX_RUNNING_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of the messages whose calls are still running, over all the peers
/// of one server, by default: 64 MiB.
pub const DEFAULT_MAX_SERVER_RUNNING_BYTES: usize = 64 * 1024 * 1024;

/// A count of queued bytes against a limit, with a wake-up when room frees.
#[derive(Debug)]
pub(crate) struct Pool {
    limit: usize,
    used: AtomicUsize,
    room: Notify,
    /// Tasks waiting for room: only then does giving back wake anyone
    /// (waking takes a lock; most gives have nobody to wake).
    waiting: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Self {
        Pool {
            limit: limit.max(1),
            used: AtomicUsize::new(0),
            room: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` if they fit, or if nothing is queued (one message
    /// larger than the whole budget still goes, alone).
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Self::room_for(used, bytes, self.limit).then_some(used + bytes)
            })
            .is_ok()
    }

    /// Whether `bytes` would fit now.
    fn fits(&self, bytes: usize) -> bool {
        Self::room_for(self.used(), bytes, self.limit)
    }

    fn room_for(used: usize, bytes: usize, limit: usize) -> bool {
        used == 0 || used.saturating_add(bytes) <= limit
    }

    fn give(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(bytes))
            });
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }

    /// Bytes queued now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn full(&self) -> bool {
        self.used() >= self.limit
    }
}

/// Counts a task as waiting for room in a pool while it lives.
struct Waiting<'a>(&'a Pool);

impl<'a> Waiting<'a> {
    fn new(pool: &'a Pool) -> Self {
        pool.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(pool)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One connection's budget, and its server's when it has one.
#[derive(Debug)]
pub(crate) struct Budget {
    own: Pool,
    server: Option<Arc<Pool>>,
}

impl Budget {
    pub(crate) fn new(limit: usize, server: Option<Arc<Pool>>) -> Self {
        Budget {
            own: Pool::new(limit),
            server,
        }
    }

    /// Takes room for `bytes` now, or says it cannot.
    pub(crate) fn try_take(&self, bytes: usize) -> bool {
        // A server budget without room refuses before the connection's is
        // touched: taking and giving back the connection's would wake its
        // waiters, this very task among them, to try again at once.
        if self.server.as_ref().is_some_and(|s| !s.fits(bytes)) || !self.own.take(bytes) {
            return false;
        }
        match &self.server {
            Some(server) if !server.take(bytes) => {
                self.own.give(bytes);
                false
            }
            _ => true,
        }
    }

    /// Takes room for `bytes`, waiting for it at most `wait` (`None`: as
    /// long as it takes); whether it got it.
    pub(crate) async fn take(&self, bytes: usize, wait: Option<Duration>) -> bool {
        // Most of the time there is room: no waiter to register, no lock.
        if self.try_take(bytes) {
            return true;
        }
        let waiting = self.until(|| self.try_take(bytes));
        match wait {
            None => {
                waiting.await;
                true
            }
            Some(wait) => tokio::time::timeout(wait, waiting).await.is_ok(),
        }
    }

    /// Waits until `done` says so, trying again each time room frees.
    async fn until(&self, mut done: impl FnMut() -> bool) {
        let _own = Waiting::new(&self.own);
        let _server = self.server.as_deref().map(Waiting::new);
        loop {
            // Registered before trying, so that a release between the try
            // and the wait is not missed.
            let own = self.own.room.notified();
            let server = self.server.as_ref().map(|s| s.room.notified());
            tokio::pin!(own);
            own.as_mut().enable();
            let mut server = server.map(Box::pin);
            if let Some(server) = server.as_mut() {
                server.as_mut().enable();
            }
            if done() {
                return;
            }
            match server {
                Some(server) => {
                    tokio::select! {
                        () = own => {}
                        () = server => {}
                    }
                }
                None => own.await,
            }
        }
    }

    /// Takes `bytes` whatever the limits (settling a reservation that
    /// came out short).
    pub(crate) fn force(&self, bytes: usize) {
        self.own.used.fetch_add(bytes, Ordering::AcqRel);
        if let Some(server) = &self.server {
            server.used.fetch_add(bytes, Ordering::AcqRel);
        }
    }

    /// Gives back what written messages took.
    pub(crate) fn give(&self, bytes: usize) {
        self.own.give(bytes);
        if let Some(server) = &self.server {
            server.give(bytes);
        }
    }

    /// Whether this connection's budget (or its server's) is spent: reading
    /// from the peer pauses until room frees.
    pub(crate) fn full(&self) -> bool {
        self.own.full() || self.server.as_ref().is_some_and(|s| s.full())
    }

    /// Waits until the budget is no longer [`full`](Self::full).
    pub(crate) async fn room(&self) {
        self.until(|| !self.full()).await;
    }

    /// Bytes queued on this connection now.
    pub(crate) fn used(&self) -> usize {
        self.own.used()
    }

    /// Takes or gives back the difference so that exactly `bytes` are held,
    /// whatever the limits (they are in memory already).
    pub(crate) fn set(&self, bytes: usize) {
        let used = self.used();
        if bytes > used {
            self.force(bytes - used);
        } else {
            self.give(used - bytes);
        }
    }

    /// Waits, without borrowing the budget, until its server's is no longer
    /// spent (at once without a server budget).
    pub(crate) fn server_room(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let server = self.server.clone();
        async move {
            let Some(server) = server else { return };
            let _waiting = Waiting::new(&server);
            loop {
                let room = server.room.notified();
                tokio::pin!(room);
                room.as_mut().enable();
                if !server.full() {
                    return;
                }
                room.await;
            }
        }
    }

    /// Whether the server's budget is spent.
    pub(crate) fn server_full(&self) -> bool {
        self.server.as_ref().is_some_and(|s| s.full())
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        // Whatever this connection still held leaves its server's budget.
        if let Some(server) = &self.server {
            server.give(self.own.used());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_budget_waits_for_room_and_one_large_message_goes_alone() {
        let server = Arc::new(Pool::new(250));
        let a = Arc::new(Budget::new(100, Some(server.clone())));
        let b = Budget::new(1000, Some(server.clone()));
        assert!(a.try_take(60));
        assert!(!a.try_take(60), "over the connection's budget");
        assert!(b.try_take(190));
        assert!(!b.try_take(10), "over the server's budget");
        assert!(a.full() && b.full());
        assert!(!a.take(60, Some(Duration::from_millis(20))).await);
        let waiting = {
            let a = a.clone();
            tokio::spawn(async move { a.take(60, None).await })
        };
        tokio::task::yield_now().await;
        a.give(60);
        assert!(waiting.await.unwrap());
        assert_eq!(a.used(), 60);
        // Nothing queued: a message over the whole budget still goes.
        let c = Budget::new(10, None);
        assert!(c.try_take(5000));
        assert!(!c.try_take(1));
        c.give(5000);
        assert_eq!(c.used(), 0);
    }
}
