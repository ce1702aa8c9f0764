//! Params decoding into typed arguments: any bytes as the `params` member
//! of a call, decoded the way generated handlers decode them (by position
//! or by name, required and optional, into numbers, strings, options,
//! tuples, maps, structs and a tagged enum). Nothing may panic; every
//! refusal is -32602 and names the parameter it is about.
#![no_main]

use std::collections::{BTreeMap, HashMap};

use libfuzzer_sys::fuzz_target;
use rpc_core::Params;
use rpc_core::{code, ErrorObject};
use serde_json::value::RawValue;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Point {
    x: i64,
    y: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[allow(dead_code)]
enum Shape {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Either {
    Number(u64),
    Text(String),
}

const NAMES: &[&str] = &["a", "b", "c", "d"];

/// Checks a refusal: -32602, and (for one parameter) its name in `data`.
fn refused(error: &ErrorObject, param: Option<&str>) {
    assert_eq!(error.code, code::INVALID_PARAMS, "{error:?}");
    if let Some(param) = param {
        assert!(
            error.data == Some(serde_json::json!({ "param": param })),
            "a refusal that does not name `{param}`: {error:?}"
        );
    }
}

fn check<T>(result: Result<T, ErrorObject>, param: Option<&str>) {
    if let Err(error) = result {
        refused(&error, param);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(raw) = serde_json::from_str::<&RawValue>(text) else {
        return;
    };
    let params = Params::new(Some(raw));
    // The whole value, as a hand-written handler reads it.
    check(params.parse::<serde_json::Value>(), None);
    check(params.parse::<(i64, String)>(), None);
    check(params.parse::<HashMap<String, Either>>(), None);
    let mut decoder = match params.decoder(NAMES) {
        Ok(decoder) => decoder,
        Err(error) => return refused(&error, None),
    };
    // Which types the four parameters have, from the first byte.
    match shape % 4 {
        0 => {
            check(decoder.required::<i64>(0), Some("a"));
            check(decoder.required::<f64>(1), Some("b"));
            check(decoder.optional::<String>(2), Some("c"));
            check(decoder.optional::<bool>(3), Some("d"));
        }
        1 => {
            check(decoder.required::<Point>(0), Some("a"));
            check(decoder.required::<(u8, i32)>(1), Some("b"));
            check(decoder.optional::<Vec<u16>>(2), Some("c"));
            check(decoder.optional::<Shape>(3), Some("d"));
        }
        2 => {
            check(decoder.required::<BTreeMap<String, f32>>(0), Some("a"));
            check(decoder.required::<Either>(1), Some("b"));
            check(decoder.optional::<Option<Point>>(2), Some("c"));
            check(decoder.optional::<char>(3), Some("d"));
        }
        _ => {
            check(decoder.required::<String>(0), Some("a"));
            check(decoder.required::<Box<RawValue>>(1), Some("b"));
            check(decoder.optional::<serde_json::Value>(2), Some("c"));
            check(decoder.optional::<u128>(3), Some("d"));
        }
    }
    // Each parameter is decoded once: asking again finds it missing.
    check(decoder.optional::<i64>(0), Some("a"));
});
