//! Property tests: whatever bytes arrive, `Dispatcher::handle` does not panic,
//! and whatever it sends back is a well-formed JSON-RPC answer.

mod common;

use common::{spec_methods, Calls};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rpc_core::{Context, Dispatcher};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    static DISPATCHER: Dispatcher = Dispatcher::new(spec_methods(&Calls::default()));
}

fn handle(body: &[u8]) -> Option<Vec<u8>> {
    DISPATCHER.with(|d| RUNTIME.with(|rt| rt.block_on(d.handle(body, &Context::new()))))
}

/// A response object; members stay raw so that any JSON number (an id of
/// `1e400`, say) is accepted as it was echoed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Response<'a> {
    jsonrpc: &'a str,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    id: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorMember<'a> {
    code: i64,
    #[allow(dead_code)]
    message: String,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    data: Option<&'a RawValue>,
}

/// Tells `"result": null` (present, Some) from a missing member (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Checks one answer: valid JSON, and a response object or a non-empty array
/// of them, each with `jsonrpc: "2.0"`, an id, and exactly one of
/// result/error. Returns the responses' raw ids.
fn check_answer(answer: &[u8]) -> Result<Vec<String>, TestCaseError> {
    let text = std::str::from_utf8(answer)
        .map_err(|e| TestCaseError::fail(format!("answer is not UTF-8: {e}")))?;
    let fail = |why: String| TestCaseError::fail(format!("{why}; answer: {text}"));
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| fail(format!("not JSON: {e}")))?;
    let members: Vec<&RawValue> = match text.as_bytes().first() {
        Some(b'{') => vec![serde_json::from_str(text).unwrap()],
        Some(b'[') => serde_json::from_str(text).unwrap(),
        _ => return Err(fail("neither an object nor an array".into())),
    };
    if members.is_empty() {
        return Err(fail("an empty batch answer".into()));
    }
    let mut ids = Vec::new();
    for member in members {
        let r: Response<'_> = serde_json::from_str(member.get())
            .map_err(|e| fail(format!("not a response object ({e}): {}", member.get())))?;
        prop_assert_eq!(r.jsonrpc, "2.0");
        prop_assert!(
            r.result.is_some() != r.error.is_some(),
            "exactly one of result/error: {}",
            member.get()
        );
        if let Some(error) = r.error {
            let e: ErrorMember<'_> = serde_json::from_str(error.get())
                .map_err(|e| fail(format!("not an error object ({e}): {}", member.get())))?;
            prop_assert!(e.code != 0, "{}", member.get());
        }
        ids.push(r.id.get().to_owned());
    }
    Ok(ids)
}

/// Valid messages that mutations start from.
const SEEDS: &[&str] = &[
    r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
    r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
    r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
    r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
    r#"{"jsonrpc":"2.0","method":"greet","params":{"name":"A\u00e9\"","title":null},"id":-1.5e300}"#,
    r#"{"jsonrpc":"2.0","method":"echo","params":[[{"a":[1,{"b":null}]},"x\\y",true]],"id":null}"#,
    r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},{"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},{"foo": "boo"},{"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},{"jsonrpc": "2.0", "method": "get_data", "id": "9"}]"#,
    r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#,
    r#"[1,2,3]"#,
    r#"{"jsonrpc":"2.0","method":"rpc.discover","id":123456789012345678901234567890}"#,
];

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

/// Bytes that matter to a JSON parser, so mutations hit interesting paths.
const JSON_BYTES: &[u8] = b"{}[]\":,\\ \t\n0123456789.-+eEnulltruefalse\x00\x7f\xc3\xa9\xff";

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![any::<u8>(), prop::sample::select(JSON_BYTES)];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            _ if len == 0 => bytes.push(b'{'),
            Mutation::FlipBit(at, bit) => bytes[at % len] ^= 1 << bit,
            Mutation::SetByte(at, b) => bytes[at % len] = b,
            Mutation::Insert(at, b) => bytes.insert(at % (len + 1), b),
            Mutation::Delete(at) => {
                bytes.remove(at % len);
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Duplicate(at, n) => {
                let start = at % len;
                let piece = bytes[start..(start + n).min(len)].to_vec();
                bytes.splice(start..start, piece);
            }
        }
    }
    bytes
}

