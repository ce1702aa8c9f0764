//! Where the notices of a connection's subscriptions go. A notification
//! is an item of one of our subscriptions only when both its method and
//! its subscription id were recorded when we subscribed; any other
//! notification, whatever its params hold, is the user's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::subscription::{Inbox, Notice, Queued};

/// Notices buffered per subscription before the stream is read, at most
/// (a resumed topic's replay comes in a burst: 1000 messages by default).
pub(crate) const BUFFER: usize = 4096;

/// Bytes of items buffered per subscription before the stream is read;
/// beyond (or past [`BUFFER`] items), the subscription ends as lagged (and
/// is unsubscribed). One item larger than this still goes, alone.
pub(crate) const BUFFER_BYTES: usize = 1 << 20;

/// Notices kept at most for subscriptions being opened (their id's answer
/// is on its way to the caller).
const EARLY: usize = 256;

/// Subscriptions that ended, remembered so that their late items (sent
/// before the server saw the unsubscribe) are dropped, not handed to the
/// user's handlers.
const ENDED: usize = 64;

/// A connection's subscriptions: where their notices go.
#[derive(Default)]
pub(crate) struct Routes(Mutex<RouteTable>);

/// One subscription's route.
struct Route {
    /// The notification method its items travel in.
    method: Box<str>,
    sender: mpsc::Sender<Notice>,
    lagged: Arc<AtomicBool>,
    /// Bytes of the notices sent and not read yet.
    queued: Arc<AtomicUsize>,
    /// Whether a notification with this id but another method was reported.
    warned: bool,
}

/// The routes, and the notices that came before their route: one lock, so
/// that a notice is never put aside just after its route opened.
#[derive(Default)]
struct RouteTable {
    /// Open subscriptions, by id.
    open: HashMap<String, Route>,
    /// Per notification method: open subscriptions, subscribe calls in
    /// flight and recently ended subscriptions. A method absent here is
    /// never a subscription's.
    methods: HashMap<Box<str>, Uses>,
    /// Notices of a method whose subscribe call is in flight, with an id
    /// not open yet: (method, id, notice).
    early: VecDeque<(Box<str>, String, Notice)>,
    /// The last subscriptions that ended: (method, id).
    ended: VecDeque<(Box<str>, String)>,
    /// The connection is over: no route opens any more.
    closed: bool,
}

#[derive(Default, Clone, Copy)]
struct Uses {
    open: usize,
    opening: usize,
    ended: usize,
}

/// Which count of a method's [`Uses`] goes down.
#[derive(Clone, Copy)]
enum Use {
    Open,
    Opening,
    Ended,
}

impl RouteTable {
    fn uses(&mut self, method: &str) -> &mut Uses {
        self.methods.entry(method.into()).or_default()
    }

    /// One use of `method` fewer; the method leaves when none is left.
    fn release(&mut self, method: &str, what: Use) {
        if let Some(uses) = self.methods.get_mut(method) {
            let count = match what {
                Use::Open => &mut uses.open,
                Use::Opening => &mut uses.opening,
                Use::Ended => &mut uses.ended,
            };
            *count = count.saturating_sub(1);
            if uses.opening == 0 {
                // Nobody is waiting for these any more.
                let before = self.early.len();
                self.early.retain(|(m, _, _)| &**m != method);
                let dropped = before - self.early.len();
                if dropped > 0 {
                    tracing::debug!(
                        method,
                        dropped,
                        "notices of no subscription of ours dropped"
                    );
                }
            }
            if uses.open == 0 && uses.opening == 0 && uses.ended == 0 {
                self.methods.remove(method);
            }
        }
    }

    /// Ends the route of `id`: remembered a while, so that late items drop.
    fn remove(&mut self, id: &str) {
        if let Some(route) = self.open.remove(id) {
            if self.ended.len() == ENDED {
                if let Some((method, _)) = self.ended.pop_front() {
                    self.release(&method, Use::Ended);
                }
            }
            self.uses(&route.method).ended += 1;
            self.ended.push_back((route.method.clone(), id.to_owned()));
            self.release(&route.method, Use::Open);
        }
    }
}

impl Routes {
    /// Whether notifications `method` may be items of ours: a
    /// subscription with that method is open, being opened, or just ended.
    pub(crate) fn expects(&self, method: &str) -> bool {
        self.0
            .lock()
            .is_ok_and(|table| table.methods.contains_key(method))
    }

    /// Records a subscribe call about to be sent whose items travel in
    /// `method`: until the guard is dropped, such items with an id not yet
    /// open are kept for it.
    pub(crate) fn expect(self: &Arc<Self>, method: &str) -> Expecting {
        if let Ok(mut table) = self.0.lock() {
            table.uses(method).opening += 1;
        }
        Expecting {
            routes: self.clone(),
            method: method.into(),
        }
    }

