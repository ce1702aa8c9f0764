//! The JSON-RPC 2.0 rules most libraries get wrong, one test per rule, through
//! `Dispatcher::handle`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{call, error_code, error_message, send, spec_methods, Calls};
use rpc_core::{code, Context, Dispatcher, ErrorObject, Limits, MethodInfo, MethodTable, Params};
use serde_json::{json, Value};
use tokio::sync::{Barrier, Notify};
use tokio::time::timeout;

fn dispatcher() -> Dispatcher {
    Dispatcher::new(spec_methods(&Calls::default()))
}

/// A request text for `method` with the given raw `params` and `id` texts.
fn request(method: &str, params: &str, id: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params},"id":{id}}}"#)
}

/// Fails the test instead of hanging when `handle` never finishes.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    timeout(Duration::from_secs(10), future)
        .await
        .expect("handle did not finish within 10 s")
}

#[tokio::test]
async fn ids_of_every_kind_are_echoed_byte_for_byte() {
    let d = dispatcher();
    for id in [
        r#""abc""#,
        r#""""#,
        r#""a\"b\u00e9\n""#,
        "0",
        "-7",
        "-0.5",
        "1.5e300",
        "1.5E+300",
        "-0.0",
        "1.50",
        "9007199254740993",
        "123456789012345678901234567890",
        "-123456789012345678901234567890.000001",
        "1e400",
    ] {
        // Once with a result and once with an error, both must echo it.
        for (method, params) in [("subtract", "[3,1]"), ("nope", "[]")] {
            let out = send(&d, &request(method, params, id)).await.unwrap();
            assert!(
                out.ends_with(&format!(r#","id":{id}}}"#)),
                "id {id} not echoed exactly: {out}"
            );
        }
    }
    // Whitespace around the id is not part of it.
    let out = send(
        &d,
        r#"{"jsonrpc":"2.0","method":"subtract","params":[3,1],"id" :   1.250e-3 }"#,
    )
    .await
    .unwrap();
    assert_eq!(out, r#"{"jsonrpc":"2.0","result":2,"id":1.250e-3}"#);
}

#[tokio::test]
async fn null_id_is_a_request_and_is_answered() {
    let d = dispatcher();
    let out = call(&d, &request("subtract", "[3,1]", "null")).await;
    assert_eq!(out, Some(json!({"jsonrpc":"2.0","result":2,"id":null})));
    let out = call(&d, &request("missing", "[]", "null")).await.unwrap();
    assert_eq!(error_code(&out), code::METHOD_NOT_FOUND);
    assert_eq!(out["id"], Value::Null);
    // Without an id at all it is a notification.
    let body = r#"{"jsonrpc":"2.0","method":"subtract","params":[3,1]}"#;
    assert_eq!(send(&d, body).await, None);
}

#[tokio::test]
async fn object_array_and_boolean_ids_make_the_request_invalid() {
    let d = dispatcher();
    for id in ["{}", r#"{"a":1}"#, "[]", "[1]", "true", "false"] {
        let out = call(&d, &request("subtract", "[3,1]", id)).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_REQUEST, "id {id}: {out}");
        assert_eq!(out["id"], Value::Null, "an invalid id is not echoed: {out}");
        assert!(out.get("result").is_none());
    }
}

#[tokio::test]
async fn json_bodies_that_are_not_objects_or_arrays_are_invalid_requests() {
    let d = dispatcher();
    for body in ["42", "\"x\"", "null", "true", "-1.5", " \n 42 \t"] {
        let out = call(&d, body).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_REQUEST, "{body:?}: {out}");
        assert_eq!(out["id"], Value::Null);
    }
    // ... whereas bodies that are not JSON at all are parse errors.
    for body in ["", "   ", "4 2", "\"x", "nul", "{", "[", "]", "x"] {
        let out = call(&d, body).await.unwrap();
        assert_eq!(error_code(&out), code::PARSE_ERROR, "{body:?}: {out}");
        assert!(error_message(&out).starts_with("Parse error"), "{out}");
    }
}

#[tokio::test]
async fn params_that_are_neither_array_nor_object_are_invalid_requests() {
    let d = dispatcher();
    for params in ["\"x\"", "3", "true", "null"] {
        let out = call(&d, &request("subtract", params, "7")).await.unwrap();
        assert_eq!(
            error_code(&out),
            code::INVALID_REQUEST,
            "params {params}: {out}"
        );
        assert_eq!(out["id"], json!(7), "the id is still echoed: {out}");
    }
}

#[tokio::test]
async fn missing_params_empty_array_and_empty_object_all_mean_no_params() {
    let d = dispatcher();
    let bodies = [
        r#"{"jsonrpc":"2.0","method":"get_data","id":1}"#.to_owned(),
        request("get_data", "[]", "1"),
        request("get_data", "{}", "1"),
        request("get_data", " [ ] ", "1"),
    ];
    for body in &bodies {
        let out = call(&d, body).await;
        assert_eq!(
            out,
            Some(json!({"jsonrpc":"2.0","result":["hello",5],"id":1})),
            "{body}"
        );
    }
    // A method with a required parameter reports it missing in all three forms.
    for params in [None, Some("[]"), Some("{}")] {
        let body = match params {
            None => r#"{"jsonrpc":"2.0","method":"echo","id":1}"#.to_owned(),
            Some(p) => request("echo", p, "1"),
        };
        let out = call(&d, &body).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_PARAMS, "{body}: {out}");
        assert!(error_message(&out).contains("`value`"), "{out}");
    }
}

