//! Server-sent events on the HTTP route: a call POSTed with `Accept:
//! text/event-stream`, or `GET /?method=NAME&params=JSON`, is answered as an
//! event stream (the answer, then the subscription's notifications with an
//! `id:` each, the end, then the stream closes). Read here byte for byte on
//! plain sockets, against the calculator example run as a process and
//! against servers built in the test (keep-alive interval, lag); the last
//! test opens the streams from a real browser's `EventSource`
//! (tests/peers/eventsource.js), which reconnects with `Last-Event-ID`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::calculator::Served;
use rpc::subscription::{Retention, Topics};
use rpc::{rpc, Context, ErrorObject, Subscription};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any one event may take to come.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 exchange, its body read as the server writes it.

/// How the response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delimited {
    Chunked,
    Length(usize),
    Close,
}

/// One piece of an event stream: an event, or a comment line (its text).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Event(Event),
    Comment(String),
}

/// An event as it travelled: its `id:` (if any), its `data:` as JSON, and
/// its exact text.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: Option<String>,
    data: Value,
    text: String,
}

/// A request written on a socket and its response, read as it comes: the
/// head at once, the body (chunked transfer decoded) piece by piece.
struct Exchange {
    socket: TcpStream,
    status: u16,
    headers: Vec<(String, String)>,
    delimited: Delimited,
    /// Bytes read and not yet decoded.
    raw: Vec<u8>,
    /// Body bytes decoded and not yet taken as pieces.
    body: Vec<u8>,
    /// The body's end was read.
    ended: bool,
    /// The connection closed before the body's end.
    cut: bool,
}

impl Exchange {
    /// Connects to `addr` and writes `request`.
    async fn send(addr: &str, request: &str) -> Exchange {
        let socket = TcpStream::connect(addr).await.expect("connecting");
        Exchange::over(socket, request.as_bytes()).await
    }

    /// Writes `request` on `socket` and reads the response's head.
    async fn over(mut socket: TcpStream, request: &[u8]) -> Exchange {
        socket
            .write_all(request)
            .await
            .expect("writing the request");
        Exchange::answer(socket).await
    }

    /// Reads the response's head from `socket` (its request written).
    async fn answer(mut socket: TcpStream) -> Exchange {
        let mut raw = Vec::new();
        let head_end = loop {
            if let Some(at) = find(&raw, b"\r\n\r\n") {
                break at;
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
                .await
                .expect("a response head within 5 s")
                .expect("reading the response head");
            assert!(
                n > 0,
                "closed before a response head: {:?}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8(raw[..head_end].to_vec()).expect("a text head");
        raw.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let delimited = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            Delimited::Chunked
        } else if let Some(len) = get("content-length") {
            Delimited::Length(len.parse().expect("a content length"))
        } else {
            Delimited::Close
        };
        let mut exchange = Exchange {
            socket,
            status,
            headers,
            delimited,
            raw,
            body: Vec::new(),
            ended: false,
            cut: false,
        };
        exchange.decode();
        exchange
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Moves what `raw` holds of the body into `body`.
    fn decode(&mut self) {
        while !self.ended {
            match self.delimited {
                Delimited::Chunked => {
                    let Some(eol) = find(&self.raw, b"\r\n") else {
                        return;
                    };
                    let line = std::str::from_utf8(&self.raw[..eol]).expect("a chunk size");
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16)
                        .unwrap_or_else(|_| panic!("a chunk size, not {line:?}"));
                    if size == 0 {
                        self.ended = true;
                        return;
                    }
                    if self.raw.len() < eol + 2 + size + 2 {
                        return;
                    }
                    let data = eol + 2..eol + 2 + size;
                    self.body.extend_from_slice(&self.raw[data.clone()]);
                    assert_eq!(&self.raw[data.end..data.end + 2], b"\r\n", "chunk framing");
                    self.raw.drain(..data.end + 2);
                }
                Delimited::Length(left) => {
                    let n = left.min(self.raw.len());
                    self.body.extend(self.raw.drain(..n));
                    self.delimited = Delimited::Length(left - n);
                    if left == n {
                        self.ended = true;
                    }
                    return;
                }
                Delimited::Close => {
                    self.body.append(&mut self.raw);
                    return;
                }
            }
        }
    }

    /// Reads more of the body: `false` once it has ended (or the connection
    /// closed). Cancel safe: what was read is kept.
    async fn more(&mut self) -> bool {
        if self.ended {
            return false;
        }
        let mut buf = [0u8; 16 * 1024];
        // A reset ends the body as a close does.
        let n = self.socket.read(&mut buf).await.unwrap_or_default();
        if n == 0 {
            self.cut = self.delimited != Delimited::Close;
            self.ended = true;
            return false;
        }
        self.raw.extend_from_slice(&buf[..n]);
        self.decode();
        true
    }

    /// The next piece of the stream, `None` once the body has ended; fails
    /// if none comes within `within`.
    async fn piece_within(&mut self, within: Duration) -> Option<Piece> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = find(&self.body, b"\n\n") {
                let text =
                    String::from_utf8(self.body.drain(..end + 2).collect()).expect("UTF-8 events");
                return Some(parse_piece(text));
            }
            if self.ended {
                assert!(
                    self.body.is_empty(),
                    "the body ended inside an event: {:?}",
                    String::from_utf8_lossy(&self.body)
                );
                return None;
            }
            tokio::time::timeout_at(deadline, self.more())
                .await
                .unwrap_or_else(|_| panic!("nothing on the stream within {within:?}"));
        }
    }

