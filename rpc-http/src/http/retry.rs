//! Retries of idempotent calls over HTTP: a tower layer on the client.

use std::sync::Arc;
use std::time::Duration;

use rpc_core::backoff::Backoff;
use rpc_core::{Answer, Deadline, Error, Outgoing};
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, Retry};

use super::StatusError;

/// Sends idempotent calls again when they fail without an answer: the
/// server could not be reached, the connection broke, or it answered 408,
/// 429, 502, 503 or 504. Calls are idempotent when their method is marked
/// `#[rpc(idempotent)]` (or made with [`Client::call_idempotent`](rpc_core::Client::call_idempotent));
/// any other call, and any notification or batch, is never sent twice.
///
/// Each retry waits (exponential back-off with jitter, 100 ms doubling up
/// to 2 s by default), never past the call's deadline; at most 5 retries
/// per call (by default), and retries altogether stay within a budget (20 %
/// of the calls of the last 10 s, plus 10 per second), so that a server in
/// trouble is not flooded. Put it on a client with
/// [`Client::with_layer`](rpc_core::Client::with_layer):
///
/// ```
/// # fn demo() -> Result<(), rpc_core::Error> {
/// use rpc_http::http::{HttpClient, RetryLayer};
/// let client = rpc_core::Client::new(HttpClient::new("http://127.0.0.1:3000/")?)
///     .with_layer(RetryLayer::new().with_max_retries(3));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl Default for RetryLayer {
    fn default() -> Self {
        RetryLayer::new()
    }
}

/// The back-off of each call when none is set.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl RetryLayer {
    /// Up to 5 retries per call, back-off from 100 ms to 2 s, a budget of
    /// 20 % of calls.
    pub fn new() -> Self {
        RetryLayer {
            policy: RetryPolicy {
                budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
                backoff: Backoff::new(MIN_BACKOFF, MAX_BACKOFF, 1.0),
                retries_left: 5,
            },
        }
    }

    /// At most `retries` retries of one call (0: none).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.policy.retries_left = retries;
        self
    }

    /// The wait before the first retry (`min`), doubling up to `max`, each
    /// with up to 100 % jitter.
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.policy.backoff = Backoff::new(min, max, 1.0);
        self
    }

    /// The share of calls that may be retries, over the last 10 s, beyond
    /// 10 retries per second (clamped to 0..=10: 0.2 is 20 %).
    pub fn with_budget(mut self, share: f32) -> Self {
        let share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 10.0)
        };
        self.policy.budget = Arc::new(TpsBudget::new(Duration::from_secs(10), 10, share));
        self
    }
}

impl<S> tower::Layer<S> for RetryLayer {
    type Service = Retry<RetryPolicy, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(self.policy.clone(), inner)
    }
}

/// The policy of [`RetryLayer`], one copy per call.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    budget: Arc<TpsBudget>,
    backoff: Backoff,
    retries_left: u32,
}

/// Whether a failure leaves the call worth sending again (when it is
/// idempotent): the server was not reached, or said to try later.
fn worth_retrying(error: &Error) -> bool {
    match error {
        Error::Connect(_) | Error::Closed | Error::ConnectionLost | Error::Ended { .. } => true,
        Error::Transport(_) => match error.transport_error::<StatusError>() {
            Some(status) => matches!(status.status, 408 | 429 | 502 | 503 | 504),
            // The connection broke under the request.
            None => true,
        },
        _ => false,
    }
}

impl Policy<Outgoing, Option<Answer>, Error> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Outgoing,
        result: &mut Result<Option<Answer>, Error>,
    ) -> Option<Self::Future> {
        let error = match result {
            Ok(_) => {
                self.budget.deposit();
                return None;
            }
            Err(error) => error,
        };
        if !request.is_idempotent() || !worth_retrying(error) || self.retries_left == 0 {
            return None;
        }
        let wait = self.backoff.sleep();
        if let Some(Deadline(deadline)) = request.context.get::<Deadline>() {
            if wait.deadline().into_std() >= *deadline {
                return None;
            }
        }
        if !self.budget.withdraw() {
            // As a string value, which log formatters escape: the error
            // may quote the server's answer.
            tracing::debug!(
                error = error.to_string(),
                "retry budget spent: not retrying"
            );
            return None;
        }
        self.retries_left -= 1;
        tracing::debug!(
            error = error.to_string(),
            retries_left = self.retries_left,
            "retrying an idempotent call"
        );
        Some(wait)
    }

    fn clone_request(&mut self, request: &Outgoing) -> Option<Outgoing> {
        // Only idempotent calls are kept for a second try.
        request.is_idempotent().then(|| request.clone())
    }
}