#[tokio::test]
async fn too_many_positional_params_is_invalid_params() {
    let d = dispatcher();
    let out = call(&d, &request("subtract", "[1,2,3]", "1"))
        .await
        .unwrap();
    assert_eq!(error_code(&out), code::INVALID_PARAMS, "{out}");
    let message = error_message(&out);
    assert!(message.starts_with("Invalid params"), "{message}");
    assert!(
        message.contains("too many") && message.contains('2') && message.contains('3'),
        "the message should say how many were expected and given: {message}"
    );
    // Any value counts, even a trailing null.
    let out = call(&d, &request("get_data", "[null]", "1")).await.unwrap();
    assert_eq!(error_code(&out), code::INVALID_PARAMS, "{out}");
}

#[tokio::test]
async fn unknown_named_param_is_invalid_params_naming_it() {
    let d = dispatcher();
    let out = call(
        &d,
        &request("subtract", r#"{"minuend":1,"subtrahend":2,"extra":3}"#, "1"),
    )
    .await
    .unwrap();
    assert_eq!(error_code(&out), code::INVALID_PARAMS, "{out}");
    assert!(error_message(&out).contains("`extra`"), "{out}");
}

#[tokio::test]
async fn missing_required_param_is_invalid_params_naming_it() {
    let d = dispatcher();
    for params in [
        "[5]",
        r#"{"minuend":5}"#,
        r#"{"minuend":5,"subtrahend":null}"#,
    ] {
        let out = call(&d, &request("subtract", params, "1")).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_PARAMS, "{params}: {out}");
        assert!(
            error_message(&out).contains("`subtrahend`"),
            "{params}: {out}"
        );
    }
    let out = call(&d, &request("subtract", r#"{"subtrahend":5}"#, "1"))
        .await
        .unwrap();
    assert!(error_message(&out).contains("`minuend`"), "{out}");
}

#[tokio::test]
async fn wrong_param_type_is_invalid_params_naming_it() {
    let d = dispatcher();
    for (params, name) in [
        (r#"["x", 1]"#, "`minuend`"),
        (r#"[1, 2.5]"#, "`subtrahend`"),
        (r#"{"subtrahend":[1],"minuend":1}"#, "`subtrahend`"),
        (r#"[99999999999999999999, 1]"#, "`minuend`"),
    ] {
        let out = call(&d, &request("subtract", params, "1")).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_PARAMS, "{params}: {out}");
        assert!(error_message(&out).contains(name), "{params}: {out}");
    }
}

#[tokio::test]
async fn trailing_optional_param_may_be_omitted_or_null() {
    let d = dispatcher();
    for params in [
        r#"["Ada"]"#,
        r#"["Ada", null]"#,
        r#"{"name":"Ada"}"#,
        r#"{"name":"Ada","title":null}"#,
    ] {
        let out = call(&d, &request("greet", params, "1")).await.unwrap();
        assert_eq!(out["result"], json!("Hello, Ada!"), "{params}: {out}");
    }
    for params in [r#"["Ada", "Dr"]"#, r#"{"title":"Dr","name":"Ada"}"#] {
        let out = call(&d, &request("greet", params, "1")).await.unwrap();
        assert_eq!(out["result"], json!("Hello, Dr Ada!"), "{params}: {out}");
    }
    let out = call(&d, &request("greet", "[\"Ada\", 5]", "1"))
        .await
        .unwrap();
    assert_eq!(error_code(&out), code::INVALID_PARAMS);
    assert!(error_message(&out).contains("`title`"), "{out}");
}

#[tokio::test]
async fn method_names_are_case_sensitive() {
    let d = dispatcher();
    for method in ["Subtract", "SUBTRACT", "subtracT", " subtract", "subtract "] {
        let out = call(&d, &request(method, "[3,1]", "1")).await.unwrap();
        assert_eq!(
            error_code(&out),
            code::METHOD_NOT_FOUND,
            "{method:?}: {out}"
        );
    }
    let out = call(&d, &request("subtract", "[3,1]", "1")).await.unwrap();
    assert_eq!(out["result"], json!(2));
}

#[tokio::test]
async fn rpc_discover_returns_an_openrpc_document_of_registered_methods() {
    let d = dispatcher();
    for body in [
        r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#.to_owned(),
        request("rpc.discover", "[]", "1"),
    ] {
        let out = call(&d, &body).await.unwrap();
        let doc = &out["result"];
        assert!(doc["openrpc"].is_string(), "{out}");
        assert!(doc["info"]["title"].is_string(), "{out}");
        let names: Vec<&str> = doc["methods"]
            .as_array()
            .unwrap_or_else(|| panic!("no methods: {out}"))
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "subtract",
                "sum",
                "update",
                "get_data",
                "notify_hello",
                "notify_sum",
                "echo",
                "greet"
            ]
        );
    }
    // The reserved prefix is case-sensitive too, and other rpc. names do not exist.
    for method in ["RPC.discover", "rpc.other"] {
        let out = call(&d, &request(method, "[]", "1")).await.unwrap();
        assert_eq!(error_code(&out), code::METHOD_NOT_FOUND, "{method}");
    }
}

fn panicking_methods() -> MethodTable {
    let mut t = spec_methods(&Calls::default());
    t.register(
        MethodInfo::named("panic_async"),
        |_: Params<'_>, _: &Context| {
            Ok(async {
                tokio::task::yield_now().await;
                if std::hint::black_box(true) {
                    panic!("boom inside the future");
                }
                Ok::<_, ErrorObject>(0)
            })
        },
    )
    .unwrap();
    t.register(
        MethodInfo::named("panic_decode"),
        |params: Params<'_>, _: &Context| {
            let _ = params.decoder(&[])?;
            if std::hint::black_box(true) {
                panic!("boom while decoding");
            }
            Ok(async { Ok::<_, ErrorObject>(0) })
        },
    )
    .unwrap();
    t
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_request() {
    let d = Dispatcher::new(panicking_methods());
    for method in ["panic_async", "panic_decode"] {
        let single = call(&d, &request(method, "[]", "1")).await.unwrap();
        assert_eq!(error_code(&single), code::INTERNAL_ERROR, "{single}");
        assert_eq!(single["id"], json!(1));

        let body = format!(
            "[{},{},{}]",
            request("subtract", "[5,2]", "\"a\""),
            request(method, "[]", "\"b\""),
            request("sum", "[1,2,3]", "\"c\""),
        );
        let out = call(&d, &body).await.unwrap();
        assert_eq!(
            out[0],
            json!({"jsonrpc":"2.0","result":3,"id":"a"}),
            "{out}"
        );
        assert_eq!(error_code(&out[1]), code::INTERNAL_ERROR, "{out}");
        assert_eq!(out[1]["id"], json!("b"));
        assert_eq!(
            out[2],
            json!({"jsonrpc":"2.0","result":6,"id":"c"}),
            "{out}"
        );
        assert_eq!(out.as_array().unwrap().len(), 3);

        // A panicking notification is silent.
        let note = format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#);
        assert_eq!(send(&d, &note).await, None);
    }
    // And the dispatcher keeps serving.
    let out = call(&d, &request("subtract", "[5,2]", "1")).await.unwrap();
    assert_eq!(out["result"], json!(3));
}

#[tokio::test]
async fn batch_members_run_concurrently() {
    let mut t = MethodTable::new();
    let barrier = Arc::new(Barrier::new(2));
    t.register(
        MethodInfo::named("rendezvous"),
        move |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["who"])?;
            let who: String = p.required(0)?;
            let barrier = barrier.clone();
            Ok(async move {
                // Each member waits for the other: sequential execution deadlocks.
                barrier.wait().await;
                Ok::<_, ErrorObject>(who)
            })
        },
    )
    .unwrap();
    let d = Dispatcher::new(t);
    let body = format!(
        "[{},{}]",
        request("rendezvous", r#"["x"]"#, "1"),
        request("rendezvous", r#"["y"]"#, "2"),
    );
    let out = within(call(&d, &body)).await.unwrap();
    assert_eq!(
        out,
        json!([
            {"jsonrpc":"2.0","result":"x","id":1},
            {"jsonrpc":"2.0","result":"y","id":2}
        ])
    );
}

#[tokio::test]
async fn batch_answers_keep_request_order_when_later_members_finish_first() {
    let calls = Calls::default();
    let mut t = MethodTable::new();
    let second_done = Arc::new(Notify::new());
    let (log, done) = (calls.clone(), second_done.clone());
    t.register(
        MethodInfo::named("first"),
        move |_: Params<'_>, _: &Context| {
            let (log, done) = (log.clone(), done.clone());
            Ok(async move {
                done.notified().await; // finishes only after `second`
                log.push("first".into());
                Ok::<_, ErrorObject>("first")
            })
        },
    )
    .unwrap();
    let (log, done) = (calls.clone(), second_done);
    t.register(
        MethodInfo::named("second"),
        move |_: Params<'_>, _: &Context| {
            let (log, done) = (log.clone(), done.clone());
            Ok(async move {
                log.push("second".into());
                done.notify_one();
                Ok::<_, ErrorObject>("second")
            })
        },
    )
    .unwrap();
    let d = Dispatcher::new(t);
    let body = format!(
        "[{},{},{}]",
        request("first", "[]", "1"),
        r#"{"jsonrpc":"2.0","method":"nope"}"#,
        request("second", "[]", "2"),
    );
    let out = within(call(&d, &body)).await.unwrap();
    assert_eq!(calls.take(), ["second", "first"], "completion order");
    assert_eq!(
        out,
        json!([
            {"jsonrpc":"2.0","result":"first","id":1},
            {"jsonrpc":"2.0","result":"second","id":2}
        ])
    );
}

