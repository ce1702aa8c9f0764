//! A small language server built with `#[rpc]` traits, speaking LSP's base
//! protocol (`Content-Length` framing) on stdin and stdout, as editors run
//! language servers.
//!
//! It keeps the open documents' text (full sync), and answers a hover with
//! the word under the cursor and how often it occurs in the document. Once
//! initialized, it asks the editor a question (`window/showMessageRequest`,
//! a request from server to client) and shows the answer in later hovers.
//! Each `#[rpc(params_object)]` method takes LSP's params object whole.
//!
//! ```text
//! cargo run --example language_server     # then speak LSP on stdin
//! ```
//!
//! `tests/language_server.rs` drives it with the `vscode-jsonrpc` package
//! from npm, the library VS Code itself speaks LSP with.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rpc::{rpc, Context, ErrorObject};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `initialize` reads of the editor's params (LSP sends many more
/// fields; serde ignores the rest).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The editor's process id, if it has one.
    pub process_id: Option<i64>,
    /// The editor's name and version.
    pub client_info: Option<ClientInfo>,
}

/// The editor's name and version.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ClientInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: Option<String>,
}

/// What this server can do.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// Capabilities, as LSP names them.
    pub capabilities: Value,
    /// This server's name and version.
    pub server_info: Value,
}

/// A document the editor opened.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DidOpenParams {
    /// The document.
    pub text_document: TextDocumentItem,
}

/// An opened document, its text included.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextDocumentItem {
    /// Its URI.
    pub uri: String,
    /// Its language.
    pub language_id: String,
    /// Its version, growing with each change.
    pub version: i64,
    /// Its whole text.
    pub text: String,
}

/// A change to a document (full sync: each change is the whole new text).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DidChangeParams {
    /// Which document, and its new version.
    pub text_document: VersionedDocument,
    /// The changes, in order.
    pub content_changes: Vec<ContentChange>,
}

/// A document's URI and version.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct VersionedDocument {
    /// Its URI.
    pub uri: String,
    /// Its version.
    pub version: i64,
}

/// One change: the document's whole new text.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ContentChange {
    /// The text.
    pub text: String,
}

/// Where the cursor is, in which document.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoverParams {
    /// The document.
    pub text_document: DocumentId,
    /// The cursor.
    pub position: Position,
}

/// A document's URI.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct DocumentId {
    /// Its URI.
    pub uri: String,
}

/// A zero-based line and character (UTF-16 code units, as LSP counts).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
pub struct Position {
    /// The line.
    pub line: u32,
    /// The character in the line.
    pub character: u32,
}

/// A hover's text, and the word it is about.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Hover {
    /// Markdown.
    pub contents: Value,
    /// The word's range.
    pub range: Value,
}

/// LSP's lifecycle: `initialize`, `initialized`, `shutdown`, `exit`.
#[rpc]
pub trait Lifecycle {
    /// The editor says who it is; the server answers what it can do.
    #[rpc(params_object)]
    async fn initialize(&self, params: InitializeParams) -> InitializeResult;

    /// The editor is ready: the server may now call it.
    #[rpc(notification, params_object)]
    async fn initialized(&self, params: Value, ctx: Context);

    /// Prepare to exit; answers `null`.
    async fn shutdown(&self);

    /// Exit: with code 0 after `shutdown`, else 1.
    #[rpc(notification)]
    async fn exit(&self);
}

/// Documents: opened, changed, hovered.
#[rpc]
pub trait Documents {
    /// A document was opened.
    #[rpc(name = "textDocument/didOpen", notification, params_object)]
    async fn did_open(&self, params: DidOpenParams);

    /// A document changed.
    #[rpc(name = "textDocument/didChange", notification, params_object)]
    async fn did_change(&self, params: DidChangeParams);

    /// The word under the cursor and its count in the document; `null`
    /// when the cursor is on no word.
    #[rpc(name = "textDocument/hover", params_object)]
    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>, ErrorObject>;
}

/// The server's state.
#[derive(Clone, Default)]
struct Server {
    documents: Arc<Mutex<HashMap<String, String>>>,
    /// What the editor answered to the question asked once initialized.
    answer: Arc<Mutex<Option<String>>>,
    shut_down: Arc<AtomicBool>,
    exit: rpc::Shutdown,
}

impl Lifecycle for Server {
    async fn initialize(&self, params: InitializeParams) -> InitializeResult {
        let editor = params.client_info.map_or("an editor".into(), |c| c.name);
        tracing::info!(%editor, process = ?params.process_id, "initialize");
        InitializeResult {
            capabilities: json!({ "textDocumentSync": 1, "hoverProvider": true }),
            server_info: json!({ "name": "word-counter", "version": env!("CARGO_PKG_VERSION") }),
        }
    }