    async fn piece(&mut self) -> Option<Piece> {
        self.piece_within(WAIT).await
    }

    /// The next event, keep-alive comments skipped.
    async fn event(&mut self) -> Event {
        loop {
            match self.piece().await {
                Some(Piece::Event(event)) => return event,
                Some(Piece::Comment(_)) => {}
                None => panic!("the stream ended where an event was expected"),
            }
        }
    }

    /// Asserts that the stream ends next (the last chunk, not a cut).
    async fn ends(&mut self) {
        loop {
            match self.piece().await {
                None => break,
                Some(Piece::Comment(_)) => {}
                Some(Piece::Event(event)) => panic!("an event after the end: {}", event.text),
            }
        }
        assert!(!self.cut, "the connection was cut before the body's end");
    }

    /// The whole body, as text.
    async fn text(&mut self) -> String {
        while tokio::time::timeout(WAIT, self.more())
            .await
            .expect("the body within 5 s")
        {}
        String::from_utf8(std::mem::take(&mut self.body)).expect("a text body")
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_piece(text: String) -> Piece {
    if text.starts_with(':') {
        return Piece::Comment(text);
    }
    let (mut id, mut data) = (None, Vec::new());
    for line in text.trim_end_matches('\n').split('\n') {
        match line.split_once(": ") {
            Some(("id", value)) => id = Some(value.to_owned()),
            Some(("data", value)) => data.push(value),
            _ => panic!("an unexpected line {line:?} in {text:?}"),
        }
    }
    let data = serde_json::from_str(&data.join("\n"))
        .unwrap_or_else(|e| panic!("event data that is not JSON ({e}): {text:?}"));
    Piece::Event(Event { id, data, text })
}

/// `POST /` of `body` with this `Accept` (if any) and more header lines.
fn post(addr: &str, body: &str, accept: Option<&str>, extra: &str) -> String {
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\n{accept}Content-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// `GET /?QUERY` asking for an event stream, with more header lines.
fn get(addr: &str, query: &str, extra: &str) -> String {
    format!("GET /?{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{extra}\r\n")
}

/// The query of an event stream of `method` with `params`.
fn query(method: &str, params: &Value) -> String {
    let params: String = url_encode(&params.to_string());
    format!("method={method}&params={params}")
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A call of `method` as a request's text.
fn call_text(method: &str, params: Value, id: u64) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string()
}

/// Opens an event stream and checks the head: 200, `text/event-stream`.
async fn open(addr: &str, request: &str) -> Exchange {
    let exchange = Exchange::send(addr, request).await;
    assert_eq!(exchange.status, 200, "{:?}", exchange.headers);
    assert_eq!(exchange.header("content-type"), Some("text/event-stream"));
    assert_eq!(exchange.header("cache-control"), Some("no-store"));
    exchange
}

/// Reads a subscription's answer, the first event: its id. The answer has
/// no `id:` of its own.
async fn subscribed(stream: &mut Exchange) -> String {
    let answer = stream.event().await;
    assert_eq!(answer.id, None, "{}", answer.text);
    assert!(answer.text.starts_with("data: {"), "{}", answer.text);
    answer.data["result"]
        .as_str()
        .unwrap_or_else(|| panic!("a subscription id: {}", answer.text))
        .to_owned()
}

/// Checks a topic item: its `id:` is its event id, its text exactly one
/// `id:` line, one `data:` line; returns the event id.
fn topic_item(event: &Event, subscription: &str, message: &Value) -> String {
    let params = &event.data["params"];
    assert_eq!(event.data["method"], "topic", "{}", event.text);
    assert_eq!(params["subscription"], subscription, "{}", event.text);
    assert_eq!(params["result"], *message, "{}", event.text);
    let id = params["event"].as_str().expect("an event id").to_owned();
    assert_eq!(event.id.as_deref(), Some(id.as_str()), "{}", event.text);
    let data = event
        .text
        .strip_prefix(&format!("id: {id}\ndata: "))
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("not one id line and one data line: {:?}", event.text));
    assert!(!data.contains('\n'), "{:?}", event.text);
    id
}

// ---------------------------------------------------------------------------
// The calculator, and plain calls to it.

/// `calculator serve` on free ports, with more arguments.
async fn calculator(extra: &[&str]) -> Served {
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(common::calculator::binary());
        command
            .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .args(&extra)
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::inherit());
        Served::spawn(command)
    })
    .await
    .unwrap()
}

