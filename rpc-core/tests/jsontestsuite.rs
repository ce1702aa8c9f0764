//! Nicolas Seriot's JSONTestSuite parsing cases (tests/jsontestsuite/, MIT)
//! fed to `Dispatcher::handle` as whole message bodies.
//!
//! - `n_` (must be rejected by a JSON parser): one -32700 Parse error, id null.
//! - `y_` (valid JSON): never -32700; -32600 or an ordinary answer instead.
//! - `i_` (implementation's choice): anything but a panic, and any answer is
//!   a valid JSON-RPC response.

mod common;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use common::{spec_methods, Calls};
use futures_util::FutureExt;
use rpc_core::{code, Context, Dispatcher};
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/jsontestsuite/test_parsing"
);

/// The case files whose names start with `prefix`, sorted.
fn cases(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("cannot read {DIR}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// What one body produced: an answer, no answer, or a panic.
enum Outcome {
    Answer(Vec<u8>),
    Silent,
    Panicked,
}

async fn run(dispatcher: &Dispatcher, body: &[u8]) -> Outcome {
    match AssertUnwindSafe(dispatcher.handle(body, &Context::new()))
        .catch_unwind()
        .await
    {
        Ok(Some(answer)) => Outcome::Answer(answer),
        Ok(None) => Outcome::Silent,
        Err(_) => Outcome::Panicked,
    }
}

/// The error codes of an answer (one per error response it holds), or a
/// description of why it is not a well-formed JSON-RPC answer.
fn error_codes(answer: &[u8]) -> Result<Vec<i64>, String> {
    let value: Value = serde_json::from_slice(answer).map_err(|e| format!("not JSON: {e}"))?;
    let responses = match &value {
        Value::Array(items) if !items.is_empty() => items.clone(),
        Value::Object(_) => vec![value.clone()],
        other => return Err(format!("neither a response nor a batch: {other}")),
    };
    let mut codes = Vec::new();
    for r in &responses {
        if r["jsonrpc"] != "2.0" || r.get("id").is_none() {
            return Err(format!("not a response object: {r}"));
        }
        match (r.get("result"), r.get("error")) {
            (Some(_), None) => {}
            (None, Some(e)) => codes.push(
                e["code"]
                    .as_i64()
                    .ok_or_else(|| format!("error without an integer code: {r}"))?,
            ),
            _ => return Err(format!("not exactly one of result/error: {r}")),
        }
    }
    Ok(codes)
}

fn dispatcher() -> Dispatcher {
    Dispatcher::new(spec_methods(&Calls::default()))
}

#[tokio::test]
async fn n_files_are_parse_errors() {
    let d = dispatcher();
    let cases = cases("n_");
    assert!(cases.len() > 150, "only {} n_ files found", cases.len());
    let mut failures = Vec::new();
    for (name, body) in &cases {
        let problem = match run(&d, body).await {
            Outcome::Answer(answer) => {
                let value: Option<Value> = serde_json::from_slice(&answer).ok();
                match value {
                    Some(v)
                        if v.is_object()
                            && v["error"]["code"] == code::PARSE_ERROR
                            && v["id"].is_null()
                            && v["jsonrpc"] == "2.0" =>
                    {
                        continue
                    }
                    _ => format!("answered {}", String::from_utf8_lossy(&answer)),
                }
            }
            Outcome::Silent => "no answer".to_owned(),
            Outcome::Panicked => "panicked".to_owned(),
        };
        failures.push(format!("{name}: {problem}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} n_ files were not answered with one -32700:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn y_files_are_never_parse_errors() {
    let d = dispatcher();
    let cases = cases("y_");
    assert!(cases.len() > 80, "only {} y_ files found", cases.len());
    let mut failures = Vec::new();
    let mut invalid_requests = 0;
    for (name, body) in &cases {
        let problem = match run(&d, body).await {
            Outcome::Answer(answer) => match error_codes(&answer) {
                Ok(codes) if codes.contains(&code::PARSE_ERROR) => {
                    format!("parse error: {}", String::from_utf8_lossy(&answer))
                }
                Ok(codes) => {
                    invalid_requests += codes.contains(&code::INVALID_REQUEST) as usize;
                    continue;
                }
                Err(why) => format!("{why}: {}", String::from_utf8_lossy(&answer)),
            },
            // No y_ file is a JSON-RPC notification.
            Outcome::Silent => "no answer".to_owned(),
            Outcome::Panicked => "panicked".to_owned(),
        };
        failures.push(format!("{name}: {problem}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} y_ files were mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // None of them is a JSON-RPC request, so each holds an Invalid Request.
    assert_eq!(invalid_requests, cases.len());
}

#[tokio::test]
async fn i_files_never_panic_and_answer_well_formed() {
    let d = dispatcher();
    let cases = cases("i_");
    assert!(cases.len() > 20, "only {} i_ files found", cases.len());
    let mut failures = Vec::new();
    for (name, body) in &cases {
        let problem = match run(&d, body).await {
            Outcome::Answer(answer) => match error_codes(&answer) {
                Ok(codes) if !codes.is_empty() => continue,
                Ok(_) => format!("a result: {}", String::from_utf8_lossy(&answer)),
                Err(why) => format!("{why}: {}", String::from_utf8_lossy(&answer)),
            },
            Outcome::Silent => "no answer".to_owned(),
            Outcome::Panicked => "panicked".to_owned(),
        };
        failures.push(format!("{name}: {problem}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} i_ files were mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_dispatcher_keeps_serving_after_every_case() {
    let d = dispatcher();
    for (_, body) in cases("") {
        let _ = run(&d, &body).await;
    }
    let out = d
        .handle(
            br#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#,
            &Context::new(),
        )
        .await;
    assert_eq!(
        out.as_deref(),
        Some(&br#"{"jsonrpc":"2.0","result":19,"id":1}"#[..])
    );
}
