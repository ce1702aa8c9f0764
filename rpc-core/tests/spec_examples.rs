//! Every example exchange of the JSON-RPC 2.0 specification, section 7
//! (<https://www.jsonrpc.org/specification#examples>), with the request text
//! copied verbatim.
//!
//! Answers are compared as parsed JSON (member order is free). Where the
//! specification's `message` is just the standard name ("Parse error", ...)
//! ours may add a detail after it, so only that prefix is checked; codes, ids,
//! results and batch order must match exactly.

mod common;

use common::{send, spec_methods, Calls};
use rpc_core::Dispatcher;
use serde_json::Value;

fn dispatcher() -> (Dispatcher, Calls) {
    let calls = Calls::default();
    (Dispatcher::new(spec_methods(&calls)), calls)
}

/// Asserts that `actual` answers like `expected` (the specification's text).
fn assert_answer(actual: Option<String>, expected: &str) {
    let text = actual.unwrap_or_else(|| panic!("no answer; expected {expected}"));
    let mut actual: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text}"));
    let expected: Value = serde_json::from_str(expected).expect("the expected text is JSON");
    match (&mut actual, &expected) {
        (Value::Array(got), Value::Array(want)) => {
            assert_eq!(got.len(), want.len(), "batch length: {text}");
            for (got, want) in got.iter_mut().zip(want) {
                accept_detailed_message(got, want);
            }
        }
        (got, want) => accept_detailed_message(got, want),
    }
    assert_eq!(actual, expected, "answer was: {text}");
}

/// Replaces our message by the specification's when ours starts with it.
fn accept_detailed_message(got: &mut Value, want: &Value) {
    let (Some(want), Some(got)) = (
        want.pointer("/error/message").and_then(Value::as_str),
        got.pointer_mut("/error/message"),
    ) else {
        return;
    };
    let ours = got.as_str().expect("message is a string");
    assert!(
        ours.starts_with(want),
        "message {ours:?} does not start with {want:?}"
    );
    *got = Value::from(want);
}

#[tokio::test]
async fn rpc_call_with_positional_parameters() {
    let (d, _) = dispatcher();
    assert_answer(
        send(
            &d,
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
        )
        .await,
        r#"{"jsonrpc": "2.0", "result": 19, "id": 1}"#,
    );
    assert_answer(
        send(
            &d,
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#,
        )
        .await,
        r#"{"jsonrpc": "2.0", "result": -19, "id": 2}"#,
    );
}

#[tokio::test]
async fn rpc_call_with_named_parameters_in_either_order() {
    let (d, _) = dispatcher();
    assert_answer(
        send(
            &d,
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
        )
        .await,
        r#"{"jsonrpc": "2.0", "result": 19, "id": 3}"#,
    );
    assert_answer(
        send(
            &d,
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#,
        )
        .await,
        r#"{"jsonrpc": "2.0", "result": 19, "id": 4}"#,
    );
}

#[tokio::test]
async fn notifications_run_and_are_not_answered() {
    let (d, calls) = dispatcher();
    let out = send(
        &d,
        r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
    )
    .await;
    assert_eq!(out, None);
    assert_eq!(calls.take(), ["update[1, 2, 3, 4, 5]"]);
    // `foobar` does not exist: still a notification, still no answer.
    assert_eq!(
        send(&d, r#"{"jsonrpc": "2.0", "method": "foobar"}"#).await,
        None
    );
}

#[tokio::test]
async fn rpc_call_of_non_existent_method() {
    let (d, _) = dispatcher();
    assert_answer(
        send(&d, r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#).await,
        r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}"#,
    );
}

#[tokio::test]
async fn rpc_call_with_invalid_json() {
    let (d, _) = dispatcher();
    assert_answer(
        send(
            &d,
            r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
        )
        .await,
        r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
    );
}

#[tokio::test]
async fn rpc_call_with_invalid_request_object() {
    let (d, _) = dispatcher();
    assert_answer(
        send(&d, r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#).await,
        r#"{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}"#,
    );
}

#[tokio::test]
async fn rpc_call_batch_with_invalid_json() {
    let (d, calls) = dispatcher();
    assert_answer(
        send(
            &d,
            r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
        )
        .await,
        r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
    );
    assert!(calls.take().is_empty(), "nothing may run");
}

#[tokio::test]
async fn rpc_call_with_an_empty_array() {
    let (d, _) = dispatcher();
    assert_answer(
        send(&d, r#"[]"#).await,
        r#"{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}"#,
    );
}

#[tokio::test]
async fn rpc_call_with_an_invalid_batch_but_not_empty() {
    let (d, _) = dispatcher();
    assert_answer(
        send(&d, r#"[1]"#).await,
        r#"[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]"#,
    );
}

#[tokio::test]
async fn rpc_call_with_an_invalid_batch() {
    let (d, _) = dispatcher();
    assert_answer(
        send(&d, r#"[1,2,3]"#).await,
        r#"[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]"#,
    );
}

#[tokio::test]
async fn rpc_call_batch() {
    let (d, calls) = dispatcher();
    assert_answer(
        send(
            &d,
            r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"} 
    ]"#,
        )
        .await,
        r#"[
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ]"#,
    );
    assert_eq!(calls.take(), ["notify_hello(7)"]);
}

#[tokio::test]
async fn rpc_call_batch_all_notifications() {
    let (d, calls) = dispatcher();
    let out = send(
        &d,
        r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#,
    )
    .await;
    assert_eq!(
        out, None,
        "nothing is returned for all-notification batches"
    );
    let mut ran = calls.take();
    ran.sort();
    assert_eq!(ran, ["notify_hello(7)", "notify_sum(7)"]);
}
