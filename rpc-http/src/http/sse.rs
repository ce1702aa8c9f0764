//! Server-sent events on the HTTP route: one call, POSTed with `Accept:
//! text/event-stream` or opened by a browser's `EventSource` with `GET
//! /?method=NAME&params=JSON`, answered as an event stream: the call's
//! answer, then (for a subscription) its notifications exactly as they
//! would travel over a WebSocket, the end included, then the stream closes.
//!
//! The call runs on the duplex engine, as over a WebSocket whose peer sends
//! one message: the subscription's byte budget and lag policy (-32004),
//! the server's shared budgets, its connection registry and its shutdown
//! drain all apply. Each event after the answer carries an `id:`: a topic
//! item's event id (which `Last-Event-ID` resumes after, see
//! [`Context::last_event_id`](rpc_core::Context::last_event_id)), else a
//! count. A comment line every [keep-alive](super::Server::with_sse_keep_alive)
//! keeps proxies from cutting an idle stream. Closing the stream
//! unsubscribes.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use futures_util::StreamExt;
use rpc_core::duplex::{DuplexConfig, DuplexConnection, Frame, Incoming};
use rpc_core::{code, ErrorObject, LastEventId, TransportKind};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::serve::Serving;
use super::server::{request_context, Shared};

/// How often an idle event stream gets a comment line by default: 15 s.
pub const DEFAULT_SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The longest `Last-Event-ID` taken; a longer one is ignored.
const MAX_EVENT_ID: usize = 256;

/// Bytes of frames from the engine not yet turned into events: past them
/// the engine's writer waits, and its own queue (bounded in bytes, with
/// the lag policy) holds the rest. One frame larger than this still goes.
const PIPE_BYTES: usize = 64 * 1024;

/// Whether the request asks for an event stream.
pub(crate) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// The call of `GET /?method=NAME&params=JSON`, as a request's text; `Err`
/// is the error (for a 400) of a query without a method, or with params
/// that are not JSON.
pub(crate) fn call_of_query(query: Option<&str>) -> Result<Bytes, ErrorObject> {
    let refused = |message: String| ErrorObject::new(code::INVALID_REQUEST, message);
    let (mut method, mut params) = (None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "method" => method = Some(value),
            "params" => params = Some(value),
            _ => {}
        }
    }
    let Some(method) = method else {
        return Err(refused(
            "an event stream opened with GET names its call: /?method=NAME&params=JSON".into(),
        ));
    };
    let params = match &params {
        Some(params) => Some(
            serde_json::from_str::<&RawValue>(params)
                .map_err(|e| ErrorObject::parse_error(format_args!("params are not JSON: {e}")))?,
        ),
        None => None,
    };
    #[derive(serde::Serialize)]
    struct Call<'a> {
        jsonrpc: &'static str,
        id: u8,
        method: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        params: Option<&'a RawValue>,
    }
    serde_json::to_vec(&Call {
        jsonrpc: "2.0",
        id: 1,
        method: &method,
        params,
    })
    .map(Bytes::from)
    .map_err(|e| refused(e.to_string()))
}

/// Whether `body` is one call (an object with an id): what an event stream
/// answers. A batch or a notification gets its usual answer instead.
pub(crate) fn is_call(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Call<'a> {
        #[serde(borrow, default, deserialize_with = "present")]
        id: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Call<'_>>(body).is_ok_and(|call| call.id.is_some())
}

/// Runs the call `request` and answers with its event stream.
pub(crate) fn open(
    shared: Arc<Shared>,
    parts: axum::http::request::Parts,
    request: Bytes,
) -> Response {
    let subscription = subscription_of(&shared, &request);
    let last_event = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= MAX_EVENT_ID)
        .map(str::to_owned);
    let serving = parts.extensions.get::<Serving>().cloned();
    let mut context = request_context(parts, &shared, TransportKind::Sse);
    if let Some(id) = &last_event {
        context.insert(LastEventId(id.clone()));
    }
    let (outgoing, received) = pipe();
    // The peer sends this one message, then nothing (its end is the
    // response body's: dropped, the engine is closed).
    let incoming = futures_util::stream::iter([Ok(Incoming::Message(request))])
        .chain(futures_util::stream::pending());
    let config = DuplexConfig {
        // Nothing comes back on an event stream: no pings to answer.
        keep_alive: None,
        ..shared.duplex.clone()
    };
    let connection = DuplexConnection::spawn(
        incoming,
        outgoing,
        shared.dispatcher.clone(),
        context,
        Some(&shared.connections),
        config,
    );
    // Counted as a connection of the server until it ends, so that a
    // shutdown drains it and waits for it.
    let held = shared.hold(serving.as_ref());
    let drained = connection.clone();
    tokio::spawn(async move { held.follow(&drained).await });
    let keep_alive = shared.sse_keep_alive;
    let events = Events {
        received,
        phase: Phase::Answer { subscription },
        count: 0,
        last_event,
        ticker: keep_alive.map(|every| {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        }),
        _close: CloseOnDrop(connection),
    };
    let stream = futures_util::stream::unfold(events, |mut events| async move {
        let chunk = events.chunk().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), events))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Nginx buffers answers unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Whether `request` calls a subscription method (then its stream goes on
/// after the answer).
fn subscription_of(shared: &Shared, request: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        method: Cow<'a, str>,
    }
    serde_json::from_slice::<Call<'_>>(request).is_ok_and(|call| {
        shared
            .dispatcher
            .methods()
            .get(&call.method)
            .is_some_and(|m| m.info().subscription.is_some())
    })
}

