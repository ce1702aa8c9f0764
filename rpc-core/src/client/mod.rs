//! The client engine: ids, request encoding, response validation, typed
//! decoding, batches. Transports only move bytes.

mod batch;
mod error;
mod layers;
mod params;
mod response;
mod routes;
mod service;
mod subscription;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

pub use crate::protocol::{BoxError, InvalidResponse};
pub use batch::{Batch, BatchOf, Push, Slot, Slots, MAX_TYPED_BATCH};
pub use error::{ConfigError, Error};
pub use layers::TransportService;
pub use params::ParamsBuilder;
pub use response::{Answer, BatchAnswer};
pub use routes::Expecting;
pub(crate) use routes::{Routes, BUFFER};
pub use service::{ServiceBatch, ServiceClient};
pub(crate) use subscription::ServerId;
pub use subscription::{Inbox, Notice, Opened, SubscribeCall, SubscriptionStream};

use crate::protocol::{encode, Id};

/// One message to send: a request or batch (which expects an answer), or
/// a notification (no ids).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outgoing {
    /// The encoded message.
    pub body: Vec<u8>,
    /// The ids of the requests it carries (one for a single call); empty
    /// for a notification.
    pub ids: Vec<Id>,
    /// Values for the transport and client layers: the HTTP client sends a
    /// `HeaderMap` found here as request headers.
    pub context: crate::protocol::Context,
}

impl Outgoing {
    /// A request (or batch) carrying `ids`.
    pub fn request(body: Vec<u8>, ids: Vec<Id>) -> Self {
        Outgoing {
            body,
            ids,
            context: crate::protocol::Context::new(),
        }
    }

    /// A notification (or batch of them).
    pub fn notification(body: Vec<u8>) -> Self {
        Outgoing::request(body, Vec::new())
    }

    /// Whether the message may be sent again after a failure that leaves
    /// unknown whether it ran: it carries [`Idempotent`].
    pub fn is_idempotent(&self) -> bool {
        self.context.get::<Idempotent>().is_some()
    }
}

/// Marks an [`Outgoing`] call as idempotent (running it twice does what
/// running it once does), in its context: retry layers and reconnecting
/// clients send only such calls again after a failure that leaves unknown
/// whether they ran. `#[rpc(idempotent)]` on a trait method makes its
/// generated client call through [`Client::call_idempotent`], which sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idempotent;

/// Moves encoded messages to a server and answers back. Implemented by the
/// HTTP, WebSocket and TCP clients; the engine does everything else.
pub trait Transport: Send + Sync + 'static {
    /// Sends a request (or batch) and returns the peer's answer.
    fn request(&self, message: Outgoing) -> BoxFuture<'_, Result<Answer, Error>>;
    /// Sends a notification (or batch of them); no answer is expected.
    fn notify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<(), Error>>;

    /// [`notify`](Self::notify) with the message's context (a transport
    /// that reads it, such as the HTTP client for headers, overrides this).
    fn notify_with(&self, message: Outgoing) -> BoxFuture<'_, Result<(), Error>> {
        self.notify(message.body)
    }

    /// Opens a subscription: sends its call through `client` (this
    /// transport's own client engine) and routes its notices with
    /// [`open_subscription`](Self::open_subscription). A reconnecting
    /// transport does more: it subscribes again on each new connection.
    fn subscribe<'a>(
        &'a self,
        client: &'a Client,
        call: SubscribeCall,
    ) -> BoxFuture<'a, Result<Opened, Error>> {
        Box::pin(client.subscribe_once(call))
    }

    /// Ends the subscription known by `key` (see [`subscribe`](Self::subscribe)):
    /// closes its route and calls `method` with `server_id` through
    /// `client`; whether the server still had it. A reconnecting transport
    /// sends it on its current connection only, with the id the
    /// subscription has there.
    fn unsubscribe<'a>(
        &'a self,
        client: &'a Client,
        key: &'a str,
        method: &'static str,
        server_id: Box<serde_json::value::RawValue>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        self.close_subscription(key);
        let mut params = ParamsBuilder::new(false);
        params.push("id", &server_id);
        Box::pin(client.call(method, params))
    }

    /// Records a subscribe call about to be sent whose items travel in
    /// notifications `method`, so that items arriving before its answer are
    /// kept for it (a duplex transport); `None`: this transport cannot carry
    /// subscriptions. A transport that wraps another forwards this and
    /// [`open_subscription`](Self::open_subscription) together: without
    /// it, the first items of a subscription may reach the handlers instead.
    fn expect_subscription(&self, _method: &str) -> Option<Expecting> {
        None
    }

    /// Opens the route of subscription `id`'s notices, which travel in
    /// notifications `method` (a duplex transport); `None`: this transport
    /// cannot carry subscriptions.
    fn open_subscription(&self, _method: &str, _id: &str) -> Option<Inbox> {
        None
    }

    /// Closes the route of the subscription known by `key` (its id, unless
    /// [`subscribe`](Self::subscribe) said otherwise).
    fn close_subscription(&self, _key: &str) {}

    /// The counter request ids come from, when the transport needs every
    /// client on it to share one (a duplex connection matches answers by
    /// id, whichever client sent the call). `None`: each client counts
    /// for itself.
    fn id_counter(&self) -> Option<Arc<AtomicU64>> {
        None
    }
}

