//! The duplex connection engine shared by WebSocket and TCP: both sides send
//! requests and notifications over one long-lived connection.
//!
//! A transport turns its connection into a stream of incoming frames and a
//! sink of outgoing frames and calls [`DuplexConnection::spawn`]. The engine
//! then answers the peer's requests through a [`Dispatcher`] (each as soon as
//! it completes, no head-of-line blocking), matches the peer's responses to
//! our pending calls by id, and fails every pending call when the connection
//! ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::de::IgnoredAny;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, Semaphore};

use tokio_util::sync::CancellationToken;

use crate::{BoxFuture, Client, Context, Dispatcher, Error, ErrorObject, Id, Outgoing, Transport};

/// A frame to write to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON-RPC message.
    Message(Bytes),
    /// A keep-alive probe (a WebSocket ping; stream transports write nothing).
    Ping,
}

/// Settings of one duplex connection.
#[derive(Clone, Debug)]
pub struct DuplexConfig {
    /// Most peer requests handled at once on this connection; more wait
    /// (reading pauses), none is dropped. Default 1024.
    pub max_in_flight: usize,
    /// How often to send [`Frame::Ping`]; `None` disables keep-alive. Default 30 s.
    pub keep_alive: Option<Duration>,
    /// Outgoing frames queued before senders wait. Default 1024.
    pub send_queue: usize,
    /// Largest message the framing can carry (255 bytes for a 1-byte length
    /// prefix). A longer answer is replaced by an error answer; a longer
    /// call or notification fails. Default: no limit.
    pub max_message: Option<usize>,
}

/// A frame queued for the writer, with an optional notice once it is written.
struct Outbound {
    frame: Frame,
    written: Option<oneshot::Sender<()>>,
}

impl From<Frame> for Outbound {
    fn from(frame: Frame) -> Self {
        Outbound {
            frame,
            written: None,
        }
    }
}

impl Default for DuplexConfig {
    fn default() -> Self {
        DuplexConfig {
            max_in_flight: 1024,
            keep_alive: Some(Duration::from_secs(30)),
            send_queue: 1024,
            max_message: None,
        }
    }
}

type PendingSlot = Arc<Mutex<Option<oneshot::Sender<Bytes>>>>;

/// Every id of a message we sent maps to its answer slot and all its ids.
type PendingCalls = HashMap<Id, (PendingSlot, Arc<[Id]>)>;

struct Shared {
    id: u64,
    sender: mpsc::Sender<Outbound>,
    /// Largest message the framing can carry, if it has a limit.
    max_message: Option<usize>,
    /// Our calls awaiting an answer: every id of a message maps to its slot.
    pending: Mutex<PendingCalls>,
    closed: AtomicBool,
    /// Cancelled when the connection ends, for whatever reason.
    done: CancellationToken,
    registry: Option<Weak<RegistryInner>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Nobody holds the connection any more: stop reading, which closes it.
        self.done.cancel();
        if let Some(registry) = self.registry.as_ref().and_then(Weak::upgrade) {
            registry.remove(self.id);
        }
    }
}

