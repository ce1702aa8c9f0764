//! A client that survives its connection: reconnects with back-off,
//! fails over between endpoints, retries idempotent calls and makes its
//! subscriptions again.
//!
//! [`Reconnect`] takes one or more [`Endpoint`]s (a way to open a duplex
//! connection: `rpc_http::ws::endpoint`, `rpc_http::tcp::endpoint`) and
//! gives a [`Reconnecting`] transport: wrap it in a generated client like
//! any connection. When the connection is lost, it tries again at once,
//! then with exponential back-off (with jitter, up to a cap), moving to
//! the next endpoint after each failed attempt. Meanwhile:
//!
//! - calls made while disconnected wait for the next connection (within
//!   their deadline), or fail with [`Error::Disconnected`] when it was
//!   built with [`Reconnect::failing_while_disconnected`];
//! - calls in flight when the connection was lost fail with
//!   [`Error::ConnectionLost`] (the server may or may not have run them),
//!   except idempotent ones ([`Client::call_idempotent`](crate::client::Client::call_idempotent),
//!   `#[rpc(idempotent)]`), which are sent again on the next connection;
//! - subscriptions are made again on the next connection: each stream
//!   resumes after the last event id it got when it has a `since` param (a
//!   topic's: nothing is missed, the server says when it cannot replay
//!   all); any other counts a gap (`SubscriptionStream::gaps`: items sent
//!   meanwhile are lost), and goes on with the new subscription's items;
//! - the methods the client serves to the server (its [`MethodTable`](crate::server::MethodTable))
//!   are served on every new connection, as the endpoint opens it.
//!
//! [`Reconnecting::state`] and [`Reconnecting::watch_state`] tell where it
//! stands; every change is also a `tracing` event (target `rpc::reconnect`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use rpc_core::reconnect::{ConnectionState, Endpoint, Reconnect};
//! use rpc_core::{Client, Error, ParamsBuilder};
//!
//! // An endpoint is anything that opens a duplex connection
//! // (`rpc_http::ws::endpoint(url, methods)` for a WebSocket); this one
//! // never manages to.
//! let nowhere = Endpoint::new("nowhere", || async { Err(Error::Closed) });
//!
//! // `connect` tries every endpoint once before giving up...
//! assert!(Reconnect::new(nowhere.clone()).connect().await.is_err());
//!
//! // ...`spawn` keeps trying in the background, with back-off.
//! let connection = Reconnect::new(nowhere)
//!     .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
//!     .failing_while_disconnected()
//!     .spawn();
//! let client = Client::new(connection.clone());
//! let call = client.call::<i64>("add", ParamsBuilder::new(false)).await;
//! assert!(matches!(call, Err(Error::Disconnected(_))));
//! assert!(matches!(connection.state(), ConnectionState::Reconnecting { .. }));
//! # });
//! ```

mod resubscribe;
mod state;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use futures_util::FutureExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use state::ConnectionState;

use crate::client::{Answer, BoxFuture, Client, Error, Outgoing, Subscriptions, Transport};
use crate::client::{Inbox, Opened, SubscribeCall};
use crate::duplex::DuplexConnection;
use resubscribe::Tracked;

/// Opens one duplex connection to one place.
type Connect =
    Arc<dyn Fn() -> BoxFuture<'static, Result<DuplexConnection, Error>> + Send + Sync + 'static>;

