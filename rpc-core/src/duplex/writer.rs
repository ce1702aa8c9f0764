//! The write loop: queued frames out to the transport, in order.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::budget::Budget;
use super::keep_alive::{clock, tick};
use super::{Frame, KeepAlive};

/// A frame queued for the writer, with an optional notice once it is written.
pub(super) struct Outbound {
    pub(super) frame: Frame,
    pub(super) written: Option<oneshot::Sender<()>>,
}

impl From<Frame> for Outbound {
    fn from(frame: Frame) -> Self {
        Outbound {
            frame,
            written: None,
        }
    }
}

impl Outbound {
    /// What it takes of the byte budget: a message's length (control
    /// frames are free: they are tiny and must never wait).
    fn bytes(&self) -> usize {
        match &self.frame {
            Frame::Message(body) => body.len(),
            Frame::Ping | Frame::Close { .. } => 0,
        }
    }
}

/// Why a frame was not queued at once.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// No room: the budget (or the count of frames) is spent.
    Full,
    /// The connection has ended.
    Closed,
}

/// Why [`Queue::offer`] did not queue a frame.
pub(super) enum Offered {
    /// No room now: the frame, to wait with.
    Full(Outbound),
    /// The connection has ended.
    Closed,
}

/// The queue of frames toward the peer, bounded in bytes (the connection's
/// budget and its server's) and in frames.
#[derive(Clone)]
pub(super) struct Queue {
    sender: mpsc::Sender<Outbound>,
    budget: Arc<Budget>,
}

impl Queue {
    pub(super) fn new(frames: usize, budget: Budget) -> (Queue, mpsc::Receiver<Outbound>) {
        let (sender, receiver) = mpsc::channel(frames.max(1));
        let queue = Queue {
            sender,
            budget: Arc::new(budget),
        };
        (queue, receiver)
    }

    /// Queues `outbound`, waiting for room at most `wait` (`None`: as long
    /// as it takes, which the caller bounds).
    pub(super) async fn send(
        &self,
        outbound: Outbound,
        wait: Option<Duration>,
    ) -> Result<(), Refused> {
        let bytes = outbound.bytes();
        let queued = async {
            if bytes > 0 && !self.budget.take(bytes, None).await {
                return Err(Refused::Full);
            }
            self.sender.send(outbound).await.map_err(|_| {
                self.budget.give(bytes);
                Refused::Closed
            })
        };
        match wait {
            None => queued.await,
            Some(wait) => tokio::time::timeout(wait, queued)
                .await
                .unwrap_or(Err(Refused::Full)),
        }
    }

    /// Takes room for `bytes`, waiting at most `wait`; whether it got it.
    pub(super) async fn reserve(&self, bytes: usize, wait: Duration) -> bool {
        self.budget.take(bytes, Some(wait)).await
    }

    /// Queues `outbound` in room [`reserve`](Self::reserve)d for `reserved`
    /// bytes, waiting at most `wait` for a place among the frames.
    pub(super) async fn send_reserved(
        &self,
        outbound: Outbound,
        reserved: usize,
        wait: Duration,
    ) -> Result<(), Refused> {
        let bytes = outbound.bytes();
        match bytes.cmp(&reserved) {
            std::cmp::Ordering::Greater => self.budget.force(bytes - reserved),
            std::cmp::Ordering::Less => self.budget.give(reserved - bytes),
            std::cmp::Ordering::Equal => {}
        }
        match tokio::time::timeout(wait, self.sender.send(outbound)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => {
                self.budget.give(bytes);
                Err(Refused::Closed)
            }
            Err(_) => {
                self.budget.give(bytes);
                Err(Refused::Full)
            }
        }
    }

    /// Queues `outbound` now or not at all.
    pub(super) fn try_send(&self, outbound: Outbound) -> Result<(), Refused> {
        self.offer(outbound).map_err(|e| match e {
            Offered::Full(_) => Refused::Full,
            Offered::Closed => Refused::Closed,
        })
    }

