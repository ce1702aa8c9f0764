//! Generates a typed TypeScript client from any OpenRPC document.
//!
//! ```sh
//! cargo install --path rpc-codegen     # from a checkout; the binary needs nothing else
//! rpc-codegen typescript http://127.0.0.1:3000/ > calculator.ts
//! rpc-codegen typescript openrpc.json > client.ts
//! cargo run -p rpc-codegen -- typescript openrpc.json > client.ts   # without installing
//! ```
//!
//! The module exports `class Client` (`new Client(url, { headers?, timeoutMs?,
//! token?, reconnect? })` for `http(s)://` or `ws(s)://`, `close()`,
//! `on(method, handler)` for server notifications on WebSocket,
//! `batch(b => [...])`), `class RpcError` (`code`, `message`, `data`;
//! transport failures reject with a plain `Error`), `ErrorCode` (the codes
//! servers of this framework answer with), one exported type per schema of
//! `components/schemas`, and one typed async method per JSON-RPC method:
//! parameters by position, optional ones trailing and omittable, sent as the
//! document's `paramStructure` says; dotted names become nested objects
//! (`client.math.multiply(6, 7)`); notifications resolve once sent;
//! subscriptions (`x-subscription`) resolve to an `AsyncIterable` of items
//! with `unsubscribe()`, `lastEvent` and `gaps` (see
//! [Subscriptions](#subscriptions)), over `ws(s)://` and, as server-sent
//! events, over `http(s)://`. No runtime dependency: the `fetch` and
//! `WebSocket` globals. A schema construct TypeScript cannot express becomes `unknown`,
//! with a comment. It compiles with TypeScript 7 and TypeScript 5 under
//! `tsc --strict --target es2022 --module nodenext --moduleResolution nodenext
//! --skipLibCheck --lib es2022,dom` (and targets down to es2017).
//!
//! # Integers
//!
//! A JavaScript `number` holds integers exactly up to 2^53 - 1. Integers
//! are `number` (DESIGN's contract), and one that a `number` cannot hold
//! exactly never comes back rounded: an answer holding one, at a place whose
//! schema says it can exceed 2^53 - 1, fails with -32603 naming the value
//! and the flag. With [`Options::bigint`] (`rpc-codegen typescript
//! --bigint`), an integer schema that can exceed it is a `bigint`: a `format` of `int64`,
//! `uint64`, `int128`, `uint128`, `int` or `uint` (what schemars writes for
//! `i64`, `u64`, `i128`, `u128`, `isize` and `usize`), unless a `minimum`
//! and a `maximum` both within 2^53 - 1 narrow it; or any `minimum` or
//! `maximum` beyond 2^53 - 1. Results, subscription items and the fields of
//! the exported types read it exactly, however large (`2n ** 60n + 1n`
//! comes back as itself, not as `1152921504606847000`); a method's parameter
//! of that type takes a `number` too (`client.subtract(42, 23)`). A `bigint`
//! anywhere in params is sent as a bare JSON number. Every other integer,
//! and any number inside a value typed `unknown`, is a `number` as before.
//!
//! Reading is exact only where the type says `bigint`: `JSON.parse` has no
//! access to a number's source text in node 20, so before parsing, each
//! integer literal a `number` would round (16 digits or more, and not a
//! safe integer) is rewritten as a string that starts with a marker no
//! string of the text starts with; the module carries, per method, a map of
//! the places its result holds a `bigint` (`Places`), which turn those
//! strings (and plain numbers there) into bigints; any marked literal left
//! becomes a `number`. Texts without a run of 16 digits skip all this.
//!
//! # Subscriptions
//!
//! Over `ws(s)://` a subscription lives on the client's WebSocket. Over
//! `http(s)://` each is an event stream of its own: its call POSTed with
//! `Accept: text/event-stream`, the answer as the first event, then every
//! notification as a WebSocket would carry it, until the end notice.
//! `unsubscribe()` (or leaving a `for await` loop) aborts that request, and
//! the server unsubscribes when the stream closes. The stream is read as the
//! HTML standard says (`data:` lines joined by `\n`, `id:`, comments, CRLF,
//! LF or CR line ends, chunks and UTF-8 characters split anywhere) with
//! `fetch`'s streaming body, which node 20+ and browsers have.
//!
//! The public `Subscription<T>` adds to the items:
//!
//! - `lastEvent`: the event id of the last item read, when the server sends
//!   one beside it (a topic's items carry `"event"`), as the Rust client's
//!   `SubscriptionStream::last_event()`;
//! - `gaps`: how many times items were missed, up to the last item read:
//!   the server said so (`"gap": true`, for a `since` it no longer holds), or
//!   a reconnection had to make the subscription again with no event id to
//!   resume from (as `SubscriptionStream::gaps()`). A gap is no error: the
//!   items after it follow, so a reader that compares `gaps` after each item
//!   knows where one was.
//!
//! Resuming: a subscription method with a parameter named `since` (the
//! generated method passes its position to the runtime) resumes after an
//! event id. When a reconnection makes such a subscription again, its
//! `since` is the event id of the last item received (or, if none came, the
//! `since` it was first given), so that the server replays what was
//! published meanwhile and nothing is lost or repeated; over `http(s)://`
//! the request also carries `Last-Event-ID` (the last `id:` of the stream),
//! as a browser's `EventSource` sends. A subscription that cannot resume
//! starts anew and counts a gap.
//!
//! # Credentials, reconnection, error codes
//!
//! - `token`: over HTTP, the header `Authorization: Bearer TOKEN`; over
//!   WebSocket, whose API (in browsers and node) cannot set headers, the
//!   subprotocol `bearer.TOKEN` offered beside `jsonrpc`, which the server
//!   reads as the same credentials. A token that is no valid subprotocol
//!   (letters, digits, ``!#$%&'*+-.^_`|~``) is refused at `new Client`.
//! - `reconnect` (`true`, or `{ initialDelayMs?, maxDelayMs?, maxAttempts? }`,
//!   defaults 100 ms, 30 s, no limit): over `ws(s)://`, off unless given:
//!   when a WebSocket drops (not by `close()`), calls in flight reject with
//!   an `Error` saying the connection was lost (the server may or may not
//!   have run them); the client reconnects in the background, waiting
//!   between attempts (doubling, capped, each wait between half and all of
//!   it), and makes every subscription still being read again (a new `id`),
//!   resuming those that can (see [Subscriptions](#subscriptions)); a
//!   refusal ends it with that `RpcError`. Calls made meanwhile wait for the
//!   connection within their timeout. Without it, a drop ends every
//!   subscription with an error. Over `http(s)://`, on unless `false`: an
//!   event stream that drops before its end (a network failure, a restart, a
//!   server draining: 503, -32099) is made again with the same back-off; an
//!   error answer other than -32099 or -32005, or a 4xx status, ends it with
//!   that error. With `false`, a drop ends the subscription with an error.
//!   `close()` ends a client's event streams too.
//! - `ErrorCode`: `PARSE_ERROR` (-32700) to `INTERNAL_ERROR` (-32603), then
//!   `UNAUTHORIZED` (-32001), `DUPLEX_REQUIRED` (-32002),
//!   `SUBSCRIPTION_LAGGED` (-32004), `OVERLOADED` (-32005),
//!   `REQUEST_TIMEOUT` (-32097), `REQUEST_TOO_LARGE` (-32098),
//!   `SHUTTING_DOWN` (-32099), `REQUEST_CANCELLED` (-32800): the values of
//!   rpc-core's `code` module.
//!
//! # Names
//!
//! Any document gives a module that compiles under `tsc --strict` and a
//! client that stays a plain working object, whatever its names:
//!
//! - A member (method or namespace, at any level) named like one JavaScript
//!   itself uses on objects takes a `_`: `then` (it would make the client
//!   awaitable: `await client` would send an RPC `then` and never resolve),
//!   `constructor`, `__proto__` (it would replace the object's prototype),
//!   `prototype`, `toString`, `toLocaleString`, `valueOf`, `toJSON`,
//!   `hasOwnProperty`, `isPrototypeOf`, `propertyIsEnumerable`,
//!   `__defineGetter__` and its three kin; so do, on `Client` and `Batch`, `close`,
//!   `on`, `batch` and `connection`, and a method named like a namespace
//!   beside it (`a.b` and `a.b.c`: `client.a.b_`). If that name is taken
//!   too, a number follows (`then_2`). A method of the wire name `then` is
//!   `client.then_(...)`; its documentation gives the wire name.
//! - A dotted name with an empty part or more than 16 parts is not nested:
//!   it is one member of its full name (`client["a..b"]()`).
//! - A parameter that is a reserved word (`default`, `this`, `arguments`,
//!   ...) or the name of a runtime function (`__rpcWire`, `__rpcPositional`,
//!   `__rpcNamed`) takes a `_`; other characters than letters, digits, `_`
//!   and `$` become `_`. On the wire (`paramStructure: "by-name"`) each
//!   keeps its own name.
//! - A schema whose name is a reserved word, one of TypeScript's own types
//!   or type operators (`keyof`, `infer`, `unique`, `readonly`, ...), or a
//!   type the module uses (`Client`, `Promise`, `Map`, ...) takes `Schema`
//!   (`defaultSchema`, `ClientSchema`).
//!
//! Time and memory are linear in the document, and so is the module:
//! renaming looks names up in a set and remembers, per name, the next
//! number to try (never a character more per clash), nothing recurses as deep as a
//! document says (dotted names nest 16 parts at most, inline schemas 24
//! levels), a `type` list names each kind once, and a content descriptor
//! that several methods `$ref` and whose type is longer than 256 characters
//! is written once, as an exported type named after it. Two methods of one
//! name, or two parameters of one method, are an error
//! ([`Error::Duplicates`], naming each), as OpenRPC requires them unique.
//!
//! ```
//! let method = |name: &str| serde_json::json!({
//!     "name": name, "params": [], "result": { "name": "r", "schema": { "type": "string" } }
//! });
//! let document = serde_json::json!({
//!     "openrpc": "1.3.2",
//!     "info": { "title": "hostile", "version": "1.0.0" },
//!     "methods": [method("then"), method("__proto__.ping")]
//! });
//! let module = rpc_codegen::typescript(&document).unwrap();
//! assert!(module.contains("  then_(): Promise<string> {"));
//! assert!(module.contains("  readonly __proto___ = {"));
//!
//! let twice = serde_json::json!({ "methods": [method("then"), method("then")] });
//! let error = rpc_codegen::typescript(&twice).unwrap_err();
//! assert!(error.to_string().contains("method `then` 2 times"), "{error}");
//! ```
//!
//! ```
//! let document = serde_json::json!({
//!     "openrpc": "1.3.2",
//!     "info": { "title": "math", "version": "1.0.0" },
//!     "methods": [{
//!         "name": "add",
//!         "params": [
//!             { "name": "a", "required": true, "schema": { "type": "integer" } },
//!             { "name": "b", "required": true, "schema": { "type": "integer" } }
//!         ],
//!         "result": { "name": "sum", "schema": { "type": "integer" } }
//!     }]
//! });
//! let module = rpc_codegen::typescript(&document).unwrap();
//! assert!(module.contains("add(a: number, b: number): Promise<number>"));
//!
//! // The same method on `i64`: with `bigint`, a `bigint`, and where the result holds one.
//! let wide = serde_json::to_string(&document)
//!     .unwrap()
//!     .replace(r#"{"type":"integer"}"#, r#"{"type":"integer","format":"int64"}"#);
//! let wide = serde_json::from_str(&wide).unwrap();
//! // By default still a `number` (an answer beyond 2^53 - 1 is an error).
//! let module = rpc_codegen::typescript(&wide).unwrap();
//! assert!(module.contains("add(a: number, b: number): Promise<number>"));
//! let options = rpc_codegen::Options::default().bigint(true);
//! let module = rpc_codegen::typescript_with(&wide, options).unwrap();
//! assert!(module.contains("add(a: bigint | number, b: bigint | number): Promise<bigint>"));
//! assert!(module.contains(r#"__rpcWire("add", __rpcPositional([a, b]), false, {"n":true})"#));
//! ```

