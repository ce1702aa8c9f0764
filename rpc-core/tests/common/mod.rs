//! Methods and helpers shared by the integration tests.
//!
//! Each test crate uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use rpc_core::{Context, Dispatcher, ErrorObject, MethodInfo, MethodTable, Params};
use serde_json::Value;

/// The calls that handlers recorded, in the order they ran (so that tests can
/// prove a notification was executed although nothing was answered).
#[derive(Clone, Default)]
pub(crate) struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    pub(crate) fn push(&self, call: String) {
        self.0.lock().unwrap().push(call);
    }

    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The example methods of the JSON-RPC 2.0 specification, registered by
/// hand: `subtract`, `sum`, `update`, `get_data`, `notify_hello`,
/// `notify_sum`, plus `echo(value)` and `greet(name, title?)`.
pub(crate) fn spec_methods(calls: &Calls) -> MethodTable {
    let mut t = MethodTable::new();
    t.register(
        MethodInfo::named("subtract"),
        |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["minuend", "subtrahend"])?;
            let minuend: i64 = p.required(0)?;
            let subtrahend: i64 = p.required(1)?;
            Ok(async move { Ok::<_, ErrorObject>(minuend - subtrahend) })
        },
    )
    .unwrap();
    t.register(
        MethodInfo::named("sum"),
        |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["a", "b", "c"])?;
            let (a, b, c): (i64, i64, i64) = (p.required(0)?, p.required(1)?, p.required(2)?);
            Ok(async move { Ok::<_, ErrorObject>(a + b + c) })
        },
    )
    .unwrap();
    let log = calls.clone();
    t.register(
        MethodInfo::named("update"),
        move |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["a", "b", "c", "d", "e"])?;
            let mut args = Vec::new();
            for i in 0..5 {
                args.push(p.required::<i64>(i)?);
            }
            let log = log.clone();
            Ok(async move {
                log.push(format!("update{args:?}"));
                Ok::<_, ErrorObject>(())
            })
        },
    )
    .unwrap();
    t.register(
        MethodInfo::named("get_data"),
        |params: Params<'_>, _: &Context| {
            params.decoder(&[])?;
            Ok(async { Ok::<_, ErrorObject>(serde_json::json!(["hello", 5])) })
        },
    )
    .unwrap();
    let log = calls.clone();
    t.register(
        MethodInfo::named("notify_hello"),
        move |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["n"])?;
            let n: i64 = p.required(0)?;
            let log = log.clone();
            Ok(async move {
                log.push(format!("notify_hello({n})"));
                Ok::<_, ErrorObject>(())
            })
        },
    )
    .unwrap();
    let log = calls.clone();
    t.register(
        MethodInfo::named("notify_sum"),
        move |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["a", "b", "c"])?;
            let (a, b, c): (i64, i64, i64) = (p.required(0)?, p.required(1)?, p.required(2)?);
            let log = log.clone();
            Ok(async move {
                log.push(format!("notify_sum({})", a + b + c));
                Ok::<_, ErrorObject>(())
            })
        },
    )
    .unwrap();
    t.register(
        MethodInfo::named("echo"),
        |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["value"])?;
            let value: Value = p.required(0)?;
            Ok(async move { Ok::<_, ErrorObject>(value) })
        },
    )
    .unwrap();
    t.register(
        MethodInfo::named("greet"),
        |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["name", "title"])?;
            let name: String = p.required(0)?;
            let title: Option<String> = p.optional(1)?;
            Ok(async move {
                Ok::<_, ErrorObject>(match title {
                    Some(title) => format!("Hello, {title} {name}!"),
                    None => format!("Hello, {name}!"),
                })
            })
        },
    )
    .unwrap();
    t
}

/// Sends `body` and returns the raw answer as text (`None`: no answer).
pub(crate) async fn send(dispatcher: &Dispatcher, body: &str) -> Option<String> {
    dispatcher
        .handle(body.as_bytes(), &Context::new())
        .await
        .map(|bytes| String::from_utf8(bytes).expect("answers are UTF-8"))
}

/// Sends `body` and parses the answer, which must be valid JSON.
pub(crate) async fn call(dispatcher: &Dispatcher, body: &str) -> Option<Value> {
    send(dispatcher, body).await.map(|text| {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text}"))
    })
}

/// The `error.code` of a single response object.
pub(crate) fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error response: {response}"))
}

/// The `error.message` of a single response object.
pub(crate) fn error_message(response: &Value) -> &str {
    response["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error without a message: {response}"))
}
