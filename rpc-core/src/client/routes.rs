//! Where the notices of a connection's subscriptions go. A notification
//! is an item of one of our subscriptions only when both its method and
//! its subscription id were recorded when we subscribed; any other
//! notification, whatever its params hold, is the user's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::subscription::{Inbox, Notice};

/// Items buffered per subscription before the stream is read; beyond,
/// the subscription ends as lagged (and is unsubscribed).
pub(crate) const BUFFER: usize = 256;

/// Notices kept at most for subscriptions being opened (their id's answer
/// is on its way to the caller).
const EARLY: usize = 256;

/// A connection's subscriptions: where their notices go.
#[derive(Default)]
pub(crate) struct Routes(Mutex<RouteTable>);

/// One subscription's route.
struct Route {
    /// The notification method its items travel in.
    method: Box<str>,
    sender: mpsc::Sender<Notice>,
    lagged: Arc<AtomicBool>,
}

/// The routes, and the notices that came before their route: one lock, so
/// that a notice is never put aside just after its route opened.
#[derive(Default)]
struct RouteTable {
    /// Open subscriptions, by id.
    open: HashMap<String, Route>,
    /// Per notification method: open subscriptions and subscribe calls in
    /// flight. A method absent here is never a subscription's.
    methods: HashMap<Box<str>, Uses>,
    /// Notices of a method whose subscribe call is in flight, with an id
    /// not open yet: (method, id, notice).
    early: VecDeque<(Box<str>, String, Notice)>,
}

#[derive(Default, Clone, Copy)]
struct Uses {
    open: usize,
    opening: usize,
}

impl RouteTable {
    fn uses(&mut self, method: &str) -> &mut Uses {
        self.methods.entry(method.into()).or_default()
    }

    /// One use of `method` fewer; the method leaves when none is left.
    fn release(&mut self, method: &str, opening: bool) {
        if let Some(uses) = self.methods.get_mut(method) {
            if opening {
                uses.opening = uses.opening.saturating_sub(1);
            } else {
                uses.open = uses.open.saturating_sub(1);
            }
            if uses.open == 0 && uses.opening == 0 {
                self.methods.remove(method);
                self.early.retain(|(m, _, _)| &**m != method);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(route) = self.open.remove(id) {
            self.release(&route.method, false);
        }
    }
}

impl Routes {
    /// Whether notifications `method` may be items of ours: a
    /// subscription with that method is open or being opened.
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
    /// `method`, with the notices that came early.
    pub(crate) fn open(&self, method: &str, id: &str) -> Option<Inbox> {
        let (sender, receiver) = mpsc::channel(BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut table = self.0.lock().ok()?;
        let early = std::mem::take(&mut table.early);
        for (for_method, for_id, notice) in early {
            if *for_method == *method && for_id == id {
                let _ = sender.try_send(notice);
            } else {
                table.early.push_back((for_method, for_id, notice));
            }
        }
        table.uses(method).open += 1;
        let route = Route {
            method: method.into(),
            sender,
            lagged: lagged.clone(),
        };
        if let Some(replaced) = table.open.insert(id.to_owned(), route) {
            table.release(&replaced.method, false);
        }
        Some(Inbox { receiver, lagged })
    }

    /// Ends every route: the connection is over.
    pub(crate) fn clear(&self) {
        if let Ok(mut table) = self.0.lock() {
            table.open.clear();
            table.early.clear();
            table.methods.retain(|_, uses| {
                uses.open = 0;
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
    /// it is not ours: no subscription with that method and id is open or
    /// being opened (it then goes to the user's handlers).
    pub(crate) fn deliver(&self, method: &str, id: &str, notice: Notice) -> bool {
        let Ok(mut table) = self.0.lock() else {
            return false;
        };
        let end = matches!(notice, Notice::End(_));
        match table.open.get(id) {
            Some(route) if *route.method == *method => {
                match route.sender.try_send(notice) {
                    Ok(()) if end => table.remove(id),
                    Ok(()) => {}
                    // The stream is not read: it ends as lagged.
                    Err(_) => {
                        route.lagged.store(true, Ordering::Relaxed);
                        table.remove(id);
                    }
                }
                true
            }
            _ if table.methods.get(method).is_some_and(|u| u.opening > 0) => {
                if table.early.len() == EARLY {
                    table.early.pop_front();
                }
                table
                    .early
                    .push_back((method.into(), id.to_owned(), notice));
                true
            }
            _ => false,
        }
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
            table.release(&self.method, true);
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
        assert!(!routes.expects("ticks"));
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
}
