//! The client engine: ids, request encoding, response validation, typed
//! decoding, batches. Transports only move bytes.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{ErrorObject, Id};

/// A boxed, sendable future, as transports return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything that can go wrong with a call, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a JSON-RPC error object.
    #[error("server returned error {}: {}", .0.code, .0.message)]
    Call(ErrorObject),
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No answer within the allowed time.
    #[error("no response within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The HTTP server answered with an error status.
    #[error("HTTP status {status}: {body}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the body, for the message.
        body: String,
    },
    /// The answer is not JSON at all.
    #[error("response is not JSON: {0}")]
    NotJson(String),
    /// The answer is JSON but not a valid JSON-RPC 2.0 response.
    #[error("invalid JSON-RPC response: {0}")]
    InvalidResponse(String),
    /// The answer's id is not the id of the request.
    #[error("response id {got} does not match request id {expected}")]
    IdMismatch {
        /// The id we sent.
        expected: Id,
        /// The id that came back.
        got: Id,
    },
    /// The result does not decode into the declared type.
    #[error("cannot decode the result of `{method}`: {source}")]
    Decode {
        /// The method called.
        method: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The parameters could not be serialized.
    #[error("cannot encode the parameters: {0}")]
    Encode(serde_json::Error),
    /// The connection closed before the answer arrived.
    #[error("connection closed")]
    Closed,
    /// Another transport failure (I/O, protocol of the carrier).
    #[error("transport error: {0}")]
    Transport(String),
}

impl Error {
    /// The error object the server sent, if this is a JSON-RPC error.
    pub fn error_object(&self) -> Option<&ErrorObject> {
        match self {
            Error::Call(obj) => Some(obj),
            _ => None,
        }
    }

    /// Converts a server error into the application's own error type.
    ///
    /// Returns `Err(self)` when this is not a server error, or the
    /// application type does not recognise it (`TryFrom` failed).
    pub fn application<E: TryFrom<ErrorObject>>(self) -> Result<E, Error> {
        match self {
            Error::Call(obj) => E::try_from(obj.clone()).map_err(|_| Error::Call(obj)),
            other => Err(other),
        }
    }
}

/// One message to send that expects an answer.
#[derive(Debug)]
pub struct Outgoing {
    /// The encoded request or batch.
    pub body: Vec<u8>,
    /// The ids of the requests it carries (one for a single call).
    pub ids: Vec<Id>,
}

/// Moves encoded messages to a server and answers back. Implemented by the
/// HTTP, WebSocket and TCP clients; the engine does everything else.
pub trait Transport: Send + Sync + 'static {
    /// Sends a request (or batch) and returns the raw answer.
    fn request(&self, message: Outgoing) -> BoxFuture<'_, Result<Bytes, Error>>;
    /// Sends a notification (or batch of them); no answer is expected.
    fn notify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<(), Error>>;
}

/// The client engine, generic over the transport. Cheap to clone.
///
/// Generated clients (`<Trait>Client`) wrap one; use it directly to call
/// methods by name.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    next_id: Arc<AtomicU64>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> From<T> for Client {
    fn from(transport: T) -> Self {
        Client::new(transport)
    }
}

impl Client {
    /// A client over `transport`, with no timeout.
    pub fn new(transport: impl Transport) -> Self {
        Client {
            transport: Arc::new(transport),
            next_id: Arc::new(AtomicU64::new(1)),
            timeout: None,
        }
    }

