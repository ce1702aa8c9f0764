//! Graceful shutdown, the same on every transport: calls in flight are
//! answered, new ones refused, the servers return within the grace period
//! whatever the peers do; and the calculator drains on SIGTERM.

mod common;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::calculator::Served;
use common::{eventually, Demo, DemoBatch, DemoClient, DemoService};
use futures_util::{SinkExt, StreamExt};
use rpc::http::{HttpClient, Server};
use rpc::tcp::{Framing, StreamOptions, TcpServer};
use rpc::{MethodTable, Shutdown};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Http,
    WebSocket,
    Tcp(Framing),
}

const EVERY_TRANSPORT: [Transport; 6] = [
    Transport::Http,
    Transport::WebSocket,
    Transport::Tcp(Framing::Newline),
    Transport::Tcp(Framing::LengthPrefix1),
    Transport::Tcp(Framing::LengthPrefix2),
    Transport::Tcp(Framing::LengthPrefix4),
];

/// A server for `service` on `transport` that drains on `shutdown`.
async fn start(
    transport: Transport,
    service: &DemoService,
    shutdown: &Shutdown,
) -> (SocketAddr, JoinHandle<io::Result<()>>) {
    match transport {
        Transport::Http | Transport::WebSocket => {
            let listening = Server::new(service.clone().into_rpc())
                .with_shutdown(shutdown.clone())
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            (
                listening.local_addr().unwrap(),
                tokio::spawn(listening.run()),
            )
        }
        Transport::Tcp(framing) => {
            let listening = TcpServer::new(service.clone().into_rpc())
                .with_framing(framing)
                .with_shutdown(shutdown.clone())
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            (
                listening.local_addr().unwrap(),
                tokio::spawn(listening.run()),
            )
        }
    }
}

async fn connect(transport: Transport, addr: SocketAddr) -> Result<rpc::Client, rpc::Error> {
    Ok(match transport {
        Transport::Http => {
            let client = rpc::Client::new(HttpClient::new(&format!("http://{addr}/"))?);
            // An HTTP client connects lazily: make it connect now.
            client.add(0, 0).await?;
            client
        }
        Transport::WebSocket => {
            rpc::Client::new(rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new()).await?)
        }
        Transport::Tcp(framing) => rpc::Client::new(
            rpc::tcp::connect(addr, &StreamOptions::framing(framing), MethodTable::new()).await?,
        ),
    })
}

#[tokio::test]
async fn draining_answers_calls_in_flight_and_refuses_new_ones_on_every_transport() {
    for transport in EVERY_TRANSPORT {
        let service = DemoService::default();
        let shutdown = Shutdown::with_timing(Duration::ZERO, Duration::from_secs(10));
        let (addr, server) = start(transport, &service, &shutdown).await;
        let client = connect(transport, addr).await.unwrap();
        let mut in_flight = Vec::new();
        for ms in [300, 350, 400, 450] {
            let client = client.clone();
            in_flight.push(tokio::spawn(async move { client.hold(ms).await }));
        }
        let batch = tokio::spawn({
            let client = client.clone();
            async move { client.batch().hold(400).add(1, 2).send().await }
        });
        let running = eventually(&service.live, 5, Duration::from_secs(2)).await;
        assert_eq!(running, 5, "{transport:?}: calls started");
        let triggered = Instant::now();
        shutdown.trigger();
        if transport != Transport::Http {
            // A new call on a draining connection is refused, not run.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let refused = client.add(1, 1).await.unwrap_err();
            assert_eq!(
                refused.error_object().map(|e| e.code),
                Some(rpc::code::SHUTTING_DOWN),
                "{transport:?}: {refused}"
            );
        }
        for (call, ms) in in_flight.into_iter().zip([300, 350, 400, 450]) {
            assert_eq!(call.await.unwrap().unwrap(), ms, "{transport:?}");
        }
        let (held, sum) = batch.await.unwrap().unwrap();
        assert_eq!((held.unwrap(), sum.unwrap()), (400, 3), "{transport:?}");
        returns_within(
            server,
            Duration::from_secs(2),
            format!("{transport:?}: the server did not return"),
        )
        .await;
        assert!(
            triggered.elapsed() < Duration::from_secs(2),
            "{transport:?}"
        );
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "{transport:?}: a new connection was accepted after the drain"
        );
    }
}

#[tokio::test]
async fn the_grace_period_bounds_the_drain_whatever_the_peers_do() {
    for transport in EVERY_TRANSPORT {
        let service = DemoService::default();
        let shutdown = Shutdown::with_timing(Duration::ZERO, Duration::from_millis(500));
        let (addr, server) = start(transport, &service, &shutdown).await;
        let client = connect(transport, addr).await.unwrap();
        let stuck = tokio::spawn(async move { client.hold(60_000).await });
        assert_eq!(
            eventually(&service.live, 1, Duration::from_secs(2)).await,
            1
        );
        // A peer that sent half a header and nothing more.
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
            .await
            .unwrap();
        let triggered = Instant::now();
        shutdown.trigger();
        returns_within(
            server,
            Duration::from_secs(3),
            format!("{transport:?}: the server did not return"),
        )
        .await;
        assert!(
            triggered.elapsed() < Duration::from_millis(1500),
            "{transport:?}"
        );
        assert!(stuck.await.unwrap().is_err(), "{transport:?}");
        assert_eq!(
            eventually(&service.live, 0, Duration::from_secs(1)).await,
            0,
            "{transport:?}: the stuck call was not dropped"
        );
    }
}

