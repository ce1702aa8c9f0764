//! Subscriptions, wire-compatible with jsonrpsee and Ethereum's pub/sub: a
//! subscribe call answers an id (a string, valid on its connection only);
//! items then travel as notifications
//! `{"method": NAME, "params": {"subscription": ID, "result": ITEM}}`; the
//! end as `{"subscription": ID, "error": null}` (the items ran out) or an
//! error object (-32004 "Subscription lagged"); an unsubscribe call answers
//! `true` (or `false` for an unknown id) and ends it silently.
//!
//! Lag policy: each subscription has its own task, which takes the next
//! item once the previous one is queued on the connection; when the
//! connection's queue stays full for [`LAG_WAIT`] (its peer does not
//! read), the subscription ends with -32004 "Subscription lagged". A
//! [`Publisher`] feeds a subscription through its own bounded buffer and
//! never waits: a full buffer ends that subscription the same way. So one
//! slow subscriber holds up nothing but itself. Subscriptions end with
//! their connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use futures_util::future::BoxFuture;

use crate::protocol::{code, notice, Context, ErrorObject};

pub use crate::protocol::notice::lagged;

/// What a subscription method returns: the items to push, as a stream.
///
/// ```
/// use rpc_core::subscription::Subscription;
/// let ticks: Subscription<u64> = Subscription::new(futures_util::stream::iter(0..3));
/// # let _ = ticks;
/// ```
pub struct Subscription<T> {
    items: BoxStream<'static, Item<T>>,
    /// Cancelled by a [`Publisher`] whose buffer was full.
    lagged: Option<CancellationToken>,
}

/// One item on its way out: a value to encode, or a message encoded once
/// and shared by every subscriber (a topic's, with its event id), or the
/// notice that a resumed subscription missed messages.
pub(crate) enum Item<T> {
    Value(T),
    Encoded {
        message: Arc<RawValue>,
        event: Option<Arc<str>>,
    },
    Gap,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl<T: Send + 'static> Subscription<T> {
    /// Pushes each item of `items`; the subscription ends (`"error": null`)
    /// when the stream does.
    pub fn new(items: impl futures_util::Stream<Item = T> + Send + 'static) -> Self {
        Subscription {
            items: items.map(Item::Value).boxed(),
            lagged: None,
        }
    }

    /// A subscription fed by a [`Publisher`] through a buffer of
    /// `capacity` items (at least 1).
    pub fn channel(capacity: usize) -> (Publisher<T>, Subscription<T>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let lagged = CancellationToken::new();
        let items = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver
                .recv()
                .await
                .map(|item| (Item::Value(item), receiver))
        });
        (
            Publisher {
                sender,
                lagged: lagged.clone(),
            },
            Subscription {
                items: items.boxed(),
                lagged: Some(lagged),
            },
        )
    }
}

impl<T: Send + 'static> Subscription<T> {
    /// Items encoded once and shared, with the signal that ends it lagged.
    pub(crate) fn encoded(
        items: impl futures_util::Stream<Item = Item<T>> + Send + 'static,
        lagged: CancellationToken,
    ) -> Self {
        Subscription {
            items: items.boxed(),
            lagged: Some(lagged),
        }
    }
}

/// Feeds a subscription made with [`Subscription::channel`]; never waits.
#[derive(Clone, Debug)]
pub struct Publisher<T> {
    sender: mpsc::Sender<T>,
    lagged: CancellationToken,
}

impl<T> Publisher<T> {
    /// Queues `item`. `false` when the subscription is over: it ended, or
    /// its buffer was full (then it ends as lagged).
    pub fn publish(&self, item: T) -> bool {
        match self.sender.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagged.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Whether the subscription is over.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed() || self.lagged.is_cancelled()
    }
}

/// A connection's subscriptions, by id: what unsubscribing cancels.
#[derive(Default)]
pub(crate) struct Active {
    map: Mutex<HashMap<String, CancellationToken>>,
}

/// Most subscriptions open at once on one connection.
pub const MAX_PER_CONNECTION: usize = 1024;

