//! The one parser for every incoming message:
//! requests, notifications and responses alike. It classifies each member,
//! so the dispatcher, the duplex routing and the client engine read a
//! message once and never probe it first.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::error::{code, ErrorObject};
use super::invalid::{excerpt, InvalidResponse};
use super::{Id, Limits, Params};

/// A parsed message: one member or a batch of them.
#[derive(Debug)]
pub(crate) enum Message<'a> {
    /// A single object.
    Single(Entry<'a>),
    /// A non-empty batch.
    Batch(Vec<Entry<'a>>),
}

impl Message<'_> {
    fn entries(&self) -> &[Entry<'_>] {
        match self {
            Message::Single(entry) => std::slice::from_ref(entry),
            Message::Batch(entries) => entries,
        }
    }

    /// The replies of a message that [is an answer](Self::is_answer),
    /// owning their results, and whether it was a batch.
    pub(crate) fn into_replies(self) -> (bool, Vec<Reply<Box<RawValue>>>) {
        match self {
            Message::Single(entry) => (false, vec![entry.into_reply().into_owned()]),
            Message::Batch(entries) => (
                true,
                entries
                    .into_iter()
                    .map(|e| e.into_reply().into_owned())
                    .collect(),
            ),
        }
    }

    /// Whether every member is a response: the message answers calls we made.
    pub(crate) fn is_answer(&self) -> bool {
        self.entries()
            .iter()
            .all(|e| matches!(e, Entry::Response { .. }))
    }
}

/// One member of a message after validation.
#[derive(Debug)]
pub(crate) enum Entry<'a> {
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
    /// A response (no `method`, a `result` or an `error`): an answer to one
    /// of our calls, valid or not.
    Response {
        /// The raw id, when it is a valid one (echoed if the message is
        /// answered as an invalid request).
        raw_id: Option<&'a RawValue>,
        /// The response as the caller sees it.
        reply: Reply<&'a RawValue>,
    },
}

impl<'a> Entry<'a> {
    /// The member as an answer to one of our calls: a response as it is,
    /// anything else as neither a result nor an error.
    pub(crate) fn into_reply(self) -> Reply<&'a RawValue> {
        let id = match self {
            Entry::Response { reply, .. } => return reply,
            Entry::Request(request) | Entry::Notification(request) => request.id,
            Entry::Invalid { id, .. } => id,
        };
        Reply {
            id: id.and_then(Id::from_raw),
            outcome: Err(InvalidResponse::NeitherResultNorError),
        }
    }
}

/// A valid request or notification, borrowed from the message bytes.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// The method name.
    pub(crate) method: Cow<'a, str>,
    /// The params (absent, array or object).
    pub(crate) params: Params<'a>,
    /// The raw id (`None` for a notification).
    pub(crate) id: Option<&'a RawValue>,
}

/// A call's outcome as a response carries it: the raw result or the error.
pub(crate) type Outcome<R> = Result<R, ErrorObject>;

/// A response, validated: its id and outcome, or how it breaks JSON-RPC.
/// `R` is the raw result, borrowed from the message or owned.
#[derive(Debug)]
pub(crate) struct Reply<R> {
    /// The id; `None` when it is missing or not a valid id.
    pub(crate) id: Option<Id>,
    pub(crate) outcome: Result<Outcome<R>, InvalidResponse>,
}

impl Reply<&RawValue> {
    /// The same reply, owning its result (to travel to the waiting call).
    pub(crate) fn into_owned(self) -> Reply<Box<RawValue>> {
        Reply {
            id: self.id,
            outcome: self.outcome.map(|o| o.map(ToOwned::to_owned)),
        }
    }
}

/// Why a whole message is answered with one error and nothing in it runs.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// Not JSON (-32700).
    NotJson(serde_json::Error),
    /// Well-formed JSON whose members cannot be read (a duplicate member).
    Shape(serde_json::Error),
    /// JSON that is neither an object nor an array.
    NotAnObject,
    /// `[]`.
    EmptyBatch,
    /// A batch of calls over the limit.
    TooLong { len: usize, limit: usize },
}

impl Rejected {
    /// The error the whole message is answered with.
    pub(crate) fn error(&self) -> ErrorObject {
        match self {
            Rejected::NotJson(e) => ErrorObject::parse_error(e),
            Rejected::Shape(e) => ErrorObject::invalid_request(strip_position(e)),
            Rejected::NotAnObject => {
                ErrorObject::invalid_request("expected a request object or a batch array")
            }
            Rejected::EmptyBatch => ErrorObject::invalid_request("empty batch"),
            Rejected::TooLong { len, limit } => ErrorObject::new(
                code::REQUEST_TOO_LARGE,
                format!("Batch too large: {len} members, the limit is {limit}"),
            ),
        }
    }
}

/// The members of a JSON-RPC message object (a request, a notification or
/// a response), each kept as raw JSON so that a wrong type in one member
/// still lets us read (and echo) the others.
#[derive(serde::Deserialize)]
struct Members<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

