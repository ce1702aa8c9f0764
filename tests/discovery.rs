//! The OpenRPC document: real schemas from `schemars` (structs, tagged
//! enums, maps, tuples, nullable options, integer bounds, shared types
//! under `components/schemas`), `info` from the service, declared errors,
//! parameter descriptions; it validates against the official OpenRPC
//! meta-schema; and discovery cannot be used to amplify a request.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use rpc::server::Dispatcher;
use rpc::{rpc, ErrorObject};
use serde_json::{json, Value};

/// A user type that happens to be called `Value`: it is a struct, not "any".
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Value2 {
    pub x: i32,
}

mod user {
    /// A user type named like serde_json's.
    #[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub(crate) struct Value {
        /// A field.
        pub x: i32,
    }
}

/// A point on a grid.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Point {
    /// Across.
    pub x: i64,
    /// Down.
    pub y: i64,
}

/// Untagged: a number or a list of them.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Amount {
    One(f64),
    Many(Vec<f64>),
}

#[derive(Debug, thiserror::Error, rpc::RpcError)]
pub enum MapError {
    #[error("Nothing there")]
    #[rpc(code = -32010)]
    Empty,
    #[error("bad key {0}")]
    #[rpc(code = -32011)]
    BadKey(String),
    /// `data`: its fields travel in the error object, and their schema is
    /// in the document.
    #[error("{key} is locked until {until}")]
    #[rpc(code = -32012, data)]
    Locked { key: String, until: u64 },
    #[error("{0} of {1} used")]
    #[rpc(code = -32013, data)]
    Full(u32, u32),
}

#[rpc]
trait Shapes {
    /// Moves a point.
    ///
    /// - `point`: where it starts
    /// - `by`: how far to move it, `[dx, dy]`
    async fn shift(&self, point: Point, by: (i64, i64)) -> Point;
    /// Counts words.
    async fn count(&self, words: HashMap<String, u64>, limit: Option<u64>)
        -> Result<u64, MapError>;
    /// Takes the user's own `Value`.
    async fn own(&self, value: user::Value) -> Value2;
    /// Takes any JSON.
    async fn anything(&self, value: serde_json::Value) -> serde_json::Value;
    /// An untagged enum.
    async fn total(&self, amount: Amount) -> f64;
}

struct Impl;

impl Shapes for Impl {
    async fn shift(&self, point: Point, by: (i64, i64)) -> Point {
        Point {
            x: point.x + by.0,
            y: point.y + by.1,
        }
    }
    async fn count(
        &self,
        words: HashMap<String, u64>,
        limit: Option<u64>,
    ) -> Result<u64, MapError> {
        let total: u64 = words.values().sum();
        Ok(limit.map_or(total, |l| total.min(l)))
    }
    async fn own(&self, value: user::Value) -> Value2 {
        Value2 { x: value.x }
    }
    async fn anything(&self, value: serde_json::Value) -> serde_json::Value {
        value
    }
    async fn total(&self, amount: Amount) -> f64 {
        match amount {
            Amount::One(v) => v,
            Amount::Many(v) => v.iter().sum(),
        }
    }
}

/// A service that opts out of schemas: its types need no `JsonSchema`.
#[rpc(schemas = false)]
trait Plain {
    async fn take(&self, thing: NoSchema) -> NoSchema;
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct NoSchema {
    pub a: u8,
}

struct PlainImpl;

impl Plain for PlainImpl {
    async fn take(&self, thing: NoSchema) -> NoSchema {
        thing
    }
}

fn document(methods: rpc::MethodTable) -> Value {
    serde_json::from_str(Dispatcher::new(methods).discovery_document().get()).unwrap()
}

fn method<'d>(document: &'d Value, name: &str) -> &'d Value {
    document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no method {name}"))
}

/// Runs the official meta-schema over `document` (node, ajv and
/// @open-rpc/meta-schema, installed by tests/peers/install.sh).
fn validate(document: &Value) -> Result<(), String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/openrpc-validate.js"
    );
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node (tests/peers/install.sh installs what the tests need)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && printed.trim() == "valid" {
        Ok(())
    } else {
        Err(printed)
    }
}