/// POSTs a call the usual way (no event stream) and returns its result.
async fn call(http: &str, method: &str, params: Value) -> Value {
    let text = reqwest::Client::new()
        .post(http)
        .header("content-type", "application/json")
        .body(call_text(method, params, 1))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

async fn publish(http: &str, topic: &str, message: Value) -> u64 {
    call(http, "publish", json!([topic, message]))
        .await
        .as_u64()
        .expect("a count")
}

// ---------------------------------------------------------------------------
// A service built in the test: topics, for the keep-alive and lag tests.

#[rpc]
trait Feed {
    /// The messages published to `topic` after `since` (or `Last-Event-ID`).
    #[rpc(subscription = "topic", unsubscribe = "unsubscribe_topic")]
    async fn subscribe_topic(
        &self,
        topic: String,
        since: Option<String>,
        ctx: Context,
    ) -> Result<Subscription<Value>, ErrorObject>;
}

#[derive(Clone)]
struct Desk {
    topics: Topics,
}

impl Feed for Desk {
    async fn subscribe_topic(
        &self,
        topic: String,
        since: Option<String>,
        ctx: Context,
    ) -> Result<Subscription<Value>, ErrorObject> {
        let since = since.as_deref().or(ctx.last_event_id());
        self.topics.subscribe_since(&topic, since)
    }
}

// ---------------------------------------------------------------------------
// 1. POST with `Accept: text/event-stream`.

#[tokio::test]
async fn a_subscription_posted_for_an_event_stream_gets_its_answer_then_items_with_their_event_ids()
{
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let body = call_text("subscribe_topic", json!(["news"]), 7);
    let mut stream = open(&addr, &post(&addr, &body, Some("text/event-stream"), "")).await;
    let answer = stream.event().await;
    assert_eq!(answer.id, None);
    assert_eq!(answer.data["id"], 7, "the call's id, echoed");
    let subscription = answer.data["result"].as_str().expect("an id").to_owned();

    let mut ids = Vec::new();
    for n in 1..=3 {
        let message = json!({"n": n, "text": "line\nbreak"});
        assert_eq!(publish(&served.http, "news", message.clone()).await, 1);
        let item = stream.event().await;
        ids.push(topic_item(&item, &subscription, &message));
    }
    // Ids of one topic: distinct, in publishing order.
    let seq = |id: &str| -> u64 { id.rsplit('-').next().unwrap().parse().unwrap() };
    assert!(ids.windows(2).all(|w| seq(&w[0]) < seq(&w[1])), "{ids:?}");
    // A topic nobody subscribed to does not reach the stream: the next
    // event is the next message of "news".
    assert_eq!(publish(&served.http, "sport", json!(0)).await, 0);
    assert_eq!(publish(&served.http, "news", json!("last")).await, 1);
    topic_item(&stream.event().await, &subscription, &json!("last"));
}

#[tokio::test]
async fn a_plain_call_posted_for_an_event_stream_gets_one_event_then_the_stream_ends() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    // A result.
    let body = call_text("add", json!([2, 3]), 1);
    let mut stream = open(&addr, &post(&addr, &body, Some("text/event-stream"), "")).await;
    let answer = stream.event().await;
    assert_eq!(answer.id, None);
    assert_eq!(answer.data, json!({"jsonrpc": "2.0", "result": 5, "id": 1}));
    stream.ends().await;
    // An error.
    let body = call_text("divide", json!([1, 0]), 4);
    let mut stream = open(&addr, &post(&addr, &body, Some("text/event-stream"), "")).await;
    assert_eq!(stream.event().await.data["error"]["code"], -32000);
    stream.ends().await;
    // A subscription refused: its error, then the end (no items follow).
    let body = call_text("subscribe_ticks", json!([0]), 2);
    let mut stream = open(&addr, &post(&addr, &body, Some("text/event-stream"), "")).await;
    let refused = stream.event().await;
    assert_eq!(refused.data["error"]["code"], -32602, "{}", refused.text);
    stream.ends().await;
    // An Accept list naming event streams among others (as browsers write it).
    let body = call_text("add", json!([1, 1]), 3);
    let accept = "application/json;q=0.5, Text/Event-Stream";
    let mut stream = open(&addr, &post(&addr, &body, Some(accept), "")).await;
    assert_eq!(stream.event().await.data["result"], 2);
    stream.ends().await;
}