/// Somewhere to connect to: a name (for logs and [`ConnectionState`]) and
/// how to open a connection there. `rpc_http::ws::endpoint` and
/// `rpc_http::tcp::endpoint` make them for WebSocket and TCP.
#[derive(Clone)]
pub struct Endpoint {
    name: String,
    connect: Connect,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint called `name` that `connect` opens a connection to.
    pub fn new<F, Fut>(name: impl Into<String>, connect: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<DuplexConnection, Error>> + Send + 'static,
    {
        Endpoint {
            name: name.into(),
            connect: Arc::new(move || Box::pin(connect())),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The first wait between failed attempts: 100 ms.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between failed attempts: 30 s.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted less than this did not reset the back-off: a
/// server that accepts and drops at once is not hammered.
const STABLE: Duration = Duration::from_secs(2);
/// How long re-making one subscription may take before it is left for
/// the next connection.
const RESUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one connection attempt may take (the rpc-http endpoints give up
/// sooner, after their own 10 s connect timeout).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times one idempotent call is sent again after losing its
/// connection: a call that ends every connection it is sent on is not sent
/// for ever.
const MAX_RESENDS: u32 = 3;

/// How a reconnecting client connects and reconnects: its endpoints (tried
/// in turn), its back-off, and what calls do while it is disconnected.
#[derive(Debug, Clone)]
pub struct Reconnect {
    endpoints: Vec<Endpoint>,
    min_backoff: Duration,
    max_backoff: Duration,
    jitter: f64,
    max_attempts: Option<u32>,
    wait_while_disconnected: bool,
}

impl Reconnect {
    /// Connects to `endpoint`; back-off from 100 ms doubling up to 30 s with
    /// up to 100 % jitter; never gives up; calls wait while disconnected.
    pub fn new(endpoint: Endpoint) -> Self {
        Reconnect {
            endpoints: vec![endpoint],
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            jitter: 1.0,
            max_attempts: None,
            wait_while_disconnected: true,
        }
    }

    /// Adds an endpoint to fail over to: each failed attempt moves to the
    /// next endpoint, in the order given, round and round.
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// The back-off between failed attempts: `min` after the first, doubling
    /// up to `max` (at least 1 ms; a `min` above `max` is taken as `max`).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.max_backoff = max.max(Duration::from_millis(1));
        self.min_backoff = min.min(self.max_backoff);
        self
    }

    /// How much random time is added to each wait, as a fraction of it
    /// (clamped to 0..=1; default 1: up to twice the wait), so that many
    /// clients of one restarted server do not all come back at once.
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Gives up after `attempts` failed attempts in a row (default: never):
    /// the state becomes [`ConnectionState::Closed`] and every call fails.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Calls made while disconnected fail at once with
    /// [`Error::Disconnected`] instead of waiting for the next connection.
    /// (Idempotent calls in flight when the connection was lost still wait,
    /// to be sent again.)
    pub fn failing_while_disconnected(mut self) -> Self {
        self.wait_while_disconnected = false;
        self
    }

    /// Connects, trying each endpoint once; fails with the last error when
    /// none answers (then nothing is left running). Once connected, it
    /// reconnects by itself for as long as the returned handle or a client
    /// made from it lives.
    pub async fn connect(self) -> Result<Reconnecting, Error> {
        let first_round = u32::try_from(self.endpoints.len()).unwrap_or(u32::MAX);
        let reconnecting = self.spawn_with(Some(first_round));
        let mut states = reconnecting.watch_state();
        let reached = states
            .wait_for(|s| s.is_connected() || s.is_closed())
            .await
            .map(|s| s.clone());
        match reached {
            Ok(ConnectionState::Connected { .. }) => Ok(reconnecting),
            Ok(ConnectionState::Closed { reason }) => Err(reconnecting
                .shared()
                .take_last_error()
                .unwrap_or_else(|| Error::Connect(reason.into()))),
            Ok(other) => Err(Error::Connect(other.to_string().into())),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Starts connecting in the background and returns at once: calls wait
    /// for the first connection (or fail, with
    /// [`failing_while_disconnected`](Self::failing_while_disconnected)).
    /// For a client that may start before its server.
    pub fn spawn(self) -> Reconnecting {
        self.spawn_with(None)
    }

    fn spawn_with(self, first_round: Option<u32>) -> Reconnecting {
        let first = self
            .endpoints
            .first()
            .map_or_else(String::new, |e| e.name.clone());
        let (current, _) = watch::channel(Current::default());
        let (state, _) = watch::channel(ConnectionState::Reconnecting {
            attempt: 1,
            endpoint: first,
            retry_in: Duration::ZERO,
            last_error: None,
        });
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            current,
            state,
            stop: stop.clone(),
            next_id: Arc::new(AtomicU64::new(1)),
            subscriptions: Tracked::default(),
            wait_while_disconnected: self.wait_while_disconnected,
            reconnects: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
        });
        tokio::spawn(supervise(shared.clone(), self, first_round, stop.clone()));
        Reconnecting {
            inner: Arc::new(Inner {
                shared,
                _stop: stop.drop_guard(),
            }),
        }
    }
}

/// The connection in use.
#[derive(Clone, Default)]
struct Current {
    connection: Option<DuplexConnection>,
    /// Counts connections made: 1 for the first.
    generation: u64,
    /// Set when it is over for good: why.
    closed: Option<String>,
}

/// What the handle, the supervisor and the subscriptions' tasks share.
struct Shared {
    current: watch::Sender<Current>,
    state: watch::Sender<ConnectionState>,
    /// Stops the supervisor.
    stop: CancellationToken,
    /// Request ids, across connections.
    next_id: Arc<AtomicU64>,
    subscriptions: Tracked,
    wait_while_disconnected: bool,
    reconnects: AtomicU64,
    /// The last attempt's error, for `connect` to return as it is.
    last_error: std::sync::Mutex<Option<Error>>,
}

impl Shared {
    /// A connection newer than generation `after` (0: any), waiting for it
    /// when `wait`; else failing while disconnected.
    async fn connection(&self, after: u64, wait: bool) -> Result<(DuplexConnection, u64), Error> {
        let mut current = self.current.subscribe();
        let usable = |c: &Current| {
            c.closed.is_some()
                || c.connection
                    .as_ref()
                    .is_some_and(|conn| c.generation > after && !conn.is_closed())
        };
        if !wait && !usable(&current.borrow()) {
            return Err(Error::Disconnected(self.state.borrow().to_string()));
        }
        let ready = current
            .wait_for(usable)
            .await
            .map_err(|_| Error::Closed)?
            .clone();
        match (ready.connection, ready.closed) {
            (_, Some(reason)) => Err(Error::Disconnected(format!("closed: {reason}"))),
            (Some(connection), None) => Ok((connection, ready.generation)),
            (None, None) => Err(Error::Closed),
        }
    }

    fn generation(&self) -> u64 {
        self.current.borrow().generation
    }

    /// The connection in use and its generation, if connected.
    fn connected(&self) -> Option<(DuplexConnection, u64)> {
        let current = self.current.borrow();
        let generation = current.generation;
        current.connection.clone().map(|c| (c, generation))
    }

    fn take_last_error(&self) -> Option<Error> {
        self.last_error.lock().ok()?.take()
    }

    fn set_state(&self, state: ConnectionState) {
        self.state.send_replace(state);
    }

    /// Over for good: calls fail, subscription streams end.
    fn finish(&self, reason: String) {
        self.stop.cancel();
        if self.current.borrow().closed.is_some() {
            return;
        }
        tracing::info!(target: "rpc::reconnect", reason = &*reason, "reconnecting client closed");
        self.current.send_modify(|c| {
            if let Some(connection) = c.connection.take() {
                connection.close();
            }
            c.closed = Some(reason.clone());
        });
        self.set_state(ConnectionState::Closed { reason });
        self.subscriptions.clear();
    }
}

/// Connects, watches the connection, reconnects; until stopped.
async fn supervise(
    shared: Arc<Shared>,
    config: Reconnect,
    mut first_round: Option<u32>,
    stop: CancellationToken,
) {
    if config.endpoints.is_empty() {
        return shared.finish("no endpoint to connect to".into());
    }
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff, config.jitter);
    let mut index = 0;
    let mut last_error: Option<String> = None;
    let mut attempt: u32 = 0;
    loop {
        // Connect: each failed attempt moves to the next endpoint and waits.
        let connection = loop {
            attempt += 1;
            let endpoint = &config.endpoints[index];
            shared.set_state(ConnectionState::Reconnecting {
                attempt,
                endpoint: endpoint.name.clone(),
                retry_in: Duration::ZERO,
                last_error: last_error.clone(),
            });
            tracing::debug!(target: "rpc::reconnect", endpoint = %endpoint.name, attempt, "connecting");
            let attempt_future = std::panic::AssertUnwindSafe((endpoint.connect)());
            let outcome = tokio::select! {
                _ = stop.cancelled() => return shared.finish("closed by the client".into()),
                outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt_future.catch_unwind()) => match outcome {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(Error::Connect("the endpoint's connect function panicked".into())),
                    Err(_) => Err(Error::Timeout(ATTEMPT_TIMEOUT)),
                },
            };
            let error = match outcome {
                Ok(connection) => break connection,
                Err(error) => error,
            };
            let text = format!("{}: {error}", endpoint.name);
            let permanent = is_permanent(&error);
            if let Ok(mut last) = shared.last_error.lock() {
                *last = Some(error);
            }
            if permanent {
                // Trying again cannot help: the settings are wrong.
                return shared.finish(text);
            }
            tracing::warn!(target: "rpc::reconnect", endpoint = &*config.endpoints[index].name, attempt, error = &*text, "connection attempt failed");
            last_error = Some(text);
            index = (index + 1) % config.endpoints.len();
            let limit = first_round.or(config.max_attempts);
            if limit.is_some_and(|limit| attempt >= limit) {
                let attempts = if attempt == 1 { "attempt" } else { "attempts" };
                let last = last_error.as_deref().unwrap_or_default();
                return shared.finish(format!("gave up after {attempt} {attempts}; last: {last}"));
            }
            let next = config.endpoints[index].name.clone();
            let wait = backoff.sleep();
            if !wait_before(&shared, &stop, wait, attempt + 1, next, &last_error).await {
                return;
            }
        };
        first_round = None;
        connection.use_ids(shared.next_id.clone());
        let endpoint = config.endpoints[index].name.clone();
        let generation = shared.generation() + 1;
        let mut installed = false;
        shared.current.send_modify(|c| {
            // Not once closed: `close` may have run while this connected.
            if c.closed.is_none() && !stop.is_cancelled() {
                c.connection = Some(connection.clone());
                c.generation = generation;
                installed = true;
            }
        });
        if !installed {
            connection.close();
            return shared.finish("closed by the client".into());
        }
        if generation > 1 {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        shared.set_state(ConnectionState::Connected {
            endpoint: endpoint.clone(),
        });
        tracing::info!(target: "rpc::reconnect", %endpoint, generation, "connected");
        let since = Instant::now();
        let ended = connection.ended_token().clone();
        tokio::select! {
            _ = stop.cancelled() => return shared.finish("closed by the client".into()),
            _ = async {
                shared.subscriptions.resubscribe(&shared, &connection, generation).await;
                ended.cancelled().await;
            } => {}
        }
        let reason = format!("{endpoint}: {}", connection.closed_error());
        tracing::warn!(target: "rpc::reconnect", endpoint = &*endpoint, reason = &*reason, "connection lost; reconnecting");
        last_error = Some(reason);
        shared.current.send_modify(|c| c.connection = None);
        attempt = 0;
        if since.elapsed() >= STABLE {
            backoff.reset();
        } else {
            // It did not last: wait before trying again, as after a failure.
            let wait = backoff.sleep();
            if !wait_before(&shared, &stop, wait, 1, endpoint, &last_error).await {
                return;
            }
        }
    }
}

/// Says that attempt `attempt` on `endpoint` comes after `wait`, then
/// waits; `false` (and the client closed) if it was stopped meanwhile.
async fn wait_before(
    shared: &Shared,
    stop: &CancellationToken,
    wait: tokio::time::Sleep,
    attempt: u32,
    endpoint: String,
    last_error: &Option<String>,
) -> bool {
    shared.set_state(ConnectionState::Reconnecting {
        attempt,
        endpoint,
        retry_in: wait
            .deadline()
            .saturating_duration_since(tokio::time::Instant::now()),
        last_error: last_error.clone(),
    });
    tokio::select! {
        _ = stop.cancelled() => {
            shared.finish("closed by the client".into());
            false
        }
        _ = wait => true,
    }
}

/// A reconnecting duplex client: a [`Transport`] to wrap in a generated
/// client (`rpc_core::Client::new(connection.clone())`), and the handle to
/// watch its state. Cheap to clone; when the last clone (and the last
/// client made from it) is gone, it stops and closes its connection.
#[derive(Clone)]
pub struct Reconnecting {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Stops the supervisor when the last handle goes.
    _stop: tokio_util::sync::DropGuard,
}

impl std::fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnecting")
            .field("state", &*self.inner.shared.state.borrow())
            .finish()
    }
}

impl Reconnecting {
    /// Where it stands now.
    pub fn state(&self) -> ConnectionState {
        self.inner.shared.state.borrow().clone()
    }

