//! The read loop: routes each incoming message, runs the peer's calls, and
//! ends the connection (cancelling its calls, or draining them).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::OptionFuture;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::budget::Budget;
use super::keep_alive::{clock, tick};
use super::route::Link;
use super::shared::WeakConnection;
use super::writer::{Offered, Queue};
use super::{Frame, Incoming, KeepAlive, GOING_AWAY};
use crate::protocol::response::error_response;
use crate::protocol::{code, Context, ErrorObject};
use crate::server::cancel::Running;
use crate::server::subscription::AFTER_ANSWER;
use crate::server::Dispatcher;

/// What the read loop needs besides the incoming stream.
pub(super) struct Reader {
    pub(super) connection: WeakConnection,
    /// What is queued toward the peer: reading pauses while it is full.
    pub(super) budget: Arc<Budget>,
    /// The bytes of the peer's messages whose calls still run: reading
    /// pauses while it is full.
    pub(super) running_bytes: Arc<Budget>,
    pub(super) done: CancellationToken,
    pub(super) drain: CancellationToken,
    pub(super) dispatcher: Dispatcher,
    pub(super) context: Context,
    pub(super) max_in_flight: usize,
    pub(super) keep_alive: Option<KeepAlive>,
    /// How long calls may run on after the peer's end of file.
    pub(super) half_close_grace: Duration,
    /// The `rpc_server_connections` count, held until the connection ends.
    pub(super) open: Option<OpenConnection>,
}