#[tokio::test]
async fn batch_over_max_batch_len_is_one_error() {
    let calls = Calls::default();
    let d = Dispatcher::new(spec_methods(&calls)).with_limits(Limits {
        max_batch_len: 3,
        ..Limits::default()
    });
    let member = r#"{"jsonrpc":"2.0","method":"notify_hello","params":[1],"id":1}"#;
    let at_limit = format!("[{member},{member},{member}]");
    let out = call(&d, &at_limit).await.unwrap();
    assert_eq!(out.as_array().map(Vec::len), Some(3), "{out}");
    calls.take();

    let over = format!("[{member},{member},{member},{member}]");
    let out = call(&d, &over).await.unwrap();
    assert!(out.is_object(), "one error, not a batch answer: {out}");
    assert_eq!(error_code(&out), code::REQUEST_TOO_LARGE, "{out}");
    assert_eq!(out["id"], Value::Null);
    assert!(error_message(&out).contains('3'), "names the limit: {out}");
    assert!(
        calls.take().is_empty(),
        "no member of a rejected batch runs"
    );
}

#[tokio::test]
async fn params_nested_past_the_decoders_limit_are_invalid_params_naming_the_parameter() {
    let d = Dispatcher::new(spec_methods(&Calls::default()));
    let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    // Deep, but within serde_json's 128 levels: echoed as sent.
    let ok = call(&d, &request("echo", &format!("[{}]", nested(100)), "1"))
        .await
        .unwrap();
    assert_eq!(
        ok["result"],
        serde_json::from_str::<Value>(&nested(100)).unwrap()
    );
    // Far deeper: the call is refused, the server goes on, and nothing
    // recursed on the way (the parser keeps params raw).
    for levels in [200, 100_000] {
        let deep = call(&d, &request("echo", &format!("[{}]", nested(levels)), "1"))
            .await
            .unwrap();
        assert_eq!(error_code(&deep), code::INVALID_PARAMS, "{levels}");
        assert_eq!(deep["id"], 1);
        assert!(
            error_message(&deep).contains("value"),
            "names the parameter: {deep}"
        );
    }
    // Brackets inside strings are not nesting.
    let text = format!("\"{}\"", "[{".repeat(100));
    let out = call(&d, &request("echo", &format!("[{text}]"), "1"))
        .await
        .unwrap();
    assert!(out["result"].is_string(), "{out}");
}

