//! The client side of subscriptions: the items a server pushes for a
//! subscription, as a typed [`Stream`](futures_util::Stream).

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{Client, Error, ParamsBuilder};
use crate::protocol::{notice, ErrorObject};

/// One notification of a subscription, routed to its stream.
#[derive(Debug)]
pub enum Notice {
    /// An item.
    Item(Box<RawValue>),
    /// A topic's item, with its event id (what a subscriber resumes from).
    Event {
        /// The item.
        item: Box<RawValue>,
        /// Its event id.
        event: String,
    },
    /// The server says items were missed (a resumed topic subscription
    /// whose `since` was no longer retained).
    Gap,
    /// The end: `None` when the items ran out, else why.
    End(Option<ErrorObject>),
    /// Not an end: a reconnecting client made the subscription again, under
    /// this new id, after its connection was lost; items sent meanwhile
    /// were missed.
    Resubscribed(String),
}

impl Notice {
    /// The bytes it holds (what an inbox's byte bound counts).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Notice::Item(item) => item.get().len(),
            Notice::Event { item, event } => item.get().len() + event.len(),
            Notice::Gap | Notice::End(_) | Notice::Resubscribed(_) => 0,
        }
    }
}

/// The receiving end of one subscription's route on a connection: its
/// notices, and whether they overflowed.
#[derive(Debug)]
pub struct Inbox {
    pub(crate) receiver: Queued,
    pub(crate) lagged: Arc<AtomicBool>,
}

/// Notices waiting to be read, and the bytes they hold: the route counts
/// what it sends, this gives it back as they are read.
#[derive(Debug)]
pub(crate) struct Queued {
    receiver: mpsc::Receiver<Notice>,
    bytes: Arc<std::sync::atomic::AtomicUsize>,
}

impl Queued {
    pub(crate) fn new(
        receiver: mpsc::Receiver<Notice>,
        bytes: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Self {
        Queued { receiver, bytes }
    }

    fn taken(&self, notice: Option<Notice>) -> Option<Notice> {
        if let Some(notice) = &notice {
            let size = notice.bytes();
            let _ = self
                .bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                    Some(b.saturating_sub(size))
                });
        }
        notice
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Notice>> {
        self.receiver.poll_recv(cx).map(|notice| self.taken(notice))
    }

    pub(crate) async fn recv(&mut self) -> Option<Notice> {
        let notice = self.receiver.recv().await;
        self.taken(notice)
    }

    pub(crate) fn close(&mut self) {
        self.receiver.close();
    }

    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Result<Notice, mpsc::error::TryRecvError> {
        let notice = self.receiver.try_recv()?;
        Ok(self.taken(Some(notice)).unwrap_or(Notice::Gap))
    }
}

/// A subscription id as the server sent it (a string or a number), shared
/// between a subscription's stream and a reconnecting client, which
/// changes it when it subscribes again on a new connection.
pub(crate) type ServerId = Arc<Mutex<Box<RawValue>>>;

/// A subscription a transport opened: its notices, and how to end it.
#[derive(Debug)]
pub struct Opened {
    pub(crate) inbox: Inbox,
    /// The id the server gave it first (what [`SubscriptionStream::id`] shows).
    pub(crate) id: String,
    /// What to close it by with [`Subscriptions::close`](super::Subscriptions::close).
    pub(crate) key: String,
    /// The id to unsubscribe with (the latest, after a resubscription).
    pub(crate) server_id: ServerId,
}

/// A subscription to open: the call that opens it and the method that
/// ends it. A reconnecting client keeps it, to subscribe again.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscribeCall {
    /// The subscribe method.
    pub method: String,
    /// Its encoded params (an array or object), if any.
    pub params: Option<Vec<u8>>,
    /// The notification method the items travel in: with the
    /// subscription's id, what tells its items from other notifications.
    pub notification: &'static str,
    /// The method that ends a subscription.
    pub unsubscribe: &'static str,
    /// Where its `since` param goes, if it has one (a topic subscription
    /// resumable from an event id).
    pub(crate) resume: Option<super::params::Resume>,
}

