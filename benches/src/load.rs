//! The load generator: the same code drives every contender.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::servers::BenchClient;

/// How long and how hard to push.
pub struct Settings {
    pub duration: Duration,
    pub rounds: usize,
    pub connections: usize,
}

/// Throughput and latency of one HTTP run.
pub struct HttpStats {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// The HTTP request every contender gets: `body` posted to `/`, with the
/// bearer token the observed servers check.
fn post_request(addr: SocketAddr, body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer {}\r\ncontent-length: {}\r\n\r\n{}",
        crate::observed::TOKEN,
        body.len(),
        body
    )
}

/// One keep-alive connection sending `body` and reading each answer before
/// the next request; returns the latencies in microseconds.
async fn http_connection(
    addr: SocketAddr,
    body: Arc<String>,
    stop: Arc<AtomicBool>,
    tls: Option<tokio_rustls::TlsConnector>,
) -> Vec<u32> {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Vec::new();
    };
    let _ = stream.set_nodelay(true);
    match tls {
        None => http_exchanges(addr, BufReader::new(stream), &body, &stop).await,
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from("localhost")
                .expect("a server name")
                .to_owned();
            match tls.connect(name, stream).await {
                Ok(stream) => http_exchanges(addr, BufReader::new(stream), &body, &stop).await,
                Err(_) => Vec::new(),
            }
        }
    }
}

/// Requests one after the other on `stream` until `stop`; the latencies.
async fn http_exchanges<S>(
    addr: SocketAddr,
    mut stream: BufReader<S>,
    body: &str,
    stop: &AtomicBool,
) -> Vec<u32>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = post_request(addr, body);
    let mut latencies = Vec::with_capacity(100_000);
    let mut buf = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .is_err()
        {
            break;
        }
        if read_http_response(&mut stream, &mut buf).await.is_none() {
            break;
        }
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    }
    latencies
}

/// Reads one HTTP/1.1 response with a Content-Length; returns the status.
async fn read_http_response<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    buf: &mut Vec<u8>,
) -> Option<u16> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..header_end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        })
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(status)
}

/// One request's answer (status line and body), to check a server answers
/// what the benchmark expects.
pub async fn probe(addr: SocketAddr, body: &str) -> String {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return String::new();
    };
    let mut stream = BufReader::new(stream);
    let request = post_request(addr, body);
    if stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .is_err()
    {
        return String::new();
    }
    let mut buf = Vec::new();
    read_http_response(&mut stream, &mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Requests/s and latency percentiles at `settings.connections` connections.
pub async fn http(addr: SocketAddr, body: &str, settings: &Settings) -> HttpStats {
    http_over(addr, body, settings, None).await
}

/// As [`http`], over TLS (the server's certificate is for `localhost`).
pub async fn https(
    addr: SocketAddr,
    body: &str,
    settings: &Settings,
    tls: tokio_rustls::TlsConnector,
) -> HttpStats {
    http_over(addr, body, settings, Some(tls)).await
}

async fn http_over(
    addr: SocketAddr,
    body: &str,
    settings: &Settings,
    tls: Option<tokio_rustls::TlsConnector>,
) -> HttpStats {
    let stop = Arc::new(AtomicBool::new(false));
    let body = Arc::new(body.to_owned());
    let tasks: Vec<_> = (0..settings.connections)
        .map(|_| {
            tokio::spawn(http_connection(
                addr,
                body.clone(),
                stop.clone(),
                tls.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(settings.duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
    };
    HttpStats {
        rps: all.len() as f64 / elapsed,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
    }
}

/// Subscription items per second received by `subscribers` WebSocket
/// clients, each subscribed once to `subscribe_numbers`.
pub async fn subscriptions(addr: SocketAddr, subscribers: usize, settings: &Settings) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let items = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..subscribers {
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await
        else {
            continue;
        };
        let subscribe = r#"{"jsonrpc":"2.0","method":"subscribe_numbers","id":1}"#;
        if socket.send(Message::text(subscribe)).await.is_err() {
            continue;
        }
        let (stop, items) = (stop.clone(), items.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match socket.next().await {
                    Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                        items.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
        }));
    }
    rate(&items, &stop, tasks, settings).await
}

/// Items/s counted in `items` over the run's duration, from now (what came
/// while the subscribers were being set up is not counted), then stops the
/// `tasks`.
async fn rate(
    items: &AtomicU64,
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    settings: &Settings,
) -> f64 {
    let (started, before) = (Instant::now(), items.load(Ordering::Relaxed));
    tokio::time::sleep(settings.duration).await;
    let (elapsed, after) = (
        started.elapsed().as_secs_f64(),
        items.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
    (after - before) as f64 / elapsed
}

/// Subscription items/s to `subscribers` server-sent event streams
/// (`POST /` with `Accept: text/event-stream`), read raw: the events are
/// counted by their blank-line ends.
pub async fn sse_subscriptions(addr: SocketAddr, subscribers: usize, settings: &Settings) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let items = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let body = r#"{"jsonrpc":"2.0","method":"subscribe_numbers","id":1}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..subscribers {
        let Ok(mut socket) = TcpStream::connect(addr).await else {
            continue;
        };
        if socket.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        let (stop, items) = (stop.clone(), items.clone());
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut previous = 0u8;
            while !stop.load(Ordering::Relaxed) {
                let Ok(read) = socket.read(&mut buffer).await else {
                    break;
                };
                if read == 0 {
                    break;
                }
                // An event ends with an empty line: "\n\n", perhaps split
                // across reads.
                let mut ends = 0;
                for &byte in &buffer[..read] {
                    if byte == b'\n' && previous == b'\n' {
                        ends += 1;
                    }
                    previous = byte;
                }
                items.fetch_add(ends, Ordering::Relaxed);
            }
        }));
    }
    rate(&items, &stop, tasks, settings).await
}