#[test]
fn types_are_described_completely_with_shared_components() {
    let doc = document(Impl.into_rpc());
    let components = &doc["components"]["schemas"];
    let shift = method(&doc, "shift");
    assert_eq!(
        shift["params"][0]["schema"],
        json!({"$ref": "#/components/schemas/Point"})
    );
    assert_eq!(
        shift["result"]["schema"],
        json!({"$ref": "#/components/schemas/Point"})
    );
    assert_eq!(
        components["Point"],
        json!({
            "type": "object",
            "description": "A point on a grid.",
            "properties": {
                "x": {"type": "integer", "format": "int64", "description": "Across."},
                "y": {"type": "integer", "format": "int64", "description": "Down."}
            },
            "required": ["x", "y"]
        })
    );
    // A tuple: draft 7's `items` list.
    assert_eq!(
        shift["params"][1]["schema"],
        json!({
            "type": "array",
            "items": [{"type": "integer", "format": "int64"}, {"type": "integer", "format": "int64"}],
            "minItems": 2,
            "maxItems": 2
        })
    );
    // Parameter descriptions from the doc comment's list.
    assert_eq!(shift["params"][0]["description"], "where it starts");
    assert_eq!(
        shift["params"][1]["description"],
        "how far to move it, `[dx, dy]`"
    );

    let count = method(&doc, "count");
    assert_eq!(
        count["params"][0]["schema"],
        json!({"type": "object", "additionalProperties": {"type": "integer", "format": "uint64", "minimum": 0}})
    );
    // A trailing option: nullable, not required.
    assert_eq!(count["params"][1]["required"], false);
    assert_eq!(
        count["params"][1]["schema"],
        json!({"type": ["integer", "null"], "format": "uint64", "minimum": 0})
    );
    assert_eq!(
        count["errors"],
        json!([
            {"code": -32010, "message": "Nothing there"},
            // A variant with fields: its `Display` template, not an invented text.
            {"code": -32011, "message": "bad key {0}"},
            {"code": -32012, "message": "{key} is locked until {until}"},
            {"code": -32013, "message": "{0} of {1} used"}
        ])
    );
    // With `data`: what `data` holds, by code (OpenRPC's error object has
    // no place for it).
    assert_eq!(
        count["x-error-data"],
        json!({
            "-32012": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "until": {"type": "integer", "format": "uint64", "minimum": 0}
                },
                "required": ["key", "until"]
            },
            "-32013": {
                "type": "array",
                "prefixItems": [
                    {"type": "integer", "format": "uint32", "minimum": 0},
                    {"type": "integer", "format": "uint32", "minimum": 0}
                ],
                "minItems": 2,
                "maxItems": 2
            }
        })
    );

    // The user's `Value` is a struct; serde_json's is any value.
    let own = method(&doc, "own");
    assert_eq!(
        own["params"][0]["schema"],
        json!({"$ref": "#/components/schemas/Value"})
    );
    assert_eq!(components["Value"]["properties"]["x"]["type"], "integer");
    assert_eq!(method(&doc, "anything")["params"][0]["schema"], json!({}));

    let total = method(&doc, "total");
    assert_eq!(
        total["params"][0]["schema"],
        json!({"$ref": "#/components/schemas/Amount"})
    );
    let any_of = components["Amount"]["anyOf"].as_array().unwrap();
    assert_eq!(any_of.len(), 2);

    validate(&doc).unwrap();
}

#[test]
fn info_is_the_services_own() {
    let doc = document(Impl.into_rpc());
    assert_eq!(doc["info"]["title"], env!("CARGO_PKG_NAME"));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let doc = document(Impl.into_rpc().with_info(rpc::server::ServiceInfo {
        title: "Shapes".into(),
        version: "3.1.4".into(),
        description: Some("Points and amounts".into()),
    }));
    assert_eq!(
        doc["info"],
        json!({"title": "Shapes", "version": "3.1.4", "description": "Points and amounts"})
    );
}

#[test]
fn a_service_may_opt_out_of_schemas() {
    let doc = document(PlainImpl.into_rpc());
    let take = method(&doc, "take");
    assert_eq!(take["params"][0]["schema"], json!({}));
    assert_eq!(take["result"]["schema"], json!({}));
    validate(&doc).unwrap();
}

#[test]
fn the_meta_schema_check_catches_a_broken_document() {
    let mut doc = document(Impl.into_rpc());
    doc["methods"][0]["params"][0]["schema"] = json!({"type": 5});
    let refusal = validate(&doc).unwrap_err();
    assert!(refusal.contains("/methods/0/params/0/schema"), "{refusal}");
    let mut doc = document(Impl.into_rpc());
    doc.as_object_mut().unwrap().remove("info");
    assert!(validate(&doc).unwrap_err().contains("info"));
}