    async fn initialized(&self, _params: Value, ctx: Context) {
        // A request from the server to the editor, answered by the editor.
        let Some(editor) = rpc::duplex::caller(&ctx) else {
            return;
        };
        let answer = self.answer.clone();
        tokio::spawn(async move {
            let mut params = rpc::client::ParamsBuilder::new(true);
            params.push("type", &3);
            params.push("message", "Count words on hover?");
            params.push("actions", &json!([{ "title": "Yes" }, { "title": "No" }]));
            let chosen: Result<Option<Value>, _> = editor
                .client()
                .call("window/showMessageRequest", params)
                .await;
            let title = match chosen {
                Ok(Some(action)) => action["title"].as_str().unwrap_or("?").to_owned(),
                Ok(None) => "dismissed".to_owned(),
                Err(e) => format!("no answer ({e})"),
            };
            *answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(title);
        });
    }

    async fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
    }

    async fn exit(&self) {
        self.exit.trigger();
    }
}

impl Documents for Server {
    async fn did_open(&self, params: DidOpenParams) {
        let document = params.text_document;
        // A stray print, as code under a language server sometimes has: it
        // lands on stderr, since the server moved stdout out of reach.
        println!(
            "opened {} ({}, version {})",
            document.uri, document.language_id, document.version
        );
        self.documents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(document.uri, document.text);
    }

    async fn did_change(&self, params: DidChangeParams) {
        if let Some(change) = params.content_changes.into_iter().last() {
            self.documents
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(params.text_document.uri, change.text);
        }
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>, ErrorObject> {
        let documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        let uri = &params.text_document.uri;
        let text = documents
            .get(uri)
            .ok_or_else(|| ErrorObject::invalid_params(format!("{uri} is not open")))?;
        let Some((word, start, end)) = word_at(text, params.position) else {
            return Ok(None);
        };
        let count = count_word(text, word);
        let answer = self.answer.lock().unwrap_or_else(|e| e.into_inner());
        let mut value = format!("`{word}`: {count} in this document");
        if let Some(answer) = answer.as_deref() {
            value.push_str(&format!(" (counting: {answer})"));
        }
        let line = params.position.line;
        Ok(Some(Hover {
            contents: json!({ "kind": "markdown", "value": value }),
            range: json!({
                "start": { "line": line, "character": start },
                "end": { "line": line, "character": end },
            }),
        }))
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The word at `position` and its start and end (UTF-16 columns).
fn word_at(text: &str, position: Position) -> Option<(&str, u32, u32)> {
    let line = text.lines().nth(usize::try_from(position.line).ok()?)?;
    // Char boundaries with their UTF-16 columns.
    let mut columns = Vec::new();
    let mut column = 0u32;
    for (at, c) in line.char_indices() {
        columns.push((at, column, c));
        column += u32::try_from(c.len_utf16()).ok()?;
    }
    let index = columns
        .iter()
        .position(|&(_, col, _)| col == position.character)?;
    if !is_word(columns[index].2) {
        return None;
    }
    let first = columns[..=index]
        .iter()
        .rposition(|&(_, _, c)| !is_word(c))
        .map_or(0, |i| i + 1);
    let last = columns[index..]
        .iter()
        .position(|&(_, _, c)| !is_word(c))
        .map_or(columns.len(), |i| index + i);
    let (start_byte, start_col) = (columns[first].0, columns[first].1);
    let (end_byte, end_col) = columns
        .get(last)
        .map_or((line.len(), column), |&(at, col, _)| (at, col));
    Some((&line[start_byte..end_byte], start_col, end_col))
}

/// How often `word` occurs in `text` as a whole word.
fn count_word(text: &str, word: &str) -> usize {
    text.split(|c: char| !is_word(c))
        .filter(|w| *w == word)
        .count()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let server = Server::default();
    let methods =
        match Lifecycle::into_rpc(server.clone()).merge(Documents::into_rpc(server.clone())) {
            Ok(methods) => methods,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
    let served = rpc::stdio::StdioServer::new(methods)
        .with_framing(rpc::tcp::Framing::ContentLength)
        .with_shutdown(server.exit.clone())
        .run()
        .await;
    match served {
        Err(e) => {
            eprintln!("cannot serve on stdio: {e}");
            ExitCode::from(2)
        }
        // LSP: exit code 0 after `shutdown`, 1 without it.
        Ok(()) if server.shut_down.load(Ordering::SeqCst) => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_under_the_cursor_and_its_count() {
        let text = "let café = 1;\ncafé + café_x + x";
        let at = |line, character| word_at(text, Position { line, character });
        assert_eq!(at(0, 0), Some(("let", 0, 3)));
        assert_eq!(at(0, 5), Some(("café", 4, 8)));
        assert_eq!(at(0, 8), None);
        assert_eq!(at(1, 10), Some(("café_x", 7, 13)));
        assert_eq!(at(5, 0), None);
        assert_eq!(count_word(text, "café"), 2);
        assert_eq!(count_word(text, "x"), 1);
    }
}