/// The WebSocket upgrade every contender gets, with the bearer token the
/// observed servers check.
fn ws_request(addr: SocketAddr) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/")
        .into_client_request()
        .expect("a WebSocket URL");
    let bearer = format!("Bearer {}", crate::observed::TOKEN);
    request
        .headers_mut()
        .insert("authorization", bearer.parse().expect("a header value"));
    request
}

/// Most requests in flight per pipelined connection.
const WINDOW: u64 = 128;

/// Pipelined calls/s over WebSocket on `connections` connections.
pub async fn websocket(
    addr: SocketAddr,
    body: &str,
    connections: usize,
    settings: &Settings,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let Ok((socket, _)) = tokio_tungstenite::connect_async(ws_request(addr)).await else {
            continue;
        };
        let (mut sink, mut stream) = socket.split();
        let (stop, done, body) = (stop.clone(), done.clone(), body.to_owned());
        let window = Arc::new(tokio::sync::Semaphore::new(WINDOW as usize));
        let reader_window = window.clone();
        let reader = tokio::spawn(async move {
            let mut answered = 0u64;
            while let Some(Ok(msg)) = stream.next().await {
                if matches!(msg, Message::Text(_) | Message::Binary(_)) {
                    answered += 1;
                    reader_window.add_permits(1);
                }
            }
            answered
        });
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                if sink.send(Message::text(body.clone())).await.is_err() {
                    break;
                }
                sent += 1;
            }
            let _ = sink.close().await;
            let answered = reader.await.unwrap_or(0);
            done.fetch_add(answered.min(sent), Ordering::Relaxed);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(settings.duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}

/// Pipelined calls/s over raw TCP with newline or 4-byte length-prefix framing.
pub async fn tcp(
    addr: SocketAddr,
    body: &str,
    length_prefix: bool,
    connections: usize,
    settings: &Settings,
) -> f64 {
    let connect = move || async move {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    };
    stream(connect, body, length_prefix, connections, settings).await
}

/// Pipelined calls over a Unix socket, newline framing.
pub async fn unix(
    path: std::path::PathBuf,
    body: &str,
    connections: usize,
    settings: &Settings,
) -> f64 {
    let connect = move || {
        let path = path.clone();
        async move { tokio::net::UnixStream::connect(path).await }
    };
    stream(connect, body, false, connections, settings).await
}

