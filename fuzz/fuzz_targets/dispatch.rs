//! The dispatcher end to end: any bytes as a message (single, batch,
//! notification, response) against a few typed methods. Every answer must
//! be JSON; nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_core::{Context, Dispatcher, ErrorObject};
use serde_json::Value;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Point {
    x: i64,
    y: Option<f64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Shape {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

#[rpc_macros::rpc(crate = "rpc_core")]
trait Service {
    async fn add(&self, a: i64, b: i64) -> Result<i64, ErrorObject>;
    async fn echo(&self, value: Value) -> Value;
    async fn greet(&self, name: String, title: Option<String>) -> String;
    async fn shift(&self, point: Point, by: (i64, i64)) -> Point;
    async fn area(&self, shape: Shape) -> f64;
    async fn many(&self, values: Vec<u8>, names: std::collections::HashMap<String, bool>) -> usize;
    #[rpc(notification)]
    async fn note(&self, text: String);
}

struct Impl;

impl Service for Impl {
    async fn add(&self, a: i64, b: i64) -> Result<i64, ErrorObject> {
        a.checked_add(b)
            .ok_or_else(|| ErrorObject::new(-32003, "overflow"))
    }
    async fn echo(&self, value: Value) -> Value {
        value
    }
    async fn greet(&self, name: String, title: Option<String>) -> String {
        format!("{} {name}", title.unwrap_or_default())
    }
    async fn shift(&self, point: Point, by: (i64, i64)) -> Point {
        Point {
            x: point.x.wrapping_add(by.0),
            y: point.y.map(|y| y + by.1 as f64),
        }
    }
    async fn area(&self, shape: Shape) -> f64 {
        match shape {
            Shape::Circle { radius } => radius * radius,
            Shape::Rect { width, height } => width * height,
        }
    }
    async fn many(&self, values: Vec<u8>, names: std::collections::HashMap<String, bool>) -> usize {
        values.len() + names.len()
    }
    async fn note(&self, _text: String) {}
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    static DISPATCHER: Dispatcher = Dispatcher::new(Impl.into_rpc());
}

fuzz_target!(|data: &[u8]| {
    let answer = DISPATCHER.with(|dispatcher| {
        RUNTIME.with(|runtime| runtime.block_on(dispatcher.handle(data, &Context::new())))
    });
    if let Some(answer) = answer {
        // Syntax only: an id is echoed as sent, and JSON's grammar allows a
        // lone surrogate escape (`"\uD800"`) that `Value` cannot hold.
        let parsed: Result<serde::de::IgnoredAny, _> = serde_json::from_slice(&answer);
        assert!(
            parsed.is_ok(),
            "an answer that is not JSON: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
});