/// Ids are unique in the process; they mean something on their connection only.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Active {
    pub(crate) fn open(&self, token: CancellationToken) -> Result<String, ErrorObject> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| ErrorObject::internal_error("subscriptions unavailable"))?;
        if map.len() >= MAX_PER_CONNECTION {
            return Err(ErrorObject::new(
                code::OVERLOADED,
                format!("Too many subscriptions on this connection (limit {MAX_PER_CONNECTION})"),
            ));
        }
        let id = format!(
            "{:016x}",
            NEXT_ID
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        map.insert(id.clone(), token);
        Ok(id)
    }

    pub(crate) fn close(&self, id: &str) -> Option<CancellationToken> {
        self.map.lock().ok()?.remove(id)
    }
}

tokio::task_local! {
    /// Work to start once the answer of the call being handled is queued
    /// (a subscription's first item must follow its id).
    pub(crate) static AFTER_ANSWER: std::cell::RefCell<Vec<Box<dyn FnOnce() + Send>>>;
}

/// Runs `then` once the current call's answer is queued, or at once
/// outside a duplex dispatch.
fn after_answer(then: Box<dyn FnOnce() + Send>) {
    let mut then = Some(then);
    let _ = AFTER_ANSWER.try_with(|deferred| {
        if let Some(then) = then.take() {
            deferred.borrow_mut().push(then);
        }
    });
    if let Some(then) = then {
        then();
    }
}

/// The connection a call arrived on, as server-side subscriptions push to
/// it. The duplex engine puts one ([`Caller`]) in the context of every call
/// it dispatches; it does not keep the connection alive.
pub(crate) trait Outlet: Send + Sync + 'static {
    /// Cancelled when the connection ends; `None` once it has ended.
    fn ended(&self) -> Option<CancellationToken>;
    /// Opens a subscription of the peer's, ended by `token`: its id
    /// (refused past [`MAX_PER_CONNECTION`], or once the connection ended).
    fn open(&self, token: CancellationToken) -> Result<String, ErrorObject>;
    /// Forgets the peer's subscription `id`: the token that ends it.
    fn close(&self, id: &str) -> Option<CancellationToken>;
    /// The largest message the connection carries, if it has a limit.
    fn max_message(&self) -> Option<usize>;
    /// Queues `frame`, waiting at most `wait` for room: whether it was
    /// (`false` too when the connection has ended).
    fn push_within(&self, frame: Vec<u8>, wait: Duration) -> BoxFuture<'_, bool>;
    /// Takes room for `bytes` in the connection's budget, waiting at most
    /// `wait`: whether it got it (then [`push_reserved`](Self::push_reserved)
    /// queues the frame). So a large item is encoded only once it fits.
    fn reserve(&self, bytes: usize, wait: Duration) -> BoxFuture<'_, bool>;
    /// Queues `frame` in room taken with [`reserve`](Self::reserve) for
    /// `reserved` bytes (the difference is settled): whether it was.
    fn push_reserved(&self, frame: Vec<u8>, reserved: usize) -> BoxFuture<'_, bool>;
}

/// The [`Outlet`] of the connection a call came on, in its [`Context`].
#[derive(Clone)]
pub(crate) struct Caller(pub(crate) Arc<dyn Outlet>);

/// Starts pushing `subscription` to the caller in `ctx` as notifications
/// `notification`; returns the id the subscribe call answers.
pub fn subscribe<T: Serialize + Send + 'static>(
    ctx: &Context,
    notification: &'static str,
    subscription: Subscription<T>,
) -> Result<Box<RawValue>, ErrorObject> {
    let needs_duplex = || {
        ErrorObject::new(
            code::DUPLEX_REQUIRED,
            format!("{notification} needs a duplex connection (WebSocket or TCP)"),
        )
    };
    let Some(Caller(outlet)) = ctx.get::<Caller>().cloned() else {
        return Err(needs_duplex());
    };
    let token = outlet.ended().ok_or_else(needs_duplex)?.child_token();
    let id = outlet.open(token.clone())?;
    let answer = serde_json::value::to_raw_value(&id).map_err(ErrorObject::internal_error)?;
    after_answer(Box::new(move || {
        tokio::spawn(push(outlet, notification, id, subscription, token));
    }));
    Ok(answer)
}

