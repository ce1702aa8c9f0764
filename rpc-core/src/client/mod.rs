//! The client engine: ids, request encoding, response validation, typed
//! decoding, batches. Transports only move bytes.

mod batch;
mod error;
mod layers;
mod params;
mod response;
mod routes;
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
pub(crate) use routes::Routes;
pub use subscription::{Inbox, Notice, Opened, SubscribeCall, SubscriptionStream};
pub(crate) use subscription::{Queued, ServerId};

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

/// Moves encoded messages to a peer and its answers back: all a transport
/// does. The HTTP, WebSocket, TCP and in-process clients implement it; the
/// engine ([`Client`]) does ids, encoding, validation and decoding.
///
/// A transport that carries subscriptions (a duplex connection) also
/// offers [`Subscriptions`]; to write one, run the duplex engine over your
/// byte stream rather than implementing that yourself.
///
/// ```
/// use rpc_core::client::{Answer, BoxFuture, Error, Outgoing, Transport};
///
/// /// A peer that answers every call with `null`.
/// struct Nulls;
///
/// impl Transport for Nulls {
///     fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
///         Box::pin(async move {
///             let Some(id) = message.ids.first() else { return Ok(None) };
///             let answer = format!(r#"{{"jsonrpc":"2.0","result":null,"id":{id}}}"#);
///             Ok(Some(Answer::from(answer.into_bytes())))
///         })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let client = rpc_core::Client::new(Nulls);
/// let nothing: () = client.call("anything", rpc_core::ParamsBuilder::new(false)).await.unwrap();
/// # });
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Sends `message`. A request or batch (its [`ids`](Outgoing::ids) not
    /// empty) comes back with the peer's answer; a notification with `None`
    /// once sent.
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>>;

    /// What this transport adds to carry subscriptions; `None` (the
    /// default): it carries none, and subscribing through it fails with
    /// [`Error::Unsupported`]. A transport that wraps another forwards it.
    fn subscriptions(&self) -> Option<&dyn Subscriptions> {
        None
    }
}

/// What a duplex transport (a WebSocket or TCP connection, or a
/// reconnecting client) adds to [`Transport`]: routes for the items of
/// subscriptions, which arrive as notifications from the peer.
pub trait Subscriptions: Send + Sync {
    /// Records a subscribe call about to be sent whose items travel in
    /// notifications `method`, so that items arriving before its answer are
    /// kept for it. `None`: subscriptions open through
    /// [`subscribe`](Self::subscribe) only.
    fn expect(&self, method: &str) -> Option<Expecting>;

    /// Opens the route of subscription `id`'s items, which travel in
    /// notifications `method`; `None` when the connection has ended.
    fn open(&self, method: &str, id: &str) -> Option<Inbox>;

    /// Closes the route of the subscription known by `key` (its id, unless
    /// [`subscribe`](Self::subscribe) said otherwise).
    fn close(&self, key: &str);

    /// The counter request ids come from: every client on one connection
    /// shares it, since answers are matched by id whoever sent the call.
    fn id_counter(&self) -> Arc<AtomicU64>;

    /// Opens a subscription: sends its call through `client` (the engine
    /// over this transport), then opens its route. A reconnecting transport
    /// does more: it subscribes again on each new connection.
    fn subscribe<'a>(
        &'a self,
        client: &'a Client,
        call: SubscribeCall,
    ) -> BoxFuture<'a, Result<Opened, Error>> {
        Box::pin(client.subscribe_once(call))
    }

    /// Ends the subscription known by `key`: closes its route and calls
    /// `method` with `server_id` through `client`; whether the server still
    /// had it. A reconnecting transport sends it on its current connection,
    /// with the id the subscription has there.
    fn unsubscribe<'a>(
        &'a self,
        client: &'a Client,
        key: &'a str,
        method: &'static str,
        server_id: Box<serde_json::value::RawValue>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        self.close(key);
        let mut params = ParamsBuilder::new(false);
        params.push("id", &server_id);
        Box::pin(client.call(method, params))
    }
}

/// The client: calls methods by name over any [`Transport`]. Cheap to clone.
///
/// `#[rpc] trait Calculator` generates the trait `CalculatorClient`, whose
/// typed methods every `Client` has once the trait is in scope
/// (`client.add(1, 2)`), and `CalculatorBatch`, the same methods on a
/// [`Batch`]. One client calls the methods of any number of services.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    next_id: Arc<AtomicU64>,
    timeout: Option<Duration>,
    named: bool,
}

/// What the methods of a generated client trait (`<Trait>Client`) are
/// called on: a [`Client`], or a type of yours that holds one.
///
/// ```
/// # #[rpc_macros::rpc(crate = "rpc_core")]
/// # trait Calculator { async fn add(&self, a: i64, b: i64) -> i64; }
/// # struct Calc;
/// # impl Calculator for Calc { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
/// /// A client with a name of its own.
/// struct Accounts {
///     rpc: rpc_core::Client,
/// }
///
/// impl rpc_core::AsClient for Accounts {
///     fn as_client(&self) -> &rpc_core::Client {
///         &self.rpc
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let accounts = Accounts { rpc: rpc_core::Client::new(rpc_core::InProcess::new(Calc.into_rpc())) };
/// assert_eq!(accounts.add(1, 2).await.unwrap(), 3);
/// # });
/// ```
pub trait AsClient {
    /// The client calls go through.
    fn as_client(&self) -> &Client;
}

impl AsClient for Client {
    fn as_client(&self) -> &Client {
        self
    }
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
            .subscriptions()
            .map_or_else(|| Arc::new(AtomicU64::new(1)), |s| s.id_counter());
        Client {
            transport: Arc::new(transport),
            next_id,
            timeout: Some(DEFAULT_CLIENT_TIMEOUT),
            named: false,
        }
    }

    /// Makes the typed methods of generated clients send parameters by
    /// name (`{"a": 1}`) instead of by position (`[1]`, the default), on
    /// this client and its clones made after. A method marked
    /// `#[rpc(named_params)]` always sends them by name.
    pub fn with_named_params(mut self) -> Self {
        self.named = true;
        self
    }

    /// Makes the typed methods of generated clients send parameters by
    /// position (`[1]`), the default.
    pub fn with_positional_params(mut self) -> Self {
        self.named = false;
        self
    }

    /// Whether typed methods send parameters by name (see
    /// [`with_named_params`](Self::with_named_params)).
    pub fn named_params(&self) -> bool {
        self.named
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
        let sent = match self.timeout {
            None => self.transport.send(message).await,
            Some(limit) => tokio::time::timeout(limit, self.transport.send(message))
                .await
                .unwrap_or(Err(Error::Timeout(limit))),
        };
        sent.map(drop)
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
        let answer = match self.timeout {
            None => self.transport.send(message).await,
            Some(limit) => {
                // The deadline travels: the HTTP client sends it as a header;
                // on a duplex connection, a `$/cancelRequest` when it passes.
                message
                    .context
                    .insert(crate::protocol::Deadline(std::time::Instant::now() + limit));
                tokio::time::timeout(limit, self.transport.send(message))
                    .await
                    .unwrap_or(Err(Error::Timeout(limit)))
            }
        };
        answer?.ok_or_else(|| InvalidResponse::Empty.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that never answers.
    struct Silent;

    impl Transport for Silent {
        fn send(&self, _: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
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
