//! The calculator's services: the `#[rpc]` traits (what travels on the
//! wire), their implementations, and the types their methods take and
//! return.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rpc::duplex::Connections;
use rpc::subscription::Topics;
use rpc::Subscription;
use rpc::{rpc, Context};
use serde_json::Value;

/// The calculator's application errors: each variant's code travels in the
/// error object, and the client gets the variant back.
#[derive(Debug, Clone, PartialEq, thiserror::Error, rpc::RpcError)]
pub enum CalcError {
    /// `divide` with `b == 0`.
    #[error("Division by zero")]
    #[rpc(code = -32000)]
    DivisionByZero,
    /// A method that needs a duplex connection was called over plain HTTP.
    #[error("{0} needs a duplex connection (WebSocket or TCP)")]
    #[rpc(code = -32002)]
    NeedsDuplex(&'static str),
    /// An integer result that does not fit in 64 bits.
    #[error("Integer overflow")]
    #[rpc(code = -32003)]
    Overflow,
    /// An argument outside the accepted range.
    #[error("{0}")]
    #[rpc(code = rpc::code::INVALID_PARAMS)]
    OutOfRange(String),
}

/// Summary statistics of a list of numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Stats {
    /// How many values there are.
    pub count: u64,
    /// Their mean; `null` for an empty list.
    pub mean: Option<f64>,
    /// The smallest; `null` for an empty list.
    pub min: Option<f64>,
    /// The largest; `null` for an empty list.
    pub max: Option<f64>,
}

/// A shape, tagged by its `kind`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Shape {
    /// A circle of the given radius.
    Circle {
        /// Its radius.
        radius: f64,
    },
    /// A rectangle.
    Rect {
        /// Its width.
        width: f64,
        /// Its height.
        height: f64,
    },
}

/// The JSON-RPC 2.0 specification's example methods, and a few more.
#[rpc]
pub(crate) trait Calculator {
    /// Subtracts `subtrahend` from `minuend`.
    #[rpc(idempotent)]
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> Result<i64, CalcError>;

    /// Adds three integers.
    #[rpc(idempotent)]
    async fn sum(&self, a: i64, b: i64, c: i64) -> Result<i64, CalcError>;

    /// Adds two integers.
    #[rpc(idempotent)]
    async fn add(&self, a: i64, b: i64) -> Result<i64, CalcError>;

    /// Returns `["hello", 5]`.
    #[rpc(idempotent)]
    async fn get_data(&self) -> (String, i64);

    /// Accepts five values and does nothing (the specification's notification example).
    #[rpc(notification)]
    async fn update(&self, a: Value, b: Value, c: Value, d: Value, e: Value);

    /// Does nothing with `n`.
    #[rpc(notification)]
    async fn notify_hello(&self, n: Value);

    /// Does nothing with three integers.
    #[rpc(notification)]
    async fn notify_sum(&self, a: Value, b: Value, c: Value);

    /// Returns "Hello, [title ]name!".
    #[rpc(idempotent)]
    async fn greet(&self, name: String, title: Option<String>) -> String;

    /// Divides `a` by `b`; fails with -32000 "Division by zero" when `b` is 0.
    #[rpc(idempotent)]
    async fn divide(&self, a: f64, b: f64) -> Result<f64, CalcError>;

    /// Returns its argument unchanged.
    #[rpc(idempotent)]
    async fn echo(&self, value: Value) -> Value;

    /// Waits `ms` milliseconds, then returns `ms`.
    #[rpc(idempotent)]
    async fn sleep(&self, ms: u64) -> u64;

    /// Sends `count` notifications `tick` with params `[i]` to the caller, then returns `count`.
    #[rpc(notifies = ["tick"])]
    async fn notify_me(&self, count: u64, ctx: Context) -> Result<u64, CalcError>;

    /// Sends notification `message` with params `[message]` to every connected
    /// duplex client; returns how many it reached.
    #[rpc(notifies = ["message"])]
    async fn broadcast(&self, message: String) -> usize;