/// Ends the caller's subscription `id`; whether there was one.
pub fn unsubscribe(ctx: &Context, id: &str) -> bool {
    let Some(Caller(outlet)) = ctx.get::<Caller>() else {
        return false;
    };
    outlet.close(id).map(|token| token.cancel()).is_some()
}

/// A notice's bytes besides its item, method and id (an upper bound).
const NOTICE_OVERHEAD: usize = 64;

/// How long an item (or the end) may wait for room in the connection's
/// queue before the subscription ends as lagged.
pub const LAG_WAIT: Duration = Duration::from_secs(1);

async fn push<T: Serialize>(
    outlet: Arc<dyn Outlet>,
    notification: &'static str,
    id: String,
    subscription: Subscription<T>,
    token: CancellationToken,
) {
    let Subscription {
        mut items,
        lagged: lag_signal,
    } = subscription;
    let lag = async {
        match &lag_signal {
            Some(signal) => signal.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lag);
    let end = loop {
        let item = tokio::select! {
            biased;
            () = token.cancelled() => break None,
            () = &mut lag => break Some(Some(lagged())),
            item = items.next() => item,
        };
        if outlet.ended().is_none() {
            break None;
        }
        let Some(item) = item else {
            break Some(None);
        };
        let too_large = |size: usize, limit: usize| {
            ErrorObject::new(
                code::REQUEST_TOO_LARGE,
                format!(
                    "Subscription item of {size} bytes exceeds the connection's message limit of {limit} bytes"
                ),
            )
        };
        let raw = match item {
            Item::Value(value) => value,
            Item::Gap => match notice::write_gap(notification, &id) {
                Ok(frame) => {
                    if outlet.push_within(frame, LAG_WAIT).await {
                        continue;
                    }
                    break Some(Some(lagged()));
                }
                Err(error) => break Some(Some(error)),
            },
            Item::Encoded {
                message: raw,
                event,
            } => {
                // Room first, then the copy: a message shared by many
                // subscribers is copied only for those with room for it.
                let size = raw.get().len()
                    + notification.len()
                    + id.len()
                    + event.as_deref().map_or(0, str::len)
                    + NOTICE_OVERHEAD;
                if let Some(limit) = outlet.max_message().filter(|max| size > *max) {
                    break Some(Some(too_large(size, limit)));
                }
                if !outlet.reserve(size, LAG_WAIT).await {
                    tracing::debug!(
                        subscription = &*id,
                        "ending a subscription whose subscriber does not keep up"
                    );
                    break Some(Some(lagged()));
                }
                let frame =
                    match notice::write_event(notification, &id, Ok(&*raw), event.as_deref()) {
                        Ok(frame) => frame,
                        Err(error) => break Some(Some(error)),
                    };
                if !outlet.push_reserved(frame, size).await {
                    break Some(Some(lagged()));
                }
                continue;
            }
        };
        let frame = match notice::write(notification, &id, Ok(&raw)) {
            Ok(frame) => frame,
            Err(error) => break Some(Some(error)),
        };
        if let Some(limit) = outlet.max_message().filter(|max| frame.len() > *max) {
            break Some(Some(too_large(frame.len(), limit)));
        }
        if !outlet.push_within(frame, LAG_WAIT).await {
            tracing::debug!(
                subscription = &*id,
                "ending a subscription whose subscriber does not keep up"
            );
            break Some(Some(lagged()));
        }
    };
    if outlet.ended().is_some() {
        outlet.close(&id);
        if let Some(error) = end {
            if let Ok(frame) = notice::write::<T>(notification, &id, Err(error.as_ref())) {
                // Past the byte budget if it is full (a lagging subscriber
                // is why, most often): the end is small, one per
                // subscription, and the peer must learn of it.
                outlet.push_reserved(frame, 0).await;
            }
        }
    }
}
