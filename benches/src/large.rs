//! Large payloads: `echo` of a 1 MiB and a 4 MiB string over HTTP and
//! WebSocket, ours against jsonrpsee, on a few connections each with one
//! call at a time: calls/s, MB/s, and the server's peak resident memory
//! during the run. Each run has a server process of its own (this binary
//! with `--serve ours|jsonrpsee`, see `memory.rs`), started fresh so that
//! its peak (VmHWM) is this run's; the figure is that peak minus its
//! resident memory before the run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::load::{self, Settings};
use crate::memory::Server;
use crate::{median, Row};

/// The payloads: 1 MiB and 4 MiB of text (under our 5 MiB message limit).
const SIZES: [usize; 2] = [1 << 20, 4 << 20];

/// Connections, each with one call in flight.
const CONNECTIONS: usize = 4;

const MIB: f64 = (1 << 20) as f64;

/// Which way the calls travel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Http,
    WebSocket,
}

impl Carrier {
    fn name(self) -> &'static str {
        match self {
            Carrier::Http => "HTTP",
            Carrier::WebSocket => "WebSocket",
        }
    }
}

/// What one run measured.
struct Run {
    calls_per_sec: f64,
    /// The server's peak resident bytes during the run, over its resident
    /// bytes before it.
    peak_bytes: f64,
}

/// `size` bytes of base64-like text: nothing to escape, as large payloads
/// (files, images, blobs) usually travel.
fn payload(size: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..size)
        .map(|i| ALPHABET[(i * 7 + i / 64) % ALPHABET.len()] as char)
        .collect()
}

fn request(text: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{text}"],"id":1}}"#)
}

/// The answer's length: `{"jsonrpc":"2.0","result":"..","id":1}` in
/// either member order.
fn answer_len(size: usize) -> usize {
    r#"{"jsonrpc":"2.0","result":"","id":1}"#.len() + size
}

/// A field of `/proc/PID/status` in bytes (`VmRSS:`, `VmHWM:`).
fn status_bytes(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// One run on a fresh server of `kind`; `None` when it did not answer the
/// echo right.
async fn run(kind: &str, carrier: Carrier, text: &str, duration: Duration) -> Option<Run> {
    let server = Server::start(kind);
    let pid = server.pid();
    // Its threads and listeners settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = status_bytes(pid, "VmRSS:")?;
    let body = request(text);
    let calls_per_sec = match carrier {
        Carrier::Http => {
            let settings = Settings {
                duration,
                rounds: 1,
                connections: CONNECTIONS,
            };
            load::http(server.ws, &body, &settings).await.rps
        }
        Carrier::WebSocket => websocket(server.ws, body, answer_len(text.len()), duration).await,
    };
    let peak = status_bytes(pid, "VmHWM:")?;
    // Checked after the peak is read: the check is a call too.
    let answer = load::probe(server.ws, &request(text)).await;
    let echoed = answer.contains(&format!(r#""result":"{text}""#));
    if !echoed {
        eprintln!(
            "large: {kind} answered {}",
            answer.chars().take(200).collect::<String>()
        );
        return None;
    }
    Some(Run {
        calls_per_sec,
        peak_bytes: peak - before,
    })
}

/// Calls/s over `CONNECTIONS` WebSocket connections, each sending `body`
/// and waiting for its answer (`len` bytes) before the next.
async fn websocket(addr: SocketAddr, body: String, len: usize, duration: Duration) -> f64 {
    let body = Utf8Bytes::from(body);
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await
        else {
            continue;
        };
        let (body, stop, calls) = (body.clone(), stop.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            'calls: while !stop.load(Ordering::Relaxed) {
                if socket.send(Message::Text(body.clone())).await.is_err() {
                    break;
                }
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(answer))) if answer.len() == len => break,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        _ => break 'calls,
                    }
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let counted = calls.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
    counted as f64 / elapsed
}

/// The rows: for each payload and carrier, calls/s, MB/s, the server's
/// peak memory against jsonrpsee's, and ours per call in flight against
/// three times the payload.
pub async fn rows(settings: &Settings, rows: &mut Vec<Row>) {
    for size in SIZES {
        let text = payload(size);
        let mib = size / (1 << 20);
        for carrier in [Carrier::Http, Carrier::WebSocket] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..settings.rounds {
                for (kind, runs) in [("ours", &mut ours), ("jsonrpsee", &mut theirs)] {
                    match run(kind, carrier, &text, settings.duration).await {
                        Some(figures) => runs.push(figures),
                        None => eprintln!("large: {kind} failed the {mib} MiB echo"),
                    }
                }
            }
            if ours.is_empty() || theirs.is_empty() {
                continue;
            }
            let rate = |runs: &[Run]| median(runs.iter().map(|r| r.calls_per_sec).collect());
            let peak = |runs: &[Run]| median(runs.iter().map(|r| r.peak_bytes).collect());
            let (ours_rate, theirs_rate) = (rate(&ours), rate(&theirs));
            let (ours_peak, theirs_peak) = (peak(&ours), peak(&theirs));
            let name = format!(
                "Echo of {mib} MiB over {}, {CONNECTIONS} connections",
                carrier.name()
            );
            let megabytes = size as f64 / 1e6;
            rows.push(Row {
                name: format!("{name}: calls/s"),
                unit: "calls/s",
                ours: ours_rate,
                theirs: theirs_rate,
                lower_is_better: false,
                target: 1.5,
                competitor: "jsonrpsee",
            });
            rows.push(Row {
                name: format!("{name}: payload MB/s each way"),
                unit: "MB/s",
                ours: ours_rate * megabytes,
                theirs: theirs_rate * megabytes,
                lower_is_better: false,
                target: 1.5,
                competitor: "jsonrpsee",
            });
            rows.push(Row {
                name: format!("{name}: server's peak memory over its idle RSS"),
                unit: "MiB",
                ours: ours_peak / MIB,
                theirs: theirs_peak / MIB,
                lower_is_better: true,
                target: 1.0,
                competitor: "jsonrpsee",
            });
            rows.push(Row {
                name: format!("{name}: server's peak memory per call in flight"),
                unit: "MiB",
                ours: ours_peak / CONNECTIONS as f64 / MIB,
                theirs: 3.0 * size as f64 / MIB,
                lower_is_better: true,
                target: 1.0,
                competitor: "3× the payload",
            });
        }
    }
}