    /// Sets a timeout for every call made through this client (and its clones made after).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The timeout in force, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Calls `method` and decodes its result.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: ParamsBuilder,
    ) -> Result<T, Error> {
        let id = self.id();
        let body = encode(method, params.into_bytes()?.as_deref(), Some(id));
        let answer = self
            .send(Outgoing {
                body,
                ids: vec![Id::from(id)],
            })
            .await?;
        let raw = single_response(&answer, &Id::from(id))?;
        decode_result(method, raw)
    }

    /// Sends `method` as a notification: no id, no answer.
    pub async fn notify(&self, method: &str, params: ParamsBuilder) -> Result<(), Error> {
        let body = encode(method, params.into_bytes()?.as_deref(), None);
        match self.timeout {
            None => self.transport.notify(body).await,
            Some(limit) => tokio::time::timeout(limit, self.transport.notify(body))
                .await
                .unwrap_or(Err(Error::Timeout(limit))),
        }
    }

    /// Starts a batch: several calls in one round trip, results in order.
    pub fn batch(&self) -> Batch<()> {
        Batch {
            client: self.clone(),
            calls: Vec::new(),
            error: None,
            slots: (),
        }
    }

    async fn send(&self, message: Outgoing) -> Result<Bytes, Error> {
        match self.timeout {
            None => self.transport.request(message).await,
            Some(limit) => tokio::time::timeout(limit, self.transport.request(message))
                .await
                .unwrap_or(Err(Error::Timeout(limit))),
        }
    }
}

/// Builds `params` for a call, positional (`[1, 2]`) or named (`{"a":1,"b":2}`).
///
/// Optional parameters that are `None` are left out: dropped from the end
/// of a positional list (sent as `null` in the middle), omitted by name.
///
/// ```
/// use rpc_core::ParamsBuilder;
/// let mut p = ParamsBuilder::new(false);
/// p.push("name", &"Ann");
/// p.push_optional("title", &None::<String>);
/// assert_eq!(p.finish().unwrap().unwrap().get(), r#"["Ann"]"#);
/// ```
#[derive(Debug, Default)]
pub struct ParamsBuilder {
    named: bool,
    /// The params written so far, without the closing bracket.
    out: Vec<u8>,
    /// Optional positional params left out so far: written as `null` only if
    /// a later param follows them.
    skipped: usize,
    error: Option<serde_json::Error>,
}

impl ParamsBuilder {
    /// An empty builder; `named` chooses an object over an array.
    pub fn new(named: bool) -> Self {
        ParamsBuilder {
            named,
            out: Vec::new(),
            skipped: 0,
            error: None,
        }
    }

    fn separator(&mut self) {
        let open = if self.named { b'{' } else { b'[' };
        self.out.push(if self.out.is_empty() { open } else { b',' });
    }

    /// Adds a parameter.
    pub fn push<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) {
        if self.error.is_some() {
            return;
        }
        let start = self.out.len();
        if self.named {
            self.separator();
            if let Err(e) = serde_json::to_writer(&mut self.out, name) {
                self.error = Some(e);
                return;
            }
            self.out.push(b':');
        } else {
            for _ in 0..std::mem::take(&mut self.skipped) {
                self.separator();
                self.out.extend_from_slice(b"null");
            }
            self.separator();
        }
        if let Err(e) = serde_json::to_writer(&mut self.out, value) {
            self.out.truncate(start);
            self.error = Some(e);
        }
    }

    /// Adds an optional parameter; `None` is left out.
    pub fn push_optional<T: Serialize>(&mut self, name: &'static str, value: &Option<T>) {
        match value {
            Some(v) => self.push(name, v),
            None if self.named => {}
            None => self.skipped += 1,
        }
    }

    /// The encoded params as bytes, or `None` when there are none to send.
    fn into_bytes(mut self) -> Result<Option<Vec<u8>>, Error> {
        if let Some(e) = self.error {
            return Err(Error::Encode(e));
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        self.out.push(if self.named { b'}' } else { b']' });
        Ok(Some(self.out))
    }

    /// The encoded params, or `None` when there are none to send.
    pub fn finish(self) -> Result<Option<Box<RawValue>>, Error> {
        match self.into_bytes()? {
            None => Ok(None),
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| Error::Transport(e.to_string()))?;
                RawValue::from_string(text).map(Some).map_err(Error::Encode)
            }
        }
    }
}