#[tokio::test]
async fn a_batch_of_deeply_nested_arrays_answers_each_member_invalid() {
    let d = dispatcher();
    for levels in [65, 200, 10_000] {
        let batch = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let out = call(&d, &batch).await.unwrap();
        let members = out.as_array().expect("a batch answer");
        assert_eq!(members.len(), 1, "{levels}");
        assert_eq!(error_code(&members[0]), code::INVALID_REQUEST, "{levels}");
    }
}

#[tokio::test]
async fn hundred_thousand_open_brackets_do_not_overflow_the_stack() {
    let d = dispatcher();
    let body = "[".repeat(100_000);
    let out = call(&d, &body).await.unwrap();
    assert_eq!(error_code(&out), code::PARSE_ERROR, "{out}");
    let body = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{body}"#);
    let out = call(&d, &body).await.unwrap();
    assert_eq!(error_code(&out), code::PARSE_ERROR, "{out}");
    let body = r#"{"a":"#.repeat(100_000);
    let out = call(&d, &body).await.unwrap();
    assert_eq!(error_code(&out), code::PARSE_ERROR, "{out}");
}

#[tokio::test]
async fn request_timeout_answers_the_timeout_code() {
    let mut t = spec_methods(&Calls::default());
    t.register(
        MethodInfo::named("sleep"),
        |params: Params<'_>, _: &Context| {
            let mut p = params.decoder(&["ms"])?;
            let ms: u64 = p.required(0)?;
            Ok(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, ErrorObject>(ms)
            })
        },
    )
    .unwrap();
    let d = Dispatcher::new(t).with_limits(Limits {
        request_timeout: Some(Duration::from_millis(100)),
        ..Limits::default()
    });
    let body = format!(
        "[{},{}]",
        request("sleep", "[60000]", "1"),
        request("sleep", "[0]", "2"),
    );
    let out = within(call(&d, &body)).await.unwrap();
    assert_eq!(error_code(&out[0]), code::REQUEST_TIMEOUT, "{out}");
    assert_eq!(out[0]["id"], json!(1));
    assert_eq!(out[1], json!({"jsonrpc":"2.0","result":0,"id":2}), "{out}");
}