impl SubscribeCall {
    /// The call again, resuming after `event` when it has a `since` param:
    /// `None` when it cannot resume.
    pub(crate) fn resumed(&self, event: &str) -> Option<SubscribeCall> {
        let params = self.resume?.apply(self.params.as_deref(), event)?;
        Some(SubscribeCall {
            params: Some(params),
            ..self.clone()
        })
    }
}

/// A subscription's items, as the server pushes them: a stream of typed
/// items that ends when the subscription does (with an `Err` first if it
/// ended with an error, such as -32004 when we did not keep up). Dropping
/// it unsubscribes.
///
/// A gap is not an error: items the stream could not get (a resumed
/// topic subscription whose `since` the server no longer holds, or a
/// subscription a [reconnecting](crate::reconnect) client had to make
/// again without a way to resume it) are counted in
/// [`gaps`](SubscriptionStream::gaps), and the items after them follow.
/// A reconnecting client resumes a subscription that has a `since` param
/// (as topics do) from the last event id it saw: no gap then, unless the
/// server says so.
///
/// ```no_run
/// # async fn demo(mut ticks: rpc_core::SubscriptionStream<u64>) -> Result<(), rpc_core::Error> {
/// use futures_util::StreamExt;
/// let mut missed = 0;
/// while let Some(tick) = ticks.next().await {
///     if ticks.gaps() != missed {
///         missed = ticks.gaps();
///         println!("some ticks were missed");
///     }
///     println!("{}", tick?);
/// }
/// # Ok(()) }
/// ```
pub struct SubscriptionStream<T> {
    id: String,
    /// What the transport knows it by.
    key: String,
    /// The id as the server sent it (a string or a number), for
    /// unsubscribing; a reconnecting client updates it.
    server_id: ServerId,
    receiver: Queued,
    /// Set when our buffer overflowed (else a route closed without an end
    /// means the connection ended).
    lagged: Arc<AtomicBool>,
    client: Client,
    unsubscribe: &'static str,
    /// Still open on the server (not ended, not unsubscribed).
    open: bool,
    /// The stream has yielded its end.
    done: bool,
    /// The event id of the last item yielded, for a topic's.
    last_event: Option<String>,
    /// Gap notices the server sent (items were missed).
    gaps: u64,
    _items: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SubscriptionStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionStream")
            .field("id", &self.id)
            .finish()
    }
}

impl<T> SubscriptionStream<T> {
    /// The id the server gave it (a reconnecting client's subscription keeps
    /// this one, whatever id the server knows it by after reconnecting).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event id of the last item this stream yielded, when the server
    /// sends them (a topic's items: `"event"` beside `"result"`): what to
    /// resume from after a reconnection (`since`).
    pub fn last_event(&self) -> Option<&str> {
        self.last_event.as_deref()
    }

    /// How many times items were missed: the server said so (a resumed
    /// topic subscription whose `since` was no longer retained), or a
    /// reconnecting client made the subscription again without a way to
    /// resume it. A gap is no error: the stream goes on with the items
    /// that follow it.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// The id to unsubscribe with: the server's latest.
    fn server_id(&self) -> Box<RawValue> {
        match self.server_id.lock() {
            Ok(id) => id.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Ends the subscription; whether the server still had it.
    pub async fn unsubscribe(mut self) -> Result<bool, Error> {
        self.open = false;
        let id = self.server_id();
        match self.client.transport.subscriptions() {
            Some(routes) => {
                routes
                    .unsubscribe(&self.client, &self.key, self.unsubscribe, id)
                    .await
            }
            None => Err(Error::Closed),
        }
    }
}

impl<T> Drop for SubscriptionStream<T> {
    fn drop(&mut self) {
        let Some(routes) = self.client.transport.subscriptions() else {
            return;
        };
        if !self.open {
            routes.close(&self.key);
            return;
        }
        // Best effort: tell the server, without waiting for its answer.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (client, key, method) =
                    (self.client.clone(), self.key.clone(), self.unsubscribe);
                let id = self.server_id();
                runtime.spawn(async move {
                    if let Some(routes) = client.transport.subscriptions() {
                        let _ = routes.unsubscribe(&client, &key, method, id).await;
                    }
                });
            }
            Err(_) => routes.close(&self.key),
        }
    }
}