    /// Ticks `0, 1, ...` every `interval_ms` (notification `ticks`); with
    /// `count`, that many, then the end.
    #[rpc(subscription = "ticks", unsubscribe = "unsubscribe_ticks")]
    async fn subscribe_ticks(
        &self,
        interval_ms: u64,
        count: Option<u64>,
    ) -> Result<Subscription<u64>, CalcError>;

    /// The messages published to `topic` (notification `topic`), each with
    /// its event id (`"event"`); a name over 256 bytes is refused.
    ///
    /// - `since`: an event id of this topic: first every retained message
    ///   published after it, then live ones (a `since` no longer retained:
    ///   one `"gap": true` notice first, then every retained message); over
    ///   server-sent events, `Last-Event-ID` stands for it when it is left out
    #[rpc(subscription = "topic", unsubscribe = "unsubscribe_topic")]
    async fn subscribe_topic(
        &self,
        topic: String,
        since: Option<String>,
        ctx: rpc::Context,
    ) -> Result<Subscription<Value>, CalcError>;

    /// Delivers `message` to every subscriber of `topic`; returns how many
    /// subscriptions took it on this instance.
    async fn publish(&self, topic: String, message: Value) -> u64;

    /// Count, mean, smallest and largest of `values`.
    ///
    /// - `values`: the numbers to summarize (may be empty)
    #[rpc(idempotent)]
    async fn stats(&self, values: Vec<f64>) -> Stats;

    /// The area of `shape`.
    ///
    /// - `shape`: `{"kind":"circle","radius":R}` or `{"kind":"rect","width":W,"height":H}`
    #[rpc(idempotent)]
    async fn area(&self, shape: Shape) -> f64;
}

/// Arithmetic under the `math` namespace.
#[rpc(namespace = "math")]
pub(crate) trait Math {
    /// Multiplies two integers.
    #[rpc(idempotent)]
    async fn multiply(&self, a: i64, b: i64) -> Result<i64, CalcError>;
}

/// Operations on the running instance; every caller needs the `admin` role
/// (`serve --auth-token T` grants it to `Authorization: Bearer T`).
#[rpc(namespace = "admin", requires = "admin")]
pub(crate) trait Admin {
    /// Open WebSocket and TCP connections on this instance, the caller's included.
    #[rpc(idempotent)]
    async fn connections(&self) -> u64;

    /// Handler futures alive on this instance (every transport, batch
    /// members and notifications included, this call included).
    #[rpc(idempotent)]
    async fn active_calls(&self) -> u64;
}

/// What the server sends to duplex clients; the `call` command serves it
/// on its side of the connection and reports each notification on stderr.
#[rpc]
pub(crate) trait Events {
    /// One of `notify_me`'s notifications.
    #[rpc(notification)]
    async fn tick(&self, i: u64);

    /// A `broadcast` message.
    #[rpc(notification)]
    async fn message(&self, message: String);
}

/// The [`Calculator`] service.
pub(crate) struct Calc {
    /// The open duplex connections, which `broadcast` reaches (with a
    /// backplane, the other instances' too).
    pub connections: Connections,
    /// Each topic's subscriptions.
    pub topics: Topics,
}

/// The most ticks one subscription may ask for.
const MAX_TICKS: u64 = 100_000;

impl Calculator for Calc {
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> Result<i64, CalcError> {
        minuend.checked_sub(subtrahend).ok_or(CalcError::Overflow)
    }

    async fn sum(&self, a: i64, b: i64, c: i64) -> Result<i64, CalcError> {
        a.checked_add(b)
            .and_then(|s| s.checked_add(c))
            .ok_or(CalcError::Overflow)
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_add(b).ok_or(CalcError::Overflow)
    }

    async fn get_data(&self) -> (String, i64) {
        ("hello".to_owned(), 5)
    }

    async fn update(&self, _a: Value, _b: Value, _c: Value, _d: Value, _e: Value) {}

    async fn notify_hello(&self, _n: Value) {}

    async fn notify_sum(&self, _a: Value, _b: Value, _c: Value) {}

