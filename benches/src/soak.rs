//! The soak: a million calls over HTTP, WebSocket and TCP from 256
//! connections, with batches, notifications, pushes and subscriptions
//! interleaved, while faults are injected:
//!
//! - every client connection goes through a proxy that cuts some
//!   connections after a random number of bytes (mid-message, mostly);
//! - raw connections send half a message and vanish, and slow readers send
//!   calls and subscribe but never read;
//! - the server (a child process) is killed and started again on the same
//!   ports part way through, under the reconnecting WebSocket and TCP
//!   clients.
//!
//! Every call must end in a correct answer or a clear error: a call that
//! times out, or an answer with a wrong result, counts as lost. The server's
//! resident memory is sampled throughout (at start, peak and end of each
//! server process).
//!
//! ```sh
//! cargo run --release --manifest-path benches/Cargo.toml -- --soak            # 1 000 000 calls
//! cargo run --release --manifest-path benches/Cargo.toml -- --soak 100000     # fewer
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rpc::reconnect::Reconnect;
use rpc::tcp::{Framing, StreamOptions, TcpServer};
use rpc::{rpc, Context, ErrorObject, MethodTable, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::memory::rss;

/// The soak's service.
#[rpc]
pub trait Soak {
    /// a + b.
    async fn add(&self, a: i64, b: i64) -> i64;

    /// A notification; the server counts them.
    #[rpc(notification)]
    async fn note(&self, n: u64);

    /// Sends `count` `pushed` notifications to the caller, then answers
    /// `count` (WebSocket and TCP).
    async fn push(&self, count: u32, ctx: Context) -> Result<u32, ErrorObject>;

    /// 0, 1, ... `count - 1`, then the end.
    #[rpc(subscription = "counted", unsubscribe = "unsubscribe_counted")]
    async fn subscribe_count(&self, count: u64) -> Subscription<u64>;
}

/// What the server pushes to a client.
#[rpc]
pub trait Pushed {
    /// Push number `i` of a `push` call.
    #[rpc(notification)]
    async fn pushed(&self, i: u32);
}

struct Server;

impl Soak for Server {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    async fn note(&self, _n: u64) {}

    async fn push(&self, count: u32, ctx: Context) -> Result<u32, ErrorObject> {
        let caller = rpc::duplex::caller(&ctx)
            .ok_or_else(|| ErrorObject::new(-32010, "push needs a duplex connection"))?;
        for i in 0..count {
            caller
                .notify("pushed", [i])
                .await
                .map_err(|e| ErrorObject::new(-32011, e.to_string()))?;
        }
        Ok(count)
    }

    async fn subscribe_count(&self, count: u64) -> Subscription<u64> {
        Subscription::new(futures_util::stream::iter(0..count))
    }
}

/// Counts the pushes a client connection received.
#[derive(Clone, Default)]
struct PushCounter(Arc<AtomicU64>);

impl Pushed for PushCounter {
    async fn pushed(&self, _i: u32) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The child process: serves HTTP + WebSocket and TCP on the given ports
/// until stdin closes.
pub async fn serve(http_port: u16, tcp_port: u16) {
    let methods = Server.into_rpc();
    let http = rpc::http::Server::new(methods.clone())
        .bind(("127.0.0.1", http_port))
        .await
        .expect("bind HTTP");
    let tcp = TcpServer::new(methods)
        .with_framing(Framing::Newline)
        .bind(("127.0.0.1", tcp_port))
        .await
        .expect("bind TCP");
    tokio::spawn(http.run());
    tokio::spawn(tcp.run());
    println!("ready");
    // Each line from the parent asks for the heap bytes in use; `trim`
    // first hands the allocator's free pages back to the system.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.trim() == "trim" {
                trim();
            }
            line.clear();
            println!("{}", crate::alloc::live());
        }
    })
    .await;
}

/// Returns the allocator's free memory to the system (glibc keeps freed
/// pages for reuse, so resident memory stays near its peak after a load
/// that the heap no longer holds).
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and may be called
        // at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The server process and its memory samples.