/// Closes the engine's connection when the response body is dropped (the
/// peer left, or the stream ended): a subscription still open unsubscribes.
struct CloseOnDrop(DuplexConnection);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Where the stream is.
enum Phase {
    /// Before the call's answer.
    Answer { subscription: bool },
    /// The subscription's notifications.
    Items,
    /// The last event went out.
    Done,
}

/// The events of one stream, from the engine's frames.
struct Events {
    received: Received,
    phase: Phase,
    /// Events after the answer that had no event id of their own.
    count: u64,
    /// The last event id sent, or the one the request resumed after.
    last_event: Option<String>,
    ticker: Option<tokio::time::Interval>,
    _close: CloseOnDrop,
}

/// Events written out in one chunk at most, when more are ready at once.
const CHUNK: usize = 64 * 1024;

impl Events {
    /// The next chunk of the stream: the next event (or a keep-alive
    /// comment), with those ready behind it, written once each into one
    /// buffer; `None` once it has ended.
    async fn chunk(&mut self) -> Option<Bytes> {
        let mut chunk = Vec::new();
        if !self.next(&mut chunk).await {
            return None;
        }
        while chunk.len() < CHUNK && self.ready(&mut chunk) {}
        Some(Bytes::from(chunk))
    }

    /// Writes an event already waiting into `out`: whether there was one.
    fn ready(&mut self, out: &mut Vec<u8>) -> bool {
        loop {
            if matches!(self.phase, Phase::Done) {
                return false;
            }
            let Some(frame) = self.received.try_recv() else {
                return false;
            };
            match frame {
                Frame::Message(message) => {
                    if self.event(&message, out) {
                        return true;
                    }
                }
                Frame::Ping => {}
                // Drained or closed: the stream ends after this chunk.
                Frame::Close { .. } => {
                    self.phase = Phase::Done;
                    return false;
                }
            }
        }
    }

    /// Writes the next piece of the stream into `out` (an event, or a
    /// keep-alive comment), waiting for it: `false` once it has ended.
    async fn next(&mut self, out: &mut Vec<u8>) -> bool {
        loop {
            if matches!(self.phase, Phase::Done) {
                return false;
            }
            let frame = match &mut self.ticker {
                Some(ticker) => tokio::select! {
                    frame = self.received.recv() => frame,
                    _ = ticker.tick() => {
                        out.extend_from_slice(b": keep-alive\n\n");
                        return true;
                    }
                },
                None => self.received.recv().await,
            };
            match frame {
                Some(Frame::Message(message)) => {
                    if self.event(&message, out) {
                        return true;
                    }
                }
                Some(Frame::Ping) => {}
                // Drained (the server is shutting down) or closed.
                Some(Frame::Close { .. }) | None => return false,
            }
        }
    }

    /// Writes the event carrying `message` into `out`, advancing the phase:
    /// `false` for a message with no place on this stream (a call of the
    /// server's to its peer, which cannot answer here).
    fn event(&mut self, message: &[u8], out: &mut Vec<u8>) -> bool {
        let Ok(peek) = serde_json::from_slice::<Peek<'_>>(message) else {
            return false;
        };
        match self.phase {
            Phase::Answer { subscription } => {
                if peek.method.is_some() {
                    return false;
                }
                self.phase = if subscription && peek.error.is_none() {
                    Phase::Items
                } else {
                    Phase::Done
                };
                write_event(out, None, message);
                true
            }
            Phase::Items => {
                let Some(params) = peek.params else {
                    return false;
                };
                if params.error.is_some() {
                    self.phase = Phase::Done;
                }
                match params.event {
                    Some(event) => {
                        write_event(out, Some(&event), message);
                        self.last_event = Some(event.into_owned());
                    }
                    // A gap, the end, or an item of a subscription without
                    // event ids: the last id again (a reconnection resumes
                    // where it was), else a count.
                    None => match &self.last_event {
                        Some(last) => write_event(out, Some(last), message),
                        None => {
                            self.count += 1;
                            write_event(out, Some(&self.count.to_string()), message);
                        }
                    },
                }
                true
            }
            Phase::Done => false,
        }
    }
}

/// The frames between the engine's writer and the response body, bounded
/// in bytes ([`PIPE_BYTES`]).
fn pipe() -> (Pipe, Received) {
    let shared = Arc::new(std::sync::Mutex::new(PipeState::default()));
    (Pipe(shared.clone()), Received(shared))
}