/// A handle to one duplex connection: send notifications and calls to the
/// peer. Cheap to clone. Handlers find it in their [`Context`]
/// (`ctx.get::<DuplexConnection>()`).
#[derive(Clone)]
pub struct DuplexConnection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DuplexConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplexConnection")
            .field("id", &self.shared.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

impl DuplexConnection {
    /// Starts the engine on a connection.
    ///
    /// `incoming` yields each received message; an `Err` carries an error
    /// to report to the peer (e.g. a frame over the size limit) before the
    /// connection closes. `outgoing` receives frames to write. Requests from
    /// the peer are answered through `dispatcher` with `context` (plus this
    /// connection) attached; `registry`, when given, makes the connection
    /// reachable by [`Connections::broadcast`].
    pub fn spawn<I, O>(
        incoming: I,
        outgoing: O,
        dispatcher: Dispatcher,
        context: Context,
        registry: Option<&Connections>,
        config: DuplexConfig,
    ) -> DuplexConnection
    where
        I: Stream<Item = Result<Bytes, ErrorObject>> + Send + Unpin + 'static,
        O: Sink<Frame> + Send + Unpin + 'static,
    {
        let (sender, receiver) = mpsc::channel(config.send_queue.max(1));
        let shared = Arc::new(Shared {
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            sender,
            max_message: config.max_message,
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            done: CancellationToken::new(),
            registry: registry.map(|r| Arc::downgrade(&r.inner)),
        });
        let connection = DuplexConnection { shared };
        if let Some(registry) = registry {
            registry.inner.insert(&connection);
        }
        let mut context = context.with(connection.downgrade());
        if let Some(registry) = registry {
            context.insert(registry.clone());
        }
        tokio::spawn(write_loop(
            receiver,
            outgoing,
            config.keep_alive,
            connection.shared.done.clone(),
        ));
        let done = connection.shared.done.clone();
        tokio::spawn(read_loop(
            incoming,
            connection.downgrade(),
            done,
            dispatcher,
            context,
            config.max_in_flight,
        ));
        connection
    }

    fn downgrade(&self) -> WeakConnection {
        WeakConnection {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// A number that identifies this connection within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.shared.sender.is_closed()
    }

    /// Sends a notification to the peer.
    pub async fn notify<P: Serialize>(&self, method: &str, params: P) -> Result<(), Error> {
        let body = notification(method, &params)?;
        self.send(body, true).await
    }

    /// A client engine that calls the peer over this connection.
    pub fn client(&self) -> Client {
        Client::new(self.clone())
    }

    /// Queues a message; with `wait_written`, returns only once it has been
    /// written out (so a program that exits right after a notification does
    /// not lose it).
    async fn send(&self, body: Vec<u8>, wait_written: bool) -> Result<(), Error> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if let Some(max) = self.shared.max_message.filter(|max| body.len() > *max) {
            return Err(Error::Transport(format!(
                "message of {} bytes exceeds the framing's limit of {max} bytes",
                body.len()
            )));
        }
        let (written, done) = if wait_written {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let outbound = Outbound {
            frame: Frame::Message(Bytes::from(body)),
            written,
        };
        self.shared
            .sender
            .send(outbound)
            .await
            .map_err(|_| Error::Closed)?;
        match done {
            Some(rx) => rx.await.map_err(|_| Error::Closed),
            None => Ok(()),
        }
    }

    /// Closes the connection: pending calls fail with [`Error::Closed`].
    pub fn close(&self) {
        close(&self.shared);
    }

    /// Resolves when the connection has ended (the peer left, a framing
    /// error, or [`close`](Self::close)).
    pub async fn closed(&self) {
        self.shared.done.cancelled().await;
    }
}

fn close(shared: &Shared) {
    shared.closed.store(true, Ordering::Release);
    shared.done.cancel();
    // Dropping the senders wakes every waiting call with `Closed`.
    if let Ok(mut pending) = shared.pending.lock() {
        pending.clear();
    }
}

/// Encodes a notification whose params are any serializable value
/// (an array, a tuple, a struct or map; `()` sends no params).
fn notification<P: Serialize>(method: &str, params: &P) -> Result<Vec<u8>, Error> {
    let params = serde_json::value::to_raw_value(params).map_err(Error::Encode)?;
    let mut body = Vec::with_capacity(48 + method.len() + params.get().len());
    body.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    serde_json::to_writer(&mut body, method).map_err(Error::Encode)?;
    match params.get() {
        "null" => {}
        p if p.starts_with('[') || p.starts_with('{') => {
            body.extend_from_slice(br#","params":"#);
            body.extend_from_slice(p.as_bytes());
        }
        p => {
            // A single scalar travels as a one-element array.
            body.extend_from_slice(br#","params":["#);
            body.extend_from_slice(p.as_bytes());
            body.push(b']');
        }
    }
    body.push(b'}');
    Ok(body)
}

/// Removes a call's pending entries if it is abandoned (timeout, drop).
struct PendingGuard<'a> {
    shared: &'a Shared,
    ids: Arc<[Id]>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            for id in self.ids.iter() {
                pending.remove(id);
            }
        }
    }
}

impl Transport for DuplexConnection {
    fn request(&self, message: Outgoing) -> BoxFuture<'_, Result<Bytes, Error>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let ids: Arc<[Id]> = message.ids.into();
            {
                let slot: PendingSlot = Arc::new(Mutex::new(Some(tx)));
                let mut pending = self.shared.pending.lock().map_err(|_| Error::Closed)?;
                for id in ids.iter() {
                    pending.insert(id.clone(), (slot.clone(), ids.clone()));
                }
            }
            let _guard = PendingGuard {
                shared: &self.shared,
                ids,
            };
            self.send(message.body, false).await?;
            rx.await.map_err(|_| Error::Closed)
        })
    }

    fn notify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.send(body, true))
    }
}

