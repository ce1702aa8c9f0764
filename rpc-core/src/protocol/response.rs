//! Writing responses straight into a byte buffer, and [`RawJson`]: a
//! result that is JSON text already, written as it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::error::ErrorObject;

/// JSON text that is written as it is: never parsed into values, never
/// serialized again; its whitespace and key order are kept.
///
/// A method of an `#[rpc]` trait that returns `RawJson` (or
/// `Box<serde_json::value::RawValue>`) answers with this text as its
/// result, moved into the response: the way to serve JSON that exists
/// already (a document read from a file, a cache or a database, or written
/// by hand) without paying to parse and serialize it. As a parameter type,
/// `RawJson` takes the parameter's text as it came: checked to be JSON and
/// copied once, not turned into values.
///
/// Its text is checked to be one JSON value when it is made
/// ([`from_string`](Self::from_string), [`parse`](str::parse)), so a
/// response that carries it is valid JSON.
///
/// ```
/// use rpc_core::protocol::response::RawJson;
///
/// let document = RawJson::from_string(r#"{ "z": 1, "a": [true, null] }"#.to_owned()).unwrap();
/// assert_eq!(document.get(), r#"{ "z": 1, "a": [true, null] }"#);
/// assert!(RawJson::from_string("{ oops".to_owned()).is_err());
/// // Serialized once; from then on written as it is.
/// let encoded = RawJson::encode(&vec![1, 2, 3]).unwrap();
/// assert_eq!(encoded.to_string(), "[1,2,3]");
/// ```
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Takes `json` (without copying it) once it is checked to be one JSON
    /// value; whitespace around the value is dropped (which copies it).
    pub fn from_string(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(RawJson)
    }

    /// Serializes `value` once: the text is then written as it is, however
    /// many times it is answered (each answer copies it once).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The text as serde_json's raw value.
    pub fn into_raw_value(self) -> Box<RawValue> {
        self.0
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        RawJson(raw)
    }
}

impl From<RawJson> for Box<RawValue> {
    fn from(raw: RawJson) -> Self {
        raw.0
    }
}

impl FromStr for RawJson {
    type Err = serde_json::Error;

    /// Checks `text` and copies the value in it (without the whitespace
    /// around it).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        serde_json::from_str::<&RawValue>(text).map(|raw| RawJson(raw.to_owned()))
    }
}

impl PartialEq for RawJson {
    /// The same text (not the same value: `{"a":1}` and `{ "a": 1 }` differ).
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for RawJson {}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson").field(&self.get()).finish()
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson)
    }
}

/// Any JSON value, as `serde_json::Value` is described.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for RawJson {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        <serde_json::Value as schemars::JsonSchema>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <serde_json::Value as schemars::JsonSchema>::json_schema(generator)
    }
}

/// Whether serde_json escapes any of `bytes` in a string: control
/// characters, `"` and `\\`. Tested a block at a time, so that the test
/// of each block is vectorized.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    bytes.chunks(64).any(|block| {
        block.iter().fold(false, |hit, &b| {
            hit | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    })
}

/// `text` as a JSON string, quoted in its own buffer (moved, not copied):
/// for text in which [nothing needs escaping](needs_escape), as large text
/// (base64, documents) rarely does. The same bytes serde_json would write.
pub(crate) fn quote(mut text: String) -> Result<Box<RawValue>, serde_json::Error> {
    text.reserve_exact(2);
    text.insert(0, '"');
    text.push('"');
    // Checked by serde_json, the one safe way to a raw value: a scan,
    // cheaper than escaping into a buffer that grows.
    RawValue::from_string(text)
}

/// Appends `{"jsonrpc":"2.0","result":..,"id":..}` or the error form to `out`.
///
/// `id` is the raw id text to echo (`None` writes `null`).
pub fn write_response(
    out: &mut Vec<u8>,
    id: Option<&RawValue>,
    outcome: &Result<Box<RawValue>, ErrorObject>,
) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","#);
    match outcome {
        Ok(result) => {
            out.extend_from_slice(br#""result":"#);
            out.extend_from_slice(result.get().as_bytes());
        }
        Err(error) => {
            out.extend_from_slice(br#""error":"#);
            write_error_object(out, error);
        }
    }
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.push(b'}');
}

/// The response to one request whose `result` is large, written around
/// the result in its own buffer (grown at its end, its text moved up once)
/// instead of copied into a new one: the answer to an N-byte result holds
/// N bytes, not 2N. The same bytes as [`write_response`].
pub fn response_around(id: Option<&RawValue>, result: Box<RawValue>) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"jsonrpc":"2.0","result":"#;
    let id = id.map_or("null", RawValue::get).as_bytes();
    let mut out = String::from(Box::<str>::from(result)).into_bytes();
    out.reserve_exact(HEAD.len() + 6 + id.len() + 1);
    out.splice(0..0, HEAD.iter().copied());
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(id);
    out.push(b'}');
    out
}

