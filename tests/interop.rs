//! Interoperability with independent JSON-RPC implementations from other
//! ecosystems, through the calculator example.
//!
//! 1. Other clients call OUR server (`calculator serve`): node `jayson`
//!    (HTTP, newline TCP, WebSocket), node `json-rpc2` (HTTP without a
//!    Content-Type, raw TCP with concatenated JSON values), node `ws` (raw
//!    text frames), the `jsonframe` library's length-prefix framing (1, 2 and
//!    4 bytes), Python `jsonrpcclient` (HTTP with `requests`, newline TCP) and
//!    plain `curl`.
//!    VS Code's `vscode-jsonrpc` speaks LSP's Content-Length framing over
//!    stdio (spawning `calculator serve --stdio`), TCP and a Unix socket.
//! 2. OUR generated client (`calculator call`) calls other servers: `jayson`
//!    over HTTP, newline TCP and WebSocket, `jayson`'s dispatcher behind
//!    `jsonframe`'s framing, Python `jsonrpcserver` over HTTP, and a
//!    `vscode-jsonrpc` server spawned as a child (`exec:`).
//!
//! The peers live in `tests/peers/`; install them with
//! `sh tests/peers/install.sh` (needs node, npm and python3). A missing peer
//! fails the test with that instruction; nothing is skipped.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::free_port;

/// How long one peer script may run before it counts as hung.
const PEER_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one `calculator call` may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

const INSTALL_HINT: &str = "run `sh tests/peers/install.sh` (from the repository root) to install the interoperability peers";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn peers_dir() -> PathBuf {
    root().join("tests").join("peers")
}

// ---------------------------------------------------------------------------
// Prerequisites: the example binary and the installed peers.
// ---------------------------------------------------------------------------

/// The calculator example binary.
fn calculator() -> &'static Path {
    common::calculator::binary()
}

/// Fails (never skips) when node or the node peers are not installed.
fn require_node() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECK.get_or_init(|| {
        match Command::new("node").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(format!("`node --version` failed: {}", out.status)),
            Err(e) => return Err(format!("cannot run `node`: {e}")),
        }
        let modules = peers_dir().join("node_modules");
        for package in ["jayson", "json-rpc2", "jsonframe", "ws", "vscode-jsonrpc"] {
            if !modules.join(package).join("package.json").exists() {
                return Err(format!(
                    "the node package `{package}` is not installed in {}",
                    modules.display()
                ));
            }
        }
        let lock = std::fs::read(peers_dir().join("package-lock.json")).unwrap_or_default();
        let installed =
            std::fs::read(modules.join(".installed-package-lock.json")).unwrap_or_default();
        if lock != installed {
            return Err(
                "tests/peers/node_modules does not match tests/peers/package-lock.json".into(),
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("interoperability peer missing: {e}\n{INSTALL_HINT}");
    }
}

/// Fails (never skips) when python3 or the Python peers are not installed.
fn require_python() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECK.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import jsonrpcclient, jsonrpcserver, requests"])
            .output()
            .map_err(|e| format!("cannot run `python3`: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "the Python packages are not installed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("interoperability peer missing: {e}\n{INSTALL_HINT}");
    }
}

// ---------------------------------------------------------------------------
// Processes.
// ---------------------------------------------------------------------------

/// Collects everything a pipe delivers, on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = buffer.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buffer
}

fn text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

