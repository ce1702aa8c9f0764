//! The write loop: queued frames out to the transport, in order.

use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

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

/// How long the writer may still take, once the connection has ended, to
/// write what was queued before the end (the last answers of a drain, its
/// close frame, the error that explains a close). A peer that does not read
/// cannot hold the connection open longer than this.
const LINGER: Duration = Duration::from_secs(2);

/// Writes queued frames until the connection ends or a [`Frame::Close`] is
/// written; what was queued before the end is still written, for at most
/// [`LINGER`]. `finished` is cancelled when the writer is done (or dropped).
pub(super) async fn write_loop<O>(
    mut receiver: mpsc::Receiver<Outbound>,
    mut outgoing: O,
    keep_alive: Option<KeepAlive>,
    done: CancellationToken,
    finished: CancellationToken,
) where
    O: Sink<Frame> + Unpin,
{
    let _finished = finished.drop_guard();
    // A keep-alive interval is never zero (`KeepAlive::new` refuses it).
    let mut pings = clock(keep_alive.map(|k| k.interval()));
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
            ok = tokio::select! {
                biased;
                written = outgoing.feed(outbound.frame) => written.is_ok(),
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
                flushed = outgoing.flush() => flushed.is_ok(),
                () = &mut linger => false,
            };
        if !flushed {
            break;
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    receiver.close();
    // Close the transport, unless the linger already ran out (a peer that
    // does not read would block the close too); bounded either way.
    if !futures_util::future::FusedFuture::is_terminated(&linger) {
        let _ = tokio::time::timeout(LINGER, outgoing.close()).await;
    }
    // Nothing more can be written: the connection is over for the reader too.
    done.cancel();
}