/// One open connection in the `rpc_server_connections` gauge.
pub(super) struct OpenConnection(&'static str);

impl OpenConnection {
    pub(super) fn new(transport: &'static str) -> Self {
        metrics::gauge!("rpc_server_connections", "transport" => transport).increment(1.0);
        OpenConnection(transport)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("rpc_server_connections", "transport" => self.0).decrement(1.0);
    }
}

/// Reads until the peer leaves, the connection is closed, every handle to it
/// is dropped (a server keeps one while its peer is connected), or a drain
/// has answered the calls in flight.
pub(super) async fn read_loop<I>(mut incoming: I, reader: Reader)
where
    I: Stream<Item = Result<Incoming, ErrorObject>> + Unpin,
{
    // Borrowed, not moved out: a future keeps what it was given for its
    // whole life, and moving the fields out would keep them twice. `open`
    // is uncounted when `reader` drops, as the loop ends.
    let Reader {
        connection,
        budget,
        running_bytes,
        done,
        drain,
        dispatcher,
        context,
        max_in_flight,
        keep_alive,
        half_close_grace,
        open: _open,
    } = &reader;
    let keep_alive = *keep_alive;
    // When the peer was last heard from, for the keep-alive's deadline.
    let mut heard = tokio::time::Instant::now();
    let mut liveness = clock(keep_alive.map(|k| k.timeout()));
    // Every call and notification still running; a closed connection
    // cancels them (each one races `done`).
    let calls = TaskTracker::new();
    let permits = Arc::new(Semaphore::new((*max_in_flight).max(1)));
    // Notifications start in the order they came (ticks, chat messages),
    // each once the one before has finished or has run for a second;
    // requests run concurrently, never behind them.
    let order = Arc::new(Semaphore::new(1));
    // The peer's calls still running, for `$/cancelRequest`.
    let running = Arc::new(Running::default());
    let mut draining = false;
    // After the peer's end of file (a half-close, or a close), nothing more
    // is read: the calls left get `half_close_grace` to be answered.
    let mut finished = false;
    // Set at the end of file (boxed: most connections never need it).
    let mut grace: Option<Pin<Box<Sleep>>> = None;
    loop {
        // Biased: what has arrived is read before the keep-alive looks at
        // how long the peer has been silent (the reader may have been
        // waiting for room, not reading, meanwhile).
        // Back-pressure: while what is queued toward the peer is over its
        // budget, read nothing more from it (it cannot make more work).
        // Likewise while the messages whose calls still run hold their
        // budget: the peer waits for its calls before it sends more.
        if !finished && (budget.full() || running_bytes.full()) {
            tokio::select! {
                biased;
                () = done.cancelled() => break,
                () = async { budget.room().await; running_bytes.room().await } => {}
            }
            // Not reading is not the peer's silence.
            heard = tokio::time::Instant::now();
            continue;
        }
        let item = tokio::select! {
            biased;
            () = done.cancelled() => break,
            () = calls.wait(), if finished => break,
            Some(()) = OptionFuture::from(grace.as_mut().map(Pin::as_mut)), if finished => {
                tracing::debug!("cancelling the calls still running after the peer's end of file");
                break;
            }
            item = incoming.next(), if !finished => match item {
                Some(item) => item,
                None => break,
            },
            () = drain.cancelled(), if !draining => {
                // Calls are refused from now on; those in flight finish.
                draining = true;
                calls.close();
                continue;
            }
            () = tick(&mut liveness) => {
                let allowed = keep_alive.map_or(Duration::MAX, |k| k.silence_allowed());
                if heard.elapsed() > allowed {
                    tracing::debug!(silent = ?heard.elapsed(), "closing a connection whose peer stopped answering pings");
                    break;
                }
                continue;
            }
            () = calls.wait(), if draining => {
                if let Some(connection) = connection.upgrade() {
                    let close = Frame::Close { code: GOING_AWAY, reason: "server shutting down" };
                    send(&connection.shared.queue, close, done).await;
                }
                break;
            }
        };
        let Some(connection) = connection.upgrade() else {
            break;
        };
        let shared = &connection.shared;
        heard = tokio::time::Instant::now();
        let bytes = match item {
            Ok(Incoming::Message(bytes)) => bytes,
            Ok(Incoming::Alive) => continue,
            // The peer's end of file. A half-close (`SHUT_WR`) and a full
            // close look the same here: the calls still running may finish
            // and be answered within the grace, then the connection ends
            // (cancelling the rest, as closing a connection must).
            Ok(Incoming::Finished) => {
                finished = true;
                calls.close();
                grace = Some(Box::pin(tokio::time::sleep(*half_close_grace)));
                continue;
            }
            Ok(Incoming::Violation { code, reason }) => {
                tracing::debug!(
                    code,
                    reason,
                    "closing a connection whose peer broke the protocol"
                );
                let _ = shared.ended_by.set((code, reason));
                send(&shared.queue, Frame::Close { code, reason }, done).await;
                break;
            }
            Err(error) => {
                tracing::debug!(%error, "closing connection after a framing error");
                let answer = error_response(&error);
                send(&shared.queue, Frame::Message(answer.into()), done).await;
                break;
            }
        };
        let bytes_len = bytes.len();
        // Read once, then routed: answers to our calls, items of our
        // subscriptions, cancellations, and calls for the dispatcher.
        let link = Link {
            pending: shared.pending.clone(),
            order: order.clone(),
            refusal: draining
                .then(|| ErrorObject::new(code::SHUTTING_DOWN, "Server is shutting down")),
            running: running.clone(),
            routes: shared.routes.clone(),
        };
        let sender = shared.queue.clone();
        drop(connection);
        let dispatcher = dispatcher.clone();
        let context = context.clone();
        // Work a handler defers until its answer is queued (a
        // subscription's first item) is collected with the answer.
        let mut call = Box::pin(AFTER_ANSWER.scope(
            std::cell::RefCell::new(Vec::new()),
            async move {
                let answer = link.receive(&bytes, &dispatcher, &context).await;
                let deferred = AFTER_ANSWER.with(|d| std::mem::take(&mut *d.borrow_mut()));
                (answer, deferred)
            },
        ));
        // Most messages are done on their first poll (answers, quick
        // calls): handled here, no task; the others go on in their own
        // task (no head-of-line blocking), at most `max_in_flight` of them:
        // reading waits for room.
        match call.as_mut().now_or_never() {
            Some((answer, deferred)) => {
                if let Some(answer) = answer {
                    send(&sender, Frame::Message(answer.into()), done).await;
                }
                deferred.into_iter().for_each(|start| start());
            }
            None => {
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = done.cancelled() => break,
                };
                let done = done.clone();
                // The message is kept while its calls run: it counts.
                running_bytes.force(bytes_len);
                let running_bytes = running_bytes.clone();
                calls.spawn(async move {
                    tokio::select! {
                        (answer, deferred) = call => {
                            if let Some(answer) = answer {
                                send(&sender, Frame::Message(answer.into()), &done).await;
                            }
                            deferred.into_iter().for_each(|start| start());
                        }
                        // The connection is gone: drop the call.
                        () = done.cancelled() => {}
                    }
                    running_bytes.give(bytes_len);
                    drop(permit);
                });
            }
        }
    }
    if let Some(connection) = connection.upgrade() {
        connection.shared.close();
    } else {
        done.cancel();
    }
}

/// Queues a frame for the writer, waiting for room only while the
/// connection lives: a peer that does not read cannot hold a task here
/// longer than the write-stall timeout.
async fn send(queue: &Queue, frame: Frame, done: &CancellationToken) {
    // Most of the time there is room: queued at once.
    let Err(Offered::Full(outbound)) = queue.offer(frame.into()) else {
        return;
    };
    // Waiting is rare, and its future large: boxed, so that the read loop
    // (which lasts as long as its connection) does not carry it.
    let waiting = Box::pin(async move {
        tokio::select! {
            biased;
            _ = queue.send(outbound, None) => {}
            () = done.cancelled() => {}
        }
    });
    waiting.await;
}