    /// Opens the route of subscription `id`, whose items travel in
    /// `method`, with the notices that came early. `None` once the
    /// connection is over.
    pub(crate) fn open(&self, method: &str, id: &str) -> Option<Inbox> {
        let (sender, receiver) = mpsc::channel(BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut table = self.0.lock().ok()?;
        if table.closed {
            return None;
        }
        let early = std::mem::take(&mut table.early);
        let mut ended = false;
        for (for_method, for_id, notice) in early {
            if *for_method == *method && for_id == id {
                ended |= matches!(notice, Notice::End(_));
                queued.fetch_add(notice.bytes(), Ordering::AcqRel);
                let _ = sender.try_send(notice);
            } else {
                table.early.push_back((for_method, for_id, notice));
            }
        }
        table.ended.retain(|(m, i)| !(**m == *method && i == id));
        // Ended before it opened: its stream has everything, end included.
        if !ended {
            table.uses(method).open += 1;
            let route = Route {
                method: method.into(),
                sender,
                lagged: lagged.clone(),
                queued: queued.clone(),
                warned: false,
            };
            if let Some(replaced) = table.open.insert(id.to_owned(), route) {
                table.release(&replaced.method, Use::Open);
            }
        }
        Some(Inbox {
            receiver: Queued::new(receiver, queued),
            lagged,
        })
    }

    /// Ends every route: the connection is over.
    pub(crate) fn clear(&self) {
        if let Ok(mut table) = self.0.lock() {
            table.closed = true;
            table.open.clear();
            table.early.clear();
            table.ended.clear();
            table.methods.retain(|_, uses| {
                uses.open = 0;
                uses.ended = 0;
                uses.opening > 0
            });
        }
    }

    /// Forgets subscription `id`.
    pub(crate) fn close(&self, id: &str) {
        if let Ok(mut table) = self.0.lock() {
            table.remove(id);
        }
    }

    /// Routes a notification `method` of subscription `id`. `false` when
    /// it is not ours: no subscription with that method and id is open,
    /// being opened or just ended (it then goes to the user's handlers).
    pub(crate) fn deliver(&self, method: &str, id: &str, notice: Notice) -> bool {
        let Ok(mut table) = self.0.lock() else {
            return false;
        };
        let table = &mut *table;
        let end = matches!(notice, Notice::End(_));
        match table.open.get_mut(id) {
            Some(route) if *route.method == *method => {
                let size = notice.bytes();
                let held = route.queued.load(Ordering::Acquire);
                let sent = if held > 0 && held + size > BUFFER_BYTES {
                    Err(())
                } else {
                    route.queued.fetch_add(size, Ordering::AcqRel);
                    route.sender.try_send(notice).map_err(|_| {
                        route.queued.fetch_sub(size, Ordering::AcqRel);
                    })
                };
                match sent {
                    Ok(()) if end => table.remove(id),
                    Ok(()) => {}
                    // The stream is not read: it ends as lagged.
                    Err(_) => {
                        route.lagged.store(true, Ordering::Relaxed);
                        table.remove(id);
                    }
                }
                return true;
            }
            Some(route) if !route.warned => {
                // Items by id alone used to reach it: say why they do not.
                route.warned = true;
                tracing::warn!(
                    subscription = id,
                    subscribed = &*route.method,
                    received = method,
                    "a notification names one of our subscriptions but not its method: passed to the handlers, not the subscription"
                );
            }
            _ => {}
        }
        if table.ended.iter().any(|(m, i)| **m == *method && i == id) {
            // Sent before the server saw the end: nobody wants it.
            return true;
        }
        if table.methods.get(method).is_some_and(|u| u.opening > 0) {
            if table.early.len() == EARLY {
                table.early.pop_front();
            }
            table
                .early
                .push_back((method.into(), id.to_owned(), notice));
            return true;
        }
        false
    }
}

/// A subscribe call in flight: its items may come before its id is known.
/// Dropped once the call is answered (and its route opened) or has failed.
pub struct Expecting {
    routes: Arc<Routes>,
    method: Box<str>,
}

impl std::fmt::Debug for Expecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expecting")
            .field("method", &self.method)
            .finish()
    }
}