#[tokio::test]
async fn failing_notifications_get_no_response() {
    let calls = Calls::default();
    let mut t = spec_methods(&calls);
    t.register(MethodInfo::named("fail"), |_: Params<'_>, _: &Context| {
        Ok(async { Err::<(), _>(ErrorObject::new(-32000, "application error")) })
    })
    .unwrap();
    let d = Dispatcher::new(t);
    let notifications = [
        r#"{"jsonrpc":"2.0","method":"nope"}"#,
        r#"{"jsonrpc":"2.0","method":"fail"}"#,
        r#"{"jsonrpc":"2.0","method":"subtract","params":[1]}"#,
        r#"{"jsonrpc":"2.0","method":"subtract","params":["a","b"]}"#,
        r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2,3]}"#,
        r#"{"jsonrpc":"2.0","method":"notify_hello","params":{"m":1}}"#,
    ];
    for n in notifications {
        assert_eq!(send(&d, n).await, None, "{n}");
    }
    assert_eq!(
        send(&d, &format!("[{}]", notifications.join(","))).await,
        None
    );
    // In a mixed batch only the request is answered.
    let body = format!(
        "[{},{},{}]",
        notifications[0],
        request("subtract", "[2,1]", "1"),
        notifications[1]
    );
    let out = call(&d, &body).await.unwrap();
    assert_eq!(out, json!([{"jsonrpc":"2.0","result":1,"id":1}]));
    assert!(calls.take().is_empty());
}

