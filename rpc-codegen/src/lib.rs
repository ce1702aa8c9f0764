//! Generates a typed TypeScript client from any OpenRPC document.
//!
//! ```sh
//! cargo run -p rpc-codegen -- typescript http://127.0.0.1:3000/ > calculator.ts
//! cargo run -p rpc-codegen -- typescript openrpc.json > client.ts
//! ```
//!
//! The module exports `class Client` (`new Client(url, { headers?, timeoutMs? })` for
//! `http(s)://` or `ws(s)://`, `close()`, `on(method, handler)` for server
//! notifications on WebSocket, `batch(b => [...])`), `class RpcError`
//! (`code`, `message`, `data`; transport failures reject with a plain
//! `Error`), one exported type per schema of `components/schemas`, and one
//! typed async method per JSON-RPC method: parameters by position, optional
//! ones trailing and omittable, sent as the document's `paramStructure`
//! says; dotted names become nested objects (`client.math.multiply(6, 7)`);
//! notifications resolve once sent; subscriptions (`x-subscription`)
//! resolve to an `AsyncIterable` of items with `unsubscribe()`. No runtime
//! dependency: the `fetch` and `WebSocket` globals. A schema construct
//! TypeScript cannot express becomes `unknown`, with a comment.
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
//! ```

mod types;
mod typescript;

use serde_json::Value;

pub use typescript::typescript;

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