/// Encodes one request (`id` given) or notification.
fn encode(method: &str, params: Option<&[u8]>, id: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + method.len() + params.map_or(0, <[u8]>::len));
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    let _ = serde_json::to_writer(&mut out, method);
    if let Some(p) = params {
        out.extend_from_slice(br#","params":"#);
        out.extend_from_slice(p);
    }
    if let Some(id) = id {
        out.extend_from_slice(br#","id":"#);
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.push(b'}');
    out
}

#[derive(Deserialize)]
struct RawResponse<'a> {
    #[serde(borrow, default, deserialize_with = "crate::request::present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "crate::request::present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "crate::request::present")]
    error: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "crate::request::present")]
    id: Option<&'a RawValue>,
}

/// A validated response: its id and its outcome (raw result or error).
struct Answer<'a> {
    id: Id,
    outcome: Result<&'a RawValue, ErrorObject>,
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Error::InvalidResponse(e.to_string()),
        _ => Error::NotJson(format!("{e}: {}", preview(bytes))),
    })
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    format!("{text:?}")
}

fn validate(raw: RawResponse<'_>) -> Result<Answer<'_>, Error> {
    match raw.jsonrpc {
        Some(v) if v.get() == "\"2.0\"" => {}
        Some(v) => {
            return Err(Error::InvalidResponse(format!(
                "`jsonrpc` is {}, expected \"2.0\"",
                v.get()
            )))
        }
        None => return Err(Error::InvalidResponse("missing `jsonrpc`".into())),
    }
    let id = match raw.id {
        Some(id) => Id::from_raw(id)
            .ok_or_else(|| Error::InvalidResponse(format!("invalid id {}", id.get())))?,
        None => return Err(Error::InvalidResponse("missing `id`".into())),
    };
    let outcome = match (raw.result, raw.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(serde_json::from_str::<ErrorObject>(error.get())
            .map_err(|e| Error::InvalidResponse(format!("malformed error object: {e}")))?),
        (Some(_), Some(_)) => {
            return Err(Error::InvalidResponse(
                "both `result` and `error` present".into(),
            ))
        }
        (None, None) => {
            return Err(Error::InvalidResponse(
                "neither `result` nor `error` present".into(),
            ))
        }
    };
    Ok(Answer { id, outcome })
}

/// Validates the answer to a single call with id `expected`.
fn single_response<'a>(bytes: &'a [u8], expected: &Id) -> Result<&'a RawValue, Error> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'{') {
        // Not an object: say whether it is JSON at all.
        parse_json::<serde::de::IgnoredAny>(bytes)?;
        return Err(Error::InvalidResponse(format!(
            "expected a response object, got {}",
            preview(bytes)
        )));
    }
    let answer = validate(parse_json::<RawResponse<'_>>(bytes)?)?;
    match answer.outcome {
        // A server that could not read our request answers with a null id.
        Err(obj) if answer.id == *expected || answer.id == Id::Null => Err(Error::Call(obj)),
        _ if answer.id != *expected => Err(Error::IdMismatch {
            expected: expected.clone(),
            got: answer.id,
        }),
        Ok(raw) => Ok(raw),
        Err(obj) => Err(Error::Call(obj)),
    }
}

fn decode_result<T: DeserializeOwned>(method: &str, raw: &RawValue) -> Result<T, Error> {
    serde_json::from_str(raw.get()).map_err(|source| Error::Decode {
        method: method.to_owned(),
        source,
    })
}

/// One call's raw answer within a batch answer (`None`: the server left it out).
pub type BatchAnswer = Option<Result<Box<RawValue>, Error>>;