    /// Follows its state: `changed().await` on the receiver wakes on each change.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.shared.state.subscribe()
    }

    /// How many times it has reconnected (the first connection not counted).
    pub fn reconnects(&self) -> u64 {
        self.inner.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Stops for good: closes the connection; calls fail and subscription
    /// streams end.
    pub fn close(&self) {
        self.inner.shared.finish("closed by the client".into());
    }

    /// A client engine over it (as `Client::new(self.clone())`).
    pub fn client(&self) -> Client {
        Client::new(self.clone())
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }
}

/// Whether an attempt failed for a reason that trying again cannot cure
/// (a malformed URL, a header or a certificate that is no good).
fn is_permanent(error: &Error) -> bool {
    matches!(error, Error::Config(_))
}

/// Whether an error means the connection was lost (rather than the call
/// failing on its own account).
fn is_lost(error: &Error) -> bool {
    matches!(error, Error::Closed | Error::Ended { .. })
}

impl Transport for Reconnecting {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        if message.ids.is_empty() {
            return Box::pin(self.notify(message));
        }
        Box::pin(async move {
            let shared = self.shared();
            let idempotent = message.is_idempotent();
            let mut message = Some(message);
            let mut after = 0;
            let mut resends = 0;
            loop {
                let wait = shared.wait_while_disconnected || after > 0;
                let (connection, generation) = shared.connection(after, wait).await?;
                let this = if idempotent {
                    message.clone()
                } else {
                    message.take()
                };
                let Some(this) = this else {
                    return Err(Error::ConnectionLost);
                };
                match connection.send(this).await {
                    Err(Error::Closed) if idempotent && resends < MAX_RESENDS => {
                        tracing::debug!(target: "rpc::reconnect", "connection lost under an idempotent call: sending it again once reconnected");
                        resends += 1;
                        after = generation;
                    }
                    Err(Error::Closed) => return Err(Error::ConnectionLost),
                    // Ended by a violation (a message too big for the peer,
                    // say): sending it again would end the next one too.
                    outcome => return outcome,
                }
            }
        })
    }

