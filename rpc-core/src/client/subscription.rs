//! The client side of subscriptions: the items a server pushes for a
//! subscription, as a typed [`Stream`](futures_util::Stream).

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{Client, Error, ParamsBuilder};
use crate::ErrorObject;

/// One notification of a subscription, routed to its stream.
#[derive(Debug)]
pub enum Notice {
    /// An item.
    Item(Box<RawValue>),
    /// The end: `None` when the items ran out, else why.
    End(Option<ErrorObject>),
}

/// Where one subscription's notices go, and whether it overflowed.
struct Route {
    sender: mpsc::Sender<Notice>,
    lagged: Arc<AtomicBool>,
}

/// Items buffered per subscription before the stream is read; beyond,
/// the subscription ends as lagged (and is unsubscribed).
const BUFFER: usize = 256;

/// Notices for subscriptions not yet known (their id's answer is on its
/// way to the caller) kept at most.
const EARLY: usize = 256;

/// A connection's subscriptions, by id: where their notices go.
#[derive(Default)]
pub(crate) struct Routes {
    open: Mutex<HashMap<String, Route>>,
    /// Notices that arrived before their subscription was opened here.
    early: Mutex<VecDeque<(String, Notice)>>,
}

impl Routes {
    /// Opens the route of subscription `id`, with the notices that came early.
    pub(crate) fn open(&self, id: &str) -> Option<Opened> {
        let (sender, receiver) = mpsc::channel(BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        if let Ok(mut early) = self.early.lock() {
            let mut kept = VecDeque::with_capacity(early.len());
            for (for_id, notice) in early.drain(..) {
                if for_id == id {
                    let _ = sender.try_send(notice);
                } else {
                    kept.push_back((for_id, notice));
                }
            }
            *early = kept;
        }
        self.open.lock().ok()?.insert(
            id.to_owned(),
            Route {
                sender,
                lagged: lagged.clone(),
            },
        );
        Some(Opened { receiver, lagged })
    }

    /// Ends every route: the connection is over.
    pub(crate) fn clear(&self) {
        if let Ok(mut open) = self.open.lock() {
            open.clear();
        }
        if let Ok(mut early) = self.early.lock() {
            early.clear();
        }
    }

    /// Forgets subscription `id`.
    pub(crate) fn close(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }

    /// Routes a notice; `false` when its subscription is unknown here (it
    /// is kept a while, in case its subscribe answer is being handled).
    pub(crate) fn deliver(&self, id: &str, notice: Notice) -> bool {
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        let end = matches!(notice, Notice::End(_));
        match open.get(id) {
            Some(route) => {
                match route.sender.try_send(notice) {
                    Ok(()) if end => {
                        open.remove(id);
                    }
                    Ok(()) => {}
                    // The stream is not read: it ends as lagged.
                    Err(_) => {
                        route.lagged.store(true, Ordering::Relaxed);
                        open.remove(id);
                    }
                }
                true
            }
            None => {
                drop(open);
                if let Ok(mut early) = self.early.lock() {
                    if early.len() == EARLY {
                        early.pop_front();
                    }
                    early.push_back((id.to_owned(), notice));
                }
                false
            }
        }
    }
}

/// An opened route: the notices, and whether they overflowed.
#[derive(Debug)]
pub struct Opened {
    pub(crate) receiver: mpsc::Receiver<Notice>,
    pub(crate) lagged: Arc<AtomicBool>,
}

/// A notice's parts: `{"subscription": ID, "result": ITEM}` or `"error"`.
#[derive(serde::Deserialize)]
struct Parts<'a> {
    #[serde(borrow)]
    subscription: &'a RawValue,
    #[serde(borrow, default, deserialize_with = "crate::message::present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "crate::message::present")]
    error: Option<&'a RawValue>,
}

/// A subscription id as routes know it: a string's content, or a number's
/// text (jsonrpsee numbers its subscriptions by default).
fn key(id: &RawValue) -> String {
    serde_json::from_str::<String>(id.get()).unwrap_or_else(|_| id.get().to_owned())
}