#[tokio::test]
async fn application_errors_keep_their_code_message_and_data() {
    let mut t = MethodTable::new();
    t.register(MethodInfo::named("fail"), |_: Params<'_>, _: &Context| {
        Ok(async {
            Err::<(), _>(ErrorObject::new(-32000, "Division by zero").with_data(json!({"b": 0})))
        })
    })
    .unwrap();
    let d = Dispatcher::new(t);
    let out = call(&d, &request("fail", "[]", "\"x\"")).await;
    assert_eq!(
        out,
        Some(json!({
            "jsonrpc":"2.0",
            "error":{"code":-32000,"message":"Division by zero","data":{"b":0}},
            "id":"x"
        }))
    );
}

#[tokio::test]
async fn jsonrpc_member_must_be_exactly_2_0() {
    let d = dispatcher();
    for jsonrpc in [
        None,
        Some("\"1.0\""),
        Some("2.0"),
        Some("\"2.0 \""),
        Some("null"),
    ] {
        let body = match jsonrpc {
            Some(v) => format!(r#"{{"jsonrpc":{v},"method":"subtract","params":[2,1],"id":5}}"#),
            None => r#"{"method":"subtract","params":[2,1],"id":5}"#.to_owned(),
        };
        let out = call(&d, &body).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_REQUEST, "{body}: {out}");
        assert_eq!(out["id"], json!(5), "{out}");
    }
    // An escaped "2.0" is still "2.0".
    let body = r#"{"jsonrpc":"\u0032.0","method":"subtract","params":[2,1],"id":5}"#;
    let out = call(&d, body).await.unwrap();
    assert_eq!(out["result"], json!(1), "{out}");
}

#[tokio::test]
async fn method_must_be_a_string() {
    let d = dispatcher();
    for method in ["1", "null", "[\"subtract\"]", "{}"] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":{method},"id":5}}"#);
        let out = call(&d, &body).await.unwrap();
        assert_eq!(error_code(&out), code::INVALID_REQUEST, "{body}: {out}");
    }
    let out = call(&d, r#"{"jsonrpc":"2.0","id":5}"#).await.unwrap();
    assert_eq!(error_code(&out), code::INVALID_REQUEST, "{out}");
}
