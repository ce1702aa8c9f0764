//! Side-by-side benchmarks: rpc vs jsonrpsee vs a bare axum handler, driven
//! by the same load generator in alternating rounds.
//!
//! ```sh
//! cargo run --release --manifest-path benches/Cargo.toml            # full run, writes BENCHMARKS.md
//! cargo run --release --manifest-path benches/Cargo.toml -- --quick # shorter rounds
//! cargo run --release --manifest-path benches/Cargo.toml -- --soak  # the soak (soak.rs), writes SOAK.md
//! ```

mod alloc;
mod backplane;
mod canned;
mod large;
mod load;
mod memory;
mod observed;
mod servers;
mod soak;
mod topics;

use std::fmt::Write as _;
use std::time::Duration;

use load::{HttpStats, Settings};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// One row of the results table.
struct Row {
    name: String,
    unit: &'static str,
    ours: f64,
    theirs: f64,
    /// `true` when a lower figure is better (latency, time, allocations).
    lower_is_better: bool,
    target: f64,
    competitor: &'static str,
}

impl Row {
    fn ratio(&self) -> f64 {
        if self.lower_is_better {
            self.theirs / self.ours
        } else {
            self.ours / self.theirs
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_stats(runs: Vec<HttpStats>) -> HttpStats {
    HttpStats {
        rps: median(runs.iter().map(|r| r.rps).collect()),
        p50_us: median(runs.iter().map(|r| r.p50_us).collect()),
        p99_us: median(runs.iter().map(|r| r.p99_us).collect()),
    }
}

/// `--only SECTION` (http, https, websocket, tcp, local, in-process, client, subscriptions, observed, memory, large, backplane, topics) runs one
/// section and prints its rows without rewriting BENCHMARKS.md.
fn only() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--only")?;
    args.get(at + 1).cloned()
}

fn wants(section: &str) -> bool {
    only().is_none_or(|s| s == section)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--serve") {
        // The child process of the memory rows.
        let kind = args.get(at + 1).cloned().unwrap_or_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(memory::serve(&kind));
        return;
    }
    if args.iter().any(|a| a == "--serve-stdio") {
        // The child process of the stdio rows: one connection on stdin/stdout.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let served = runtime.block_on(rpc::stdio::StdioServer::new(servers::methods()).run());
        std::process::exit(i32::from(served.is_err()));
    }
    if let Some(at) = args.iter().position(|a| a == "--serve-soak") {
        // The soak's server process: it reports the bytes it holds.
        alloc::start();
        let port = |i: usize| args.get(at + i).and_then(|p| p.parse().ok()).unwrap_or(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(soak::serve(port(1), port(2)));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--soak") {
        let calls = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (report, passed) = runtime.block_on(soak::run(soak::Settings {
            calls,
            connections: 256,
            call_timeout: Duration::from_secs(20),
        }));
        println!("{report}");
        if calls == 1_000_000 {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../SOAK.md");
            if let Err(e) = std::fs::write(path, &report) {
                eprintln!("cannot write SOAK.md: {e}");
            }
        }
        std::process::exit(if passed { 0 } else { 1 });
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = Settings {
        duration: if quick {
            Duration::from_millis(1000)
        } else {
            Duration::from_secs(3)
        },
        rounds: if quick { 1 } else { 3 },
        connections: 64,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rows = runtime.block_on(run(&settings));
    let table = render(&rows, &settings, quick);
    println!("{table}");
    if only().is_some() {
        return;
    }
    if let Err(e) = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCHMARKS.md"),
        &table,
    ) {
        eprintln!("cannot write BENCHMARKS.md: {e}");
    }
}

/// A batch of `n` `subtract` calls.
fn batch_of(n: usize) -> String {
    let calls: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"subtract","params":[{i},23],"id":{i}}}"#))
        .collect();
    format!("[{}]", calls.join(","))
}

async fn run(settings: &Settings) -> Vec<Row> {
    let ours = servers::ours().await;
    let jsonrpsee = servers::jsonrpsee().await;
    let floor = servers::bare_axum().await;
    let mut rows = Vec::new();

    let single = r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#.to_owned();
    let batch = batch_of(100);

    let http_sections = if wants("http") {
        vec![("HTTP single call", &single), ("HTTP batch of 100", &batch)]
    } else {
        Vec::new()
    };
    for (label, body) in http_sections {
        let (mut o, mut j, mut f) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            o.push(load::http(ours.http, body, settings).await);
            j.push(load::http(jsonrpsee.http, body, settings).await);
            f.push(load::http(floor, body, settings).await);
        }
        let (o, j, f) = (median_stats(o), median_stats(j), median_stats(f));
        let batch_target = if label.contains("batch") { 1.3 } else { 1.0 };
        rows.push(Row {
            name: format!("{label}: requests/s"),
            unit: "req/s",
            ours: o.rps,
            theirs: j.rps,
            lower_is_better: false,
            target: batch_target,
            competitor: "jsonrpsee",
        });
        rows.push(Row {
            name: format!("{label}: p50 latency"),
            unit: "µs",
            ours: o.p50_us,
            theirs: j.p50_us,
            lower_is_better: true,
            target: 1.0,
            competitor: "jsonrpsee",
        });
        rows.push(Row {
            name: format!("{label}: p99 latency"),
            unit: "µs",
            ours: o.p99_us,
            theirs: j.p99_us,
            lower_is_better: true,
            target: 1.0,
            competitor: "jsonrpsee",
        });
        if !label.contains("batch") {
            rows.push(Row {
                name: format!("{label}: requests/s vs bare axum"),
                unit: "req/s",
                ours: o.rps,
                theirs: f.rps,
                lower_is_better: false,
                target: 0.95,
                competitor: "bare axum",
            });
        }
    }

