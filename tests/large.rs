//! Large payloads: a 4 MiB string echoed exactly over HTTP and WebSocket,
//! pre-serialized JSON written byte for byte as it was given, and what a
//! large call costs the server in memory.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc::{rpc, Context, ErrorObject, RawJson};
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[rpc]
trait Large {
    /// The text, as it came.
    async fn echo(&self, text: String) -> String;

    /// The document, as it came (never parsed into values).
    async fn echo_raw(&self, document: RawJson) -> RawJson;

    /// A document kept as text.
    async fn document(&self) -> RawJson;

    /// The same document, as serde_json's raw value.
    async fn raw_value(&self) -> Box<RawValue>;

    /// The document, or an error.
    async fn maybe_document(&self, fail: bool) -> Result<RawJson, ErrorObject>;
}

/// Spaces, newlines and keys out of order: what a serializer would change.
const DOCUMENT: &str = "{ \"z\": 1,\n  \"a\": [true, null, \"\\u00e9\"] }";

struct Service;

impl Large for Service {
    async fn echo(&self, text: String) -> String {
        text
    }

    async fn echo_raw(&self, document: RawJson) -> RawJson {
        document
    }

    async fn document(&self) -> RawJson {
        RawJson::from_string(DOCUMENT.to_owned()).expect("JSON")
    }

    async fn raw_value(&self) -> Box<RawValue> {
        RawValue::from_string(DOCUMENT.to_owned()).expect("JSON")
    }

    async fn maybe_document(&self, fail: bool) -> Result<RawJson, ErrorObject> {
        if fail {
            return Err(ErrorObject::new(-32000, "no document"));
        }
        Ok(self.document().await)
    }
}

const MIB: usize = 1 << 20;

/// One test at a time: one of them reads the process's resident memory,
/// which the others' megabytes would blur.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `len` bytes of base64-like text: nothing to escape.
fn plain(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len)
        .map(|i| ALPHABET[(i * 7 + i / 64) % ALPHABET.len()] as char)
        .collect()
}

/// About `len` bytes of text with something to escape in every line:
/// quotes, backslashes, newlines, tabs, control characters, and text that
/// is not ASCII.
fn mixed(len: usize) -> String {
    let line = "\"quoted\" C:\\path\ttab \u{1} é 漢字 🎉 ";
    let mut text = String::with_capacity(len + 64);
    while text.len() < len {
        text.push_str(&plain(60));
        text.push_str(line);
        text.push('\n');
    }
    text
}

async fn server() -> std::net::SocketAddr {
    let (addr, _stop) = common::http_server(rpc::http::Server::new(Service.into_rpc())).await;
    addr
}

async fn answer(body: &str) -> String {
    let dispatcher = rpc::server::Dispatcher::new(Service.into_rpc());
    let answer = dispatcher
        .handle(body.as_bytes(), &Context::new())
        .await
        .expect("an answer");
    String::from_utf8(answer).expect("UTF-8")
}

#[tokio::test]
async fn a_4_mib_string_echoes_exactly_over_http() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let addr = server().await;
    let client = rpc::Client::new(rpc::http::HttpClient::new(&format!("http://{addr}/")).unwrap());
    echoes_exactly(&client).await;
}

/// 4 MiB of plain text and of text to escape come back as they went.
async fn echoes_exactly(client: &rpc::Client) {
    for text in [plain(4 * MIB), mixed(4 * MIB)] {
        let echoed = client.echo(text.clone()).await.unwrap();
        assert!(echoed == text, "the echo differs");
    }
}

#[tokio::test]
async fn a_4_mib_string_echoes_exactly_over_websocket() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let addr = server().await;
    let connection = rpc::ws::connect(&format!("ws://{addr}/"), rpc::MethodTable::new())
        .await
        .unwrap();
    echoes_exactly(&rpc::Client::new(connection)).await;
}

#[tokio::test]
async fn a_string_result_is_the_text_serde_json_writes() {
    let _alone = ONE_AT_A_TIME.lock().await;
    for text in [
        String::new(),
        "plain".to_owned(),
        plain(70_000),
        mixed(70_000),
        "\u{7f} DEL and \u{1f} unit separator".to_owned(),
        "ends with a backslash \\".to_owned(),
    ] {
        let call =
            serde_json::json!({"jsonrpc": "2.0", "method": "echo", "params": [text], "id": 1});
        let expected = format!(
            r#"{{"jsonrpc":"2.0","result":{},"id":1}}"#,
            serde_json::to_string(&text).unwrap()
        );
        assert!(answer(&call.to_string()).await == expected);
    }
}

