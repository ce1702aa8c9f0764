//! A small service shared by the transport tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpc::{rpc, Context, ErrorObject};

/// The service every transport test serves.
#[rpc]
pub(crate) trait Demo {
    /// Adds two integers.
    async fn add(&self, a: i64, b: i64) -> i64;

    /// Waits, then returns `ms`.
    async fn sleep(&self, ms: u64) -> u64;

    /// Returns its argument.
    async fn echo(&self, value: serde_json::Value) -> serde_json::Value;

    /// Fails with an application error.
    async fn fail(&self, code: i64) -> Result<(), ErrorObject>;

    /// Panics.
    async fn boom(&self) -> i64;

    /// The request header `name`, if the transport provides headers.
    async fn header(&self, name: String, ctx: Context) -> Option<String>;

    /// The caller's address, if known.
    async fn peer(&self, ctx: Context) -> Option<String>;

    /// Sends `count` notifications `tick` [i] to the caller, then returns `count`.
    async fn notify_me(&self, count: u64, ctx: Context) -> Result<u64, ErrorObject>;

    /// Sends the caller one notification `status` whose params look like a
    /// subscription item: `{"subscription": ID, "result": 1}`.
    async fn notify_status(&self, id: String, ctx: Context) -> Result<(), ErrorObject>;

    /// Calls the caller's `double` method and returns its answer.
    async fn call_back(&self, n: i64, ctx: Context) -> Result<i64, ErrorObject>;

    /// Broadcasts notification `message` [text] to every duplex client.
    async fn shout(&self, text: String, ctx: Context) -> Result<usize, ErrorObject>;

    /// Counts a notification.
    #[rpc(notification)]
    async fn bump(&self);

    /// How many `bump`s arrived.
    async fn bumps(&self) -> usize;

    /// A notification whose handler runs for a minute.
    #[rpc(notification)]
    async fn stall(&self);

    /// Returns nothing: the answer's result is `null`.
    async fn nothing(&self);

    /// Returns its argument: `null` for `None`.
    async fn maybe(&self, x: Option<i64>) -> Option<i64>;

    /// Waits `ms` like `sleep`, counted in `DemoService::live` while its
    /// future exists (so a test sees when a call is cancelled).
    async fn hold(&self, ms: u64) -> u64;
}

/// Counts a live call until dropped.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::SeqCst);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default, Clone)]
pub(crate) struct DemoService {
    pub bumps: Arc<AtomicUsize>,
    /// `hold` calls whose futures are alive.
    pub live: Arc<AtomicUsize>,
}

impl Demo for DemoService {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn sleep(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    async fn echo(&self, value: serde_json::Value) -> serde_json::Value {
        value
    }

    async fn fail(&self, code: i64) -> Result<(), ErrorObject> {
        Err(ErrorObject::new(code, "failed on purpose")
            .with_data(serde_json::json!({"why": "test"})))
    }

    async fn boom(&self) -> i64 {
        panic!("boom")
    }

    async fn header(&self, name: String, ctx: Context) -> Option<String> {
        let headers = ctx.headers()?;
        headers.get(name.as_str())?.to_str().ok().map(str::to_owned)
    }

    async fn peer(&self, ctx: Context) -> Option<String> {
        ctx.peer().map(|a| a.ip().to_string())
    }

    async fn notify_me(&self, count: u64, ctx: Context) -> Result<u64, ErrorObject> {
        let caller = rpc::duplex::caller(&ctx)
            .ok_or_else(|| ErrorObject::new(-32002, "needs a duplex connection"))?;
        for i in 0..count {
            caller
                .notify("tick", [i])
                .await
                .map_err(ErrorObject::internal_error)?;
        }
        Ok(count)
    }

    async fn notify_status(&self, id: String, ctx: Context) -> Result<(), ErrorObject> {
        let caller = rpc::duplex::caller(&ctx)
            .ok_or_else(|| ErrorObject::new(-32002, "needs a duplex connection"))?;
        caller
            .notify(
                "status",
                serde_json::json!({"subscription": id, "result": 1}),
            )
            .await
            .map_err(ErrorObject::internal_error)
    }

    async fn call_back(&self, n: i64, ctx: Context) -> Result<i64, ErrorObject> {
        let caller = rpc::duplex::caller(&ctx)
            .ok_or_else(|| ErrorObject::new(-32002, "needs a duplex connection"))?;
        caller
            .client()
            .double(n)
            .await
            .map_err(ErrorObject::internal_error)
    }

    async fn shout(&self, text: String, ctx: Context) -> Result<usize, ErrorObject> {
        let all = ctx
            .get::<rpc::duplex::Connections>()
            .ok_or_else(|| ErrorObject::new(-32002, "no registry"))?;
        all.broadcast("message", [text])
            .await
            .map_err(ErrorObject::internal_error)
    }

    async fn bump(&self) {
        self.bumps.fetch_add(1, Ordering::SeqCst);
    }

    async fn bumps(&self) -> usize {
        self.bumps.load(Ordering::SeqCst)
    }

    async fn stall(&self) {
        let _live = Live::new(&self.live);
        tokio::time::sleep(Duration::from_secs(60)).await;
    }

    async fn nothing(&self) {}

    async fn maybe(&self, x: Option<i64>) -> Option<i64> {
        x
    }

    async fn hold(&self, ms: u64) -> u64 {
        let _live = Live::new(&self.live);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

/// What a duplex client serves back to the server.
#[rpc]
pub(crate) trait Peer {
    /// A `notify_me` notification.
    #[rpc(notification)]
    async fn tick(&self, i: u64);

    /// A broadcast.
    #[rpc(notification)]
    async fn message(&self, text: String);

    /// A notification whose params look like a subscription item.
    #[rpc(notification)]
    async fn status(&self, subscription: String, result: u64);

    /// Doubles `n` (the server calls this).
    async fn double(&self, n: i64) -> i64;
}

/// Records what the server pushed.
#[derive(Clone)]
pub(crate) struct PeerService {
    pub events: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Peer for PeerService {
    async fn tick(&self, i: u64) {
        let _ = self.events.send(format!("tick {i}"));
    }

    async fn message(&self, text: String) {
        let _ = self.events.send(format!("message {text}"));
    }

    async fn status(&self, subscription: String, result: u64) {
        let _ = self.events.send(format!("status {subscription} {result}"));
    }

    async fn double(&self, n: i64) -> i64 {
        n * 2
    }
}

/// A peer service and the receiving end of what it records.
pub(crate) fn peer() -> (PeerService, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    (PeerService { events }, rx)
}

/// Receives the next recorded event, failing after two seconds.
pub(crate) async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("no event within 2 s")
        .expect("channel closed")
}

/// Starts an HTTP/WebSocket server for `methods` on a free port.
pub(crate) async fn http_server(
    server: rpc::http::Server,
) -> (std::net::SocketAddr, rpc::Shutdown) {
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let addr = listening.local_addr().expect("addr");
    let token = listening.shutdown().clone();
    tokio::spawn(listening.run());
    (addr, token)
}

/// Waits until `count` reads `expected`, for at most `within`.
pub(crate) async fn eventually(count: &AtomicUsize, expected: usize, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = count.load(Ordering::SeqCst);
        if now == expected || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A free loopback port; ports handed out in this process are never handed
/// out again, so parallel tests never share one.
pub(crate) fn free_port() -> u16 {
    static USED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("binding an ephemeral port")
            .port();
        let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

/// Resident bytes of this process (what a test prints of its memory).
pub(crate) fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

pub(crate) mod broker;
pub(crate) mod calculator;
pub(crate) mod duplex;