/// What a finished (or timed-out) process left.
struct Finished {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed after the timeout".to_owned(),
        };
        format!(
            "status: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs a command to completion, killing it after `timeout`.
fn run(mut cmd: Command, timeout: Duration) -> Finished {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    // Let the reader threads see the end of the pipes.
    thread::sleep(Duration::from_millis(20));
    Finished {
        status,
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

/// Kills the process when dropped.
struct Guard {
    child: Child,
    name: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdin: Option<ChildStdin>,
}

impl Guard {
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn log(&self) -> String {
        format!("--- {} stderr ---\n{}", self.name, text(&self.stderr))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// OUR server: `calculator serve` on fresh HTTP and TCP ports.
struct Calculator {
    _guard: Guard,
    http: u16,
    tcp: u16,
}

impl Calculator {
    fn start(framing: &str) -> Calculator {
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let (http, tcp) = (free_port(), free_port());
            let mut child = Command::new(calculator())
                .args(["serve", "--http", &format!("127.0.0.1:{http}")])
                .args(["--tcp", &format!("127.0.0.1:{tcp}")])
                .args(["--framing", framing])
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting the calculator example");
            let stderr = drain(child.stderr.take().unwrap());
            let mut guard = Guard {
                child,
                name: format!("calculator serve --framing {framing}"),
                stderr,
                stdin: None,
            };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Some(status) = guard.exited() {
                    // Most likely a port taken in between: try other ports.
                    last_failure = format!("exited with {status}\n{}", guard.log());
                    break;
                }
                if accepts(http) && accepts(tcp) {
                    return Calculator {
                        _guard: guard,
                        http,
                        tcp,
                    };
                }
                if Instant::now() > deadline {
                    panic!(
                        "the calculator server did not listen within {START_TIMEOUT:?}\n{}",
                        guard.log()
                    );
                }
                thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("the calculator server did not start: {last_failure}");
    }

    fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http)
    }
}

/// A peer server script that prints "listening PORT" and exits when its
/// stdin closes.
struct PeerServer {
    _guard: Guard,
    port: u16,
}

impl PeerServer {
    fn start(program: &str, script: &str, args: &[&str]) -> PeerServer {
        let mut child = Command::new(program)
            .current_dir(peers_dir())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} {script}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let stderr = drain(child.stderr.take().unwrap());
        let guard = Guard {
            child,
            name: format!("{program} {script} {}", args.join(" ")),
            stderr,
            stdin,
        };
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Keep draining after the port line: a peer writing to a
                // closed stdout would die of EPIPE (jsonframe logs there).
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("listening ") {
                        let port = port.trim().parse().expect("a port number");
                        return PeerServer {
                            _guard: guard,
                            port,
                        };
                    }
                }
                Err(_) => panic!(
                    "{} did not report its port within {START_TIMEOUT:?}\n{}",
                    guard.name,
                    guard.log()
                ),
            }
        }
    }
}

/// Runs a peer client script; it must exit 0.
fn peer_client(program: &str, script: &str, args: &[String]) {
    let mut cmd = Command::new(program);
    cmd.current_dir(peers_dir()).arg(script).args(args);
    let started = Instant::now();
    let finished = run(cmd, PEER_TIMEOUT);
    assert!(
        finished.code() == Some(0),
        "`{program} {script} {}` failed after {:?}\n{}",
        args.join(" "),
        started.elapsed(),
        finished.describe()
    );
}

fn node_client(script: &str, args: &[String]) {
    require_node();
    peer_client("node", script, args);
}

// ---------------------------------------------------------------------------
// 1. Independent clients calling OUR server.
// ---------------------------------------------------------------------------

#[test]
fn jayson_http_client_calls_our_server() {
    require_node();
    let server = Calculator::start("newline");
    node_client(
        "jayson_client.js",
        &["http".into(), server.http.to_string()],
    );
}

#[test]
fn jayson_tcp_client_calls_our_server() {
    require_node();
    let server = Calculator::start("newline");
    node_client("jayson_client.js", &["tcp".into(), server.tcp.to_string()]);
}

#[test]
fn jayson_websocket_client_calls_our_server() {
    require_node();
    let server = Calculator::start("newline");
    node_client("jayson_client.js", &["ws".into(), server.http.to_string()]);
}

#[test]
fn json_rpc2_http_client_without_content_type_calls_our_server() {
    require_node();
    let server = Calculator::start("newline");
    node_client(
        "json_rpc2_client.js",
        &["http".into(), server.http.to_string()],
    );
}

#[test]
fn json_rpc2_tcp_client_with_concatenated_json_calls_our_server() {
    require_node();
    let server = Calculator::start("newline");
    node_client(
        "json_rpc2_client.js",
        &["tcp".into(), server.tcp.to_string()],
    );
}

#[test]
fn ws_raw_text_frames_call_our_server() {
    require_node();
    let server = Calculator::start("newline");
    node_client("ws_client.js", &[server.http.to_string()]);
}

fn jsonframe_client(prefix: u8) {
    require_node();
    let server = Calculator::start(&format!("length-prefix-{prefix}"));
    node_client(
        "jsonframe_client.js",
        &[server.tcp.to_string(), prefix.to_string()],
    );
}

#[test]
fn jsonframe_length_prefix_1_client_calls_our_server() {
    jsonframe_client(1);
}

#[test]
fn jsonframe_length_prefix_2_client_calls_our_server() {
    jsonframe_client(2);
}