/// A connection handle that does not keep the connection alive; what
/// handlers get in their context.
#[derive(Clone)]
struct WeakConnection {
    shared: Weak<Shared>,
}

/// The connection a request arrived on, from a handler's [`Context`].
///
/// ```no_run
/// # async fn demo(ctx: rpc_core::Context) {
/// if let Some(conn) = rpc_core::duplex::caller(&ctx) {
///     conn.notify("tick", [1]).await.ok();
/// }
/// # }
/// ```
pub fn caller(ctx: &Context) -> Option<DuplexConnection> {
    ctx.get::<WeakConnection>()?
        .shared
        .upgrade()
        .map(|shared| DuplexConnection { shared })
}

/// Writes queued frames until the connection ends; what was queued before
/// the end (say, the error that explains it) is still written.
async fn write_loop<O>(
    mut receiver: mpsc::Receiver<Outbound>,
    mut outgoing: O,
    keep_alive: Option<Duration>,
    done: CancellationToken,
) where
    O: Sink<Frame> + Unpin,
{
    let period = keep_alive.unwrap_or(Duration::from_secs(3600 * 24 * 365));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut acks = Vec::new();
    loop {
        let first = tokio::select! {
            next = receiver.recv() => match next {
                Some(outbound) => outbound,
                None => break,
            },
            _ = ticker.tick(), if keep_alive.is_some() => Frame::Ping.into(),
            _ = done.cancelled() => {
                while let Ok(outbound) = receiver.try_recv() {
                    if outgoing.feed(outbound.frame).await.is_err() {
                        break;
                    }
                    acks.extend(outbound.written);
                }
                if outgoing.flush().await.is_ok() {
                    acks.drain(..).for_each(|ack| { let _ = ack.send(()); });
                }
                break;
            }
        };
        // Write everything already queued, then flush once: under load many
        // answers share one write.
        let mut next = Some(first);
        let mut ok = true;
        while let Some(outbound) = next.take() {
            ok = outgoing.feed(outbound.frame).await.is_ok();
            acks.extend(outbound.written);
            if !ok {
                break;
            }
            next = receiver.try_recv().ok();
        }
        if !ok || outgoing.flush().await.is_err() {
            break;
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    receiver.close();
    let _ = outgoing.close().await;
}

/// Reads until the peer leaves, the connection is closed, or every handle
/// to it is dropped (a server keeps one while its peer is connected).
async fn read_loop<I>(
    mut incoming: I,
    connection: WeakConnection,
    done: CancellationToken,
    dispatcher: Dispatcher,
    context: Context,
    max_in_flight: usize,
) where
    I: Stream<Item = Result<Bytes, ErrorObject>> + Unpin,
{
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    // Notifications are handled one after another, in the order they came
    // (ticks, chat messages); requests run concurrently.
    let (ordered, mut ordered_rx) = mpsc::channel::<Bytes>(256);
    {
        let dispatcher = dispatcher.clone();
        let context = context.clone();
        tokio::spawn(async move {
            while let Some(bytes) = ordered_rx.recv().await {
                dispatcher.handle(&bytes, &context).await;
            }
        });
    }
    loop {
        let item = tokio::select! {
            item = incoming.next() => match item {
                Some(item) => item,
                None => break,
            },
            _ = done.cancelled() => break,
        };
        let Some(shared) = connection.shared.upgrade() else {
            break;
        };
        let bytes = match item {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::debug!(%error, "closing connection after a framing error");
                let answer = crate::response::error_response(&error);
                let _ = shared
                    .sender
                    .send(Frame::Message(answer.into()).into())
                    .await;
                break;
            }
        };
        match kind(&bytes) {
            Kind::Response(ids) => {
                deliver(&shared, bytes, &ids);
                continue;
            }
            Kind::Notification => {
                drop(shared);
                if ordered.send(bytes).await.is_err() {
                    break;
                }
                continue;
            }
            Kind::Other => {}
        }
        let sender = shared.sender.clone();
        let max_message = shared.max_message;
        drop(shared);
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = done.cancelled() => break,
        };
        let dispatcher = dispatcher.clone();
        let context = context.clone();
        let mut call = Box::pin(async move { dispatcher.handle(&bytes, &context).await });
        // Most calls finish on their first poll: answer them here and save a
        // task; the others go on in their own task (no head-of-line blocking).
        let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(answer) => {
                if let Some(answer) = answer {
                    let answer = fit(answer, max_message);
                    let _ = sender.send(Frame::Message(answer.into()).into()).await;
                }
                drop(permit);
            }
            Poll::Pending => {
                tokio::spawn(async move {
                    if let Some(answer) = call.await {
                        let answer = fit(answer, max_message);
                        let _ = sender.send(Frame::Message(answer.into()).into()).await;
                    }
                    drop(permit);
                });
            }
        }
    }
    if let Some(shared) = connection.shared.upgrade() {
        close(&shared);
    }
}