#[tokio::test]
async fn a_half_sent_header_does_not_hold_up_the_drain() {
    let service = DemoService::default();
    let shutdown = Shutdown::new();
    let (addr, server) = start(Transport::Http, &service, &shutdown).await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.trigger();
    returns_within(
        server,
        Duration::from_secs(2),
        "a half-sent header held the server".to_owned(),
    )
    .await;
}

#[tokio::test]
async fn websockets_close_with_going_away_after_their_answers() {
    let service = DemoService::default();
    let shutdown = Shutdown::new();
    let (addr, _server) = start(Transport::WebSocket, &service, &shutdown).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    socket
        .send(Message::text(
            r#"{"jsonrpc":"2.0","method":"hold","params":[300],"id":7}"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        eventually(&service.live, 1, Duration::from_secs(2)).await,
        1
    );
    shutdown.trigger();
    let mut answered = false;
    let close = loop {
        let next = tokio::time::timeout(Duration::from_secs(3), socket.next())
            .await
            .expect("no close frame")
            .expect("the stream ended without a close frame")
            .unwrap();
        match next {
            Message::Text(text) => {
                let answer: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(answer["result"], 300, "{answer}");
                answered = true;
            }
            Message::Close(frame) => break frame,
            _ => {}
        }
    };
    assert!(answered, "the close came before the answer");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
}

#[tokio::test]
async fn the_readiness_probe_says_draining_while_the_server_still_serves() {
    let service = DemoService::default();
    let shutdown = Shutdown::with_timing(Duration::from_millis(600), Duration::from_secs(5));
    let (addr, server) = start(Transport::Http, &service, &shutdown).await;
    let ready = |addr: SocketAddr| async move {
        let mut socket = TcpStream::connect(addr).await?;
        socket
            .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut text = String::new();
        socket.read_to_string(&mut text).await?;
        io::Result::Ok(text)
    };
    let before = ready(addr).await.unwrap();
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");
    shutdown.trigger();
    let during = ready(addr).await.unwrap();
    assert!(during.starts_with("HTTP/1.1 503"), "{during}");
    assert!(during.ends_with("draining\n"), "{during}");
    // Until the drain delay is over, new clients are still served.
    let client = connect(Transport::Http, addr).await.unwrap();
    assert_eq!(client.add(2, 3).await.unwrap(), 5);
    returns_within(
        server,
        Duration::from_secs(3),
        "the server did not return".to_owned(),
    )
    .await;
    assert!(
        ready(addr).await.is_err(),
        "connections refused after the drain"
    );
}

/// `calculator serve`, SIGTERM while calls are in flight on HTTP, WebSocket
/// and TCP: every call is answered and the process exits 0.
#[test]
fn the_calculator_drains_on_sigterm_in_every_framing() {
    for framing in [
        "newline",
        "length-prefix-1",
        "length-prefix-2",
        "length-prefix-4",
    ] {
        let mut served = Served::start(framing);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let outcomes = runtime.block_on(async {
            let framing: Framing = framing.parse().unwrap();
            let http = rpc::Client::new(HttpClient::new(&served.http).unwrap());
            let ws = rpc::Client::new(
                rpc::ws::connect(&served.ws(), MethodTable::new())
                    .await
                    .unwrap(),
            );
            let tcp = rpc::Client::new(
                rpc::tcp::connect(
                    served.tcp.as_str(),
                    &StreamOptions::framing(framing),
                    MethodTable::new(),
                )
                .await
                .unwrap(),
            );
            let mut calls = Vec::new();
            for client in [http, ws, tcp] {
                for ms in [600u64, 700, 800] {
                    let client = client.clone();
                    calls.push(tokio::spawn(async move {
                        let mut p = rpc::client::ParamsBuilder::new(false);
                        p.push("ms", &ms);
                        (ms, client.call::<u64>("sleep", p).await)
                    }));
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            served.terminate();
            let mut outcomes = Vec::new();
            for call in calls {
                outcomes.push(call.await.unwrap());
            }
            // New connections are refused once the calls are answered.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let refused = TcpStream::connect(served.tcp.as_str()).await.is_err();
            (outcomes, refused)
        });
        let (outcomes, refused) = outcomes;
        for (ms, outcome) in outcomes {
            assert_eq!(
                outcome.unwrap(),
                ms,
                "{framing}: a call in flight was not answered"
            );
        }
        assert!(
            refused,
            "{framing}: a new connection was accepted while draining"
        );
        let status = served
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{framing}: the calculator did not exit"));
        assert!(status.success(), "{framing}: exit status {status}");
    }
}

#[tokio::test]
async fn a_peer_that_never_reads_cannot_hold_up_the_drain() {
    for framing in [Framing::Newline, Framing::LengthPrefix4] {
        let service = DemoService::default();
        let shutdown = Shutdown::with_timing(Duration::ZERO, Duration::from_millis(300));
        let (addr, server) = start(Transport::Tcp(framing), &service, &shutdown).await;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        // Big answers it never reads: the server's writer blocks.
        let big = "y".repeat(100_000);
        for id in 0..200 {
            let call =
                format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{big}"],"id":{id}}}"#);
            let mut frame = Vec::new();
            if framing == Framing::LengthPrefix4 {
                frame.extend_from_slice(&u32::try_from(call.len()).unwrap().to_be_bytes());
            }
            frame.extend_from_slice(call.as_bytes());
            frame.push(b'\n');
            let write = tokio::time::timeout(Duration::from_millis(200), stream.write_all(&frame));
            if write.await.is_err() {
                break;
            }
        }
        let triggered = Instant::now();
        shutdown.trigger();
        returns_within(
            server,
            Duration::from_secs(5),
            format!("{framing}: a peer that never reads held the server"),
        )
        .await;
        assert!(triggered.elapsed() < Duration::from_secs(4), "{framing}");
        // The server gave up on the peer (its writer stopped waiting, the
        // socket closed) instead of keeping a task and a socket for it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
            .await
            .unwrap_or_else(|_| panic!("{framing}: the server kept the socket open"))
            .ok();
        assert!(
            received.len() < 200 * 100_000,
            "{framing}: everything was still written ({} bytes)",
            received.len()
        );
    }
}

/// Waits for a server's `run` to return Ok within `limit`.
async fn returns_within(server: JoinHandle<io::Result<()>>, limit: Duration, what: String) {
    match tokio::time::timeout(limit, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("{what}: the server failed: {e}"),
        Ok(Err(e)) => panic!("{what}: the server task failed: {e}"),
        Err(_) => panic!("{what} (within {limit:?})"),
    }
}

/// A service mounted in a user's axum app, served with `serve_app`: the
/// peer's address reaches handlers, and the app drains on its shutdown
/// (a WebSocket through the mount is closed with 1001, new upgrades get
/// 503, calls in flight are answered, `serve_app` returns).
#[tokio::test]
async fn a_service_mounted_in_an_app_drains_with_serve_app_and_sees_its_peer() {
    let service = DemoService::default();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/rpc", rpc::http::router(service.into_rpc()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::with_timing(Duration::from_millis(300), Duration::from_secs(5));
    let server = tokio::spawn(rpc::http::serve_app(listener, app, shutdown.clone()));
    let http = rpc::Client::new(HttpClient::new(&format!("http://{addr}/rpc")).unwrap());
    let peer = http.peer().await.unwrap().expect("the peer's address");
    assert_eq!(peer, "127.0.0.1");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/rpc"))
        .await
        .unwrap();
    let slow = tokio::spawn(async move { http.sleep(500).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.trigger();
    // During the drain delay the app still listens, but takes no new WebSocket.
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/rpc")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("a WebSocket upgrade while draining: {other:?}"),
    }
    // The open WebSocket is drained and closed with 1001.
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(message) = ws.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame.map(|f| f.code);
            }
        }
        None
    })
    .await
    .expect("the WebSocket was not closed");
    assert_eq!(closed, Some(CloseCode::Away));
    assert_eq!(slow.await.unwrap().unwrap(), 500, "the call in flight");
    returns_within(
        server,
        Duration::from_secs(3),
        "serve_app did not return".into(),
    )
    .await;
}

/// The axum example, as a user runs it: SIGTERM stops it (exit 0) and
/// closes its WebSockets with 1001.
#[test]
fn the_axum_example_exits_on_sigterm() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(common::calculator::example("axum_app"))
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the axum_app example");
    let stdout = child.stdout.take().unwrap();
    let url = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .expect("the example printed its address")
        .unwrap();
    let ws_url = url.replacen("http://", "ws://", 1) + "rpc";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let closed = runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
        let add = r#"{"jsonrpc":"2.0","method":"todo.add","params":["milk"],"id":1}"#;
        ws.send(Message::text(add)).await.unwrap();
        let answer = ws.next().await.unwrap().unwrap();
        assert!(
            answer.to_text().unwrap().contains("\"result\":1"),
            "{answer}"
        );
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = ws.next().await {
                if let Ok(Message::Close(frame)) = message {
                    return frame.map(|f| f.code);
                }
            }
            None
        })
        .await
        .expect("the WebSocket was not closed after SIGTERM")
    });
    assert_eq!(closed, Some(CloseCode::Away));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the axum example ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}