#[test]
fn jsonframe_length_prefix_4_client_calls_our_server() {
    jsonframe_client(4);
}

/// An answer too large for a 1-byte length prefix (255 bytes) must not take
/// the connection down with the other calls in flight on it.
#[test]
fn jsonframe_length_prefix_1_oversized_answer_keeps_the_connection() {
    require_node();
    let server = Calculator::start("length-prefix-1");
    node_client(
        "jsonframe_client.js",
        &[server.tcp.to_string(), "1".into(), "oversize".into()],
    );
}

#[test]
fn python_jsonrpcclient_http_calls_our_server() {
    require_python();
    let server = Calculator::start("newline");
    peer_client(
        "python3",
        "python_client.py",
        &["http".into(), server.http.to_string()],
    );
}

#[test]
fn python_jsonrpcclient_tcp_calls_our_server() {
    require_python();
    let server = Calculator::start("newline");
    peer_client(
        "python3",
        "python_client.py",
        &["tcp".into(), server.tcp.to_string()],
    );
}

/// POSTs `body` with curl, with no Content-Type header (or the one given);
/// returns the status and the body.
fn curl(url: &str, body: &str, content_type: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--max-time", "20", "-X", "POST"])
        .args([
            "-H",
            &format!("Content-Type:{}", content_type.unwrap_or("")),
        ])
        .args(["-H", "Accept:"])
        .args(["--data-binary", body])
        .args(["--write-out", "\n%{http_code}"])
        .arg(url);
    let finished = run(cmd, Duration::from_secs(30));
    assert_eq!(
        finished.code(),
        Some(0),
        "curl failed (is curl installed?)\n{}",
        finished.describe()
    );
    let (body, status) = finished
        .stdout
        .rsplit_once('\n')
        .expect("curl's --write-out status line");
    (
        status.trim().parse().expect("an HTTP status"),
        body.to_owned(),
    )
}

fn curl_json(url: &str, body: &str) -> Value {
    let (status, text) = curl(url, body, None);
    assert_eq!(status, 200, "request {body} answered {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body} answered non-JSON {text}: {e}"))
}

