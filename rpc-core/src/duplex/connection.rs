//! The handle to one duplex connection: call and notify the peer, drain or
//! close the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::budget::Budget;
use super::pending::PendingGuard;
use super::reader::{read_loop, Reader};
use super::registry::Connections;
use super::shared::{DuplexConnection, Shared, WeakConnection};
use super::writer::{write_loop, Outbound, Queue, Writer};
use super::{DuplexConfig, Frame, Incoming};
use crate::client::{
    Answer, BoxFuture, Client, Error, Expecting, Inbox, Outgoing, Subscriptions, Transport,
};
use crate::protocol::{encode, Context, ErrorObject, Id};
use crate::server::subscription::{Caller, Outlet, LAG_WAIT};
use crate::server::Dispatcher;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

impl DuplexConnection {
    /// Starts the engine on a connection.
    ///
    /// `incoming` yields each received message (and [`Incoming::Alive`] for
    /// a sign of life such as a pong); an `Err` carries an error
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
        I: Stream<Item = Result<Incoming, ErrorObject>> + Send + Unpin + 'static,
        O: Sink<Frame> + Send + Unpin + 'static,
    {
        // Answers must fit the framing: the dispatcher bounds them.
        let dispatcher = match config.max_message {
            Some(max) => {
                let mut limits = *dispatcher.limits();
                limits.max_response_bytes =
                    Some(limits.max_response_bytes.map_or(max, |m| m.min(max)));
                dispatcher.with_limits(limits)
            }
            None => dispatcher,
        };
        let budget = Budget::new(
            config.max_queued_bytes,
            registry.map(Connections::queue_pool),
        );
        let (queue, receiver) = Queue::new(config.send_queue, budget);
        let shared = Arc::new(Shared {
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            queue,
            max_message: config.max_message,
            pending: Arc::default(),
            next_id: std::sync::Mutex::new(Arc::new(AtomicU64::new(1))),
            ended_by: std::sync::OnceLock::new(),
            done: CancellationToken::new(),
            drain: CancellationToken::new(),
            finished: CancellationToken::new(),
            leave: registry.map(Connections::handle),
            subscriptions: Default::default(),
            routes: Default::default(),
        });
        let connection = DuplexConnection { shared };
        let weak = connection.downgrade();
        let outlet: Arc<dyn Outlet> = Arc::new(weak.clone());
        let mut context = context.with(weak).with(Caller(outlet));
        if let Some(registry) = registry {
            registry.insert(&connection);
            context.insert(registry.clone());
        }
        let writer = Writer {
            keep_alive: config.keep_alive,
            write_stall: config.write_stall,
            budget: connection.shared.queue.budget().clone(),
        };
        tokio::spawn(write_loop(
            receiver,
            outgoing,
            writer,
            connection.shared.done.clone(),
            connection.shared.finished.clone(),
        ));
        // Counted while the connection is open, when a server (it has a
        // registry) records metrics.
        let open = registry.filter(|_| dispatcher.records_metrics()).map(|_| {
            let transport = context
                .get::<crate::protocol::TransportKind>()
                .map_or("unknown", |t| t.as_str());
            super::reader::OpenConnection::new(transport)
        });
        tokio::spawn(read_loop(
            incoming,
            Reader {
                connection: connection.downgrade(),
                budget: connection.shared.queue.budget().clone(),
                running_bytes: Arc::new(Budget::new(
                    config.max_running_bytes,
                    registry.map(Connections::running_pool),
                )),
                done: connection.shared.done.clone(),
                drain: connection.shared.drain.clone(),
                dispatcher,
                context,
                max_in_flight: config.max_in_flight,
                keep_alive: config.keep_alive,
                half_close_grace: config.half_close_grace,
                open,
            },
        ));
        connection
    }

    /// Cancelled when the connection ends.
    pub(crate) fn ended_token(&self) -> &CancellationToken {
        &self.shared.done
    }

    /// Takes request ids from `counter` from now on (a reconnecting
    /// client's, so that its calls and those of clients made on this
    /// connection never share an id).
    pub(crate) fn use_ids(&self, counter: Arc<AtomicU64>) {
        if let Ok(mut ids) = self.shared.next_id.lock() {
            // Past any id already taken from the old one.
            counter.fetch_max(ids.load(Ordering::Relaxed), Ordering::Relaxed);
            *ids = counter;
        }
    }

    /// What a call that can no longer be answered fails with.
    pub(crate) fn closed_error(&self) -> Error {
        self.shared.closed_error()
    }

    /// Queues a message, waiting at most `wait` for room; whether it was.
    async fn push_within(&self, body: Vec<u8>, wait: Duration) -> bool {
        if self.shared.max_message.is_some_and(|max| body.len() > max) {
            return false;
        }
        let frame: Outbound = Frame::Message(Bytes::from(body)).into();
        self.shared.queue.send(frame, Some(wait)).await.is_ok()
    }

    pub(crate) fn downgrade(&self) -> WeakConnection {
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
        self.shared.is_ended()
    }

    /// Sends a notification to the peer; returns once it is written.
    pub async fn notify<P: Serialize>(&self, method: &str, params: P) -> Result<(), Error> {
        let body = encode::notification(method, &params).map_err(Error::Encode)?;
        self.write(body, true).await
    }