    // HTTPS: the cost of TLS against our own plain HTTP (jsonrpsee's server
    // has no TLS: its issue #1039). Keep-alive connections, so this is the
    // cost per request once the handshake is done.
    if wants("https") {
        let (https, tls) = servers::ours_https().await;
        let (mut plain, mut secure) = (Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            plain.push(load::http(ours.http, &single, settings).await);
            secure.push(load::https(https, &single, settings, tls.clone()).await);
        }
        let (plain, secure) = (median_stats(plain), median_stats(secure));
        rows.push(Row {
            name: "HTTPS single call: requests/s".into(),
            unit: "req/s",
            ours: secure.rps,
            theirs: plain.rps,
            lower_is_better: false,
            target: 0.0,
            competitor: "our plain HTTP",
        });
        rows.push(Row {
            name: "HTTPS single call: p99 latency".into(),
            unit: "µs",
            ours: secure.p99_us,
            theirs: plain.p99_us,
            lower_is_better: true,
            target: 0.0,
            competitor: "our plain HTTP",
        });
    }

    for connections in [1usize, 64].into_iter().filter(|_| wants("websocket")) {
        let (mut o, mut j) = (Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            o.push(load::websocket(ours.http, &single, connections, settings).await);
            j.push(load::websocket(jsonrpsee.http, &single, connections, settings).await);
        }
        rows.push(Row {
            name: format!("WebSocket pipelined, {connections} connection(s)"),
            unit: "calls/s",
            ours: median(o),
            theirs: median(j),
            lower_is_better: false,
            target: 1.0,
            competitor: "jsonrpsee",
        });
    }

