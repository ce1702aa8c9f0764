//! Each incoming message, read once and sent where it belongs: answers to
//! our calls go to the calls awaiting them, items of our subscriptions to
//! their streams, `$/cancelRequest` to the peer's running calls, and
//! everything else (calls and the user's notifications) to the dispatcher.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Semaphore;

use super::pending::PendingCalls;
use crate::client::{Notice, Routes};
use crate::protocol::message::{Entry, Message};
use crate::protocol::{cancel, notice, Context, ErrorObject};
use crate::server::cancel::Running;
use crate::server::{Dispatch, Dispatcher};

/// What one connection routes to, shared by the messages it receives.
pub(super) struct Link {
    pub(super) pending: Arc<PendingCalls>,
    /// One permit: notifications start in the order they arrived.
    pub(super) order: Arc<Semaphore>,
    /// Set while the connection drains.
    pub(super) refusal: Option<ErrorObject>,
    /// The peer's calls that `$/cancelRequest` may cancel.
    pub(super) running: Arc<Running>,
    /// Where the notices of our subscriptions go.
    pub(super) routes: Arc<Routes>,
}

/// How long a notification may hold up the ones after it on its connection.
const NOTIFICATION_ORDER: Duration = Duration::from_secs(1);

impl Link {
    /// Routes one message; returns the answer to send back, if any.
    pub(super) async fn receive(
        &self,
        body: &[u8],
        dispatcher: &Dispatcher,
        ctx: &Context,
    ) -> Option<Vec<u8>> {
        let message = match dispatcher.parse(body) {
            Ok(message) => message,
            Err(answer) => {
                self.unreadable(body);
                return Some(answer);
            }
        };
        if message.is_answer() {
            let (batch, replies) = message.into_replies();
            self.pending.deliver(batch, replies);
            return None;
        }
        let how = Dispatch {
            refusal: self.refusal.as_ref(),
            running: Some(&self.running),
        };
        let Message::Single(Entry::Notification(request)) = &message else {
            return dispatcher.dispatch(message, ctx, how).await;
        };
        // `$/cancelRequest` is for the connection itself: it stops a call
        // at once, never waits behind other notifications.
        if request.method == cancel::CANCEL_METHOD {
            if let Some(id) = cancel::target(request.params.raw()) {
                self.running.cancel(&id);
            }
            return None;
        }
        // An item (or the end) of one of our subscriptions: only when its
        // method and its id are the ones we subscribed with.
        if self.routes.expects(&request.method) {
            let read = request.params.raw().and_then(notice::read);
            if let Some((id, read)) = read {
                let notice = match read {
                    notice::Read::Item { item, event: None } => Notice::Item(item),
                    notice::Read::Item {
                        item,
                        event: Some(event),
                    } => Notice::Event { item, event },
                    notice::Read::Gap => Notice::Gap,
                    notice::Read::End(end) => Notice::End(end),
                };
                if self.routes.deliver(&request.method, &id, notice) {
                    return None;
                }
            }
        }
        // A notification for the user's handlers waits for the ones before
        // it to start.
        let permit = self.order.acquire().await.ok();
        ordered(dispatcher.dispatch(message, ctx, how), permit).await
    }

    /// A message that is not JSON-RPC (perhaps a garbled answer).
    fn unreadable(&self, body: &[u8]) {
        let waiting = self.pending.waiting();
        if waiting > 0 {
            // Perhaps the answer we wait for, garbled: say so rather than
            // let the calls time out without a word.
            tracing::warn!(
                waiting,
                message = ?String::from_utf8_lossy(&body[..body.len().min(200)]),
                "the peer sent something that is not JSON-RPC while calls wait for answers"
            );
        }
    }
}

/// Runs a notification that holds its connection's order `permit`: the
/// next notification starts when this one finishes, or after
/// [`NOTIFICATION_ORDER`] (then this one goes on without the permit).
async fn ordered<F: Future>(run: F, permit: Option<tokio::sync::SemaphorePermit<'_>>) -> F::Output {
    tokio::pin!(run);
    // Most handlers finish on their first poll: no timer for them.
    if let Some(done) = run.as_mut().now_or_never() {
        return done;
    }
    match tokio::time::timeout(NOTIFICATION_ORDER, run.as_mut()).await {
        Ok(done) => done,
        Err(_) => {
            drop(permit);
            run.await
        }
    }
}