#[tokio::test]
async fn the_calculators_document_describes_stats_and_shape_and_validates() {
    let served = tokio::task::spawn_blocking(|| common::calculator::Served::start("newline"))
        .await
        .unwrap();
    let text = reqwest::get(&served.http)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["info"]["title"], "calculator");
    let schemas = &doc["components"]["schemas"];
    let number_or_null = json!({"type": ["number", "null"], "format": "double"});
    assert_eq!(schemas["Stats"]["type"], "object");
    assert_eq!(
        schemas["Stats"]["required"],
        json!(["count", "mean", "min", "max"])
    );
    let properties = &schemas["Stats"]["properties"];
    assert_eq!(properties["count"]["type"], "integer");
    assert_eq!(properties["count"]["minimum"], 0);
    for field in ["mean", "min", "max"] {
        let mut schema = properties[field].clone();
        schema.as_object_mut().unwrap().remove("description");
        assert_eq!(schema, number_or_null, "{field}");
    }
    let variants = schemas["Shape"]["oneOf"].as_array().unwrap();
    let kinds: Vec<&Value> = variants
        .iter()
        .map(|v| &v["properties"]["kind"]["const"])
        .collect();
    assert_eq!(kinds, [&json!("circle"), &json!("rect")]);
    assert_eq!(variants[0]["required"], json!(["kind", "radius"]));
    assert_eq!(variants[1]["required"], json!(["kind", "width", "height"]));
    assert_eq!(
        method(&doc, "stats")["result"]["schema"]["$ref"],
        "#/components/schemas/Stats"
    );
    assert_eq!(
        method(&doc, "area")["params"][0]["schema"]["$ref"],
        "#/components/schemas/Shape"
    );
    assert_eq!(
        method(&doc, "divide")["errors"][0],
        json!({"code": -32000, "message": "Division by zero"})
    );
    // A variant with fields: its `Display` template; one whose template is
    // only a placeholder: its doc comment.
    let errors = method(&doc, "divide")["errors"].as_array().unwrap().clone();
    assert!(
        errors.contains(
            &json!({"code": -32002, "message": "{0} needs a duplex connection (WebSocket or TCP)"})
        ),
        "{errors:?}"
    );
    assert!(
        errors.contains(
            &json!({"code": -32602, "message": "An argument outside the accepted range."})
        ),
        "{errors:?}"
    );
    // What it pushes: notifications and subscriptions.
    assert_eq!(method(&doc, "notify_me")["x-notifies"], json!(["tick"]));
    assert_eq!(method(&doc, "broadcast")["x-notifies"], json!(["message"]));
    let topic = &method(&doc, "subscribe_topic")["x-subscription"];
    assert_eq!(topic["notification"], "topic");
    assert_eq!(topic["item"], json!({}));
    validate(&doc).unwrap();
}

#[tokio::test]
async fn a_batch_of_discover_calls_costs_no_more_than_one() {
    let dispatcher = Dispatcher::new(Impl.into_rpc());
    let one = dispatcher.discovery_document().get().len();
    let batch = format!(
        "[{}]",
        (0..1000)
            .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"rpc.discover","id":{i}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let answer = dispatcher
        .handle(batch.as_bytes(), &rpc::Context::new())
        .await
        .unwrap();
    let answers: Vec<Value> = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answers.len(), 1000);
    assert_eq!(
        answers.iter().filter(|a| a.get("result").is_some()).count(),
        1
    );
    let refused = &answers[1]["error"];
    assert_eq!(refused["code"], -32600);
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("once per batch"));
    // One document and a short error per other member: no amplification.
    assert!(answer.len() < one + 1000 * 120, "{} bytes", answer.len());
    assert!(answer.len() < 3 * batch.len() + one);
}

#[test]
fn an_error_object_method_declares_no_errors() {
    #[rpc]
    trait Loose {
        async fn fail(&self) -> Result<u8, ErrorObject>;
    }
    struct L;
    impl Loose for L {
        async fn fail(&self) -> Result<u8, ErrorObject> {
            Err(ErrorObject::new(1, "x"))
        }
    }
    let doc = document(L.into_rpc());
    assert!(method(&doc, "fail").get("errors").is_none());
}

mod first {
    /// An item as the first module sees it.
    #[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub(crate) struct Item {
        pub name: String,
    }
}

mod second {
    /// An item as the second module sees it.
    #[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub(crate) struct Item {
        pub size: u32,
    }
}

/// A note: its tag may be left out when sent, is always there (maybe null) when returned.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Note {
    pub text: String,
    pub tag: Option<String>,
}

#[rpc]
trait Both {
    async fn convert(&self, item: first::Item) -> second::Item;
    async fn retag(&self, note: Note) -> Note;
}

struct BothImpl;

impl Both for BothImpl {
    async fn convert(&self, item: first::Item) -> second::Item {
        second::Item {
            size: item.name.len() as u32,
        }
    }
    async fn retag(&self, note: Note) -> Note {
        note
    }
}

#[test]
fn a_name_that_means_two_schemas_keeps_both() {
    let doc = document(BothImpl.into_rpc());
    let schemas = &doc["components"]["schemas"];
    let convert = method(&doc, "convert");
    assert_eq!(
        convert["params"][0]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert_eq!(
        convert["result"]["schema"]["$ref"],
        "#/components/schemas/ItemOutput"
    );
    assert!(schemas["Item"]["properties"].get("name").is_some());
    assert!(schemas["ItemOutput"]["properties"].get("size").is_some());
    // Read, the tag may be left out; written, it is always there.
    let retag = method(&doc, "retag");
    assert_eq!(
        retag["params"][0]["schema"]["$ref"],
        "#/components/schemas/Note"
    );
    assert_eq!(
        retag["result"]["schema"]["$ref"],
        "#/components/schemas/NoteOutput"
    );
    assert_eq!(schemas["Note"]["required"], json!(["text"]));
    assert_eq!(schemas["NoteOutput"]["required"], json!(["text", "tag"]));
    validate(&doc).unwrap();
}