/// A typed batch under construction: `S` records the result type of each
/// call so that [`send`](Batch::send) returns a tuple of typed results.
///
/// ```no_run
/// # async fn demo(client: rpc_core::Client) -> Result<(), rpc_core::Error> {
/// use rpc_core::ParamsBuilder;
/// let mut p = ParamsBuilder::new(false);
/// p.push("a", &1);
/// let (one, two) = client.batch().call::<i64>("inc", p).call::<String>("name", ParamsBuilder::new(false)).send().await?;
/// # Ok(()) }
/// ```
#[must_use = "a batch does nothing until sent"]
pub struct Batch<S> {
    client: Client,
    calls: Vec<(String, Id, Vec<u8>)>,
    error: Option<Error>,
    slots: S,
}

/// The typed place of one call's result in a batch.
pub struct Slot<T> {
    index: usize,
    _result: PhantomData<fn() -> T>,
}

/// Appends a slot to a tuple of slots (implemented for up to 12 calls).
pub trait Push<T> {
    /// The tuple with one more slot.
    type Output;
    /// Appends `slot`.
    fn push(self, slot: Slot<T>) -> Self::Output;
}

/// Turns a tuple of slots into a tuple of results.
pub trait Slots {
    /// `(Result<A, Error>, Result<B, Error>, ...)`.
    type Output;
    /// Takes each slot's answer.
    fn take(self, answers: &mut [BatchAnswer], methods: &[String]) -> Self::Output;
}

impl<T> Push<T> for () {
    type Output = (Slot<T>,);
    fn push(self, slot: Slot<T>) -> Self::Output {
        (slot,)
    }
}

impl Slots for () {
    type Output = ();
    fn take(self, _: &mut [BatchAnswer], _: &[String]) {}
}

fn take_slot<T: DeserializeOwned>(
    slot: Slot<T>,
    answers: &mut [BatchAnswer],
    methods: &[String],
) -> Result<T, Error> {
    let method = methods.get(slot.index).map_or("", String::as_str);
    match answers.get_mut(slot.index).and_then(Option::take) {
        Some(Ok(raw)) => decode_result(method, &raw),
        Some(Err(e)) => Err(e),
        None => Err(Error::InvalidResponse(format!(
            "batch answer has no response for `{method}`"
        ))),
    }
}

macro_rules! tuples {
    ($($name:ident)+) => {
        impl<T, $($name),+> Push<T> for ($(Slot<$name>,)+) {
            type Output = ($(Slot<$name>,)+ Slot<T>,);
            #[allow(non_snake_case)]
            fn push(self, slot: Slot<T>) -> Self::Output {
                let ($($name,)+) = self;
                ($($name,)+ slot,)
            }
        }

        impl<$($name: DeserializeOwned),+> Slots for ($(Slot<$name>,)+) {
            type Output = ($(Result<$name, Error>,)+);
            #[allow(non_snake_case)]
            fn take(self, answers: &mut [BatchAnswer], methods: &[String]) -> Self::Output {
                let ($($name,)+) = self;
                ($(take_slot($name, answers, methods),)+)
            }
        }
    };
}

tuples!(A);
tuples!(A B);
tuples!(A B C);
tuples!(A B C D);
tuples!(A B C D E);
tuples!(A B C D E F);
tuples!(A B C D E F G);
tuples!(A B C D E F G H);
tuples!(A B C D E F G H I);
tuples!(A B C D E F G H I J);
tuples!(A B C D E F G H I J K);
tuples!(A B C D E F G H I J K L);

impl<S> Batch<S> {
    /// Adds a call whose result decodes as `T`.
    pub fn call<T>(mut self, method: &str, params: ParamsBuilder) -> Batch<S::Output>
    where
        S: Push<T>,
    {
        let index = self.calls.len();
        let id = self.client.id();
        match params.into_bytes() {
            Ok(params) => self.calls.push((
                method.to_owned(),
                Id::from(id),
                encode(method, params.as_deref(), Some(id)),
            )),
            Err(e) => {
                self.error.get_or_insert(e);
                self.calls
                    .push((method.to_owned(), Id::from(id), Vec::new()));
            }
        }
        Batch {
            client: self.client,
            calls: self.calls,
            error: self.error,
            slots: self.slots.push(Slot {
                index,
                _result: PhantomData,
            }),
        }
    }