impl<T: DeserializeOwned> SubscriptionStream<T> {
    fn decode(&self, raw: &RawValue) -> Result<T, Error> {
        serde_json::from_str(raw.get()).map_err(|source| Error::Decode {
            method: format!("subscription {}", self.id),
            source,
        })
    }
}

impl<T: DeserializeOwned> futures_util::Stream for SubscriptionStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.receiver.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Notice::Item(raw))) => Poll::Ready(Some(self.decode(&raw))),
            Poll::Ready(Some(Notice::Event { item, event })) => {
                self.last_event = Some(event);
                Poll::Ready(Some(self.decode(&item)))
            }
            Poll::Ready(Some(Notice::Gap)) => {
                self.gaps += 1;
                tracing::debug!(subscription = %self.id, "the server says items were missed");
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Some(Notice::Resubscribed(id))) => {
                self.gaps += 1;
                tracing::debug!(subscription = %self.id, new_id = %id, "made again after a reconnection: items were missed");
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Some(Notice::End(end))) => {
                self.open = false;
                self.done = true;
                self.receiver.close();
                Poll::Ready(end.map(|error| Err(Error::Call(error))))
            }
            Poll::Ready(None) => {
                // Closed without an end: our buffer overflowed (the server
                // still has it: dropping the stream unsubscribes), or the
                // connection ended.
                self.done = true;
                let error = if self.lagged.load(Ordering::Relaxed) {
                    Error::Call(notice::lagged())
                } else {
                    self.open = false;
                    Error::Closed
                };
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}

impl Client {
    /// Calls a subscription method: `method` answers the subscription's id,
    /// then the server pushes items in notifications `notification` until
    /// the stream ends; `unsubscribe` is the method that ends it (called
    /// when the stream is dropped). Only notifications of that method
    /// naming that id are items; others reach the client's handlers.
    /// Needs a duplex transport (WebSocket, TCP).
    pub async fn subscribe<T: DeserializeOwned>(
        &self,
        method: &str,
        params: ParamsBuilder,
        notification: &'static str,
        unsubscribe: &'static str,
    ) -> Result<SubscriptionStream<T>, Error> {
        let resume = params.resume();
        let call = SubscribeCall {
            method: method.to_owned(),
            params: params.into_bytes()?,
            notification,
            unsubscribe,
            resume,
        };
        // Without routes the call still goes out: the server's answer
        // (-32002, naming the method) says more than a local refusal.
        let opening = match self.transport.subscriptions() {
            Some(routes) => routes.subscribe(self, call),
            None => Box::pin(self.subscribe_once(call)),
        };
        let opened = match self.timeout {
            None => opening.await?,
            Some(limit) => tokio::time::timeout(limit, opening)
                .await
                .unwrap_or(Err(Error::Timeout(limit)))?,
        };
        Ok(SubscriptionStream {
            id: opened.id,
            key: opened.key,
            server_id: opened.server_id,
            receiver: opened.inbox.receiver,
            lagged: opened.inbox.lagged,
            client: self.clone(),
            unsubscribe,
            open: true,
            done: false,
            last_event: None,
            gaps: 0,
            _items: PhantomData,
        })
    }

    /// Opens a subscription by calling it through this client, then routing
    /// its notices on the transport: what [`Subscriptions::subscribe`](super::Subscriptions::subscribe)
    /// does unless a transport does more.
    pub(crate) async fn subscribe_once(&self, call: SubscribeCall) -> Result<Opened, Error> {
        let routes = self.transport.subscriptions();
        // Items may come right behind the answer, before its id is known here.
        let _expecting = routes.and_then(|routes| routes.expect(call.notification));
        let raw_id: Box<RawValue> = self
            .call_encoded(&call.method, call.params.as_deref(), false)
            .await?;
        let id = notice::key(&raw_id);
        let routes = routes.ok_or(Error::Unsupported(
            "subscriptions need a duplex connection (WebSocket or TCP)",
        ))?;
        // `None`: the connection ended meanwhile.
        let inbox = routes.open(call.notification, &id).ok_or(Error::Closed)?;
        Ok(Opened {
            inbox,
            key: id.clone(),
            id,
            server_id: Arc::new(Mutex::new(raw_id)),
        })
    }
}