impl Members<'_> {
    /// A response: no `method`, and a `result` or an `error` (even `null`).
    fn is_response(&self) -> bool {
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
/// empty batch, a batch of calls over the limit, or calls nested over the
/// limit are one -32600 for the whole message. Responses are classified,
/// never limited by batch length (they answer what we sent). Params stay
/// raw JSON: nesting is bounded where they are decoded.
pub(crate) fn parse<'a>(body: &'a [u8], limits: &Limits) -> Result<Message<'a>, Rejected> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let message = match first {
        Some(b'{') => match serde_json::from_slice::<Members<'_>>(body) {
            Ok(members) => Message::Single(classify(members)),
            Err(e) => return Err(unreadable(body, e)),
        },
        Some(b'[') => {
            let members: Vec<&RawValue> =
                serde_json::from_slice(body).map_err(|e| unreadable(body, e))?;
            if members.is_empty() {
                return Err(Rejected::EmptyBatch);
            }
            // Only a batch of responses (the answer to a batch we sent) may
            // be longer; one non-response member ends it. Each member is
            // read once, as it is classified.
            let (len, limit) = (members.len(), limits.max_batch_len);
            // Room for what may be kept: an over-long batch of calls is
            // refused at its first call, before it could fill more.
            let mut entries = Vec::with_capacity(len.min(limit));
            for raw in members {
                let entry = member(raw);
                if len > limit && !matches!(entry, Entry::Response { .. }) {
                    return Err(Rejected::TooLong { len, limit });
                }
                entries.push(entry);
            }
            Message::Batch(entries)
        }
        _ => {
            return Err(match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => Rejected::NotAnObject,
                Err(e) => Rejected::NotJson(e),
            })
        }
    };
    Ok(message)
}

/// A syntax error anywhere means -32700 even if serde stopped earlier at a
/// type problem (a duplicate member, say); only well-formed JSON gets -32600.
fn unreadable(body: &[u8], e: serde_json::Error) -> Rejected {
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => Rejected::NotJson(e),
        Category::Data => match serde_json::from_slice::<IgnoredAny>(body) {
            Ok(_) => Rejected::Shape(e),
            Err(syntax) => Rejected::NotJson(syntax),
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
        Ok(members) => classify(members),
        Err(e) => Entry::Invalid {
            id: None,
            error: ErrorObject::invalid_request(strip_position(&e)),
        },
    }
}