    for connections in [1usize, 64].into_iter().filter(|_| wants("tcp")) {
        let (mut nl, mut lp, mut j) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            nl.push(load::tcp(ours.tcp_newline, &single, false, connections, settings).await);
            lp.push(load::tcp(ours.tcp_length_prefix, &single, true, connections, settings).await);
            j.push(load::websocket(jsonrpsee.http, &single, connections, settings).await);
        }
        let theirs = median(j);
        for (framing, figures) in [("newline", nl), ("length-prefix-4", lp)] {
            rows.push(Row {
                name: format!("TCP {framing} pipelined, {connections} connection(s)"),
                unit: "calls/s",
                ours: median(figures),
                theirs,
                lower_is_better: false,
                target: 1.0,
                competitor: "jsonrpsee WebSocket",
            });
        }
    }

    // Unix sockets and stdio against our own TCP (newline framing each).
    for connections in [1usize, 64].into_iter().filter(|_| wants("local")) {
        let (mut t, mut u, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            t.push(load::tcp(ours.tcp_newline, &single, false, connections, settings).await);
            u.push(load::unix(ours.unix.clone(), &single, connections, settings).await);
            s.push(load::stdio(&single, connections, settings).await);
        }
        let theirs = median(t);
        for (carrier, figures) in [
            ("Unix socket", u),
            ("stdio (server in a child process per connection)", s),
        ] {
            rows.push(Row {
                name: format!("{carrier} pipelined, {connections} connection(s)"),
                unit: "calls/s",
                ours: median(figures),
                theirs,
                lower_is_better: false,
                target: 0.0,
                competitor: "our TCP",
            });
        }
    }

    if wants("in-process") {
        in_process(&ours, &jsonrpsee, &single, &mut rows).await;
    }
    if wants("client") {
        client(settings, &mut rows).await;
    }
    if wants("subscriptions") {
        let (mut o, mut j) = (Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            o.push(load::subscriptions(ours.http, 64, settings).await);
            j.push(load::subscriptions(jsonrpsee.http, 64, settings).await);
        }
        rows.push(Row {
            name: "WebSocket subscription items, 64 subscribers".into(),
            unit: "items/s",
            ours: median(o),
            theirs: median(j),
            lower_is_better: false,
            target: 1.0,
            competitor: "jsonrpsee",
        });
        // Server-sent events against our own WebSocket (jsonrpsee has no
        // event streams): the same subscription, the same server.
        for subscribers in [1, 1000] {
            let (mut sse, mut ws) = (Vec::new(), Vec::new());
            for _ in 0..settings.rounds {
                sse.push(load::sse_subscriptions(ours.http, subscribers, settings).await);
                ws.push(load::subscriptions(ours.http, subscribers, settings).await);
            }
            rows.push(Row {
                name: format!(
                    "SSE subscription items, {subscribers} subscriber{}",
                    if subscribers == 1 { "" } else { "s" }
                ),
                unit: "items/s",
                ours: median(sse),
                theirs: median(ws),
                lower_is_better: false,
                target: 0.8,
                competitor: "our WebSocket",
            });
        }
    }
    if wants("observed") {
        observed_rows(settings, &mut rows).await;
    }
    if wants("backplane") {
        backplane_rows(&mut rows).await;
    }
    if wants("topics") {
        topic_rows(&mut rows).await;
    }
    if wants("memory") {
        memory_rows(&mut rows).await;
    }
    if wants("large") {
        large::rows(settings, &mut rows).await;
    }
    rows
}