fn write_error_object(out: &mut Vec<u8>, error: &ErrorObject) {
    if serde_json::to_writer(&mut *out, error).is_err() {
        // Only `data` can fail to serialize (e.g. a non-finite float); keep the rest.
        let plain = ErrorObject::new(error.code, error.message.clone());
        let _ = serde_json::to_writer(&mut *out, &plain);
    }
}

/// One error response for a whole message (parse error, empty batch, ...).
pub fn error_response(error: &ErrorObject) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_response(&mut out, None, &Err(error.clone()));
    out
}

/// Writes a batch answer `[..]` from each call's id and outcome; `None`
/// when there is nothing to answer (a batch of notifications).
pub(crate) fn write_batch<'a>(
    answers: impl IntoIterator<Item = (Option<&'a RawValue>, Result<Box<RawValue>, ErrorObject>)>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (id, outcome) in answers {
        out.push(if out.is_empty() { b'[' } else { b',' });
        write_response(&mut out, id, &outcome);
    }
    if out.is_empty() {
        return None;
    }
    out.push(b']');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_around_its_result_is_the_response_written_anew() {
        let result = format!(r#"{{"text":"{}","n":[1, 2]}}"#, "x".repeat(100_000));
        for id in [None, Some("7"), Some(r#""a-string""#), Some("null")] {
            let id = id.map(|id| RawValue::from_string(id.to_owned()).unwrap());
            let raw = RawValue::from_string(result.clone()).unwrap();
            let mut written = Vec::new();
            write_response(&mut written, id.as_deref(), &Ok(raw.clone()));
            assert_eq!(response_around(id.as_deref(), raw), written);
        }
    }

    #[test]
    fn needs_escape_is_what_serde_json_escapes() {
        for byte in 0..=0x7fu8 {
            let text = format!("ab{}cd", byte as char);
            let escaped = serde_json::to_string(&text).unwrap() != format!("\"{text}\"");
            assert_eq!(needs_escape(text.as_bytes()), escaped, "byte {byte:#x}");
        }
        // Past the first block of 64, and not ASCII.
        assert!(needs_escape(format!("{}\n", "é".repeat(100)).as_bytes()));
        assert!(!needs_escape("é漢🎉".repeat(100).as_bytes()));
    }

    #[test]
    fn quoted_text_is_what_serde_json_writes() {
        for text in ["", "plain", "é漢🎉 \u{7f}", &"x".repeat(100_000)] {
            let quoted = quote(text.to_owned()).unwrap();
            assert_eq!(quoted.get(), serde_json::to_string(text).unwrap());
        }
    }

    #[test]
    fn raw_json_keeps_its_text_and_refuses_what_is_not_json() {
        let text = "{ \"z\": 1,\n \"a\": [] }";
        let raw = RawJson::from_string(text.to_owned()).unwrap();
        assert_eq!(raw.get(), text);
        assert_eq!(serde_json::to_string(&raw).unwrap(), text);
        assert_eq!(format!("{raw}"), text);
        // Whitespace around the value goes.
        assert_eq!(" 7 ".parse::<RawJson>().unwrap().get(), "7");
        assert_eq!(
            RawJson::from_string(" [1] ".to_owned()).unwrap().get(),
            "[1]"
        );
        for bad in ["", "{", "1 2", "[1,]", "nul"] {
            assert!(RawJson::from_string(bad.to_owned()).is_err(), "{bad:?}");
            assert!(bad.parse::<RawJson>().is_err(), "{bad:?}");
        }
        let decoded: Vec<RawJson> = serde_json::from_str("[ {\"b\" :2} , \"s\" ]").unwrap();
        assert_eq!(decoded[0].get(), "{\"b\" :2}");
        assert_eq!(decoded[1], "\"s\"".parse().unwrap());
    }
}