#[tokio::test]
async fn batches_notifications_and_posts_without_the_accept_get_their_usual_answers() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let sse = Some("text/event-stream");
    // A batch: its JSON array.
    let batch = format!(
        "[{},{}]",
        call_text("add", json!([1, 2]), 1),
        call_text("add", json!([3, 4]), 2)
    );
    let mut answer =
        Exchange::send(&addr, &post(&addr, &batch, sse, "Connection: close\r\n")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let results: Value = serde_json::from_str(&answer.text().await).unwrap();
    let mut sums: Vec<i64> = results
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["result"].as_i64().unwrap())
        .collect();
    sums.sort_unstable();
    assert_eq!(sums, [3, 7]);
    // A notification: 204, no body.
    let note = json!({"jsonrpc": "2.0", "method": "notify_hello", "params": [1]}).to_string();
    let mut answer = Exchange::send(&addr, &post(&addr, &note, sse, "Connection: close\r\n")).await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.text().await, "");
    // Without the Accept: a JSON answer, and a subscription needs a duplex
    // connection as before.
    let body = call_text("add", json!([2, 3]), 1);
    let mut answer =
        Exchange::send(&addr, &post(&addr, &body, None, "Connection: close\r\n")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let value: Value = serde_json::from_str(&answer.text().await).unwrap();
    assert_eq!(value, json!({"jsonrpc": "2.0", "result": 5, "id": 1}));
    let body = call_text("subscribe_topic", json!(["news"]), 1);
    let accept = Some("application/json");
    let mut answer =
        Exchange::send(&addr, &post(&addr, &body, accept, "Connection: close\r\n")).await;
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let value: Value = serde_json::from_str(&answer.text().await).unwrap();
    assert_eq!(value["error"]["code"], -32002, "{value}");
}

// ---------------------------------------------------------------------------
// 2. GET /?method=NAME&params=JSON.

#[tokio::test]
async fn a_get_stream_of_ticks_carries_counted_ids_then_the_end_notice_and_closes() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let mut stream = open(
        &addr,
        &get(&addr, &query("subscribe_ticks", &json!([10, 3])), ""),
    )
    .await;
    let subscription = subscribed(&mut stream).await;
    for (i, id) in ["1", "2", "3"].into_iter().enumerate() {
        let tick = stream.event().await;
        assert_eq!(tick.id.as_deref(), Some(id), "{}", tick.text);
        assert_eq!(
            tick.data,
            json!({"jsonrpc": "2.0", "method": "ticks",
                   "params": {"subscription": subscription, "result": i}})
        );
    }
    // The end notice carries an id too (every event after the answer does).
    let end = stream.event().await;
    assert!(end.id.is_some(), "{}", end.text);
    assert_eq!(
        end.data,
        json!({"jsonrpc": "2.0", "method": "ticks",
               "params": {"subscription": subscription, "error": null}})
    );
    stream.ends().await;

    // Named params, and a plain call, the same way.
    let named = query("subscribe_ticks", &json!({"interval_ms": 1, "count": 2}));
    let mut stream = open(&addr, &get(&addr, &named, "")).await;
    subscribed(&mut stream).await;
    assert_eq!(stream.event().await.data["params"]["result"], 0);
    assert_eq!(stream.event().await.data["params"]["result"], 1);
    assert_eq!(stream.event().await.data["params"]["error"], Value::Null);
    stream.ends().await;
    let mut stream = open(&addr, &get(&addr, &query("add", &json!([20, 22])), "")).await;
    assert_eq!(stream.event().await.data["result"], 42);
    stream.ends().await;
}

#[tokio::test]
async fn a_get_stream_without_a_method_or_with_params_that_are_not_json_is_refused_with_400() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let close = "Connection: close\r\n";
    let mut refused = Exchange::send(&addr, &get(&addr, "params=%5B1%5D", close)).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.header("content-type"), Some("application/json"));
    let error: Value = serde_json::from_str(&refused.text().await).unwrap();
    assert_eq!(error["error"]["code"], -32600, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("method=NAME"),
        "{error}"
    );

    let mut refused = Exchange::send(&addr, &get(&addr, "method=add&params=%5B1%2C", close)).await;
    assert_eq!(refused.status, 400);
    let error: Value = serde_json::from_str(&refused.text().await).unwrap();
    assert_eq!(error["error"]["code"], -32700, "{error}");
    assert_eq!(error["id"], Value::Null, "{error}");
}

// ---------------------------------------------------------------------------
// 3. Resuming with Last-Event-ID.