/// Arbitrary JSON values, for building requests member by member.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z\"\\\\\u{e9}\u{1F600} ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request object whose members are each well-formed, wrong or missing.
fn request_object() -> impl Strategy<Value = Value> {
    let jsonrpc = prop::option::weighted(
        0.9,
        prop_oneof![
            4 => Just(Value::from("2.0")),
            1 => json_value(),
        ],
    );
    let method = prop::option::weighted(
        0.9,
        prop_oneof![
            4 => prop::sample::select(vec![
                "subtract", "sum", "update", "get_data", "notify_hello", "notify_sum", "echo",
                "greet", "rpc.discover", "foobar", "Subtract",
            ])
            .prop_map(Value::from),
            1 => json_value(),
        ],
    );
    // Small integers fit most of the methods, so some calls reach their handlers.
    let params = prop::option::of(prop_oneof![
        2 => prop::collection::vec(-100i64..100, 0..6).prop_map(Value::from),
        1 => json_value(),
    ]);
    let id = prop::option::weighted(0.7, json_value());
    (jsonrpc, method, params, id, json_value()).prop_map(|(jsonrpc, method, params, id, extra)| {
        let mut object = serde_json::Map::new();
        for (key, value) in [
            ("jsonrpc", jsonrpc),
            ("method", method),
            ("params", params),
            ("id", id),
            ("extra", Some(extra)),
        ] {
            if let Some(value) = value {
                object.insert(key.into(), value);
            }
        }
        Value::Object(object)
    })
}

fn config() -> Config {
    Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_are_answered_well_formed(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Some(answer) = handle(&body) {
            check_answer(&answer)?;
        }
    }

    #[test]
    fn random_json_ish_bytes_are_answered_well_formed(
        body in prop::collection::vec(prop::sample::select(JSON_BYTES), 0..128)
    ) {
        if let Some(answer) = handle(&body) {
            check_answer(&answer)?;
        }
    }

    #[test]
    fn mutated_requests_and_batches_are_answered_well_formed(
        seed in prop::sample::select(SEEDS),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let body = apply(seed.as_bytes().to_vec(), &mutations);
        if let Some(answer) = handle(&body) {
            check_answer(&answer)?;
        }
    }

    #[test]
    fn generated_requests_are_answered_with_their_id(request in request_object()) {
        let body = serde_json::to_vec(&request).unwrap();
        let ids = match handle(&body) {
            Some(answer) => check_answer(&answer)?,
            None => Vec::new(),
        };
        let expected: Vec<String> = answered_id(&request).into_iter().collect();
        prop_assert_eq!(ids, expected, "request: {}", request);
    }

    #[test]
    fn generated_batches_answer_requests_in_order(
        members in prop::collection::vec(
            prop_oneof![3 => request_object(), 1 => json_value()],
            1..12,
        )
    ) {
        let body = Value::from(members.clone()).to_string();
        let ids = match handle(body.as_bytes()) {
            Some(answer) => {
                prop_assert!(answer.starts_with(b"["), "a batch is answered with an array");
                check_answer(&answer)?
            }
            None => Vec::new(),
        };
        let expected: Vec<String> = members.iter().filter_map(answered_id).collect();
        prop_assert_eq!(ids, expected, "batch: {}", body);
    }
}

/// The id text the answer to `member` must carry, or `None` when it is a
/// valid notification and must not be answered.
fn answered_id(member: &Value) -> Option<String> {
    let Some(object) = member.as_object() else {
        return Some("null".into());
    };
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id.to_string()),
        Some(_) => return Some("null".into()),
    };
    let valid = object.get("jsonrpc") == Some(&Value::from("2.0"))
        && object.get("method").is_some_and(Value::is_string)
        && object
            .get("params")
            .is_none_or(|p| p.is_array() || p.is_object());
    match id {
        Some(id) => Some(id),
        None if valid => None,
        None => Some("null".into()),
    }
}

/// Found by the `dispatch` fuzz target: an id holding a lone surrogate
/// escape (allowed by JSON's grammar, not by `serde_json::Value`) is echoed
/// as sent, in an answer that is still well-formed JSON.
#[test]
fn an_id_with_a_lone_surrogate_is_echoed_as_sent() {
    let body =
        br#"{"jsonrpc": "4.0", "error": {"code": -32601, "message": "x"}, "id": "2uD800\uD800"}"#;
    let answer = handle(body).expect("an answer");
    let text = String::from_utf8(answer.clone()).unwrap();
    assert!(text.contains(r#""id":"2uD800\uD800""#), "{text}");
    assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&answer).is_ok());
    let response: Response<'_> = serde_json::from_slice(&answer).unwrap();
    assert_eq!(response.jsonrpc, "2.0");
    assert!(response.error.is_some() && response.result.is_none());
    assert_eq!(response.id.get(), r#""2uD800\uD800""#);
}