mod names;
mod places;
mod types;
mod typescript;

use serde_json::Value;

pub use typescript::{typescript, typescript_with, Options};

/// What can go wrong when reading a document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached, or answered with an error.
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// What came back is not JSON.
    #[error("{source_name} is not JSON: {error}")]
    NotJson {
        /// The file or URL.
        source_name: String,
        /// Where parsing stopped.
        error: serde_json::Error,
    },
    /// The JSON is not an OpenRPC document.
    #[error("not an OpenRPC document: {0}")]
    NotOpenRpc(String),
    /// Names OpenRPC requires to be unique are not: two methods of one name,
    /// or two parameters of one method.
    #[error("{}", Duplicate::describe(.0))]
    Duplicates(Vec<Duplicate>),
}

/// A name the document gives more than once where OpenRPC requires it unique.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Duplicate {
    /// The method's name; for a parameter, the method it belongs to.
    pub method: String,
    /// The parameter's name, when parameters of `method` repeat it.
    pub parameter: Option<String>,
    /// How many times the name occurs.
    pub count: usize,
}

impl Duplicate {
    /// How many are named in a message; the rest are counted.
    const SHOWN: usize = 10;

    fn describe(duplicates: &[Duplicate]) -> String {
        let mut text = String::from(
            "duplicate names (OpenRPC requires method names, and each method's parameter names, to be unique): ",
        );
        let shown: Vec<String> = duplicates
            .iter()
            .take(Self::SHOWN)
            .map(ToString::to_string)
            .collect();
        text.push_str(&shown.join("; "));
        if duplicates.len() > Self::SHOWN {
            text.push_str(&format!("; and {} more", duplicates.len() - Self::SHOWN));
        }
        text
    }
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.parameter {
            Some(parameter) => write!(
                f,
                "parameter `{}` of method `{}` {} times",
                abridged(parameter),
                abridged(&self.method),
                self.count
            ),
            None => write!(
                f,
                "method `{}` {} times",
                abridged(&self.method),
                self.count
            ),
        }
    }
}