#[tokio::test]
async fn last_event_id_resumes_after_that_event_with_nothing_missing_or_repeated() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let topic_query = query("subscribe_topic", &json!(["resume"]));
    let mut first = open(&addr, &get(&addr, &topic_query, "")).await;
    let subscription = subscribed(&mut first).await;
    let mut ids = Vec::new();
    for n in 1..=4 {
        publish(&served.http, "resume", json!(n)).await;
        ids.push(topic_item(&first.event().await, &subscription, &json!(n)));
    }
    drop(first);
    // Published while nobody listens (polled: the closed stream's
    // subscription may take a moment to go); retained all the same.
    let deadline = Instant::now() + WAIT;
    let mut published = vec![];
    let mut n = 5;
    loop {
        let reached = publish(&served.http, "resume", json!(n)).await;
        published.push(n);
        n += 1;
        if reached == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream still subscribed"
        );
    }

    // Resumed after the second: 3, 4, what was published meanwhile, then
    // live messages, each once.
    let header = format!("Last-Event-ID: {}\r\n", ids[1]);
    let mut again = open(&addr, &get(&addr, &topic_query, &header)).await;
    let subscription = subscribed(&mut again).await;
    for n in [3, 4].into_iter().chain(published.iter().copied()) {
        let id = topic_item(&again.event().await, &subscription, &json!(n));
        if n <= 4 {
            assert_eq!(id, ids[n as usize - 1], "the same event id again");
        }
    }
    for n in [100, 101] {
        assert_eq!(publish(&served.http, "resume", json!(n)).await, 1);
        topic_item(&again.event().await, &subscription, &json!(n));
    }

    // `since` in the params wins over the header; POSTed the same way.
    let body = call_text("subscribe_topic", json!(["resume", ids[2]]), 1);
    let header = format!("Last-Event-ID: {}\r\n", ids[0]);
    let mut posted = open(
        &addr,
        &post(&addr, &body, Some("text/event-stream"), &header),
    )
    .await;
    let subscription = subscribed(&mut posted).await;
    topic_item(&posted.event().await, &subscription, &json!(4));
}

#[tokio::test]
async fn an_unknown_last_event_id_gets_the_gap_notice_then_every_retained_message() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    for n in 1..=3 {
        assert_eq!(publish(&served.http, "gaps", json!(n)).await, 0);
    }
    let topic_query = query("subscribe_topic", &json!(["gaps"]));
    let mut stream = open(
        &addr,
        &get(&addr, &topic_query, "Last-Event-ID: bogus-7\r\n"),
    )
    .await;
    let subscription = subscribed(&mut stream).await;
    let gap = stream.event().await;
    assert_eq!(
        gap.data,
        json!({"jsonrpc": "2.0", "method": "topic",
               "params": {"subscription": subscription, "gap": true}})
    );
    // It repeats the id it resumed after: no id of the topic's yet.
    assert_eq!(gap.id.as_deref(), Some("bogus-7"), "{}", gap.text);
    for n in 1..=3 {
        topic_item(&stream.event().await, &subscription, &json!(n));
    }
    assert_eq!(publish(&served.http, "gaps", json!(4)).await, 1);
    topic_item(&stream.event().await, &subscription, &json!(4));
}