    /// Queues `outbound` now if there is room, or gives it back.
    pub(super) fn offer(&self, outbound: Outbound) -> Result<(), Offered> {
        let bytes = outbound.bytes();
        if bytes > 0 && !self.budget.try_take(bytes) {
            return Err(Offered::Full(outbound));
        }
        self.sender.try_send(outbound).map_err(|e| {
            self.budget.give(bytes);
            match e {
                mpsc::error::TrySendError::Full(outbound) => Offered::Full(outbound),
                mpsc::error::TrySendError::Closed(_) => Offered::Closed,
            }
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub(super) fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }
}

/// How long the writer may still take, once the connection has ended, to
/// write what was queued before the end (the last answers of a drain, its
/// close frame, the error that explains a close). A peer that does not read
/// cannot hold the connection open longer than this.
const LINGER: Duration = Duration::from_secs(2);

/// What the write loop needs besides the queue and the transport.
pub(super) struct Writer {
    pub(super) keep_alive: Option<KeepAlive>,
    /// How long one write may make no progress before the connection is
    /// closed (a peer that does not read, whatever else it sends).
    pub(super) write_stall: Option<Duration>,
    pub(super) budget: Arc<Budget>,
}

/// A write that fails, rather than waits on, when it makes no progress for
/// `limit`: whether it succeeded.
async fn stalls<E>(
    limit: Option<Duration>,
    write: impl std::future::Future<Output = Result<(), E>>,
) -> bool {
    match limit {
        None => write.await.is_ok(),
        Some(limit) => match tokio::time::timeout(limit, write).await {
            Ok(done) => done.is_ok(),
            Err(_) => {
                tracing::debug!(
                    stalled = ?limit,
                    "closing a connection whose peer does not read what is written to it"
                );
                false
            }
        },
    }
}

/// Writes queued frames until the connection ends or a [`Frame::Close`] is
/// written; what was queued before the end is still written, for at most
/// [`LINGER`]. `finished` is cancelled when the writer is done (or dropped).
pub(super) async fn write_loop<O>(
    mut receiver: mpsc::Receiver<Outbound>,
    mut outgoing: O,
    writer: Writer,
    done: CancellationToken,
    finished: CancellationToken,
) where
    O: Sink<Frame> + Unpin,
{
    let _finished = finished.drop_guard();
    let Writer {
        keep_alive,
        write_stall,
        budget,
    } = writer;
    // A keep-alive interval is never zero (`KeepAlive::new` refuses it).
    let mut pings = clock(keep_alive.map(|k| k.interval()));
    // Bytes written since the last flush, given back to the budget by it.
    let mut written = 0;
    // Runs out `LINGER` after the end: every write races it.
    let linger = async {
        done.cancelled().await;
        tokio::time::sleep(LINGER).await;
    };
    let mut linger = std::pin::pin!(futures_util::FutureExt::fuse(linger));
    let mut acks = Vec::new();
    let mut ended = false;
    while !ended {
        let first = tokio::select! {
            next = receiver.recv() => match next {
                Some(outbound) => outbound,
                None => break,
            },
            () = tick(&mut pings) => Frame::Ping.into(),
            _ = done.cancelled() => {
                // Write what is already queued, then stop.
                ended = true;
                match receiver.try_recv() {
                    Ok(outbound) => outbound,
                    Err(_) => break,
                }
            }
        };
        // Write everything already queued, then flush once: under load many
        // answers share one write.
        let mut next = Some(first);
        let mut ok = true;
        while let Some(outbound) = next.take() {
            let last = matches!(outbound.frame, Frame::Close { .. });
            written += outbound.bytes();
            ok = tokio::select! {
                biased;
                fed = stalls(write_stall, outgoing.feed(outbound.frame)) => fed,
                () = &mut linger => false,
            };
            acks.extend(outbound.written);
            if !ok || last {
                ended |= last;
                break;
            }
            next = receiver.try_recv().ok();
        }
        let flushed = ok
            && tokio::select! {
                biased;
                flushed = stalls(write_stall, outgoing.flush()) => flushed,
                () = &mut linger => false,
            };
        if !flushed {
            break;
        }
        budget.give(std::mem::take(&mut written));
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    receiver.close();
    // What was queued and never written leaves the budgets (the server's
    // above all: other connections share it).
    while let Ok(outbound) = receiver.try_recv() {
        written += outbound.bytes();
    }
    budget.give(written);
    // Close the transport, unless the linger already ran out (a peer that
    // does not read would block the close too); bounded either way.
    if !futures_util::future::FusedFuture::is_terminated(&linger) {
        let _ = tokio::time::timeout(LINGER, outgoing.close()).await;
    }
    // Nothing more can be written: the connection is over for the reader too.
    done.cancel();
}