/// An answer that fits the framing: one too long for it is replaced by
/// error answers (for the same ids when they fit too) so the caller learns
/// what happened and the connection goes on.
fn fit(answer: Vec<u8>, max: Option<usize>) -> Vec<u8> {
    let Some(max) = max.filter(|max| answer.len() > *max) else {
        return answer;
    };
    let error = ErrorObject::new(
        crate::code::REQUEST_TOO_LARGE,
        format!(
            "Response of {} bytes exceeds the framing's limit of {max} bytes",
            answer.len()
        ),
    );
    let per_call = probes(&answer).map(|(batch, members)| {
        let answers = members.iter().map(|p| (p.id, Err(error.clone())));
        if batch {
            crate::response::write_batch(answers).unwrap_or_default()
        } else {
            let mut out = Vec::new();
            for (id, outcome) in answers {
                crate::response::write_response(&mut out, id, &outcome);
            }
            out
        }
    });
    match per_call {
        Some(out) if !out.is_empty() && out.len() <= max => out,
        // Even the per-call errors do not fit: one error for the whole message.
        _ => crate::response::error_response(&error),
    }
}

/// Just enough of a message to route it.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(default)]
    method: Option<IgnoredAny>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    #[serde(borrow, default, deserialize_with = "crate::request::present")]
    id: Option<&'a RawValue>,
}

impl Probe<'_> {
    fn is_response(&self) -> bool {
        self.method.is_none() && (self.result.is_some() || self.error.is_some())
    }
}

/// The members of a message, read just enough to route it; `None` when it
/// is not a JSON object or array of objects. The flag says whether it was a batch.
fn probes(bytes: &[u8]) -> Option<(bool, Vec<Probe<'_>>)> {
    match bytes.iter().copied().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).ok().map(|p| (false, vec![p])),
        Some(b'[') => serde_json::from_slice(bytes).ok().map(|ps| (true, ps)),
        _ => None,
    }
}