struct ServerProcess {
    child: Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    /// Resident bytes: at start (before any load), and the highest seen.
    start: f64,
    /// Heap bytes in use at start.
    heap_start: f64,
    peak: Arc<AtomicU64>,
}

impl ServerProcess {
    fn start(http_port: u16, tcp_port: u16) -> ServerProcess {
        use std::io::BufRead;
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new(exe)
            .args([
                "--serve-soak",
                &http_port.to_string(),
                &tcp_port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.next().and_then(Result::ok).unwrap_or_default();
        assert_eq!(ready, "ready", "the soak server did not start");
        let start = rss(child.id()).unwrap_or(0) as f64;
        let peak = Arc::new(AtomicU64::new(start as u64));
        let (pid, sampled) = (child.id(), peak.clone());
        std::thread::spawn(move || {
            while let Some(now) = rss(pid) {
                sampled.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut started = ServerProcess {
            child,
            lines,
            start,
            heap_start: 0.0,
            peak,
        };
        started.heap_start = started.heap();
        started
    }

    fn now(&self) -> f64 {
        rss(self.child.id()).unwrap_or(0) as f64
    }

    /// The heap bytes the server has in use (what it allocated and has not
    /// freed; the allocator may keep freed memory resident).
    fn heap(&mut self) -> f64 {
        self.ask(b"heap\n")
    }

    /// Has the server return its allocator's free pages to the system;
    /// the heap bytes in use.
    fn trim(&mut self) -> f64 {
        self.ask(b"trim\n")
    }

    fn ask(&mut self, line: &[u8]) -> f64 {
        use std::io::Write;
        let asked = self
            .child
            .stdin
            .as_mut()
            .is_some_and(|stdin| stdin.write_all(line).is_ok() && stdin.flush().is_ok());
        if !asked {
            return 0.0;
        }
        self.lines
            .next()
            .and_then(Result::ok)
            .and_then(|l| l.parse().ok())
            .unwrap_or(0.0)
    }

    fn peak(&self) -> f64 {
        self.peak.load(Ordering::Relaxed) as f64
    }

    /// Killed at once (SIGKILL), as a crash would end it.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counters, shared by every worker.
#[derive(Default)]
struct Counts {
    /// Calls sent (a batch's members count one each).
    sent: AtomicU64,
    /// Answered with the right result (or the right error).
    answered: AtomicU64,
    /// Ended in a clear error (connection lost, refused, cut...).
    failed: AtomicU64,
    /// Timed out, or answered with a wrong result: must stay 0.
    lost: AtomicU64,
    notifications: AtomicU64,
    notifications_failed: AtomicU64,
    pushes_expected: AtomicU64,
    pushes_missing: AtomicU64,
    subscriptions: AtomicU64,
    subscriptions_completed: AtomicU64,
    subscriptions_failed: AtomicU64,
    subscriptions_resubscribed: AtomicU64,
    items: AtomicU64,
    items_out_of_order: AtomicU64,
    /// Connections the proxy cut, and the raw faults sent to the server.
    cut: AtomicU64,
    vandals: AtomicU64,
    slow_readers: AtomicU64,
}

/// Errors seen, by kind, for the report.
type Kinds = Arc<Mutex<std::collections::BTreeMap<String, u64>>>;

/// The soak's settings.
pub struct Settings {
    pub calls: u64,
    pub connections: usize,
    /// How long one call may take before it counts as lost.
    pub call_timeout: Duration,
}

/// A tiny xorshift generator: each worker its own, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A free loopback port.
async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A proxy on a free port to `upstream` that cuts about a third of its
/// connections after a random number of bytes (1 to 64 KiB, counted both
/// ways).
async fn cutting_proxy(upstream: SocketAddr, counts: Arc<Counts>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        while let Ok((client, _)) = listener.accept().await {
            let budget = (rng.below(3) == 0).then(|| 1024 + rng.below(63 * 1024));
            let counts = counts.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let left = Arc::new(AtomicU64::new(budget.unwrap_or(u64::MAX)));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let mut up = tokio::spawn(copy(client_read, server_write, left.clone()));
                let mut down = tokio::spawn(copy(server_read, client_write, left));
                // When one way ends (closed, or cut), the other goes too.
                let cut = tokio::select! {
                    cut = &mut up => { down.abort(); cut }
                    cut = &mut down => { up.abort(); cut }
                };
                if cut.unwrap_or(false) {
                    counts.cut.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    addr
}

/// Copies until the end or until the shared budget runs out (`true`: cut).
async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    left: Arc<AtomicU64>,
) -> bool {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let before = left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_sub(n as u64))
            })
            .unwrap_or(0);
        let pass = (before.min(n as u64)) as usize;
        if to.write_all(&buffer[..pass]).await.is_err() {
            return false;
        }
        if pass < n || before == n as u64 {
            return true;
        }
    }
}

/// Raw faults straight at the server, until `stop`: half messages on TCP
/// and HTTP, then gone; WebSocket upgrades dropped half way.
async fn vandal(http: SocketAddr, tcp: SocketAddr, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let call = br#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let cut = 1 + rng.below(call.len() as u64 - 1) as usize;
        let written = match rng.below(3) {
            0 => match TcpStream::connect(tcp).await {
                Ok(mut s) => s.write_all(&call[..cut]).await.is_ok(),
                Err(_) => false,
            },
            1 => match TcpStream::connect(http).await {
                Ok(mut s) => {
                    let head = format!(
                        "POST / HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        call.len()
                    );
                    s.write_all(head.as_bytes()).await.is_ok()
                        && s.write_all(&call[..cut]).await.is_ok()
                }
                Err(_) => false,
            },
            _ => match TcpStream::connect(http).await {
                Ok(mut s) => {
                    let upgrade = "GET / HTTP/1.1\r\nhost: soak\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
                    s.write_all(&upgrade.as_bytes()[..cut.min(upgrade.len())])
                        .await
                        .is_ok()
                }
                Err(_) => false,
            },
        };
        if written {
            counts.vandals.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A TCP connection that subscribes to a long stream and sends calls but
/// never reads; opened again whenever it breaks, until `stop`.
async fn slow_reader(tcp: SocketAddr, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let subscribe =
        b"{\"jsonrpc\":\"2.0\",\"method\":\"subscribe_count\",\"params\":[100000000],\"id\":0}\n";
    let call = b"{\"jsonrpc\":\"2.0\",\"method\":\"push\",\"params\":[64],\"id\":1}\n";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut socket) = TcpStream::connect(tcp).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        counts.slow_readers.fetch_add(1, Ordering::Relaxed);
        if socket.write_all(subscribe).await.is_err() {
            continue;
        }
        // Calls until the server stops reading (its queue to us is full)
        // or the connection breaks; never a read.
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(200), socket.write_all(call)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                // Held up: the server applies back-pressure. Wait a while.
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// The kinds of client connection.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Http,
    WebSocket,
    Tcp,
}

/// One connection's worker: operations at random until enough calls are
/// sent.
async fn worker(
    kind: Kind,
    addr: SocketAddr,
    seed: u64,
    settings: Arc<Settings>,
    counts: Arc<Counts>,
    kinds: Kinds,
) {
    let pushes = PushCounter::default();
    let methods: MethodTable = pushes.clone().into_rpc();
    let client = loop {
        let transport: Result<rpc::Client, rpc::Error> = match kind {
            Kind::Http => rpc::http::HttpClient::new(&format!("http://{addr}/"))
                .map(rpc::Client::new)
                .map_err(rpc::Error::from),
            Kind::WebSocket => {
                let endpoint = rpc::ws::endpoint(&format!("ws://{addr}/"), methods.clone());
                Reconnect::new(endpoint)
                    .with_backoff(Duration::from_millis(20), Duration::from_millis(500))
                    .connect()
                    .await
                    .map(rpc::Client::new)
            }
            Kind::Tcp => {
                let endpoint =
                    rpc::tcp::endpoint(addr.to_string(), StreamOptions::default(), methods.clone());
                Reconnect::new(endpoint)
                    .with_backoff(Duration::from_millis(20), Duration::from_millis(500))
                    .connect()
                    .await
                    .map(rpc::Client::new)
            }
        };
        match transport {
            Ok(client) => break client.with_timeout(settings.call_timeout),
            // The proxy cut the first connection: try again.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let duplex = !matches!(kind, Kind::Http);
    let mut rng = Rng(seed | 1);
    let failed = |e: &rpc::Error, counts: &Counts, n: u64| {
        if matches!(e, rpc::Error::Timeout(_)) {
            counts.lost.fetch_add(n, Ordering::Relaxed);
        } else {
            counts.failed.fetch_add(n, Ordering::Relaxed);
        }
        let name = format!("{kind:?}: {}", error_kind(e));
        *kinds.lock().unwrap().entry(name).or_default() += n;
    };
    while counts.sent.load(Ordering::Relaxed) < settings.calls {
        let a = rng.below(1 << 40) as i64;
        let b = rng.below(1 << 40) as i64;
        match rng.below(100) {
            // A batch of 2, 3, 5, 8 or 12 calls.
            0..=19 => {
                let size = [2, 3, 5, 8, 12][rng.below(5) as usize];
                counts.sent.fetch_add(size, Ordering::Relaxed);
                match batch(&client, size, a, b).await {
                    Ok(right) => {
                        counts.answered.fetch_add(right, Ordering::Relaxed);
                        counts.lost.fetch_add(size - right, Ordering::Relaxed);
                    }
                    Err(e) => failed(&e, &counts, size),
                }
            }
            20..=27 => {
                counts.notifications.fetch_add(1, Ordering::Relaxed);
                if client.note(a as u64).await.is_err() {
                    counts.notifications_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            28..=34 if duplex => {
                let count = 1 + rng.below(8) as u32;
                let before = pushes.0.load(Ordering::Relaxed);
                counts.sent.fetch_add(1, Ordering::Relaxed);
                match client.push(count).await {
                    Ok(n) if n == count => {
                        counts.answered.fetch_add(1, Ordering::Relaxed);
                        counts
                            .pushes_expected
                            .fetch_add(count.into(), Ordering::Relaxed);
                        // The pushes came before the answer, on the same connection.
                        let got = pushes.0.load(Ordering::Relaxed) - before;
                        if got < u64::from(count) {
                            counts
                                .pushes_missing
                                .fetch_add(u64::from(count) - got, Ordering::Relaxed);
                        }
                    }
                    Ok(_) => {
                        counts.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failed(&e, &counts, 1),
                }
            }
            35..=39 if duplex => {
                let count = 1 + rng.below(20);
                subscription(&client, count, &counts, &kinds, kind).await;
            }
            _ => {
                counts.sent.fetch_add(1, Ordering::Relaxed);
                match client.add(a, b).await {
                    Ok(sum) if sum == a + b => {
                        counts.answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {
                        counts.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failed(&e, &counts, 1),
                }
            }
        }
    }
}

/// A typed batch of `a + (b + i)` for each listed `i`; whether each came
/// back right.
macro_rules! additions {
    ($client:expr, $a:expr, $b:expr; $($i:tt)+) => {{
        let answers = $client.batch()$(.add($a, $b + $i))+.send().await?;
        vec![$(answers.$i.as_ref().is_ok_and(|&sum| sum == $a + $b + $i)),+]
    }};
}

/// `size` additions in one batch; how many came back right.
async fn batch(client: &rpc::Client, size: u64, a: i64, b: i64) -> Result<u64, rpc::Error> {
    let rights: Vec<bool> = match size {
        2 => additions!(client, a, b; 0 1),
        3 => additions!(client, a, b; 0 1 2),
        5 => additions!(client, a, b; 0 1 2 3 4),
        8 => additions!(client, a, b; 0 1 2 3 4 5 6 7),
        _ => additions!(client, a, b; 0 1 2 3 4 5 6 7 8 9 10 11),
    };
    Ok(rights.into_iter().filter(|&r| r).count() as u64)
}

/// A subscription to `count` items: all of them in order, then the end (or
/// a clear error; a resubscription starts again from 0).
async fn subscription(
    client: &rpc::Client,
    count: u64,
    counts: &Counts,
    kinds: &Kinds,
    kind: Kind,
) {
    counts.subscriptions.fetch_add(1, Ordering::Relaxed);
    let note = |e: &rpc::Error| {
        let name = format!("{kind:?} subscription: {}", error_kind(e));
        *kinds.lock().unwrap().entry(name).or_default() += 1;
    };
    let mut items = match client.subscribe_count(count).await {
        Ok(items) => items,
        Err(e) => {
            note(&e);
            counts.subscriptions_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let (mut expected, mut gaps) = (0, 0);
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), items.next()).await;
        match next {
            Err(_) => {
                // Neither an item, nor the end, nor an error: lost.
                counts.lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(None) if expected == count => {
                counts
                    .subscriptions_completed
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(None) => {
                counts.items_out_of_order.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Some(Ok(item))) => {
                counts.items.fetch_add(1, Ordering::Relaxed);
                if items.gaps() != gaps {
                    // Made again after a reconnection: counting anew.
                    counts
                        .subscriptions_resubscribed
                        .fetch_add(items.gaps() - gaps, Ordering::Relaxed);
                    gaps = items.gaps();
                    expected = 0;
                }
                if item != expected {
                    counts.items_out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                expected = item + 1;
            }
            Ok(Some(Err(e))) => {
                note(&e);
                counts.subscriptions_failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The variant of an error, and a short reason.
fn error_kind(e: &rpc::Error) -> String {
    let text = e.to_string();
    let debug = format!("{e:?}");
    let variant = debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let short: String = text.chars().take(70).collect();
    format!("{variant}: {short}")
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// Runs the soak; the report, and whether it passed (nothing lost).
pub async fn run(settings: Settings) -> (String, bool) {
    let settings = Arc::new(settings);
    let counts = Arc::new(Counts::default());
    let kinds: Kinds = Arc::default();
    let (http_port, tcp_port) = (free_port().await, free_port().await);
    let server_http: SocketAddr = ([127, 0, 0, 1], http_port).into();
    let server_tcp: SocketAddr = ([127, 0, 0, 1], tcp_port).into();
    let first = ServerProcess::start(http_port, tcp_port);
    let proxy_http = cutting_proxy(server_http, counts.clone()).await;
    let proxy_tcp = cutting_proxy(server_tcp, counts.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut faults = vec![tokio::spawn(vandal(
        server_http,
        server_tcp,
        counts.clone(),
        stop.clone(),
    ))];
    for _ in 0..8 {
        faults.push(tokio::spawn(slow_reader(
            server_tcp,
            counts.clone(),
            stop.clone(),
        )));
    }
    let started = Instant::now();
    let workers: Vec<_> = (0..settings.connections)
        .map(|i| {
            let (kind, addr) = match i % 3 {
                0 => (Kind::Http, proxy_http),
                1 => (Kind::WebSocket, proxy_http),
                _ => (Kind::Tcp, proxy_tcp),
            };
            tokio::spawn(worker(
                kind,
                addr,
                0x1234_5678 + i as u64 * 7919,
                settings.clone(),
                counts.clone(),
                kinds.clone(),
            ))
        })
        .collect();
    // At 40 % of the calls, the server crashes and comes back.
    while counts.sent.load(Ordering::Relaxed) < settings.calls * 2 / 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first_start, first_peak) = (first.start, first.peak());
    first.kill();
    let killed_at = counts.sent.load(Ordering::Relaxed);
    let restarted = Instant::now();
    let second = ServerProcess::start(http_port, tcp_port);
    let down_for = restarted.elapsed();
    let mut progress = Instant::now();
    for worker in workers {
        let _ = worker.await;
        if progress.elapsed() > Duration::from_secs(5) {
            eprintln!("soak: {} calls sent", counts.sent.load(Ordering::Relaxed));
            progress = Instant::now();
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for fault in faults {
        fault.abort();
        let _ = fault.await;
    }
    let mut second = second;
    let (loaded, loaded_heap) = (second.now(), second.heap());
    // Every connection closed: the memory should come back down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (end, end_heap) = (second.now(), second.heap());
    second.trim();
    let trimmed = second.now();
    let (second_start, second_peak) = (second.start, second.peak());
    let second_heap = second.heap_start;
    second.kill();

    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let sent = c(&counts.sent);
    let (answered, failed, lost) = (c(&counts.answered), c(&counts.failed), c(&counts.lost));
    let passed = lost == 0
        && sent == answered + failed
        && c(&counts.pushes_missing) == 0
        && c(&counts.items_out_of_order) == 0;
    let mut out = String::new();
    let _ = writeln!(out, "# Soak\n");
    let _ = writeln!(
        out,
        "Produced by `cargo run --release --manifest-path benches/Cargo.toml -- --soak{}` on {}: {} connections \
         ({} HTTP, {} reconnecting WebSocket, {} reconnecting TCP), all through a proxy that cuts a third of its \
         connections after 1 to 64 KiB; a vandal sending half messages (TCP, HTTP, WebSocket upgrades) every 5 ms; \
         8 slow readers that subscribe and call but never read; the server (a child process) killed with SIGKILL at \
         40 % of the calls and started again on the same ports. Call timeout {} s.\n",
        if settings.calls == 1_000_000 { String::new() } else { format!(" {}", settings.calls) },
        crate::machine(),
        settings.connections,
        settings.connections.div_ceil(3),
        (settings.connections + 1) / 3,
        settings.connections / 3,
        settings.call_timeout.as_secs(),
    );
    let _ = writeln!(out, "| | |\n| --- | ---: |");
    for (name, value) in [
        ("calls sent (batch members count one each)", sent.to_string()),
        ("answered, with the right result", answered.to_string()),
        ("failed with a clear error", failed.to_string()),
        ("**lost** (timed out, or a wrong result)", lost.to_string()),
        ("calls/s", format!("{:.0}", sent as f64 / elapsed.as_secs_f64())),
        ("notifications sent (failed to send)", format!("{} ({})", c(&counts.notifications), c(&counts.notifications_failed))),
        ("pushes received before their call's answer (missing)", format!("{} ({})", c(&counts.pushes_expected), c(&counts.pushes_missing))),
        ("subscriptions: opened / completed / ended by a clear error", format!("{} / {} / {}", c(&counts.subscriptions), c(&counts.subscriptions_completed), c(&counts.subscriptions_failed))),
        ("subscription items (out of order); resubscribed after a reconnection", format!("{} ({}); {}", c(&counts.items), c(&counts.items_out_of_order), c(&counts.subscriptions_resubscribed))),
        ("connections cut by the proxy", c(&counts.cut).to_string()),
        ("half messages and dropped upgrades sent", c(&counts.vandals).to_string()),
        ("slow-reader connections", c(&counts.slow_readers).to_string()),
        ("server killed after (calls sent); back listening in", format!("{killed_at}; {} ms", down_for.as_millis())),
        ("first server: resident memory at start / peak", format!("{} / {}", mb(first_start), mb(first_peak))),
        ("second server: resident memory at start / peak / when the last call ended / 3 s later / after `malloc_trim`", format!("{} / {} / {} / {} / {}", mb(second_start), mb(second_peak), mb(loaded), mb(end), mb(trimmed))),
        ("second server: heap in use at start / when the last call ended / 3 s later", format!("{} / {} / {}", mb(second_heap), mb(loaded_heap), mb(end_heap))),
        ("time", format!("{:.1} s", elapsed.as_secs_f64())),
    ] {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    let _ = writeln!(out, "\nClear errors, by transport and kind:\n");
    for (kind, n) in kinds.lock().unwrap().iter() {
        let _ = writeln!(out, "- {n} × {kind}");
    }
    let _ = writeln!(
        out,
        "\n{}",
        if passed {
            "Nothing lost."
        } else {
            "**FAILED: calls lost, pushes missing or items out of order.**"
        }
    );
    (out, passed)
}
