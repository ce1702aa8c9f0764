//! Parsing and validation of incoming messages (DESIGN.md section 3).

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::scan::{deeper_than, first_byte};
use crate::{ErrorObject, Id, Limits, Params};

/// A parsed message: one request or a batch of them.
#[derive(Debug)]
pub enum Message<'a> {
    /// A single request object (or an invalid single value).
    Single(Entry<'a>),
    /// A non-empty batch.
    Batch(Vec<Entry<'a>>),
}

/// One member of a message after validation.
#[derive(Debug)]
pub enum Entry<'a> {
    /// A call that expects an answer (it has an `id`, possibly `null`).
    Request(Request<'a>),
    /// A call without an `id`: never answered.
    Notification(Request<'a>),
    /// Not a valid request: answered with this error and the id, if readable.
    Invalid {
        /// The raw id to echo (`None` answers `null`).
        id: Option<&'a RawValue>,
        /// The -32600 error.
        error: ErrorObject,
    },
}

/// A valid request or notification, borrowed from the message bytes.
#[derive(Debug)]
pub struct Request<'a> {
    /// The method name.
    pub method: Cow<'a, str>,
    /// The params (absent, array or object).
    pub params: Params<'a>,
    /// The raw id (`None` for a notification).
    pub id: Option<&'a RawValue>,
}

impl Request<'_> {
    /// The id as an owned [`Id`] (`None` for a notification).
    pub fn id(&self) -> Option<Id> {
        self.id.and_then(Id::from_raw)
    }
}

/// Why a whole message is answered with one error and no dispatch.
#[derive(Debug)]
pub struct Rejected(pub ErrorObject);

/// The members of a JSON-RPC message object (a request, a notification or
/// a response), each kept as raw JSON so that a wrong type in one member
/// still lets us read (and echo) the others. The one definition every
/// reader of messages uses: the dispatcher, the duplex routing and the
/// client's response validation.
#[derive(serde::Deserialize)]
pub(crate) struct Members<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) error: Option<&'a RawValue>,
}

impl Members<'_> {
    /// A response: no `method`, and a `result` or an `error` (even `null`).
    pub(crate) fn is_response(&self) -> bool {
        self.method.is_none() && (self.result.is_some() || self.error.is_some())
    }
}

/// Distinguishes a member that is present with value `null` (Some) from one
/// that is absent (None, via `default`).
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Parses and validates `body` as one JSON-RPC message.
///
/// Invalid JSON is -32700; valid JSON that is not an object or array, an
/// empty batch, a batch over the limit, or nesting over the limit is one
/// -32600 for the whole message.
pub fn parse<'a>(body: &'a [u8], limits: &Limits) -> Result<Message<'a>, Rejected> {
    let message = match first_byte(body) {
        Some(b'{') => match serde_json::from_slice::<Members<'_>>(body) {
            Ok(raw) => Message::Single(validate(raw)),
            Err(e) => return Err(Rejected(classify(body, &e))),
        },
        Some(b'[') => {
            let members: Vec<&RawValue> =
                serde_json::from_slice(body).map_err(|e| Rejected(classify(body, &e)))?;
            if members.is_empty() {
                return Err(Rejected(ErrorObject::invalid_request("empty batch")));
            }
            if members.len() > limits.max_batch_len {
                return Err(Rejected(ErrorObject::new(
                    crate::code::REQUEST_TOO_LARGE,
                    format!(
                        "Batch too large: {} members, the limit is {}",
                        members.len(),
                        limits.max_batch_len
                    ),
                )));
            }
            Message::Batch(members.into_iter().map(member).collect())
        }
        _ => {
            return Err(Rejected(match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => ErrorObject::invalid_request("expected a request object or a batch array"),
                Err(e) => ErrorObject::parse_error(e),
            }))
        }
    };
    if deeper_than(body, limits.max_depth) {
        return Err(Rejected(ErrorObject::invalid_request(format_args!(
            "nested deeper than {} levels",
            limits.max_depth
        ))));
    }
    Ok(message)
}