// ---------------------------------------------------------------------------
// 4. Keep-alive comments.

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments_at_the_interval_set() {
    let topics = Topics::new();
    let methods = Desk {
        topics: topics.clone(),
    }
    .into_rpc();
    let every = Duration::from_millis(150);
    let (addr, _shutdown) =
        common::http_server(rpc::http::Server::new(methods).with_sse_keep_alive(Some(every))).await;
    let addr = addr.to_string();
    let topic_query = query("subscribe_topic", &json!(["quiet"]));
    let mut stream = open(&addr, &get(&addr, &topic_query, "")).await;
    let subscription = subscribed(&mut stream).await;
    let started = Instant::now();
    for _ in 0..3 {
        let piece = stream.piece().await;
        assert_eq!(piece, Some(Piece::Comment(": keep-alive\n\n".into())));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= every * 2 && elapsed < every * 3 + Duration::from_secs(1),
        "three comments after {elapsed:?}"
    );
    // Comments change nothing of the events.
    assert_eq!(topics.publish("quiet", &json!("hi")), 1);
    topic_item(&stream.event().await, &subscription, &json!("hi"));

    // Without a keep-alive, an idle stream gets nothing: the first thing
    // after a quiet while is the next event.
    let methods = Desk {
        topics: topics.clone(),
    }
    .into_rpc();
    let (addr, _shutdown) =
        common::http_server(rpc::http::Server::new(methods).with_sse_keep_alive(None)).await;
    let addr = addr.to_string();
    let mut stream = open(&addr, &get(&addr, &topic_query, "")).await;
    let subscription = subscribed(&mut stream).await;
    // Letting time pass is the point here: long enough for a few comments.
    tokio::time::sleep(every * 4).await;
    assert_eq!(topics.publish("quiet", &json!("again")), 2);
    match stream.piece().await {
        Some(Piece::Event(event)) => {
            topic_item(&event, &subscription, &json!("again"));
        }
        other => panic!("a comment without keep-alive: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 5. Closing the stream unsubscribes.

#[tokio::test]
async fn closing_the_stream_unsubscribes() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let get_stream = get(&addr, &query("subscribe_topic", &json!(["leaving"])), "");
    let body = call_text("subscribe_topic", json!(["leaving"]), 1);
    let post_stream = post(&addr, &body, Some("text/event-stream"), "");
    for request in [get_stream, post_stream] {
        let mut stream = open(&addr, &request).await;
        subscribed(&mut stream).await;
        assert_eq!(publish(&served.http, "leaving", json!("here")).await, 1);
        drop(stream);
        let deadline = Instant::now() + WAIT;
        while publish(&served.http, "leaving", json!("gone?")).await != 0 {
            assert!(
                Instant::now() < deadline,
                "still subscribed 5 s after the stream closed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------
// 6. A subscriber that does not keep up.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_is_not_read_ends_lagged_while_its_queue_stays_within_the_budget() {
    // Retention small, so that what the server holds is the stream's.
    let topics = Topics::new().with_retention(Retention {
        messages: 4,
        age: Duration::ZERO,
        bytes: 1 << 20,
    });
    let connections = rpc::duplex::Connections::new();
    let methods = Desk {
        topics: topics.clone(),
    }
    .into_rpc();
    let server = rpc::http::Server::new(methods).with_connections(connections.clone());
    let (addr, _shutdown) = common::http_server(server).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let addr = addr.to_string();
    let request = get(&addr, &query("subscribe_topic", &json!(["flood"])), "");
    let mut stream = Exchange::over(tcp, request.as_bytes()).await;
    let subscription = subscribed(&mut stream).await;

    // Large messages, published while the stream is not read, until the
    // subscription has left the topic (it ended).
    let pad = "x".repeat(64 * 1024);
    let before = common::resident();
    let (mut published, mut most_queued) = (0u64, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reached = topics.publish("flood", &json!({"n": published, "pad": pad}));
        published += 1;
        most_queued = most_queued.max(connections.queued_bytes());
        if reached == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still subscribed after {published} messages"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "published {published} messages of 64 KiB ({} MiB) to a stream not read: \
         at most {most_queued} bytes queued, resident {} -> {} MiB",
        published * 64 / 1024,
        before >> 20,
        common::resident() >> 20
    );
    assert!(
        most_queued <= rpc::duplex::DuplexConfig::default().max_queued_bytes,
        "{most_queued} bytes queued"
    );

    // Read now: the first messages in order, none skipped, then the end
    // notice -32004 (with the last id again), then the stream closes.
    let mut last_id = None;
    let mut received = 0;
    let end = loop {
        let event = stream.event().await;
        if event.data["params"].get("result").is_none() {
            break event;
        }
        assert_eq!(
            event.data["params"]["result"]["n"], received,
            "in order, none skipped"
        );
        last_id = event.id.clone();
        received += 1;
    };
    assert_eq!(
        end.data,
        json!({"jsonrpc": "2.0", "method": "topic", "params": {"subscription": subscription,
               "error": {"code": -32004, "message": "Subscription lagged"}}})
    );
    assert_eq!(end.id, last_id, "the end repeats the last id");
    assert!(
        received > 0 && received < published,
        "{received} of {published}"
    );
    stream.ends().await;
    // Nothing is left of it on the server.
    let deadline = Instant::now() + WAIT;
    while !connections.is_empty() || connections.queued_bytes() > 0 {
        assert!(
            Instant::now() < deadline,
            "the stream's connection is still registered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------
// 7. Shutdown.

#[tokio::test]
async fn on_sigterm_streams_end_new_ones_get_503_and_the_calculator_exits_0() {
    let mut served = calculator(&[]).await;
    let addr = served.http_addr();
    // Two open streams: endless ticks, and a topic.
    let mut ticks = open(
        &addr,
        &get(&addr, &query("subscribe_ticks", &json!([20])), ""),
    )
    .await;
    subscribed(&mut ticks).await;
    ticks.event().await;
    let body = call_text("subscribe_topic", json!(["news"]), 1);
    let sse = Some("text/event-stream");
    let mut topic = open(&addr, &post(&addr, &body, sse, "")).await;
    subscribed(&mut topic).await;
    // A stream asked for while the server is draining: its request's body
    // is on its way when the signal comes (the server has begun reading it:
    // it said 100 Continue).
    let body = call_text("subscribe_topic", json!(["news"]), 2);
    let mut late = TcpStream::connect(&addr).await.unwrap();
    let head = post(&addr, "", sse, "Expect: 100-continue\r\n").replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", body.len()),
    );
    late.write_all(head.as_bytes()).await.unwrap();
    let mut continued = [0u8; 25];
    tokio::time::timeout(WAIT, late.read_exact(&mut continued))
        .await
        .expect("100 Continue within 5 s")
        .unwrap();
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");

    let signalled = Instant::now();
    served.terminate();
    // The listener closes at once (no drain delay).
    while TcpStream::connect(&addr).await.is_ok() {
        assert!(
            signalled.elapsed() < WAIT,
            "still accepting 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    late.write_all(body.as_bytes()).await.unwrap();
    let mut refused = Exchange::answer(late).await;
    assert_eq!(refused.status, 503);
    let error: Value = serde_json::from_str(&refused.text().await).unwrap();
    assert_eq!(error["error"]["code"], -32099, "{error}");

    // Both streams end (whole, not cut), ticks until then.
    for stream in [&mut ticks, &mut topic] {
        loop {
            match stream.piece().await {
                None => break,
                Some(Piece::Event(event)) => {
                    assert_eq!(event.data["method"], "ticks", "{}", event.text);
                    assert!(
                        event.data["params"].get("result").is_some(),
                        "{}",
                        event.text
                    );
                }
                Some(Piece::Comment(_)) => {}
            }
        }
        assert!(!stream.cut, "the stream was cut, not ended");
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = served.wait_exit(Duration::from_secs(10));
        (status, served)
    })
    .await
    .unwrap()
    .0
    .expect("the calculator did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let took = signalled.elapsed();
    println!("drained and exited {took:?} after SIGTERM");
    assert!(
        took < Duration::from_secs(5),
        "{took:?}: the streams held up the drain"
    );
}

// ---------------------------------------------------------------------------
// 8. Origins.

#[tokio::test]
async fn streams_from_origins_not_allowed_get_403_and_allowed_ones_get_cors() {
    let served = calculator(&["--allowed-origin", "https://a.example"]).await;
    let addr = served.http_addr();
    let ticks = query("subscribe_ticks", &json!([1, 1]));
    let body = call_text("subscribe_ticks", json!([1, 1]), 1);
    let sse = Some("text/event-stream");
    let refused = [
        get(
            &addr,
            &ticks,
            "Origin: https://b.example\r\nConnection: close\r\n",
        ),
        post(
            &addr,
            &body,
            sse,
            "Origin: https://b.example\r\nConnection: close\r\n",
        ),
        get(
            &addr,
            &ticks,
            "Origin: https://a.example.evil\r\nConnection: close\r\n",
        ),
    ];
    for request in refused {
        let mut answer = Exchange::send(&addr, &request).await;
        assert_eq!(answer.status, 403, "{request}");
        assert_eq!(answer.header("access-control-allow-origin"), None);
        let error: Value = serde_json::from_str(&answer.text().await).unwrap();
        assert_eq!(error["error"]["code"], -32600, "{error}");
        assert_eq!(error["error"]["message"], "Origin not allowed");
    }
    let allowed = [
        get(&addr, &ticks, "Origin: https://a.example\r\n"),
        post(&addr, &body, sse, "Origin: https://a.example\r\n"),
        // Programs send no Origin: not a browser, not refused.
        get(&addr, &ticks, ""),
    ];
    for (i, request) in allowed.iter().enumerate() {
        let mut stream = open(&addr, request).await;
        let cors = stream
            .header("access-control-allow-origin")
            .map(str::to_owned);
        let expected = (i < 2).then(|| "https://a.example".to_owned());
        assert_eq!(cors, expected, "{request}");
        subscribed(&mut stream).await;
        assert_eq!(stream.event().await.data["params"]["result"], 0);
        assert_eq!(stream.event().await.data["params"]["error"], Value::Null);
        stream.ends().await;
    }
}

// ---------------------------------------------------------------------------
// 9. A real browser.

/// An event as the page's `EventSource` saw it.
fn seen(event: &Value) -> (&Value, &str) {
    (
        &event["data"],
        event["lastEventId"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_browser_event_source_gets_items_and_resumes_with_last_event_id_after_a_drop() {
    // The page's origin (a proxy the script runs on this port) is allowed.
    let page_port = common::free_port();
    let page_origin = format!("http://127.0.0.1:{page_port}");
    let served = calculator(&["--allowed-origin", &page_origin]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/eventsource.js");
    let target = served.http_addr();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(&target)
            .arg(page_port.to_string())
            .output()
            .expect("running node (tests/peers/install.sh installs what the tests need)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the browser script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("the browser's part took {:?}", started.elapsed());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pageOrigin"], page_origin.as_str());
    assert_eq!(report["pageErrors"], json!([]), "errors in the page");
    // The browser logs the two streams cut, and nothing else.
    assert_eq!(
        report["consoleErrors"],
        json!([
            "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING",
            "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING"
        ])
    );
    // Two subscribers reached by each publish while connected.
    assert_eq!(report["published"], json!([2, 2]));
    assert_eq!(report["live"], 2);

    for name in ["own", "other"] {
        let stream = &report["streams"][name];
        let events = stream["events"].as_array().expect("events");
        let kinds: Value = events
            .iter()
            .map(|e| match e["data"]["params"]["result"]["n"].as_u64() {
                Some(n) => json!(n),
                None => json!("answer"),
            })
            .collect();
        // Answer, 1, 2; dropped; answer again, 3 and 4 (published meanwhile,
        // replayed after the id the browser sent), then 5 live: nothing
        // missing, nothing twice.
        assert_eq!(
            kinds,
            json!(["answer", 1, 2, "answer", 3, 4, 5]),
            "{name}: {events:?}"
        );
        let mut last = String::new();
        for event in events {
            let (data, last_event_id) = seen(event);
            if let Some(id) = data["params"]["event"].as_str() {
                assert_eq!(
                    last_event_id, id,
                    "{name}: lastEventId is the item's event id"
                );
                last = id.to_owned();
            } else {
                assert!(data["result"].is_string(), "{name}: an answer: {data}");
                // An answer has no id: the last one stays.
                assert_eq!(last_event_id, last, "{name}");
            }
        }
        assert_eq!(stream["opens"], 2, "{name}: opened, then reopened once");
        assert_eq!(stream["readyState"], 1, "{name}: open at the end");

        // What the browser sent: the stream's request, then the same with
        // the id of item 2 in Last-Event-ID.
        let requests: Vec<&Value> = report["requests"][name]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .contains("method=subscribe_topic")
            })
            .collect();
        assert_eq!(requests.len(), 2, "{name}: {requests:?}");
        assert_eq!(requests[0]["headers"].get("last-event-id"), None);
        let item_2 = events[2]["data"]["params"]["event"].as_str().unwrap();
        assert_eq!(requests[1]["headers"]["last-event-id"], item_2, "{name}");
        for request in &requests {
            assert_eq!(request["method"], "GET");
            assert_eq!(request["headers"]["accept"], "text/event-stream");
        }
    }
    // The stream from another origin went there with the page's Origin.
    let requests = report["requests"]["other"].as_array().unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r["headers"]["origin"] == page_origin.as_str()),
        "{requests:?}"
    );
}

fn resident_of(pid: u32) -> usize {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

async fn unread_stream(addr: &str, topic: &str) -> Exchange {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    let request = get(addr, &query("subscribe_topic", &json!([topic])), "");
    let mut stream = Exchange::over(tcp, request.as_bytes()).await;
    subscribed(&mut stream).await;
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_lagged_with_its_budget_full_still_ends() {
    let topics = Topics::new().with_retention(Retention {
        messages: 2,
        age: Duration::ZERO,
        bytes: 4 << 20,
    });
    let methods = Desk {
        topics: topics.clone(),
    }
    .into_rpc();
    let server = rpc::http::Server::new(methods).with_sse_keep_alive(Some(Duration::from_secs(1)));
    let (addr, _shutdown) = common::http_server(server).await;
    let mut stream = unread_stream(&addr.to_string(), "flood").await;
    // Each message larger than the connection's whole budget (1 MiB).
    let pad = "x".repeat(1100 * 1024);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut published = 0;
    while !topics.is_empty() {
        topics.publish("flood", &json!({"n": published, "pad": pad}));
        published += 1;
        assert!(Instant::now() < deadline, "still subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reading = Instant::now();
    let mut received = 0;
    let end = loop {
        let piece = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.piece_within(Duration::from_secs(60)).await {
                    Some(Piece::Comment(_)) => {}
                    other => return other,
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the subscription ended {published} messages in, but its stream is still open {:?} after reading resumed: {received} items, then only keep-alives",
                reading.elapsed()
            )
        });
        match piece {
            Some(Piece::Event(e)) if e.data["params"].get("result").is_some() => received += 1,
            other => break other,
        }
    };
    let Some(Piece::Event(end)) = end else {
        panic!("the stream closed without the end notice")
    };
    assert_eq!(end.data["params"]["error"]["code"], -32004, "{}", end.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_not_read_hold_no_more_than_their_byte_budgets() {
    let served = calculator(&[]).await;
    let addr = served.http_addr();
    let pid = served.child.id();
    let mut streams = Vec::new();
    for _ in 0..10 {
        streams.push(unread_stream(&addr, "flood").await);
    }
    let before = resident_of(pid);
    let pad = "x".repeat(1 << 20);
    let messages = 20;
    for n in 0..messages {
        publish(&served.http, "flood", json!({"n": n, "pad": pad})).await;
    }
    let grown = resident_of(pid).saturating_sub(before);
    // Retained messages (shared), per stream its budget and one message
    // in writing, 32 MiB slack.
    let allowed = (messages + streams.len() * 2 + 32) << 20;
    println!(
        "server resident grew {} MiB for {} unread streams of {messages} 1 MiB messages",
        grown >> 20,
        streams.len()
    );
    assert!(
        grown <= allowed,
        "resident grew {} MiB for {} streams (allowed {} MiB)",
        grown >> 20,
        streams.len(),
        allowed >> 20
    );
}