#[tokio::test]
async fn pre_serialized_results_are_written_byte_for_byte() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let expected = format!(r#"{{"jsonrpc":"2.0","result":{DOCUMENT},"id":7}}"#);
    for method in ["document", "raw_value"] {
        let call = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":7}}"#);
        assert_eq!(answer(&call).await, expected, "{method}");
    }
    let call = r#"{"jsonrpc":"2.0","method":"maybe_document","params":[false],"id":7}"#;
    assert_eq!(answer(call).await, expected);
    let call = r#"{"jsonrpc":"2.0","method":"maybe_document","params":[true],"id":7}"#;
    assert_eq!(
        answer(call).await,
        r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"no document"},"id":7}"#
    );
    // Over HTTP, the body is the same bytes.
    let addr = server().await;
    let body = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","method":"document","id":7}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, expected);
}

#[tokio::test]
async fn a_raw_json_param_is_taken_as_it_came() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let document = "{ \"b\" : 1, \"a\" : [ 1 ,2 ] }";
    for params in [
        format!("[{document}]"),
        format!("{{\"document\": {document}}}"),
    ] {
        let call = format!(r#"{{"jsonrpc":"2.0","method":"echo_raw","params":{params},"id":1}}"#);
        assert_eq!(
            answer(&call).await,
            format!(r#"{{"jsonrpc":"2.0","result":{document},"id":1}}"#)
        );
    }
    // On the client, a raw result is the text the server wrote.
    let client = rpc::Client::new(rpc::InProcess::new(Service.into_rpc()));
    assert_eq!(client.document().await.unwrap().get(), DOCUMENT);
}

/// `CALLS` echoes of `len` bytes at once over raw HTTP/1.1 connections
/// (requests and answer buffers made before the measurement), `ROUNDS`
/// times; the server's growth in resident memory per call in flight.
async fn memory_per_call(len: usize) -> usize {
    const CALLS: usize = 4;
    const ROUNDS: usize = 3;
    let addr = server().await;
    let body = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
        plain(len)
    );
    let request = Arc::new(
        format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    drop(body);
    let mut connections = Vec::new();
    for _ in 0..CALLS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Room for the whole answer, touched now so that it is resident
        // before the measurement starts.
        connections.push((stream, vec![1u8; len + 4096]));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = common::resident();
    let peak = Arc::new(AtomicUsize::new(0));
    let sampling = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) && peak.load(SeqCst) != usize::MAX {
                peak.fetch_max(common::resident(), SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let calls: Vec<_> = connections
        .into_iter()
        .map(|(mut stream, mut buffer)| {
            let request = request.clone();
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    stream.write_all(&request).await.unwrap();
                    let mut read = 0;
                    // The head, then the body of the length it announces.
                    let expected = loop {
                        let n = stream.read(&mut buffer[read..]).await.unwrap();
                        assert!(n > 0, "the server closed the connection");
                        read += n;
                        if let Some(end) = buffer[..read].windows(4).position(|w| w == b"\r\n\r\n")
                        {
                            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                            let length: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap();
                            break end + 4 + length;
                        }
                    };
                    while read < expected {
                        let n = stream.read(&mut buffer[read..]).await.unwrap();
                        assert!(n > 0, "the server closed the connection");
                        read += n;
                    }
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    let grown = peak.swap(usize::MAX, SeqCst).saturating_sub(before);
    sampling.join().unwrap();
    grown / CALLS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_call_costs_the_server_at_most_three_times_its_payload() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let len = 4 * MIB;
    let per_call = memory_per_call(len).await;
    eprintln!(
        "4 MiB echoes, 4 at a time: the server grew by {:.1} MiB per call ({:.2}x the payload)",
        per_call as f64 / MIB as f64,
        per_call as f64 / len as f64
    );
    assert!(
        per_call <= 3 * len,
        "{per_call} bytes per call of {len} bytes"
    );
}