/// Reads `params` as a subscription notice; `None` when it is not one.
pub(crate) fn read(params: &RawValue) -> Option<(String, Notice)> {
    let parts: Parts<'_> = serde_json::from_str(params.get()).ok()?;
    let notice = match (parts.result, parts.error) {
        (Some(item), None) => Notice::Item(item.to_owned()),
        (None, Some(error)) if error.get() == "null" => Notice::End(None),
        (None, Some(error)) => Notice::End(Some(
            serde_json::from_str(error.get())
                .unwrap_or_else(|_| ErrorObject::internal_error("malformed end of subscription")),
        )),
        _ => return None,
    };
    Some((key(parts.subscription), notice))
}

/// A subscription's items, as the server pushes them: a stream of typed
/// items that ends when the subscription does (with an `Err` first if it
/// ended with an error, such as -32004 when we did not keep up). Dropping
/// it unsubscribes.
pub struct Subscription<T> {
    id: String,
    /// The id as the server sent it (a string or a number), for unsubscribing.
    raw_id: Box<RawValue>,
    receiver: mpsc::Receiver<Notice>,
    /// Set when our buffer overflowed (else a route closed without an end
    /// means the connection ended).
    lagged: Arc<AtomicBool>,
    client: Client,
    unsubscribe: &'static str,
    /// Still open on the server (not ended, not unsubscribed).
    open: bool,
    _items: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl<T> Subscription<T> {
    /// The id the server gave it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Ends the subscription; whether the server still had it.
    pub async fn unsubscribe(mut self) -> Result<bool, Error> {
        self.open = false;
        self.client.transport.close_subscription(&self.id);
        let mut params = ParamsBuilder::new(false);
        params.push("id", &self.raw_id);
        self.client.call(self.unsubscribe, params).await
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.client.transport.close_subscription(&self.id);
        if !self.open {
            return;
        }
        // Best effort: tell the server, without waiting for its answer.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (client, method, id) = (self.client.clone(), self.unsubscribe, self.raw_id.clone());
            runtime.spawn(async move {
                let mut params = ParamsBuilder::new(false);
                params.push("id", &id);
                let _ = client.call::<bool>(method, params).await;
            });
        }
    }
}

impl<T: DeserializeOwned> futures_util::Stream for Subscription<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        match self.receiver.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Notice::Item(raw))) => {
                Poll::Ready(Some(serde_json::from_str(raw.get()).map_err(|source| {
                    Error::Decode {
                        method: format!("subscription {}", self.id),
                        source,
                    }
                })))
            }
            Poll::Ready(Some(Notice::End(end))) => {
                self.open = false;
                self.receiver.close();
                Poll::Ready(end.map(|error| Err(Error::Call(error))))
            }
            Poll::Ready(None) if self.open => {
                // Closed without an end: our buffer overflowed, or the
                // connection ended.
                self.open = false;
                let error = if self.lagged.load(Ordering::Relaxed) {
                    Error::Call(crate::subscription::lagged())
                } else {
                    Error::Closed
                };
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => Poll::Ready(None),
        }
    }
}

impl Client {
    /// Calls a subscription method: `method` answers the subscription's id,
    /// then the server pushes items until the stream ends; `unsubscribe` is
    /// the method that ends it (called when the stream is dropped).
    /// Needs a duplex transport (WebSocket, TCP).
    pub async fn subscribe<T: DeserializeOwned>(
        &self,
        method: &str,
        params: ParamsBuilder,
        unsubscribe: &'static str,
    ) -> Result<Subscription<T>, Error> {
        let raw_id: Box<RawValue> = self.call(method, params).await?;
        let id = key(&raw_id);
        let Opened { receiver, lagged } =
            self.transport
                .open_subscription(&id)
                .ok_or(Error::Unsupported(
                    "subscriptions need a duplex connection (WebSocket or TCP)",
                ))?;
        Ok(Subscription {
            id,
            raw_id,
            receiver,
            lagged,
            client: self.clone(),
            unsubscribe,
            open: true,
            _items: PhantomData,
        })
    }
}
