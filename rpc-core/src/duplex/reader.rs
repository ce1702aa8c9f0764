//! The read loop: routes each incoming message, runs the peer's calls, and
//! ends the connection (cancelling its calls, or draining them).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::WeakConnection;
use super::keep_alive::{clock, tick};
use super::route::{answer_all, kind, Kind};
use super::writer::Outbound;
use super::{Frame, Incoming, KeepAlive, GOING_AWAY};
use crate::response::error_response;
use crate::{code, Context, Dispatcher, ErrorObject};

/// What the read loop needs besides the incoming stream.
pub(super) struct Reader {
    pub(super) connection: WeakConnection,
    pub(super) done: CancellationToken,
    pub(super) drain: CancellationToken,
    pub(super) dispatcher: Dispatcher,
    pub(super) context: Context,
    pub(super) max_in_flight: usize,
    pub(super) keep_alive: Option<KeepAlive>,
}

/// Reads until the peer leaves, the connection is closed, every handle to it
/// is dropped (a server keeps one while its peer is connected), or a drain
/// has answered the calls in flight.
pub(super) async fn read_loop<I>(mut incoming: I, reader: Reader)
where
    I: Stream<Item = Result<Incoming, ErrorObject>> + Unpin,
{
    let Reader {
        connection,
        done,
        drain,
        dispatcher,
        context,
        max_in_flight,
        keep_alive,
    } = reader;
    // When the peer was last heard from, for the keep-alive's deadline.
    let mut heard = tokio::time::Instant::now();
    let mut liveness = clock(keep_alive.map(|k| k.timeout()));
    // Every call and notification still running; a closed connection
    // cancels them (each one races `done`).
    let calls = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    // Notifications start in the order they came (ticks, chat messages),
    // each once the one before has finished or has run for
    // `NOTIFICATION_ORDER`; requests run concurrently, never behind them.
    // The queue and its task exist from the first notification on: an idle
    // connection does not pay for them.
    let mut ordered: Option<mpsc::Sender<Bytes>> = None;
    let mut draining = false;
    loop {
        // Biased: what has arrived is read before the keep-alive looks at
        // how long the peer has been silent (the reader may have been
        // waiting for room, not reading, meanwhile).
        let item = tokio::select! {
            biased;
            () = done.cancelled() => break,
            item = incoming.next() => match item {
                Some(item) => item,
                None => break,
            },
            () = drain.cancelled(), if !draining => {
                draining = true;
                // No more notifications to run; the calls in flight finish.
                ordered = None;
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
                    send(&connection.shared.sender, close, &done).await;
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
            Ok(Incoming::Violation { code, reason }) => {
                tracing::debug!(
                    code,
                    reason,
                    "closing a connection whose peer broke the protocol"
                );
                let _ = shared.ended_by.set((code, reason));
                send(&shared.sender, Frame::Close { code, reason }, &done).await;
                break;
            }
            Err(error) => {
                tracing::debug!(%error, "closing connection after a framing error");
                let answer = error_response(&error);
                send(&shared.sender, Frame::Message(answer.into()), &done).await;
                break;
            }
        };
        match kind(&bytes) {
            Kind::Response(ids) => {
                shared.pending.deliver(bytes, &ids);
                continue;
            }
            _ if draining => {
                let error = ErrorObject::new(code::SHUTTING_DOWN, "Server is shutting down");
                if let Some(answer) = answer_all(&bytes, &error) {
                    // Refusals of a long batch may not fit the framing: then one refusal.
                    let answer = match shared.max_message {
                        Some(max) if answer.len() > max => error_response(&error),
                        _ => answer,
                    };
                    send(&shared.sender, Frame::Message(answer.into()), &done).await;
                }
                continue;
            }
            Kind::Notification => {
                drop(connection);
                let ordered = ordered.get_or_insert_with(|| {
                    notification_queue(&dispatcher, &context, &calls, &done)
                });
                let queued = tokio::select! {
                    queued = ordered.send(bytes) => queued.is_ok(),
                    () = done.cancelled() => false,
                };
                if !queued {
                    break;
                }
                continue;
            }
            Kind::Unreadable => {
                let waiting = shared.pending.waiting();
                if waiting > 0 {
                    // Perhaps the answer we wait for, garbled: say so rather
                    // than let the calls time out without a word.
                    tracing::warn!(
                        waiting,
                        message = ?String::from_utf8_lossy(&bytes[..bytes.len().min(200)]),
                        "the peer sent something that is not JSON-RPC while calls wait for answers"
                    );
                }
            }
            Kind::Other => {}
        }
        let sender = shared.sender.clone();
        drop(connection);
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = done.cancelled() => break,
        };
        let dispatcher = dispatcher.clone();
        let context = context.clone();
        let mut call = Box::pin(async move { dispatcher.handle(&bytes, &context).await });
        // Most calls finish on their first poll: answer them here and save a
        // task; the others go on in their own task (no head-of-line blocking).
        match call.as_mut().now_or_never() {
            Some(answer) => {
                if let Some(answer) = answer {
                    send(&sender, Frame::Message(answer.into()), &done).await;
                }
                drop(permit);
            }
            None => {
                let done = done.clone();
                calls.spawn(async move {
                    tokio::select! {
                        answer = call => {
                            if let Some(answer) = answer {
                                send(&sender, Frame::Message(answer.into()), &done).await;
                            }
                        }
                        // The connection is gone: drop the call.
                        () = done.cancelled() => {}
                    }
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
/// connection lives: a peer that does not read cannot hold a task here.
async fn send(sender: &mpsc::Sender<Outbound>, frame: Frame, done: &CancellationToken) {
    tokio::select! {
        biased;
        _ = sender.send(frame.into()) => {}
        () = done.cancelled() => {}
    }
}

/// How long a notification may hold up the ones after it on its connection.
pub(super) const NOTIFICATION_ORDER: Duration = Duration::from_secs(1);

/// Runs a notification's handling until it finishes or has had
/// [`NOTIFICATION_ORDER`]; then it goes on in its own task (cancelled with
/// the connection) and the next notification starts.
async fn in_order<F>(handled: F, tracker: &TaskTracker, done: &CancellationToken)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut handled = Box::pin(handled);
    // Most handlers finish on their first poll: no timer for them.
    if handled.as_mut().now_or_never().is_some() {
        return;
    }
    if tokio::time::timeout(NOTIFICATION_ORDER, handled.as_mut())
        .await
        .is_ok()
    {
        return;
    }
    let done = done.clone();
    tracker.spawn(async move {
        tokio::select! {
            () = handled => {}
            () = done.cancelled() => {}
        }
    });
}

/// Starts the task that runs a connection's notifications in order; returns
/// its queue.
fn notification_queue(
    dispatcher: &Dispatcher,
    context: &Context,
    calls: &TaskTracker,
    done: &CancellationToken,
) -> mpsc::Sender<Bytes> {
    let (queue, mut queued) = mpsc::channel::<Bytes>(256);
    let (dispatcher, context, done) = (dispatcher.clone(), context.clone(), done.clone());
    let tracker = calls.clone();
    calls.spawn(async move {
        let run = async {
            while let Some(bytes) = queued.recv().await {
                let (dispatcher, context) = (dispatcher.clone(), context.clone());
                let handled = async move {
                    dispatcher.handle(&bytes, &context).await;
                };
                in_order(handled, &tracker, &done).await;
            }
        };
        tokio::select! {
            () = run => {}
            () = done.cancelled() => {}
        }
    });
    queue
}