/// A syntax error anywhere means -32700 even if serde stopped earlier at a
/// type problem (a duplicate member, say); only well-formed JSON gets -32600.
fn classify(body: &[u8], e: &serde_json::Error) -> ErrorObject {
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ErrorObject::parse_error(e),
        Category::Data => match serde_json::from_slice::<IgnoredAny>(body) {
            Ok(_) => ErrorObject::invalid_request(strip_position(e)),
            Err(syntax) => ErrorObject::parse_error(syntax),
        },
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn member(raw: &RawValue) -> Entry<'_> {
    if !raw.get().starts_with('{') {
        return Entry::Invalid {
            id: None,
            error: ErrorObject::invalid_request("a batch member must be an object"),
        };
    }
    match serde_json::from_str::<Members<'_>>(raw.get()) {
        Ok(req) => validate(req),
        Err(e) => Entry::Invalid {
            id: None,
            error: ErrorObject::invalid_request(strip_position(&e)),
        },
    }
}

fn validate(raw: Members<'_>) -> Entry<'_> {
    let id = raw.id;
    let id_ok = id.is_none_or(Id::is_valid_raw);
    let echo = if id_ok { id } else { None };
    let invalid = |detail: &str| Entry::Invalid {
        id: echo,
        error: ErrorObject::invalid_request(detail),
    };
    if !id_ok {
        return invalid("`id` must be a string, a number or null");
    }
    match raw.jsonrpc {
        Some(v)
            if v.get() == "\"2.0\""
                || serde_json::from_str::<Cow<'_, str>>(v.get()).is_ok_and(|s| s == "2.0") => {}
        Some(_) => return invalid("`jsonrpc` must be exactly \"2.0\""),
        None => return invalid("missing `jsonrpc: \"2.0\"`"),
    }
    let method = match raw.method.map(method_name) {
        Some(Some(name)) => name,
        Some(None) => return invalid("`method` must be a string"),
        None => return invalid("missing `method`"),
    };
    let params = match raw.params {
        None => None,
        Some(p) if matches!(p.get().as_bytes().first(), Some(b'[' | b'{')) => Some(p),
        Some(_) => return invalid("`params` must be an array or an object"),
    };
    let request = Request {
        method,
        params: Params::new(params),
        id,
    };
    match id {
        Some(_) => Entry::Request(request),
        None => Entry::Notification(request),
    }
}

/// The method name; borrowed unless it contains escapes.
fn method_name(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Entry<'_> {
        match parse(text.as_bytes(), &Limits::default()).unwrap() {
            Message::Single(e) => e,
            Message::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn null_id_is_a_request_and_missing_id_a_notification() {
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","method":"m","id":null}"#),
            Entry::Request(_)
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","method":"m"}"#),
            Entry::Notification(_)
        ));
    }

    #[test]
    fn object_and_array_ids_are_invalid() {
        for id in ["{}", "[1]", "true"] {
            let text = format!(r#"{{"jsonrpc":"2.0","method":"m","id":{id}}}"#);
            assert!(
                matches!(single(&text), Entry::Invalid { id: None, .. }),
                "{id}"
            );
        }
    }

    #[test]
    fn scalar_params_are_invalid_but_the_id_is_echoed() {
        match single(r#"{"jsonrpc":"2.0","method":"m","params":"x","id":7}"#) {
            Entry::Invalid {
                id: Some(id),
                error,
            } => {
                assert_eq!(id.get(), "7");
                assert_eq!(error.code, -32600);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scalar_bodies_are_invalid_requests_not_parse_errors() {
        for body in ["42", "\"x\"", "null", "true"] {
            let Err(Rejected(e)) = parse(body.as_bytes(), &Limits::default()) else {
                panic!()
            };
            assert_eq!(e.code, -32600, "{body}");
        }
    }

    #[test]
    fn duplicate_member_with_later_syntax_error_is_a_parse_error() {
        let body = br#"{"id":1,"id":2,"#;
        let Err(Rejected(e)) = parse(body, &Limits::default()) else {
            panic!()
        };
        assert_eq!(e.code, -32700);
    }

    #[test]
    fn method_names_with_escapes_are_decoded() {
        match single(r#"{"jsonrpc":"2.0","method":"a\u0062c","id":1}"#) {
            Entry::Request(r) => assert_eq!(r.method, "abc"),
            other => panic!("{other:?}"),
        }
    }
}