/// The calculator's production configuration (a layer counting calls
/// alive, metrics, bearer authentication; see `observed.rs`) on HTTP
/// single calls, HTTP batches of 100 and WebSocket pipelined calls on 64
/// connections, each server in a child process: against our plain server,
/// plain jsonrpsee, and jsonrpsee with the equivalent middleware.
async fn observed_rows(settings: &Settings, rows: &mut Vec<Row>) {
    let single = r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#;
    let batch = batch_of(100);
    let servers = [
        memory::Server::start("ours-observed"),
        memory::Server::start("ours-plain"),
        memory::Server::start("jsonrpsee"),
        memory::Server::start("jsonrpsee-observed"),
    ];
    for server in &servers {
        let answer = load::probe(server.ws, single).await;
        assert!(answer.contains(r#""result":19"#), "answered {answer}");
    }
    let workloads: [(&str, &str); 3] = [
        ("HTTP single call", single),
        ("HTTP batch of 100", &batch),
        ("WebSocket pipelined, 64 connections", single),
    ];
    // The targets against our plain server, plain jsonrpsee, and jsonrpsee
    // with the same middleware.
    let targets = [[0.90, 1.0, 1.0], [0.90, 1.5, 1.5], [0.90, 2.5, 2.5]];
    for ((name, body), targets) in workloads.into_iter().zip(targets) {
        let mut figures: [Vec<f64>; 4] = Default::default();
        for _ in 0..settings.rounds {
            for (server, figures) in servers.iter().zip(&mut figures) {
                figures.push(if name.starts_with("WebSocket") {
                    load::websocket(server.ws, body, 64, settings).await
                } else {
                    load::http(server.ws, body, settings).await.rps
                });
            }
        }
        let [ours, others @ ..] = figures.map(median);
        let unit = if name.starts_with("WebSocket") {
            "calls/s"
        } else {
            "req/s"
        };
        let competitors = [
            "our server, all off",
            "jsonrpsee",
            "jsonrpsee, same middleware",
        ];
        for ((theirs, competitor), target) in others.into_iter().zip(competitors).zip(targets) {
            rows.push(Row {
                name: format!("{name}, layer + metrics + auth on"),
                unit,
                ours,
                theirs,
                lower_is_better: false,
                target,
                competitor,
            });
        }
    }
}

async fn in_process(
    ours: &servers::Ours,
    jsonrpsee: &servers::Jsonrpsee,
    single: &str,
    rows: &mut Vec<Row>,
) {
    let inproc_ours = load::in_process_ours(&ours.dispatcher, single).await;
    let inproc_theirs = load::in_process_jsonrpsee(&jsonrpsee.module, single).await;
    rows.push(Row {
        name: "In-process parse+dispatch+serialize: time per call".into(),
        unit: "ns",
        ours: inproc_ours.ns_per_call,
        theirs: inproc_theirs.ns_per_call,
        lower_is_better: true,
        target: 1.0,
        competitor: "jsonrpsee",
    });
    rows.push(Row {
        name: "In-process: allocations per call".into(),
        unit: "allocs",
        ours: inproc_ours.allocs_per_call,
        theirs: inproc_theirs.allocs_per_call,
        lower_is_better: true,
        target: 1.0,
        competitor: "jsonrpsee",
    });
}

/// The clients against a server answering canned results in a child
/// process: calls/s from 64 concurrent callers, and this process's CPU
/// time per call (the client's alone).
async fn client(settings: &Settings, rows: &mut Vec<Row>) {
    let server = memory::Server::start("canned");
    let addr = server.ws;
    let kinds = [
        load::ClientKind::HttpOurs,
        load::ClientKind::HttpJsonrpsee,
        load::ClientKind::WsOurs,
        load::ClientKind::WsReconnecting,
        load::ClientKind::WsJsonrpsee,
    ];
    let mut figures: Vec<[Vec<f64>; 3]> = vec![Default::default(); kinds.len()];
    for _ in 0..settings.rounds {
        for (kind, [rate, cpu, allocs]) in kinds.iter().zip(figures.iter_mut()) {
            let measured = load::client(*kind, addr, settings).await;
            rate.push(measured.calls_per_second);
            cpu.push(measured.cpu_us_per_call);
            allocs.push(measured.allocs_per_call);
        }
    }
    let figures: Vec<(f64, f64, f64)> = figures
        .into_iter()
        .map(|[rate, cpu, allocs]| (median(rate), median(cpu), median(allocs)))
        .collect();
    let [http, http_theirs, ws, reconnecting, ws_theirs] = figures[..] else {
        return;
    };
    for (name, ours, theirs, competitor) in [
        ("HTTP client", http, http_theirs, "jsonrpsee HTTP client"),
        (
            "WebSocket client",
            ws,
            ws_theirs,
            "jsonrpsee WebSocket client",
        ),
        (
            "Reconnecting WebSocket client",
            reconnecting,
            ws_theirs,
            "jsonrpsee WebSocket client",
        ),
    ] {
        rows.push(Row {
            name: format!("{name}, 64 concurrent callers, canned answers"),
            unit: "calls/s",
            ours: ours.0,
            theirs: theirs.0,
            lower_is_better: false,
            target: 1.0,
            competitor,
        });
        rows.push(Row {
            name: format!("{name}: CPU time per call"),
            unit: "µs",
            ours: ours.1,
            theirs: theirs.1,
            lower_is_better: true,
            // At most 0.8× the competitor's.
            target: 1.25,
            competitor,
        });
        rows.push(Row {
            name: format!("{name}: allocations per call"),
            unit: "allocs",
            ours: ours.2,
            theirs: theirs.2,
            lower_is_better: true,
            target: 1.0,
            competitor,
        });
    }
    drop(server);
}

/// Broadcast latency and throughput from one instance to the 64 clients of
/// another through Redis and NATS, beside one instance's own clients.
/// What resumable topics cost: retention on against off, each broker's
/// log against its plain pub/sub, the bytes of 1000 retained messages,
/// and replaying 1000 messages to a subscriber that resumes.
async fn topic_rows(rows: &mut Vec<Row>) {
    use rpc::subscription::Retention;
    use topics::Carrier;
    let off = Retention {
        messages: 0,
        age: Duration::ZERO,
        bytes: 0,
    };
    let on = Retention::default();
    if let (Some(kept), Some(none)) = (
        topics::delivery(None, Carrier::Local, on).await,
        topics::delivery(None, Carrier::Local, off).await,
    ) {
        rows.push(Row {
            name: "Topic messages to a WebSocket subscriber, one instance: retention on".into(),
            unit: "msgs/s",
            ours: kept,
            theirs: none,
            lower_is_better: false,
            target: 0.9,
            competitor: "retention off",
        });
    }
    let (retained, text) = topics::retained_bytes();
    rows.push(Row {
        name: "Retention: bytes held for 1000 messages of about 120 bytes".into(),
        unit: "bytes",
        ours: retained,
        theirs: text,
        lower_is_better: true,
        target: 0.0,
        competitor: "their JSON text",
    });
    if let Some((local, _)) = topics::replay(None).await {
        rows.push(Row {
            name: "Resume: replaying 1000 messages from the instance's retention".into(),
            unit: "ms",
            ours: local,
            theirs: local,
            lower_is_better: true,
            target: 0.0,
            competitor: "(itself)",
        });
    }
    for kind in ["redis", "nats"] {
        let Some(broker) = backplane::broker(kind) else {
            eprintln!("topics: no {kind} server installed");
            continue;
        };
        let (name, log) = if kind == "redis" {
            ("Redis", "Redis Streams")
        } else {
            ("NATS", "JetStream")
        };
        match (
            topics::delivery(Some(&broker.url), Carrier::Log, on).await,
            topics::delivery(Some(&broker.url), Carrier::PubSub, on).await,
        ) {
            (Some(logged), Some(plain)) => rows.push(Row {
                name: format!(
                    "Topic messages to a subscriber of another instance via the {log} log"
                ),
                unit: "msgs/s",
                ours: logged,
                theirs: plain,
                lower_is_better: false,
                target: 0.0,
                competitor: if kind == "redis" {
                    "Redis pub/sub"
                } else {
                    "NATS core pub/sub"
                },
            }),
            _ => eprintln!("topics: the {name} delivery measurement failed"),
        }
        match topics::replay(Some(&broker.url)).await {
            Some((local, Some(from_log))) => rows.push(Row {
                name: format!(
                    "Resume on a later instance: replaying 1000 messages from the {log} log"
                ),
                unit: "ms",
                ours: from_log,
                theirs: local,
                lower_is_better: true,
                target: 0.0,
                competitor: "from the instance's retention",
            }),
            _ => eprintln!("topics: the {name} replay measurement failed"),
        }
    }
}

async fn backplane_rows(rows: &mut Vec<Row>) {
    let Some(local) = backplane::measure(None).await else {
        eprintln!("backplane: the in-process measurement failed");
        return;
    };
    for kind in ["redis", "nats"] {
        let Some(broker) = backplane::broker(kind) else {
            eprintln!(
                "backplane: no {kind} server installed (apt-get install redis-server nats-server)"
            );
            continue;
        };
        let Some(figures) = backplane::measure(Some(&broker.url)).await else {
            eprintln!("backplane: the {kind} measurement failed");
            continue;
        };
        let name = if kind == "redis" { "Redis" } else { "NATS" };
        for (what, ours, theirs) in [
            ("p50 latency", figures.p50_us, local.p50_us),
            ("p99 latency", figures.p99_us, local.p99_us),
        ] {
            rows.push(Row {
                name: format!(
                    "Broadcast to {} clients of another instance via {name}: {what}",
                    backplane::CLIENTS
                ),
                unit: "µs",
                ours,
                theirs,
                lower_is_better: true,
                target: 0.0,
                competitor: "one instance, in-process",
            });
        }
        rows.push(Row {
            name: format!(
                "Broadcast to {} clients of another instance via {name}: deliveries/s",
                backplane::CLIENTS
            ),
            unit: "msgs/s",
            ours: figures.per_sec,
            theirs: local.per_sec,
            lower_is_better: false,
            target: 0.0,
            competitor: "one instance, in-process",
        });
    }
}

/// Idle connections held open on servers in child processes.
const IDLE_CONNECTIONS: usize = 5000;

async fn memory_rows(rows: &mut Vec<Row>) {
    let memory::Idle {
        ours_ws,
        theirs_ws,
        ours_tcp,
        ours_unix,
    } = memory::idle_connections(IDLE_CONNECTIONS).await;
    rows.push(Row {
        name: format!("WebSocket idle connection ({IDLE_CONNECTIONS} open): resident bytes each"),
        unit: "bytes",
        ours: ours_ws,
        theirs: theirs_ws,
        lower_is_better: true,
        // At most 0.6 of jsonrpsee's.
        target: 1.67,
        competitor: "jsonrpsee",
    });
    rows.push(Row {
        name: format!("TCP idle connection ({IDLE_CONNECTIONS} open): resident bytes each"),
        unit: "bytes",
        ours: ours_tcp,
        theirs: ours_ws,
        lower_is_better: true,
        target: 1.0,
        competitor: "our WebSocket",
    });
    rows.push(Row {
        name: format!("Unix socket idle connection ({IDLE_CONNECTIONS} open): resident bytes each"),
        unit: "bytes",
        ours: ours_unix,
        theirs: ours_tcp,
        lower_is_better: true,
        target: 0.0,
        competitor: "our TCP",
    });
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores ({cpu}), {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn render(rows: &[Row], settings: &Settings, quick: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Produced by `cargo run --release --manifest-path benches/Cargo.toml{}` on {}. \
         Servers and load generator share one 2-worker tokio runtime; every contender is driven by the same \
         generator ({} keep-alive connections for HTTP, {} s per run, {} alternating round(s), median shown). \
         Ratios are ours / theirs for throughput and theirs / ours for latency, time and allocations, so above 1 means we are ahead.\n",
        if quick { " -- --quick" } else { "" },
        machine(),
        settings.connections,
        settings.duration.as_secs_f64(),
        settings.rounds,
    );
    let _ = writeln!(
        out,
        "| benchmark | unit | rpc | competitor | competitor's figure | ratio | target | met |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | --- | ---: | ---: | ---: | --- |");
    for row in rows {
        let ratio = row.ratio();
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {:.1} | {:.2} | ≥ {:.2} | {} |",
            row.name,
            row.unit,
            row.ours,
            row.competitor,
            row.theirs,
            ratio,
            row.target,
            if ratio >= row.target { "yes" } else { "**no**" }
        );
    }
    out
}