    /// A client engine that calls the peer over this connection.
    pub fn client(&self) -> Client {
        Client::new(self.clone())
    }

    /// Queues a message; with `wait_written`, returns only once it has been
    /// written out (so a program that exits right after a notification does
    /// not lose it).
    async fn write(&self, body: Vec<u8>, wait_written: bool) -> Result<(), Error> {
        if self.shared.is_ended() {
            return Err(Error::Closed);
        }
        if let Some(max) = self.shared.max_message.filter(|max| body.len() > *max) {
            return Err(Error::MessageTooLarge {
                size: body.len(),
                limit: max,
            });
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
            .queue
            .send(outbound, None)
            .await
            .map_err(|_| Error::Closed)?;
        match done {
            Some(rx) => rx.await.map_err(|_| Error::Closed),
            None => Ok(()),
        }
    }

    /// Closes the connection at once: the peer's calls still running are
    /// cancelled, our pending calls fail with [`Error::Closed`].
    pub fn close(&self) {
        self.shared.close();
    }

    /// Ends the connection gracefully, as a server shutting down does: new
    /// requests from the peer are refused (-32099), the calls in flight run
    /// to their answers, then [`Frame::Close`] (code 1001) ends the
    /// connection. Returns at once; [`closed`](Self::closed) tells when it
    /// is over. A peer that vanishes meanwhile still cancels its calls.
    pub fn drain(&self) {
        self.shared.drain.cancel();
    }

    /// Resolves when the connection has ended (the peer left, a framing
    /// error, [`close`](Self::close), or the end of a [`drain`](Self::drain))
    /// and what was queued before the end has been written (or abandoned, at
    /// most two seconds later, when the peer does not read).
    pub async fn closed(&self) {
        self.shared.finished.cancelled().await;
    }
}

impl Transport for DuplexConnection {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        Box::pin(async move {
            if message.ids.is_empty() {
                return self.write(message.body, true).await.map(|()| None);
            }
            let ids: Arc<[Id]> = message.ids.into();
            let answer = self
                .shared
                .pending
                .insert(ids.clone())
                .ok_or(Error::Closed)?;
            let _guard = PendingGuard {
                pending: &self.shared.pending,
                ids,
                queue: &self.shared.queue,
            };
            self.write(message.body, false).await?;
            let answer = answer.await.map_err(|_| self.shared.closed_error())?;
            Ok(Some(answer))
        })
    }

    fn subscriptions(&self) -> Option<&dyn Subscriptions> {
        Some(self)
    }
}

impl Subscriptions for DuplexConnection {
    fn expect(&self, method: &str) -> Option<Expecting> {
        Some(self.shared.routes.expect(method))
    }

    fn open(&self, method: &str, id: &str) -> Option<Inbox> {
        self.shared.routes.open(method, id)
    }

    fn close(&self, id: &str) {
        self.shared.routes.close(id);
    }

    fn id_counter(&self) -> Arc<AtomicU64> {
        match self.shared.next_id.lock() {
            Ok(ids) => ids.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// What server-side subscriptions push through: the connection, while it lives.
impl Outlet for WeakConnection {
    fn ended(&self) -> Option<CancellationToken> {
        let shared = self.shared.upgrade()?;
        (!shared.is_ended()).then(|| shared.done.clone())
    }

    fn open(&self, token: CancellationToken) -> Result<String, ErrorObject> {
        match self.shared.upgrade() {
            Some(shared) => shared.subscriptions.open(token),
            None => Err(ErrorObject::internal_error("the connection has ended")),
        }
    }

    fn close(&self, id: &str) -> Option<CancellationToken> {
        self.shared.upgrade()?.subscriptions.close(id)
    }

    fn max_message(&self) -> Option<usize> {
        self.shared.upgrade()?.max_message
    }

    fn push_within(&self, frame: Vec<u8>, wait: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            match self.upgrade() {
                Some(connection) => connection.push_within(frame, wait).await,
                None => false,
            }
        })
    }

    fn reserve(&self, bytes: usize, wait: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let Some(queue) = self.shared.upgrade().map(|s| s.queue.clone()) else {
                return false;
            };
            queue.reserve(bytes, wait).await
        })
    }

    fn push_reserved(&self, frame: Vec<u8>, reserved: usize) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let Some(queue) = self.shared.upgrade().map(|s| s.queue.clone()) else {
                return false;
            };
            let outbound = Frame::Message(Bytes::from(frame)).into();
            let queued = queue.send_reserved(outbound, reserved, LAG_WAIT).await;
            queued.is_ok()
        })
    }
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
    ctx.get::<WeakConnection>()?.upgrade()
}

/// The registry of connections the request's server keeps, from a handler's
/// [`Context`]: broadcast to every connected peer. `None` when the server
/// keeps none (or over plain HTTP without one).
///
/// ```no_run
/// # async fn demo(ctx: rpc_core::Context) {
/// if let Some(everyone) = rpc_core::duplex::connections(&ctx) {
///     let reached = everyone.broadcast("news", ["hello"]).await;
/// }
/// # }
/// ```
pub fn connections(ctx: &Context) -> Option<super::Connections> {
    ctx.get::<super::Connections>().cloned()
}