/// Pipelined calls to child processes serving on their stdin and stdout
/// (this binary with `--serve-stdio`), one per connection, newline framing.
pub async fn stdio(body: &str, connections: usize, settings: &Settings) -> f64 {
    let connect = || async {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("--serve-stdio")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("no pipes"));
        };
        // The child ends when its stdin closes; killed on drop otherwise.
        tokio::spawn(async move { child.wait().await });
        Ok(tokio::io::join(stdout, stdin))
    };
    stream(connect, body, false, connections, settings).await
}

/// Pipelined calls on `connections` byte streams that `connect` opens.
async fn stream<S, F, Fut>(
    connect: F,
    body: &str,
    length_prefix: bool,
    connections: usize,
    settings: &Settings,
) -> f64
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut frame = Vec::new();
    if length_prefix {
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(body.as_bytes());
    } else {
        frame.extend_from_slice(body.as_bytes());
        frame.push(b'\n');
    }
    let frame = Arc::new(frame);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let Ok(stream) = connect().await else {
            continue;
        };
        let (mut read, mut write) = tokio::io::split(stream);
        let (stop, done, frame) = (stop.clone(), done.clone(), frame.clone());
        let window = Arc::new(tokio::sync::Semaphore::new(WINDOW as usize));
        let reader_window = window.clone();
        let reader = tokio::spawn(async move {
            let mut answered = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let n = match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let count = if length_prefix {
                    pending.extend_from_slice(&buf[..n]);
                    let mut count = 0;
                    let mut at = 0;
                    while pending.len() >= at + 4 {
                        let len = u32::from_be_bytes([
                            pending[at],
                            pending[at + 1],
                            pending[at + 2],
                            pending[at + 3],
                        ]) as usize;
                        if pending.len() < at + 4 + len {
                            break;
                        }
                        at += 4 + len;
                        count += 1;
                    }
                    pending.drain(..at);
                    count
                } else {
                    buf[..n].iter().filter(|&&b| b == b'\n').count()
                };
                answered += count as u64;
                reader_window.add_permits(count);
            }
            answered
        });
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                if write.write_all(&frame).await.is_err() {
                    break;
                }
                sent += 1;
            }
            // Give the last answers a moment, then hang up.
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(write);
            reader.abort();
            let answered = reader.await.unwrap_or(sent);
            done.fetch_add(answered.min(sent), Ordering::Relaxed);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(settings.duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}

/// Time and allocations per in-process call.
pub struct InProcess {
    pub ns_per_call: f64,
    pub allocs_per_call: f64,
}

const IN_PROCESS_CALLS: u64 = 200_000;

pub async fn in_process_ours(dispatcher: &rpc::server::Dispatcher, body: &str) -> InProcess {
    let ctx = rpc::Context::new();
    for _ in 0..1000 {
        std::hint::black_box(dispatcher.handle(body.as_bytes(), &ctx).await);
    }
    let allocs = crate::alloc::start();
    let started = Instant::now();
    for _ in 0..IN_PROCESS_CALLS {
        std::hint::black_box(
            dispatcher
                .handle(std::hint::black_box(body.as_bytes()), &ctx)
                .await,
        );
    }
    finish(started, allocs)
}

pub async fn in_process_jsonrpsee(module: &jsonrpsee::RpcModule<()>, body: &str) -> InProcess {
    for _ in 0..1000 {
        let _ = std::hint::black_box(module.raw_json_request(body, 1).await);
    }
    let allocs = crate::alloc::start();
    let started = Instant::now();
    for _ in 0..IN_PROCESS_CALLS {
        let _ = std::hint::black_box(module.raw_json_request(std::hint::black_box(body), 1).await);
    }
    finish(started, allocs)
}

fn finish(started: Instant, allocs_before: u64) -> InProcess {
    let elapsed = started.elapsed();
    let allocs = crate::alloc::stop() - allocs_before;
    InProcess {
        ns_per_call: elapsed.as_nanos() as f64 / IN_PROCESS_CALLS as f64,
        allocs_per_call: allocs as f64 / IN_PROCESS_CALLS as f64,
    }
}