/// How an incoming message is routed.
enum Kind {
    /// A response (or batch of responses) to our calls, with its ids.
    Response(Vec<Id>),
    /// A single notification: handled in arrival order.
    Notification,
    /// Requests, batches and anything invalid: dispatched concurrently.
    Other,
}

fn kind(bytes: &[u8]) -> Kind {
    match probes(bytes) {
        Some((_, members)) if !members.is_empty() && members.iter().all(Probe::is_response) => {
            Kind::Response(
                members
                    .iter()
                    .filter_map(|p| p.id.and_then(Id::from_raw))
                    .collect(),
            )
        }
        Some((false, members)) if members[0].method.is_some() && members[0].id.is_none() => {
            Kind::Notification
        }
        _ => Kind::Other,
    }
}

/// Hands a response (whose ids `kind` read) to the call waiting for it.
fn deliver(shared: &Shared, bytes: Bytes, ids: &[Id]) {
    let Ok(mut pending) = shared.pending.lock() else {
        return;
    };
    let Some((slot, all_ids)) = ids.iter().find_map(|id| pending.get(id).cloned()) else {
        tracing::debug!("dropping a response that matches no pending call");
        return;
    };
    for id in all_ids.iter() {
        pending.remove(id);
    }
    drop(pending);
    if let Some(tx) = slot.lock().ok().and_then(|mut s| s.take()) {
        let _ = tx.send(bytes);
    }
}

/// The live connections of a server, for broadcasting. Cheap to clone.
/// Handlers find it in their [`Context`] (`ctx.get::<Connections>()`).
#[derive(Clone, Default)]
pub struct Connections {
    inner: Arc<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    connections: Mutex<HashMap<u64, WeakConnection>>,
}

impl RegistryInner {
    fn insert(&self, connection: &DuplexConnection) {
        if let Ok(mut map) = self.connections.lock() {
            map.insert(connection.id(), connection.downgrade());
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut map) = self.connections.lock() {
            map.remove(&id);
        }
    }
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("len", &self.len())
            .finish()
    }
}

impl Connections {
    /// An empty registry.
    pub fn new() -> Self {
        Connections::default()
    }

    /// The connections currently open.
    pub fn all(&self) -> Vec<DuplexConnection> {
        let Ok(map) = self.inner.connections.lock() else {
            return Vec::new();
        };
        map.values()
            .filter_map(|w| w.shared.upgrade())
            .map(|shared| DuplexConnection { shared })
            .filter(|c| !c.is_closed())
            .collect()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.all().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a notification to every open connection; returns how many it reached.
    pub async fn broadcast<P: Serialize>(&self, method: &str, params: P) -> Result<usize, Error> {
        let body = Bytes::from(notification(method, &params)?);
        let mut reached = 0;
        for connection in self.all() {
            if connection
                .shared
                .sender
                .send(Frame::Message(body.clone()).into())
                .await
                .is_ok()
            {
                reached += 1;
            }
        }
        Ok(reached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_answers_become_errors_that_fit() {
        let member =
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found: x"},"id":0}"#;
        let batch = format!("[{}]", [member; 6].join(","));
        let fitted = fit(batch.into_bytes(), Some(255));
        assert!(fitted.len() <= 255, "{}", String::from_utf8_lossy(&fitted));
        let single = format!(
            r#"{{"jsonrpc":"2.0","result":"{}","id":"q"}}"#,
            "x".repeat(300)
        );
        let fitted: serde_json::Value =
            serde_json::from_slice(&fit(single.into_bytes(), Some(255))).unwrap();
        assert_eq!(fitted["id"], "q");
        assert_eq!(fitted["error"]["code"], crate::code::REQUEST_TOO_LARGE);
        assert_eq!(fit(b"{}".to_vec(), Some(255)), b"{}");
    }
}
