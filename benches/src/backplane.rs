//! Broadcast across instances: two of our servers sharing a broker (Redis,
//! NATS), 64 WebSocket clients on the second; a broadcast on the first is
//! timed until each client has it. Beside it, the same on one instance
//! (in-process, no broker).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rpc::duplex::Connections;

/// Clients on the receiving instance.
pub const CLIENTS: usize = 64;

/// Latency and throughput of one configuration.
pub struct Figures {
    pub p50_us: f64,
    pub p99_us: f64,
    /// Deliveries (message × client) per second, sustained.
    pub per_sec: f64,
}

/// A broker process on a free port, killed when dropped.
pub struct Broker {
    pub url: String,
    child: Child,
    /// JetStream's store, removed with the broker.
    store: Option<std::path::PathBuf>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(store) = &self.store {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}

fn program(name: &str) -> Option<String> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|p| std::path::Path::new(p).exists())
}

/// Starts `redis` or `nats` if its server is installed.
pub fn broker(kind: &str) -> Option<Broker> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let p = port.to_string();
    let store =
        (kind != "redis").then(|| std::env::temp_dir().join(format!("rpc-bench-nats-{port}")));
    let child = match kind {
        "redis" => Command::new(program("redis-server")?)
            .args([
                "--port",
                &p,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?,
        // JetStream on: topic messages live in its log.
        _ => Command::new(program("nats-server")?)
            .args(["-a", "127.0.0.1", "-p", &p, "-js", "-sd"])
            .arg(store.as_ref()?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?,
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Broker {
        url: format!("{kind}://127.0.0.1:{port}"),
        child,
        store,
    })
}

async fn server(connections: Connections) -> SocketAddr {
    let listening = rpc::http::Server::new(crate::servers::methods())
        .with_connections(connections)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listening.local_addr().expect("addr");
    tokio::spawn(listening.run());
    addr
}

/// Measures broadcasts from one instance to `CLIENTS` clients of another
/// through `broker` (`None`: one instance, its own clients).
pub async fn measure(broker: Option<&str>) -> Option<Figures> {
    let (sender, receiver) = match broker {
        Some(url) => {
            let a = Connections::new().with_backplane(rpc_backplane::connect(url).await.ok()?);
            let b = Connections::new().with_backplane(rpc_backplane::connect(url).await.ok()?);
            server(a.clone()).await;
            (a, server(b).await)
        }
        None => {
            let a = Connections::new();
            (a.clone(), server(a).await)
        }
    };
    let base = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..CLIENTS {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{receiver}/"))
            .await
            .ok()?;
        let (latencies, received) = (latencies.clone(), received.clone());
        readers.push(tokio::spawn(async move {
            let (_, mut incoming) = socket.split();
            while let Some(Ok(message)) = incoming.next().await {
                let text = message.into_text().unwrap_or_default();
                // {"jsonrpc":"2.0","method":"m","params":[MICROS]}
                let Some(start) = text.find("\"params\":[") else {
                    continue;
                };
                let digits: String = text[start + 10..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(sent) = digits.parse::<u64>() {
                    let now = base.elapsed().as_micros() as u64;
                    received.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut l) = latencies.lock() {
                        l.push(now.saturating_sub(sent));
                    }
                }
            }
        }));
    }
    // Until the broker carries messages (subscriptions made).
    let ready = Instant::now();
    while received.load(Ordering::Relaxed) == 0 {
        if ready.elapsed() > Duration::from_secs(15) {
            return None;
        }
        let _ = sender
            .broadcast("m", [base.elapsed().as_micros() as u64])
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    latencies.lock().ok()?.clear();
    // Latency: 500 broadcasts a second for 2 s.
    for _ in 0..1000 {
        let _ = sender
            .broadcast("m", [base.elapsed().as_micros() as u64])
            .await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sample = std::mem::take(&mut *latencies.lock().ok()?);
    sample.sort_unstable();
    if sample.is_empty() {
        return None;
    }
    let at = |q: f64| sample[((sample.len() - 1) as f64 * q) as usize] as f64;
    let (p50_us, p99_us) = (at(0.50), at(0.99));
    // Throughput: as fast as the clients take it, 64 messages ahead at most.
    let before = received.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        let delivered = received.load(Ordering::Relaxed) - before;
        if sent * CLIENTS as u64 - delivered.min(sent * CLIENTS as u64) < 64 * CLIENTS as u64 {
            let _ = sender
                .broadcast("m", [base.elapsed().as_micros() as u64])
                .await;
            sent += 1;
        } else {
            tokio::task::yield_now().await;
        }
    }
    let per_sec =
        (received.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    for reader in readers {
        reader.abort();
    }
    Some(Figures {
        p50_us,
        p99_us,
        per_sec,
    })
}