/// A client measured by [`client`].
#[derive(Clone, Copy, Debug)]
pub enum ClientKind {
    /// Our generated client over HTTP.
    HttpOurs,
    /// jsonrpsee's HTTP client.
    HttpJsonrpsee,
    /// Our generated client over one WebSocket connection.
    WsOurs,
    /// The same through a reconnecting connection (`rpc::reconnect`).
    WsReconnecting,
    /// jsonrpsee's WebSocket client.
    WsJsonrpsee,
}

/// What a client row measures.
pub struct ClientFigures {
    pub calls_per_second: f64,
    /// This process's CPU time (user + system) per call, in µs.
    pub cpu_us_per_call: f64,
    /// Heap allocations per call in this process.
    pub allocs_per_call: f64,
}

/// Drives `kind` against the server at `addr` from 64 concurrent callers
/// calling `subtract`.
pub async fn client(kind: ClientKind, addr: SocketAddr, settings: &Settings) -> ClientFigures {
    let http = format!("http://{addr}/");
    let ws = format!("ws://{addr}/");
    let ours = |client: rpc::Client| {
        move || {
            let client = client.clone();
            async move { client.subtract(42, 23).await.is_ok() }
        }
    };
    match kind {
        ClientKind::HttpOurs => match rpc::http::HttpClient::new(&http) {
            Ok(c) => measure(settings, ours(rpc::Client::new(c))).await,
            Err(_) => ClientFigures::NONE,
        },
        ClientKind::HttpJsonrpsee => {
            match jsonrpsee::http_client::HttpClientBuilder::default().build(&http) {
                Ok(c) => drive_jsonrpsee(c, settings).await,
                Err(_) => ClientFigures::NONE,
            }
        }
        ClientKind::WsOurs => match rpc::ws::connect(&ws, rpc::MethodTable::new()).await {
            Ok(c) => measure(settings, ours(rpc::Client::new(c))).await,
            Err(_) => ClientFigures::NONE,
        },
        ClientKind::WsReconnecting => {
            let endpoint = rpc::ws::endpoint(&ws, rpc::MethodTable::new());
            match rpc::reconnect::Reconnect::new(endpoint).connect().await {
                Ok(c) => measure(settings, ours(rpc::Client::new(c))).await,
                Err(_) => ClientFigures::NONE,
            }
        }
        ClientKind::WsJsonrpsee => match jsonrpsee::ws_client::WsClientBuilder::default()
            .build(&ws)
            .await
        {
            Ok(c) => drive_jsonrpsee(c, settings).await,
            Err(_) => ClientFigures::NONE,
        },
    }
}

impl ClientFigures {
    const NONE: ClientFigures = ClientFigures {
        calls_per_second: 0.0,
        cpu_us_per_call: f64::INFINITY,
        allocs_per_call: f64::INFINITY,
    };
}

/// Calls/s and CPU per call of `call`, driven by [`drive`].
async fn measure<F, Fut>(settings: &Settings, call: F) -> ClientFigures
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let cpu = crate::canned::cpu_seconds();
    let allocs = crate::alloc::start();
    let started = Instant::now();
    let rate = drive(settings, call).await;
    let calls = rate * started.elapsed().as_secs_f64();
    let cpu = crate::canned::cpu_seconds() - cpu;
    let allocs = (crate::alloc::stop() - allocs) as f64;
    let per_call = |total: f64| {
        if calls > 0.0 {
            total / calls
        } else {
            f64::INFINITY
        }
    };
    ClientFigures {
        calls_per_second: rate,
        cpu_us_per_call: per_call(cpu * 1e6),
        allocs_per_call: per_call(allocs),
    }
}

/// Calls/s of a jsonrpsee client (HTTP or WebSocket) calling `subtract`.
async fn drive_jsonrpsee<C>(client: C, settings: &Settings) -> ClientFigures
where
    C: jsonrpsee::core::client::ClientT + Send + Sync + 'static,
{
    let client = Arc::new(client);
    measure(settings, move || {
        let client = client.clone();
        async move {
            client
                .request::<i64, _>("subtract", jsonrpsee::rpc_params![42, 23])
                .await
                .is_ok()
        }
    })
    .await
}

async fn drive<F, Fut>(settings: &Settings, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..settings.connections)
        .map(|_| {
            let (stop, done, call) = (stop.clone(), done.clone(), call.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if call().await {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(settings.duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}