    fn subscriptions(&self) -> Option<&dyn Subscriptions> {
        Some(self)
    }
}

impl Subscriptions for Reconnecting {
    fn expect(&self, _method: &str) -> Option<crate::client::Expecting> {
        // Subscriptions open through `subscribe`, on a known connection.
        None
    }

    fn subscribe<'a>(
        &'a self,
        _client: &'a Client,
        call: SubscribeCall,
    ) -> BoxFuture<'a, Result<Opened, Error>> {
        Box::pin(resubscribe::open(self.shared().clone(), call))
    }

    fn unsubscribe<'a>(
        &'a self,
        _client: &'a Client,
        key: &'a str,
        method: &'static str,
        _server_id: Box<serde_json::value::RawValue>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(
            self.shared()
                .subscriptions
                .unsubscribe(self.shared(), key, method),
        )
    }

    fn open(&self, _method: &str, _id: &str) -> Option<Inbox> {
        // Subscriptions open through `subscribe`, on a known connection.
        None
    }

    fn close(&self, key: &str) {
        self.shared().subscriptions.close(self.shared(), key);
    }

    fn id_counter(&self) -> Arc<AtomicU64> {
        self.shared().next_id.clone()
    }
}

impl Reconnecting {
    /// Sends a notification on the current connection.
    async fn notify(&self, message: Outgoing) -> Result<Option<Answer>, Error> {
        let shared = self.shared();
        let (connection, _) = shared.connection(0, shared.wait_while_disconnected).await?;
        match connection.send(message).await {
            Err(error) if is_lost(&error) => Err(Error::ConnectionLost),
            outcome => outcome,
        }
    }
}
