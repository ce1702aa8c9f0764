//! The one back-off of the framework: the listener after a failed accept,
//! the reconnecting client, the HTTP retry layer and the backplane's
//! brokers all wait with it. Tower's exponential back-off underneath,
//! with a reset and bounds that cannot be invalid.

use std::time::Duration;

use tower::retry::backoff::{
    Backoff as _, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff,
};
use tower::util::rng::HasherRng;

/// Waits that double from `min` to `max`, each plus up to `jitter` times
/// itself at random (so that peers restarted together do not all knock at
/// once); [`reset`](Self::reset) starts again from `min`.
///
/// ```
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let mut waits = rpc_core::backoff::Backoff::new(
///     Duration::from_millis(5),
///     Duration::from_millis(20),
///     0.0,
/// );
/// let first: Vec<_> = (0..4).map(|_| waits.next_delay().as_millis()).collect();
/// assert_eq!(first, [5, 10, 20, 20]);
/// waits.reset();
/// waits.sleep().await; // sleeps 5 ms
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    maker: ExponentialBackoffMaker,
    current: ExponentialBackoff,
}

impl Backoff {
    /// From `min` doubling to `max` (at least 1 ms; `min` at most `max`),
    /// with `jitter` a fraction in 0..=100 (clamped; NaN is 0).
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        let max = max.max(Duration::from_millis(1));
        let min = min.min(max);
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 100.0)
        };
        // Valid by construction: min <= max, max > 0, jitter in range.
        let mut maker = ExponentialBackoffMaker::new(min, max, jitter, HasherRng::default())
            .unwrap_or_default();
        Backoff {
            current: maker.make_backoff(),
            maker,
        }
    }

    /// The next wait, as a timer to await (needs a Tokio runtime).
    pub fn sleep(&mut self) -> tokio::time::Sleep {
        self.current.next_backoff()
    }

    /// The next wait, as a length (needs a Tokio runtime).
    pub fn next_delay(&mut self) -> Duration {
        let sleep = self.sleep();
        sleep
            .deadline()
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Starts again from the shortest wait.
    pub fn reset(&mut self) {
        self.current = self.maker.make_backoff();
    }
}
