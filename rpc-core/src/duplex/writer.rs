//! The write loop: queued frames out to the transport, in order.

use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

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

/// Writes queued frames until the connection ends or a [`Frame::Close`] is
/// written; what was queued before the end (say, the error that explains
/// it) is still written.
pub(super) async fn write_loop<O>(
    mut receiver: mpsc::Receiver<Outbound>,
    mut outgoing: O,
    keep_alive: Option<KeepAlive>,
    done: CancellationToken,
) where
    O: Sink<Frame> + Unpin,
{
    // A keep-alive interval is never zero (`KeepAlive::new` refuses it).
    let period = keep_alive.map_or(Duration::from_secs(3600 * 24 * 365), |k| k.interval());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut acks = Vec::new();
    let mut ended = false;
    while !ended {
        let first = tokio::select! {
            next = receiver.recv() => match next {
                Some(outbound) => outbound,
                None => break,
            },
            _ = ticker.tick(), if keep_alive.is_some() => Frame::Ping.into(),
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
            ok = outgoing.feed(outbound.frame).await.is_ok();
            acks.extend(outbound.written);
            if !ok || last {
                ended |= last;
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