#[test]
fn curl_without_content_type_calls_our_server() {
    let server = Calculator::start("newline");
    let url = server.http_url();
    let cases = [
        (
            r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#,
            json!({"jsonrpc":"2.0","result":19,"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"subtract","params":{"subtrahend":23,"minuend":42},"id":"s"}"#,
            json!({"jsonrpc":"2.0","result":19,"id":"s"}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#,
            json!({"jsonrpc":"2.0","result":3,"id":2}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"add","params":{"a":1,"b":2},"id":3}"#,
            json!({"jsonrpc":"2.0","result":3,"id":3}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"greet","params":["Ann"],"id":4}"#,
            json!({"jsonrpc":"2.0","result":"Hello, Ann!","id":4}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"greet","params":{"name":"Ann","title":"Dr"},"id":5}"#,
            json!({"jsonrpc":"2.0","result":"Hello, Dr Ann!","id":5}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"divide","params":[1,0],"id":6}"#,
            json!({"jsonrpc":"2.0","error":{"code":-32000,"message":"Division by zero"},"id":6}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"get_data","id":7}"#,
            json!({"jsonrpc":"2.0","result":["hello",5],"id":7}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"math.multiply","params":{"a":6,"b":7},"id":8}"#,
            json!({"jsonrpc":"2.0","result":42,"id":8}),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(curl_json(&url, body), expected, "request {body}");
    }
    let missing = curl_json(&url, r#"{"jsonrpc":"2.0","method":"nope","id":9}"#);
    assert_eq!(missing["error"]["code"], -32601, "{missing}");
    assert_eq!(missing["id"], 9, "{missing}");

    // Notifications: 204, empty body.
    for body in [
        r#"{"jsonrpc":"2.0","method":"notify_hello","params":[7]}"#,
        r#"{"jsonrpc":"2.0","method":"update","params":[1,2,3,4,5]}"#,
        r#"{"jsonrpc":"2.0","method":"nope"}"#,
        r#"[{"jsonrpc":"2.0","method":"notify_sum","params":[1,2,4]},{"jsonrpc":"2.0","method":"notify_hello","params":[7]}]"#,
    ] {
        assert_eq!(curl(&url, body, None), (204, String::new()), "{body}");
    }

    // The specification's batch example.
    let batch = curl_json(
        &url,
        r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#,
    );
    let batch = batch.as_array().expect("a batch answer is an array");
    let find = |id: Value| batch.iter().find(|r| r["id"] == id).cloned();
    assert_eq!(batch.len(), 5, "{batch:?}");
    assert_eq!(find(json!("1")).unwrap()["result"], 7);
    assert_eq!(find(json!("2")).unwrap()["result"], 19);
    assert_eq!(find(json!("5")).unwrap()["error"]["code"], -32601);
    assert_eq!(find(json!("9")).unwrap()["result"], json!(["hello", 5]));
    assert_eq!(find(Value::Null).unwrap()["error"]["code"], -32600);

    // Other Content-Types real clients send are accepted too.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, text) = curl(
            &url,
            r#"{"jsonrpc":"2.0","method":"add","params":[20,22],"id":1}"#,
            Some(content_type),
        );
        assert_eq!(status, 200, "Content-Type {content_type}: {text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"jsonrpc":"2.0","result":42,"id":1}),
            "Content-Type {content_type}"
        );
    }

    // Garbage: a parse error with id null, status 200.
    let garbage = curl_json(&url, r#"{"jsonrpc":"#);
    assert_eq!(garbage["error"]["code"], -32700, "{garbage}");
    assert_eq!(garbage["id"], Value::Null, "{garbage}");
}

#[test]
fn vscode_jsonrpc_client_calls_our_server_over_stdio() {
    node_client(
        "vscode_jsonrpc_client.js",
        &["stdio".into(), calculator().display().to_string()],
    );
}

#[test]
fn vscode_jsonrpc_drives_the_language_server_example_over_stdio() {
    let server = common::calculator::example("language_server");
    node_client("language_server_client.js", &[server.display().to_string()]);
}

/// `calculator serve --tcp 127.0.0.1:0 --unix PATH --framing content-length`,
/// and what it printed: its TCP address and socket path.
fn content_length_server(dir: &Path) -> (Guard, String, String) {
    let path = dir.join("calculator.sock");
    let mut child = Command::new(calculator())
        .args(["serve", "--tcp", "127.0.0.1:0", "--unix"])
        .arg(&path)
        .args(["--framing", "content-length"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the calculator example");
    let stderr = drain(child.stderr.take().unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let (tcp, unix) = (next(), next());
    let guard = Guard {
        child,
        name: "calculator serve --tcp --unix --framing content-length".into(),
        stderr,
        stdin: None,
    };
    assert_eq!(unix, format!("unix://{}", path.display()));
    let tcp = tcp.strip_prefix("tcp://").expect("tcp://ADDR").to_owned();
    (guard, tcp, path.display().to_string())
}

#[test]
fn vscode_jsonrpc_client_calls_our_server_over_tcp_and_a_unix_socket() {
    require_node();
    let dir = tempdir();
    let (_server, tcp, unix) = content_length_server(&dir);
    let port = tcp.rsplit(':').next().unwrap_or_default().to_owned();
    node_client("vscode_jsonrpc_client.js", &["tcp".into(), port]);
    node_client("vscode_jsonrpc_client.js", &["unix".into(), unix]);
}

/// A fresh directory under the system's temporary one.
fn tempdir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rpc-interop-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[test]
fn newline_stdio_answers_calls_batches_and_notifications() {
    let mut child = Command::new(calculator())
        .args(["serve", "--stdio"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the calculator example");
    let mut stdin = child.stdin.take().unwrap();
    let input = concat!(
        r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"notify_hello","params":[7]}"#,
        "\n",
        r#"[{"jsonrpc":"2.0","method":"add","params":{"a":1,"b":2},"id":"b1"},{"jsonrpc":"2.0","method":"update","params":[1,2,3,4,5]},{"jsonrpc":"2.0","method":"nope","id":"b2"}]"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"sleep","params":[300],"id":2}"#,
        "\n",
    );
    std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap();
    // Closing stdin: the call in flight is still answered, then exit 0.
    drop(stdin);
    let finished = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(finished.elapsed() < Duration::from_secs(10));
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line one JSON message"))
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(answers.contains(&json!({"jsonrpc":"2.0","result":19,"id":1})));
    assert!(answers.contains(&json!({"jsonrpc":"2.0","result":300,"id":2})));
    let batch = answers
        .iter()
        .find(|a| a.is_array())
        .expect("the batch's answer");
    assert_eq!(batch[0], json!({"jsonrpc":"2.0","result":3,"id":"b1"}));
    assert_eq!(batch[1]["error"]["code"], -32601);
    assert_eq!(batch.as_array().map(Vec::len), Some(2));
}

// ---------------------------------------------------------------------------
// 2. OUR generated client calling independent servers.
// ---------------------------------------------------------------------------

/// `calculator call URL ARGS...`.
fn our_call(url: &str, args: &[&str]) -> Finished {
    let mut cmd = Command::new(calculator());
    cmd.arg("call").arg(url).args(args);
    run(cmd, CALL_TIMEOUT)
}

/// Expects exit 0 and `expected` (JSON) on stdout.
fn expect_result(url: &str, args: &[&str], expected: Value) {
    let out = our_call(url, args);
    let context = format!(
        "calculator call {url} {}\n{}",
        args.join(" "),
        out.describe()
    );
    assert_eq!(out.code(), Some(0), "{context}");
    let got: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{context}"));
    assert_eq!(got, expected, "{context}");
}

/// Expects exit 1 with `code` and `message` on stderr, nothing on stdout.
fn expect_error(url: &str, args: &[&str], code: i64, message: &str) {
    let out = our_call(url, args);
    let context = format!(
        "calculator call {url} {}\n{}",
        args.join(" "),
        out.describe()
    );
    assert_eq!(out.code(), Some(1), "{context}");
    assert!(out.stderr.contains(&code.to_string()), "{context}");
    assert!(out.stderr.contains(message), "{context}");
    assert!(out.stdout.trim().is_empty(), "{context}");
}

/// The checks our client runs against every independent server, in both
/// parameter styles. `extra` carries the transport flags (`--framing`).
fn our_client_checks(url: &str, extra: &[&str]) {
    let with = |args: &[&'static str], named: bool| -> Vec<&str> {
        let mut all: Vec<&str> = args.to_vec();
        if named {
            all.push("--named");
        }
        all.extend_from_slice(extra);
        all
    };
    for named in [false, true] {
        expect_result(url, &with(&["add", "1", "2"], named), json!(3));
        expect_result(url, &with(&["subtract", "42", "23"], named), json!(19));
        expect_result(url, &with(&["greet", "Ann"], named), json!("Hello, Ann!"));
        expect_result(
            url,
            &with(&["greet", "Ann", "Dr"], named),
            json!("Hello, Dr Ann!"),
        );
        expect_result(url, &with(&["divide", "7", "2"], named), json!(3.5));
        expect_result(url, &with(&["get_data"], named), json!(["hello", 5]));
        expect_result(url, &with(&["math.multiply", "6", "7"], named), json!(42));
        expect_result(
            url,
            &with(&["echo", r#"{"k":[1,"two",null]}"#], named),
            json!({"k": [1, "two", null]}),
        );
        expect_error(
            url,
            &with(&["divide", "1", "0"], named),
            -32000,
            "Division by zero",
        );
    }
    expect_error(url, &with(&["no_such_method"], false), -32601, "");
    // An application error with data: code, message and data on stderr.
    let out = our_call(url, &with(&["fail_with_data"], false));
    let context = out.describe();
    assert_eq!(out.code(), Some(1), "{context}");
    assert!(out.stderr.contains("4000"), "{context}");
    assert!(out.stderr.contains("custom failure"), "{context}");
    assert!(out.stderr.contains("because"), "{context}");
    // A server that takes too long: a transport failure, exit 2.
    let out = our_call(url, &with(&["sleep", "3000", "--timeout-ms", "200"], false));
    assert_eq!(out.code(), Some(2), "{}", out.describe());
}

fn jayson_server(mode: &str) -> PeerServer {
    require_node();
    PeerServer::start("node", "jayson_server.js", &[mode])
}

#[test]
fn our_client_calls_jayson_http_server() {
    let server = jayson_server("http");
    our_client_checks(&format!("http://127.0.0.1:{}/", server.port), &[]);
}

#[test]
fn our_client_calls_jayson_tcp_server() {
    let server = jayson_server("tcp");
    our_client_checks(&format!("tcp://127.0.0.1:{}", server.port), &[]);
}

#[test]
fn our_client_calls_jayson_websocket_server() {
    let server = jayson_server("ws");
    our_client_checks(&format!("ws://127.0.0.1:{}/", server.port), &[]);
}

/// json-rpc2's WebSocket server answers `{"result": .., "error": null}`.
#[test]
fn our_client_calls_json_rpc2_websocket_server() {
    require_node();
    let server = PeerServer::start("node", "json_rpc2_server.js", &[]);
    let url = format!("ws://127.0.0.1:{}/", server.port);
    expect_result(&url, &["add", "1", "2"], json!(3));
    expect_result(&url, &["subtract", "42", "23"], json!(19));
    expect_result(&url, &["greet", "Ann", "Dr"], json!("Hello, Dr Ann!"));
    expect_result(&url, &["echo", "null"], json!(null));
    expect_result(&url, &["add", "1", "2", "--named"], json!(3));
    // Its WebSocket connection sends an error as a string ("ServerError:
    // Division by zero"), which JSON-RPC 2.0 does not allow: a clear
    // protocol failure (exit 2), not a hang and not a misread.
    let out = our_call(&url, &["divide", "1", "0"]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains("malformed error object"),
        "{}",
        out.describe()
    );
}

fn our_client_calls_jsonframe_server(prefix: u8) {
    let server = jayson_server(&format!("jsonframe-{prefix}"));
    let framing = format!("length-prefix-{prefix}");
    our_client_checks(
        &format!("tcp://127.0.0.1:{}", server.port),
        &["--framing", &framing],
    );
}

#[test]
fn our_client_calls_jsonframe_length_prefix_1_server() {
    our_client_calls_jsonframe_server(1);
}

#[test]
fn our_client_calls_jsonframe_length_prefix_2_server() {
    our_client_calls_jsonframe_server(2);
}

#[test]
fn our_client_calls_jsonframe_length_prefix_4_server() {
    our_client_calls_jsonframe_server(4);
}

#[test]
fn our_client_calls_a_vscode_jsonrpc_server_it_spawns() {
    require_node();
    let script = peers_dir().join("vscode_jsonrpc_server.js");
    let url = format!("exec:node {}", script.display());
    let framing = ["--framing", "content-length"];
    expect_result(
        &url,
        &[&framing[..], &["subtract", "42", "23"]].concat(),
        json!(19),
    );
    expect_result(
        &url,
        &[&framing[..], &["--named", "subtract", "42", "23"]].concat(),
        json!(19),
    );
    expect_result(&url, &[&framing[..], &["nothing"]].concat(), Value::Null);
    expect_error(
        &url,
        &[&framing[..], &["fail"]].concat(),
        -32050,
        "failed on purpose",
    );
}

#[test]
fn our_client_calls_python_jsonrpcserver() {
    require_python();
    let server = PeerServer::start("python3", "python_server.py", &[]);
    our_client_checks(&format!("http://127.0.0.1:{}/", server.port), &[]);
}

/// Notifications sent by `calculator call` must reach the server: the
/// command exits right after sending, so the message has to be on the wire
/// by then. The server records what it received (`notifications_seen`).
fn our_notifications_arrive(url: &str) {
    const COUNT: usize = 10;
    for i in 0..COUNT {
        let n = i.to_string();
        let out = our_call(url, &["notify_hello", &n]);
        assert_eq!(out.code(), Some(0), "{}", out.describe());
    }
    let out = our_call(url, &["notifications_seen"]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let seen: Value = serde_json::from_str(out.stdout.trim()).expect("JSON on stdout");
    let expected: Vec<Value> = (0..COUNT).map(|i| json!(["notify_hello", i])).collect();
    let mut seen = seen.as_array().cloned().unwrap_or_default();
    seen.sort_by_key(|v| v[1].as_u64());
    assert_eq!(
        seen,
        expected,
        "{} of {COUNT} notifications sent with `calculator call {url} notify_hello N` reached the server",
        seen.len()
    );
}

#[test]
fn our_notifications_reach_jayson_http_server() {
    let server = jayson_server("http");
    our_notifications_arrive(&format!("http://127.0.0.1:{}/", server.port));
}

#[test]
fn our_notifications_reach_jayson_tcp_server() {
    let server = jayson_server("tcp");
    our_notifications_arrive(&format!("tcp://127.0.0.1:{}", server.port));
}

#[test]
fn our_notifications_reach_jayson_websocket_server() {
    let server = jayson_server("ws");
    our_notifications_arrive(&format!("ws://127.0.0.1:{}/", server.port));
}

#[test]
fn our_notifications_reach_python_jsonrpcserver() {
    require_python();
    let server = PeerServer::start("python3", "python_server.py", &[]);
    our_notifications_arrive(&format!("http://127.0.0.1:{}/", server.port));
}