#[derive(Default)]
struct PipeState {
    frames: std::collections::VecDeque<Frame>,
    bytes: usize,
    /// The body is gone: the writer fails.
    reader_gone: bool,
    /// The writer finished (or is gone): the body ends once it has all.
    writer_done: bool,
    writer: Option<std::task::Waker>,
    reader: Option<std::task::Waker>,
}

fn frame_bytes(frame: &Frame) -> usize {
    match frame {
        Frame::Message(message) => message.len(),
        Frame::Ping | Frame::Close { .. } => 0,
    }
}

/// The engine's end: a sink of frames that waits while the body holds
/// [`PIPE_BYTES`] it has not taken.
struct Pipe(Arc<std::sync::Mutex<PipeState>>);

impl Pipe {
    fn state(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl futures_util::Sink<Frame> for Pipe {
    type Error = ();

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), ()>> {
        let mut state = self.state();
        if state.reader_gone {
            return std::task::Poll::Ready(Err(()));
        }
        if state.bytes >= PIPE_BYTES {
            state.writer = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(self: std::pin::Pin<&mut Self>, frame: Frame) -> Result<(), ()> {
        let mut state = self.state();
        if state.reader_gone {
            return Err(());
        }
        state.bytes += frame_bytes(&frame);
        state.frames.push_back(frame);
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
        Ok(())
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), ()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), ()>> {
        let mut state = self.state();
        state.writer_done = true;
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let mut state = self.state();
        state.writer_done = true;
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }
}

/// The body's end of the pipe.
struct Received(Arc<std::sync::Mutex<PipeState>>);

impl Received {
    fn state(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next frame, `None` once the writer is done and all is taken.
    async fn recv(&mut self) -> Option<Frame> {
        std::future::poll_fn(|cx| {
            let mut state = self.state();
            if let Some(frame) = Self::take(&mut state) {
                return std::task::Poll::Ready(Some(frame));
            }
            if state.writer_done {
                return std::task::Poll::Ready(None);
            }
            state.reader = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
        .await
    }

    /// A frame already there, if any.
    fn try_recv(&mut self) -> Option<Frame> {
        Self::take(&mut self.state())
    }

    fn take(state: &mut PipeState) -> Option<Frame> {
        let frame = state.frames.pop_front()?;
        state.bytes -= frame_bytes(&frame);
        if let Some(writer) = state.writer.take() {
            writer.wake();
        }
        Some(frame)
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        let mut state = self.state();
        state.reader_gone = true;
        state.frames.clear();
        if let Some(writer) = state.writer.take() {
            writer.wake();
        }
    }
}

/// What the stream reads of a message.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<PeekParams<'a>>,
}

#[derive(Deserialize)]
struct PeekParams<'a> {
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    /// Present (`null` included) on the end notice.
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A field that is there, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Writes one event into `out`: `id: ID` (when given), then the message as
/// its data. A message is one line (the engine writes compact JSON); an
/// event id with a line break is not sent.
fn write_event(out: &mut Vec<u8>, id: Option<&str>, message: &[u8]) {
    out.reserve(message.len() + 16 + id.map_or(0, str::len));
    if let Some(id) = id.filter(|id| !id.contains(['\n', '\r', '\0'])) {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    // JSON text never holds a raw line break inside a string; between
    // tokens it may (a handler's pre-serialized value): each line its own
    // `data:`.
    for line in message.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_are_read_like_browsers_send_them() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_static(v));
            wanted(&h)
        };
        assert!(with("text/event-stream"));
        assert!(with("application/json, Text/Event-Stream;q=0.9"));
        assert!(!with("application/json"));
        assert!(!with("text/event-streamer"));
        assert!(!wanted(&HeaderMap::new()));
    }

    #[test]
    fn a_query_becomes_one_call() {
        let call = call_of_query(Some("method=add&params=%5B1%2C2%5D")).unwrap();
        assert_eq!(
            &call[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#
        );
        let call = call_of_query(Some("method=ticks")).unwrap();
        assert_eq!(&call[..], br#"{"jsonrpc":"2.0","id":1,"method":"ticks"}"#);
        assert!(call_of_query(Some("params=%5B%5D")).is_err());
        assert!(call_of_query(Some("method=add&params=%5B1%2C")).is_err());
        assert!(call_of_query(None).is_err());
    }

    fn frame_event(id: Option<&str>, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_event(&mut out, id, message);
        out
    }

    #[test]
    fn events_carry_their_id_and_every_line_as_data() {
        assert_eq!(
            &frame_event(Some("5-1"), b"{\"a\":1}")[..],
            b"id: 5-1\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            &frame_event(None, b"{\n\"a\":1}")[..],
            b"data: {\ndata: \"a\":1}\n\n"
        );
        // An id that would break the framing is left out.
        assert_eq!(&frame_event(Some("a\nb"), b"1")[..], b"data: 1\n\n");
    }
}
