//! Resident memory per idle connection, read from /proc of a server running
//! in a child process (this same binary with `--serve ours|jsonrpsee`), so
//! that the clients' memory does not count.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const CALL: &str = r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#;

/// The server side of the measurement: serve until stdin closes.
pub async fn serve(kind: &str) {
    match kind {
        "ours-plain" | "ours-observed" | "ours-traced" | "jsonrpsee-observed"
        | "jsonrpsee-traced" => {
            let spans = kind.ends_with("-traced");
            let addr = match kind {
                "ours-plain" => crate::observed::ours_plain().await,
                "ours-observed" | "ours-traced" => crate::observed::ours_observed(spans).await,
                _ => crate::observed::jsonrpsee_observed(spans).await,
            };
            println!("ws {addr}");
            println!("tcp none");
            println!("unix none");
        }
        "canned" => {
            println!("ws {}", crate::canned::serve().await);
            println!("tcp none");
            println!("unix none");
        }
        "ours" => {
            let ours = crate::servers::ours().await;
            println!("ws {}", ours.http);
            println!("tcp {}", ours.tcp_newline);
            println!("unix {}", ours.unix.display());
        }
        _ => {
            let theirs = crate::servers::jsonrpsee_with_connections(20_000).await;
            println!("ws {}", theirs.http);
            println!("tcp none");
            println!("unix none");
            std::mem::forget(theirs);
        }
    }
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    })
    .await;
}

/// A server in a child process.
pub struct Server {
    child: Child,
    pub ws: SocketAddr,
    tcp: Option<SocketAddr>,
    unix: Option<std::path::PathBuf>,
}

impl Server {
    pub fn start(kind: &str) -> Server {
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new(exe)
            .args(["--serve", kind])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
        let ws = next()
            .trim_start_matches("ws ")
            .parse()
            .expect("ws address");
        let tcp = next().trim_start_matches("tcp ").parse().ok();
        let unix = Some(next())
            .filter(|l| l != "unix none")
            .map(|l| l.trim_start_matches("unix ").into());
        Server {
            child,
            ws,
            tcp,
            unix,
        }
    }

    /// The server process's id (for its figures in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_bytes(&self) -> f64 {
        rss(self.child.id()).unwrap_or(0) as f64
    }
}

/// Resident bytes of process `pid` (its VmRSS), while it runs.
pub fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Held = Vec<Box<dyn std::any::Any + Send>>;

async fn open_ws(addr: SocketAddr, n: usize, held: &mut Held) {
    for _ in 0..n {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await
        else {
            continue;
        };
        if ws.send(Message::text(CALL)).await.is_ok() {
            let _ = ws.next().await;
        }
        held.push(Box::new(ws));
    }
}

/// Holds `n` byte-stream connections from `connect`, each after one call.
async fn open_streams<S, F, Fut>(connect: F, n: usize, held: &mut Held)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    for _ in 0..n {
        let Ok(stream) = connect().await else {
            continue;
        };
        let mut stream = tokio::io::BufReader::new(stream);
        if stream
            .get_mut()
            .write_all(format!("{CALL}\n").as_bytes())
            .await
            .is_ok()
        {
            let mut line = String::new();
            let _ = stream.read_line(&mut line).await;
        }
        held.push(Box::new(stream));
    }
}

/// Which of a server's listeners a measurement holds connections on.
#[derive(Clone, Copy)]
enum Carrier {
    WebSocket,
    Tcp,
    Unix,
}

async fn open(carrier: Carrier, server: &Server, n: usize, held: &mut Held) {
    match carrier {
        Carrier::WebSocket => open_ws(server.ws, n, held).await,
        Carrier::Tcp => {
            let addr = server.tcp.expect("a TCP listener");
            open_streams(|| tokio::net::TcpStream::connect(addr), n, held).await;
        }
        Carrier::Unix => {
            let path = server.unix.as_deref().expect("a Unix socket");
            open_streams(|| tokio::net::UnixStream::connect(path), n, held).await;
        }
    }
}

/// Bytes of resident memory each idle connection costs the server: `n`
/// connections held open, each after one call.
async fn per_connection(server: &Server, carrier: Carrier, n: usize) -> f64 {
    let mut warm = Held::new();
    open(carrier, server, 50, &mut warm).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_bytes();
    let mut held = Held::new();
    open(carrier, server, n, &mut held).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_bytes();
    let opened = held.len().max(1) as f64;
    drop(held);
    drop(warm);
    (after - before) / opened
}

/// Resident bytes per idle connection of each kind.
pub struct Idle {
    pub ours_ws: f64,
    pub theirs_ws: f64,
    pub ours_tcp: f64,
    pub ours_unix: f64,
}

/// Per idle connection: our WebSocket, jsonrpsee's, our TCP and Unix socket.
pub async fn idle_connections(n: usize) -> Idle {
    // A fresh server process per carrier: one that reused what the last
    // carrier's connections freed would look smaller than it is.
    let mut ours = Vec::new();
    for carrier in [Carrier::WebSocket, Carrier::Tcp, Carrier::Unix] {
        let server = Server::start("ours");
        ours.push(per_connection(&server, carrier, n).await);
    }
    let [ours_ws, ours_tcp, ours_unix] = ours[..] else {
        unreachable!("three carriers measured")
    };
    let theirs = Server::start("jsonrpsee");
    let theirs_ws = per_connection(&theirs, Carrier::WebSocket, n).await;
    Idle {
        ours_ws,
        theirs_ws,
        ours_tcp,
        ours_unix,
    }
}