fn classify(members: Members<'_>) -> Entry<'_> {
    if members.is_response() {
        let raw_id = members.id.filter(|id| Id::is_valid_raw(id));
        Entry::Response {
            raw_id,
            reply: reply(members),
        }
    } else {
        request(members)
    }
}

/// `"jsonrpc": "2.0"`, however the string is escaped.
fn is_version(v: &RawValue) -> bool {
    v.get() == "\"2.0\"" || serde_json::from_str::<Cow<'_, str>>(v.get()).is_ok_and(|s| s == "2.0")
}

fn request(raw: Members<'_>) -> Entry<'_> {
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
        Some(v) if is_version(v) => {}
        Some(_) => return invalid("`jsonrpc` must be exactly \"2.0\""),
        None => return invalid("missing `jsonrpc: \"2.0\"`"),
    }
    let method = match raw.method.map(|m| (m, method_name(m))) {
        Some((_, Some(name))) => name,
        Some((m, None)) if m.get().starts_with('"') => {
            return invalid(
                "`method` is not valid Unicode (it holds a lone UTF-16 surrogate escape)",
            )
        }
        Some(_) => return invalid("`method` must be a string"),
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

/// Validates a response: `jsonrpc`, `id`, exactly one of `result` and
/// `error`. Some peers (node's json-rpc2) send the unused member as `null`:
/// `"error": null` beside a result, or `"result": null` beside an error,
/// reads as absent; two real members stay an error.
fn reply(raw: Members<'_>) -> Reply<&RawValue> {
    let (id, id_error) = match raw.id {
        Some(id) => match Id::from_raw(id) {
            Some(id) => (Some(id), None),
            None => (None, Some(InvalidResponse::InvalidId(excerpt(id.get())))),
        },
        None => (None, Some(InvalidResponse::MissingId)),
    };
    let outcome = (|| {
        match raw.jsonrpc {
            Some(v) if is_version(v) => {}
            Some(v) => return Err(InvalidResponse::WrongVersion(excerpt(v.get()))),
            None => return Err(InvalidResponse::MissingVersion),
        }
        if let Some(e) = id_error {
            return Err(e);
        }
        let is_null = |v: &RawValue| v.get() == "null";
        let (result, error) = match (raw.result, raw.error) {
            (Some(result), Some(error)) if is_null(error) => (Some(result), None),
            (Some(result), Some(error)) if is_null(result) => (None, Some(error)),
            other => other,
        };
        match (result, error) {
            (Some(result), None) => Ok(Ok(result)),
            (None, Some(error)) => serde_json::from_str::<ErrorObject>(error.get())
                .map(Err)
                .map_err(InvalidResponse::MalformedError),
            (Some(_), Some(_)) => Err(InvalidResponse::BothResultAndError),
            // `is_response` saw one of them.
            (None, None) => Err(InvalidResponse::NeitherResultNorError),
        }
    })();
    Reply { id, outcome }
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
            let Err(rejected) = parse(body.as_bytes(), &Limits::default()) else {
                panic!()
            };
            let e = rejected.error();
            assert_eq!(e.code, -32600, "{body}");
        }
    }

    #[test]
    fn duplicate_member_with_later_syntax_error_is_a_parse_error() {
        let body = br#"{"id":1,"id":2,"#;
        let Err(rejected) = parse(body, &Limits::default()) else {
            panic!()
        };
        let e = rejected.error();
        assert_eq!(e.code, -32700);
    }

    #[test]
    fn a_method_name_with_a_lone_surrogate_is_named_as_such() {
        match single(r#"{"jsonrpc":"2.0","method":"a\ud800","id":1}"#) {
            Entry::Invalid { error, .. } => {
                assert!(
                    error.message.contains("lone UTF-16 surrogate"),
                    "{}",
                    error.message
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn method_names_with_escapes_are_decoded() {
        match single(r#"{"jsonrpc":"2.0","method":"a\u0062c","id":1}"#) {
            Entry::Request(r) => assert_eq!(r.method, "abc"),
            other => panic!("{other:?}"),
        }
    }

    fn reply(text: &str) -> Reply<&RawValue> {
        match single(text) {
            Entry::Response { reply, .. } => reply,
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn responses_are_classified_with_null_results_and_null_members() {
        let r = reply(r#"{"jsonrpc":"2.0","result":null,"id":3}"#);
        assert_eq!(r.id, Some(Id::from(3u64)));
        assert_eq!(r.outcome.unwrap().unwrap().get(), "null");
        let r = reply(r#"{"jsonrpc":"2.0","result":3,"error":null,"id":"a"}"#);
        assert_eq!(r.outcome.unwrap().unwrap().get(), "3");
        let r =
            reply(r#"{"jsonrpc":"2.0","result":null,"error":{"code":1,"message":"m"},"id":null}"#);
        assert_eq!(r.id, Some(Id::Null));
        assert_eq!(r.outcome.unwrap().unwrap_err().code, 1);
        let r = reply(r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"m"},"id":1}"#);
        assert!(matches!(
            r.outcome,
            Err(InvalidResponse::BothResultAndError)
        ));
        let r = reply(r#"{"jsonrpc":"2.0","result":1}"#);
        assert!(matches!(r.outcome, Err(InvalidResponse::MissingId)));
        let r = reply(r#"{"jsonrpc":"1.0","result":1,"id":7}"#);
        assert_eq!(r.id, Some(Id::from(7u64)), "the id still routes it");
        assert!(matches!(r.outcome, Err(InvalidResponse::WrongVersion(_))));
    }

    #[test]
    fn limits_bound_calls_but_never_answers() {
        let limits = Limits {
            max_batch_len: 2,
            ..Limits::default()
        };
        let answers = r#"[{"jsonrpc":"2.0","result":[[[[[1]]]]],"id":1},{"jsonrpc":"2.0","result":2,"id":2},{"jsonrpc":"2.0","result":3,"id":3}]"#;
        let message = parse(answers.as_bytes(), &limits).unwrap();
        assert!(message.is_answer());
        let (batch, replies) = message.into_replies();
        assert!(batch);
        assert_eq!(replies.len(), 3);
        let calls = r#"[{"jsonrpc":"2.0","method":"a","id":1},{"jsonrpc":"2.0","method":"a","id":2},{"jsonrpc":"2.0","method":"a","id":3}]"#;
        assert!(matches!(
            parse(calls.as_bytes(), &limits),
            Err(Rejected::TooLong { len: 3, limit: 2 })
        ));
        // A response first does not let calls through.
        let smuggled =
            r#"[{"jsonrpc":"2.0","result":0,"id":0},{"jsonrpc":"2.0","method":"a","id":1},1,1]"#;
        assert!(matches!(
            parse(smuggled.as_bytes(), &limits),
            Err(Rejected::TooLong { len: 4, limit: 2 })
        ));
    }

    #[test]
    fn a_request_is_not_an_answer() {
        let message = parse(
            br#"{"jsonrpc":"2.0","method":"m","id":1}"#,
            &Limits::default(),
        )
        .unwrap();
        assert!(!message.is_answer());
        let (_, replies) = message.into_replies();
        assert_eq!(replies[0].id, Some(Id::from(1u64)));
        assert!(matches!(
            replies[0].outcome,
            Err(InvalidResponse::NeitherResultNorError)
        ));
    }
}