/// A name as an error message shows it: at most 80 characters.
fn abridged(name: &str) -> String {
    const MAX: usize = 80;
    match name.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}... ({} bytes)", &name[..end], name.len()),
        None => name.to_owned(),
    }
}

/// Reads an OpenRPC document from a file, or from an `http(s)://` URL: a
/// GET first, then a POST of `rpc.discover` if the GET gives no document.
pub fn load(source: &str) -> Result<Value, Error> {
    let document = if source.starts_with("http://") || source.starts_with("https://") {
        fetch(source)?
    } else {
        let text = std::fs::read_to_string(source).map_err(|e| Error::Read {
            path: source.to_owned(),
            source: e,
        })?;
        serde_json::from_str(&text).map_err(|e| Error::NotJson {
            source_name: source.to_owned(),
            error: e,
        })?
    };
    check(&document)?;
    Ok(document)
}

/// Fails unless `document` looks like an OpenRPC document.
fn check(document: &Value) -> Result<(), Error> {
    if !document.is_object() {
        return Err(Error::NotOpenRpc("not a JSON object".into()));
    }
    if !document.get("methods").is_some_and(Value::is_array) {
        return Err(Error::NotOpenRpc("no `methods` list".into()));
    }
    Ok(())
}

fn fetch(url: &str) -> Result<Value, Error> {
    let failed = |reason: String| Error::Fetch {
        url: url.to_owned(),
        reason,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let got = client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if got.status().is_success() {
            let text = got.text().await.map_err(|e| failed(e.to_string()))?;
            if let Ok(document) = serde_json::from_str::<Value>(&text) {
                if check(&document).is_ok() {
                    return Ok(document);
                }
            }
        }
        // Not served at GET: ask for it.
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| failed(e.to_string()))?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| Error::NotJson {
            source_name: format!("{url} (HTTP {status})"),
            error: e,
        })?;
        match (answer.get("result"), answer.get("error")) {
            (Some(document), _) => Ok(document.clone()),
            (None, Some(error)) => Err(failed(format!("rpc.discover failed: {error}"))),
            _ => Err(failed("rpc.discover gave no result".into())),
        }
    })
}