/// The client engine, generic over the transport. Cheap to clone.
///
/// Generated clients (`<Trait>Client`) wrap one; use it directly to call
/// methods by name.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    next_id: Arc<AtomicU64>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> From<T> for Client {
    fn from(transport: T) -> Self {
        Client::new(transport)
    }
}

/// How long a call waits for its answer by default: 90 s, longer than a
/// server's own 60 s request timeout, so that its timeout answer arrives first.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

impl Client {
    /// A client over `transport`. Every call made through it waits at most
    /// [`DEFAULT_CLIENT_TIMEOUT`] for its answer, whatever the peer does.
    pub fn new(transport: impl Transport) -> Self {
        let next_id = transport
            .id_counter()
            .unwrap_or_else(|| Arc::new(AtomicU64::new(1)));
        Client {
            transport: Arc::new(transport),
            next_id,
            timeout: Some(DEFAULT_CLIENT_TIMEOUT),
        }
    }

    /// Sets the timeout of every call made through this client (and its
    /// clones made after).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Lets calls wait for their answers as long as it takes: only for a
    /// peer known to answer, or with a timeout of the caller's own.
    pub fn without_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Wraps every request and notification this client sends (and its
    /// clones made after) in `layer`, a tower layer over the
    /// [`TransportService`]: to add headers, count, log or limit. Each call
    /// wraps what is there: the layer added last sees a message first.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use rpc_core::{Client, InProcess, MethodTable, Outgoing, ParamsBuilder, TransportService};
    /// let sent = Arc::new(AtomicUsize::new(0));
    /// let counted = sent.clone();
    /// let counting = tower::layer::layer_fn(move |inner: TransportService| {
    ///     let counted = counted.clone();
    ///     tower::service_fn(move |message: Outgoing| {
    ///         counted.fetch_add(1, Ordering::Relaxed);
    ///         tower::ServiceExt::oneshot(inner.clone(), message)
    ///     })
    /// });
    /// let client = Client::new(InProcess::new(MethodTable::new())).with_layer(counting);
    /// let _ = client.call::<()>("missing", ParamsBuilder::new(false)).await;
    /// assert_eq!(sent.load(Ordering::Relaxed), 1);
    /// # });
    /// ```
    pub fn with_layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<TransportService>,
        L::Service:
            tower::Service<Outgoing, Response = Option<Answer>> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Outgoing>>::Error: Into<BoxError>,
        <L::Service as tower::Service<Outgoing>>::Future: Send + 'static,
    {
        let below = self.transport.clone();
        let service = layer.layer(TransportService::new(below.clone()));
        self.transport = Arc::new(layers::Layered { service, below });
        self
    }

    /// The timeout in force, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Calls `method` and decodes its result.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: ParamsBuilder,
    ) -> Result<T, Error> {
        self.call_marked(method, params, false).await
    }