impl Drop for Expecting {
    fn drop(&mut self) {
        if let Ok(mut table) = self.routes.0.lock() {
            table.release(&self.method, Use::Opening);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8) -> Notice {
        Notice::Item(serde_json::value::to_raw_value(&n).unwrap())
    }

    #[test]
    fn only_a_subscribed_method_and_id_is_an_item() {
        let routes = Arc::new(Routes::default());
        assert!(!routes.expects("ticks"));
        assert!(!routes.deliver("ticks", "1", item(0)), "nothing subscribed");
        let mut inbox = routes.open("ticks", "1").unwrap();
        assert!(routes.expects("ticks"));
        assert!(!routes.deliver("status", "1", item(1)), "another method");
        assert!(!routes.deliver("ticks", "2", item(2)), "another id");
        assert!(routes.deliver("ticks", "1", item(3)));
        assert!(matches!(inbox.receiver.try_recv(), Ok(Notice::Item(i)) if i.get() == "3"));
        routes.close("1");
        // Late items of an ended subscription are dropped, not handed on.
        assert!(routes.deliver("ticks", "1", item(4)));
        assert!(!routes.deliver("ticks", "2", item(5)));
    }

    #[test]
    fn an_end_before_the_route_opens_leaves_nothing_behind() {
        let routes = Arc::new(Routes::default());
        let expecting = routes.expect("ticks");
        assert!(routes.deliver("ticks", "7", item(0)));
        assert!(routes.deliver("ticks", "7", Notice::End(None)));
        let mut inbox = routes.open("ticks", "7").unwrap();
        drop(expecting);
        assert!(matches!(inbox.receiver.try_recv(), Ok(Notice::Item(_))));
        assert!(matches!(inbox.receiver.try_recv(), Ok(Notice::End(None))));
        assert!(!routes.expects("ticks"), "no route stays open");
    }

    #[test]
    fn no_route_opens_on_a_closed_connection() {
        let routes = Arc::new(Routes::default());
        let _inbox = routes.open("ticks", "1").unwrap();
        routes.clear();
        assert!(routes.open("ticks", "2").is_none());
        assert!(!routes.expects("ticks"));
    }

    #[test]
    fn ended_subscriptions_are_forgotten_after_a_while() {
        let routes = Arc::new(Routes::default());
        for i in 0..(ENDED + 10) {
            let _ = routes.open("ticks", &i.to_string()).unwrap();
            routes.close(&i.to_string());
        }
        assert!(
            !routes.deliver("ticks", "0", item(0)),
            "the oldest is forgotten"
        );
        let last = (ENDED + 9).to_string();
        assert!(routes.deliver("ticks", &last, item(0)));
        let table = routes.0.lock().unwrap();
        assert_eq!(table.ended.len(), ENDED);
        assert_eq!(table.methods.get("ticks").map(|u| u.ended), Some(ENDED));
    }

    #[test]
    fn items_before_the_answer_wait_for_their_route() {
        let routes = Arc::new(Routes::default());
        let expecting = routes.expect("ticks");
        assert!(routes.deliver("ticks", "7", item(0)), "kept early");
        assert!(!routes.deliver("other", "7", item(1)));
        let mut inbox = routes.open("ticks", "7").unwrap();
        drop(expecting);
        assert!(matches!(inbox.receiver.try_recv(), Ok(Notice::Item(i)) if i.get() == "0"));
        // A failed subscribe call leaves nothing behind.
        let failed = routes.expect("news");
        assert!(routes.deliver("news", "9", item(2)));
        drop(failed);
        assert!(!routes.expects("news"));
        assert!(!routes.deliver("news", "9", item(3)));
    }

    #[test]
    fn a_route_holds_its_bytes_bound_and_gives_them_back_as_read() {
        let routes = Arc::new(Routes::default());
        let mut inbox = routes.open("ticks", "1").unwrap();
        let big = |n: usize| Notice::Item(serde_json::value::to_raw_value(&"x".repeat(n)).unwrap());
        // Half the bound twice fits; a third does not while they wait.
        assert!(routes.deliver("ticks", "1", big(BUFFER_BYTES / 2 - 2)));
        assert!(routes.deliver("ticks", "1", big(BUFFER_BYTES / 2 - 2)));
        assert!(!inbox.lagged.load(Ordering::Relaxed));
        // Read one: room again.
        assert!(matches!(inbox.receiver.try_recv(), Ok(Notice::Item(_))));
        assert!(routes.deliver("ticks", "1", big(BUFFER_BYTES / 2 - 2)));
        assert!(!inbox.lagged.load(Ordering::Relaxed));
        assert!(routes.deliver("ticks", "1", big(10)));
        assert!(
            inbox.lagged.load(Ordering::Relaxed),
            "over the bound: lagged"
        );
        // One item larger than the bound still goes, alone.
        let mut alone = routes.open("ticks", "2").unwrap();
        assert!(routes.deliver("ticks", "2", big(BUFFER_BYTES * 2)));
        assert!(!alone.lagged.load(Ordering::Relaxed));
        assert!(matches!(alone.receiver.try_recv(), Ok(Notice::Item(_))));
    }
}