    async fn greet(&self, name: String, title: Option<String>) -> String {
        match title {
            Some(title) => format!("Hello, {title} {name}!"),
            None => format!("Hello, {name}!"),
        }
    }

    async fn divide(&self, a: f64, b: f64) -> Result<f64, CalcError> {
        if b == 0.0 {
            return Err(CalcError::DivisionByZero);
        }
        Ok(a / b)
    }

    async fn echo(&self, value: Value) -> Value {
        value
    }

    async fn sleep(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    async fn notify_me(&self, count: u64, ctx: Context) -> Result<u64, CalcError> {
        let caller = rpc::duplex::caller(&ctx).ok_or(CalcError::NeedsDuplex("notify_me"))?;
        if count > MAX_TICKS {
            return Err(CalcError::OutOfRange(format!(
                "count must be at most {MAX_TICKS}"
            )));
        }
        for i in 0..count {
            if caller.notify("tick", [i]).await.is_err() {
                break;
            }
        }
        Ok(count)
    }

    async fn broadcast(&self, message: String) -> usize {
        self.connections
            .broadcast("message", [&message])
            .await
            .unwrap_or(0)
    }

    async fn subscribe_ticks(
        &self,
        interval_ms: u64,
        count: Option<u64>,
    ) -> Result<Subscription<u64>, CalcError> {
        if interval_ms == 0 || interval_ms > 3_600_000 {
            return Err(CalcError::OutOfRange(
                "interval_ms must be between 1 and 3600000".into(),
            ));
        }
        let period = Duration::from_millis(interval_ms);
        let ticks = futures_util::stream::unfold(0u64, move |i| async move {
            if i > 0 {
                tokio::time::sleep(period).await;
            }
            Some((i, i + 1))
        });
        Ok(match count {
            Some(count) => {
                Subscription::new(ticks.take(usize::try_from(count).unwrap_or(usize::MAX)))
            }
            None => Subscription::new(ticks),
        })
    }

    async fn subscribe_topic(
        &self,
        topic: String,
        since: Option<String>,
        ctx: rpc::Context,
    ) -> Result<Subscription<Value>, CalcError> {
        // An event stream that reconnects says where it was in its header.
        let since = since.as_deref().or(ctx.last_event_id());
        self.topics
            .subscribe_since(&topic, since)
            .map_err(|refused| CalcError::OutOfRange(refused.message.into_owned()))
    }

    async fn publish(&self, topic: String, message: Value) -> u64 {
        // Also to the other instances, with a backplane.
        self.topics.publish(&topic, &message)
    }

    async fn stats(&self, values: Vec<f64>) -> Stats {
        let count = values.len() as u64;
        let fold = |pick: fn(f64, f64) -> f64| values.iter().copied().reduce(pick);
        Stats {
            count,
            mean: (count > 0).then(|| values.iter().sum::<f64>() / count as f64),
            min: fold(f64::min),
            max: fold(f64::max),
        }
    }

    async fn area(&self, shape: Shape) -> f64 {
        match shape {
            Shape::Circle { radius } => std::f64::consts::PI * radius * radius,
            Shape::Rect { width, height } => width * height,
        }
    }
}

/// The [`Math`] service.
pub(crate) struct Multiplier;

impl Math for Multiplier {
    async fn multiply(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_mul(b).ok_or(CalcError::Overflow)
    }
}

/// The `call` command's side of [`Events`]: each notification on stderr.
pub(crate) struct PrintEvents;

impl Events for PrintEvents {
    async fn tick(&self, i: u64) {
        eprintln!("notification tick [{i}]");
    }

    async fn message(&self, message: String) {
        eprintln!("notification message [{message:?}]");
    }
}

/// The [`Admin`] service.
pub(crate) struct Administration {
    /// The open duplex connections.
    pub connections: Connections,
    /// Handler futures alive, counted by the serve command's middleware.
    pub active: Arc<AtomicU64>,
}

impl Admin for Administration {
    async fn connections(&self) -> u64 {
        self.connections.len() as u64
    }

    async fn active_calls(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }
}