    /// Calls `method`, which is idempotent: a retry layer
    /// (`rpc_http::http::RetryLayer`) or a reconnecting client may send it again when a
    /// failure leaves unknown whether it ran. Generated clients use it for
    /// methods marked `#[rpc(idempotent)]`.
    pub async fn call_idempotent<T: DeserializeOwned>(
        &self,
        method: &str,
        params: ParamsBuilder,
    ) -> Result<T, Error> {
        self.call_marked(method, params, true).await
    }

    async fn call_marked<T: DeserializeOwned>(
        &self,
        method: &str,
        params: ParamsBuilder,
        idempotent: bool,
    ) -> Result<T, Error> {
        self.call_encoded(method, params.into_bytes()?.as_deref(), idempotent)
            .await
    }

    /// Calls `method` with params encoded already.
    pub(crate) async fn call_encoded<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Option<&[u8]>,
        idempotent: bool,
    ) -> Result<T, Error> {
        let id = self.id();
        let body = encode::request(method, params, Some(id));
        let mut message = Outgoing::request(body, vec![Id::from(id)]);
        if idempotent {
            message.context.insert(Idempotent);
        }
        let answer = self.send(message).await?;
        answer.result(method, &Id::from(id))
    }

    /// Sends `method` as a notification: no id, no answer.
    pub async fn notify(&self, method: &str, params: ParamsBuilder) -> Result<(), Error> {
        let body = encode::request(method, params.into_bytes()?.as_deref(), None);
        let message = Outgoing::notification(body);
        match self.timeout {
            None => self.transport.notify_with(message).await,
            Some(limit) => tokio::time::timeout(limit, self.transport.notify_with(message))
                .await
                .unwrap_or(Err(Error::Timeout(limit))),
        }
    }

    /// Starts a batch: several calls in one round trip, results in order.
    pub fn batch(&self) -> Batch<()> {
        Batch::new(self.clone())
    }

    /// A batch of any number of calls whose results are all `T`, built
    /// with [`BatchOf::push`] (in a loop, say) and sent in one message.
    pub fn batch_of<T: serde::de::DeserializeOwned>(&self) -> BatchOf<T> {
        BatchOf::new(self.clone())
    }

    pub(crate) async fn send(&self, mut message: Outgoing) -> Result<Answer, Error> {
        match self.timeout {
            None => self.transport.request(message).await,
            Some(limit) => {
                // The deadline travels: the HTTP client sends it as a header;
                // on a duplex connection, a `$/cancelRequest` when it passes.
                message
                    .context
                    .insert(crate::protocol::Deadline(std::time::Instant::now() + limit));
                tokio::time::timeout(limit, self.transport.request(message))
                    .await
                    .unwrap_or(Err(Error::Timeout(limit)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that never answers.
    struct Silent;

    impl Transport for Silent {
        fn request(&self, _: Outgoing) -> BoxFuture<'_, Result<Answer, Error>> {
            Box::pin(std::future::pending())
        }
        fn notify(&self, _: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_call_has_a_deadline_by_default() {
        let client = Client::new(Silent);
        let started = tokio::time::Instant::now();
        let outcome = client.call::<u64>("x", ParamsBuilder::new(false)).await;
        assert!(matches!(outcome, Err(Error::Timeout(t)) if t == DEFAULT_CLIENT_TIMEOUT));
        assert_eq!(started.elapsed(), DEFAULT_CLIENT_TIMEOUT);
        let notified = client.notify("n", ParamsBuilder::new(false)).await;
        assert!(matches!(notified, Err(Error::Timeout(_))));
        let (one,) = client
            .batch()
            .call::<u64>("x", ParamsBuilder::new(false))
            .send()
            .await
            .map(|(one,)| (one.is_ok(),))
            .unwrap_or((false,));
        assert!(!one);
    }
}