    /// Sends every call in one message and returns their results in order.
    ///
    /// The outer `Err` is a failure of the whole round trip (transport,
    /// invalid answer, or the server refusing the whole batch); each inner
    /// result is that call's own outcome.
    pub async fn send(self) -> Result<S::Output, Error>
    where
        S: Slots,
    {
        if let Some(e) = self.error {
            return Err(e);
        }
        let methods: Vec<String> = self.calls.iter().map(|(m, _, _)| m.clone()).collect();
        if self.calls.is_empty() {
            return Ok(self.slots.take(&mut [], &methods));
        }
        let ids: Vec<Id> = self.calls.iter().map(|(_, id, _)| id.clone()).collect();
        let mut body = Vec::new();
        for (_, _, call) in &self.calls {
            body.push(if body.is_empty() { b'[' } else { b',' });
            body.extend_from_slice(call);
        }
        body.push(b']');
        let bytes = self
            .client
            .send(Outgoing {
                body,
                ids: ids.clone(),
            })
            .await?;
        let mut answers = batch_answers(&bytes, &ids)?;
        Ok(self.slots.take(&mut answers, &methods))
    }
}

/// Matches a batch answer's members to our ids.
fn batch_answers(bytes: &[u8], ids: &[Id]) -> Result<Vec<BatchAnswer>, Error> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'{') {
        // The server refused the batch as a whole.
        let answer = validate(parse_json::<RawResponse<'_>>(bytes)?)?;
        return match answer.outcome {
            Err(obj) => Err(Error::Call(obj)),
            Ok(_) => Err(Error::InvalidResponse(
                "a batch was answered with a single result".into(),
            )),
        };
    }
    let members: Vec<RawResponse<'_>> = parse_json(bytes)?;
    let mut answers: Vec<BatchAnswer> = ids.iter().map(|_| None).collect();
    for member in members {
        let answer = validate(member)?;
        let Some(index) = ids.iter().position(|id| *id == answer.id) else {
            if let (Id::Null, Err(obj)) = (&answer.id, &answer.outcome) {
                return Err(Error::Call(obj.clone()));
            }
            return Err(Error::InvalidResponse(format!(
                "batch answer has unknown id {}",
                answer.id
            )));
        };
        answers[index] = Some(match answer.outcome {
            Ok(raw) => Ok(raw.to_owned()),
            Err(obj) => Err(Error::Call(obj)),
        });
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(named: bool, fill: impl FnOnce(&mut ParamsBuilder)) -> Option<String> {
        let mut p = ParamsBuilder::new(named);
        fill(&mut p);
        p.finish().unwrap().map(|raw| raw.get().to_owned())
    }

    #[test]
    fn left_out_optionals_are_null_only_between_values() {
        let fill = |p: &mut ParamsBuilder| {
            p.push("a", &1);
            p.push_optional("b", &None::<i64>);
            p.push("c", &"x");
            p.push_optional("d", &None::<i64>);
        };
        assert_eq!(built(false, fill).as_deref(), Some(r#"[1,null,"x"]"#));
        assert_eq!(built(true, fill).as_deref(), Some(r#"{"a":1,"c":"x"}"#));
        assert_eq!(built(false, |p| p.push_optional("a", &None::<i64>)), None);
        assert_eq!(built(true, |_| {}), None);
    }

    #[test]
    fn a_value_that_cannot_serialize_is_an_encode_error() {
        let mut p = ParamsBuilder::new(false);
        let map: std::collections::HashMap<Vec<u8>, i32> = [(vec![1u8], 1)].into();
        p.push("b", &map);
        assert!(matches!(p.finish(), Err(Error::Encode(_))));
    }
}
