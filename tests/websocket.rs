//! End to end over WebSocket: the HTTP server upgrades on the same route.

mod common;

use std::time::Duration;

use common::duplex::*;
use common::{http_server, Demo, DemoClient, DemoService};
use futures_util::{SinkExt, StreamExt};
use rpc::http::Server;
use rpc::MethodTable;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn server() -> String {
    let (addr, _token) = http_server(Server::new(DemoService::default().into_rpc())).await;
    format!("ws://{addr}/")
}

fn connector(
    url: String,
) -> impl Fn(
    MethodTable,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = rpc::duplex::DuplexConnection>>> {
    move |methods| {
        let url = url.clone();
        Box::pin(async move { rpc::ws::connect(&url, methods).await.expect("connect") })
    }
}

#[tokio::test]
async fn calls_in_both_directions() {
    calls_both_ways(connector(server().await)).await;
}

#[tokio::test]
async fn server_pushes_notifications_to_its_caller() {
    pushes_notifications_in_order_before_the_answer(connector(server().await)).await;
}

#[tokio::test]
async fn a_notification_that_looks_like_a_subscription_item_reaches_the_handler() {
    notifications_shaped_like_items_reach_the_handler(connector(server().await)).await;
}

#[tokio::test]
async fn broadcast_reaches_several_clients() {
    broadcast_reaches_every_client(connector(server().await)).await;
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_one_connection() {
    thousand_concurrent_calls_all_matched(connector(server().await)).await;
}

#[tokio::test]
async fn no_head_of_line_blocking() {
    answers_arrive_as_calls_complete(connector(server().await)).await;
}

#[tokio::test]
async fn closing_fails_pending_calls_promptly() {
    pending_calls_fail_when_the_connection_closes(connector(server().await)).await;
}

#[tokio::test]
async fn panics_and_timeouts_affect_one_call() {
    panics_and_timeouts_stay_on_their_call(connector(server().await)).await;
}

#[tokio::test]
async fn server_shutdown_answers_calls_in_flight_then_closes() {
    let (addr, shutdown) = http_server(Server::new(DemoService::default().into_rpc())).await;
    let conn = rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new())
        .await
        .unwrap();
    let client = rpc::Client::new(conn.clone());
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(300).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.trigger();
    let outcome = tokio::time::timeout(Duration::from_secs(2), in_flight)
        .await
        .expect("hung")
        .unwrap();
    assert_eq!(outcome.unwrap(), 300, "the call in flight is answered");
    tokio::time::timeout(Duration::from_secs(2), conn.closed())
        .await
        .expect("the connection ends after the drain");
    let err = client.add(1, 2).await.unwrap_err();
    assert!(matches!(err, rpc::Error::Closed), "{err:?}");
}

async fn raw(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
            .await
            .expect("no answer")
            .unwrap()
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn text_and_binary_frames_are_answered() {
    let mut ws = raw(&server().await).await;
    let call = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
    ws.send(Message::text(call)).await.unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"jsonrpc":"2.0","result":3,"id":1})
    );
    ws.send(Message::binary(call.as_bytes().to_vec()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["result"], 3);
}

#[tokio::test]
async fn malformed_frame_gets_parse_error_and_connection_goes_on() {
    let mut ws = raw(&server().await).await;
    ws.send(Message::text("{not json")).await.unwrap();
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["error"]["code"], -32700);
    assert_eq!(answer["id"], Value::Null);
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","method":"add","params":{"a":2,"b":2},"id":"x"}"#,
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["result"], 4);
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    let mut ws = raw(&server().await).await;
    ws.send(Message::Ping(b"hello".to_vec().into()))
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(msg, Message::Pong(b"hello".to_vec().into()));
}

#[tokio::test]
async fn server_sends_keep_alive_pings() {
    let config = rpc::duplex::DuplexConfig {
        keep_alive: Some(
            rpc::duplex::KeepAlive::new(Duration::from_millis(50), Duration::from_secs(5)).unwrap(),
        ),
        ..Default::default()
    };
    let (addr, _token) =
        http_server(Server::new(DemoService::default().into_rpc()).with_duplex(config)).await;
    let mut ws = raw(&format!("ws://{addr}/")).await;
    let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(msg, Message::Ping(_)), "{msg:?}");
}

#[tokio::test]
async fn oversized_message_closes_only_that_connection() {
    let (addr, _token) =
        http_server(Server::new(DemoService::default().into_rpc()).with_max_body_bytes(1024)).await;
    let url = format!("ws://{addr}/");
    let other = rpc::Client::new(rpc::ws::connect(&url, MethodTable::new()).await.unwrap());
    let mut ws = raw(&url).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
        "x".repeat(4096)
    );
    let _ = ws.send(Message::text(big)).await;
    let end = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => break frame,
                None | Some(Err(_)) => break None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("the oversized connection stayed open");
    let frame = end.expect("closed without a close frame");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    assert!(!frame.reason.is_empty());
    assert_eq!(other.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_protocol_violation_closes_with_1002() {
    let (addr, _token) = http_server(Server::new(DemoService::default().into_rpc())).await;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    upgrade_by_hand(&mut socket, addr).await;
    // An unmasked text frame from a client: a protocol violation.
    socket.write_all(&[0x81, 0x02, b'{', b'}']).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut reply)).await;
    // A close frame (0x88), its length, then the code 1002 big-endian.
    let at = reply
        .iter()
        .position(|b| *b == 0x88)
        .expect("no close frame");
    assert_eq!(&reply[at + 2..at + 4], &1002u16.to_be_bytes(), "{reply:?}");
}

#[tokio::test]
async fn handshake_against_a_non_websocket_endpoint_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new())
        .await
        .unwrap_err();
    assert!(matches!(err, rpc::Error::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn methods_returning_nothing_are_answered() {
    null_results_are_answers(connector(server().await)).await;
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_block_broadcasts() {
    let config = rpc::duplex::DuplexConfig {
        send_queue: 16,
        ..Default::default()
    };
    let (addr, _stop) =
        http_server(Server::new(DemoService::default().into_rpc()).with_duplex(config)).await;
    let url = format!("ws://{addr}/");
    let stalled = {
        let url = url.clone();
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let stream = socket.connect(addr).await.unwrap();
            let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
            Box::new(ws) as Box<dyn std::any::Any + Send>
        }
    };
    a_peer_that_never_reads_does_not_block_broadcasts(connector(url), stalled, 60_000, 400).await;
}

/// A WebSocket peer that answers every request with `answer`.
async fn fake_peer(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
                while let Some(Ok(message)) = ws.next().await {
                    if let Message::Text(text) = message {
                        let reply = answer(&request_id(text.as_bytes()));
                        if ws.send(Message::text(reply)).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    format!("ws://{addr}/")
}

#[tokio::test]
async fn odd_answers_from_a_peer_end_the_call_clearly() {
    let peer_with = |answer: Answer| {
        move |methods: MethodTable| async move {
            let url = fake_peer(answer).await;
            rpc::ws::connect(&url, methods).await.unwrap()
        }
    };
    odd_answers_end_the_call_clearly(peer_with).await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_closed() {
    let keep_alive =
        rpc::duplex::KeepAlive::new(Duration::from_millis(100), Duration::from_millis(100))
            .unwrap();
    let config = rpc::duplex::DuplexConfig {
        keep_alive: Some(keep_alive),
        ..Default::default()
    };
    let server = Server::new(DemoService::default().into_rpc()).with_duplex(config);
    let registry = server.connections().clone();
    let (addr, _stop) = http_server(server).await;
    // A healthy client answers pings (tungstenite does while it reads).
    let healthy = rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new())
        .await
        .unwrap();
    // A half-open peer: it completed the handshake, then went silent.
    let (_silent, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    assert_eq!(registry.len(), 2);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(registry.len(), 1, "the silent peer is still connected");
    assert_eq!(rpc::Client::new(healthy).add(1, 2).await.unwrap(), 3);
}

#[tokio::test]
async fn a_stuck_notification_does_not_stall_the_websocket() {
    a_stuck_notification_does_not_stall_the_connection(connector(server().await)).await;
}

#[tokio::test]
async fn a_handshake_that_never_completes_times_out() {
    // Accepts TCP connections and never answers the upgrade.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let err = rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new())
        .await
        .unwrap_err();
    assert!(matches!(err, rpc::Error::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn a_ping_flood_from_a_peer_that_never_reads_stays_bounded() {
    use tokio::io::AsyncWriteExt;
    let (addr, _stop) = http_server(Server::new(DemoService::default().into_rpc())).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    upgrade_by_hand(&mut stream, addr).await;
    // Masked pings with a 100-byte payload, sent for two seconds and never
    // read back: each asks for a pong.
    let mut ping = vec![0x89, 0x80 | 100, 1, 2, 3, 4];
    ping.extend((0..100u8).map(|i| i ^ [1, 2, 3, 4][usize::from(i % 4)]));
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 10_000)
        .collect();
    let before = common::resident();
    let started = std::time::Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(2) {
        match tokio::time::timeout(Duration::from_millis(200), stream.write_all(&batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            // The server stopped reading or closed: the flood is refused.
            _ => break,
        }
    }
    let grown = common::resident().saturating_sub(before);
    assert!(
        grown < 25 << 20,
        "the server grew by {} MB answering {} MB of pings",
        grown >> 20,
        sent >> 20
    );
}

/// The WebSocket upgrade of a raw socket, written by hand (so that the test
/// can then send frames no library would).
async fn upgrade_by_hand(socket: &mut tokio::net::TcpStream, addr: std::net::SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 1024];
    let n = socket.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).contains("101"));
}

#[tokio::test]
async fn an_answer_over_the_client_limit_ends_the_call_with_the_reason() {
    let server = Server::new(DemoService::default().into_rpc()).with_max_body_bytes(20 << 20);
    let (addr, _stop) = http_server(server).await;
    let client = rpc::Client::new(
        rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new())
            .await
            .unwrap(),
    );
    // The answer (6 MB) is over the client's 5 MiB limit.
    let err = client.echo(json!("x".repeat(6_000_000))).await.unwrap_err();
    assert!(matches!(err, rpc::Error::Ended { code: 1009, .. }), "{err}");
}

/// A masked text frame (mask 0: the payload goes as it is).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn answers_to_a_peer_that_never_reads_stay_within_the_byte_budget_until_it_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stall = Duration::from_secs(2);
    let server =
        Server::new(DemoService::default().into_rpc()).with_duplex(rpc::duplex::DuplexConfig {
            write_stall: Some(stall),
            ..rpc::duplex::DuplexConfig::default()
        });
    let (addr, _stop) = http_server(server).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    upgrade_by_hand(&mut stream, addr).await;
    let value = "x".repeat(1 << 20);
    let before = common::resident();
    // A hundred 1 MB echoes, never read: without a byte budget the server
    // would hold every answer (100 MB and more).
    let mut sent = 0;
    for id in 0..100 {
        let call = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{value}"],"id":{id}}}"#);
        match tokio::time::timeout(
            Duration::from_millis(500),
            stream.write_all(&text_frame(call.as_bytes())),
        )
        .await
        {
            Ok(Ok(())) => sent += 1,
            // The server stopped reading: back-pressure.
            _ => break,
        }
    }
    let grown = common::resident().saturating_sub(before);
    eprintln!(
        "sent {sent} calls of 1 MB to a peer that does not read: the server grew by {} MB",
        grown >> 20
    );
    assert!(sent < 100, "the server never stopped reading");
    assert!(grown < 48 << 20, "the server grew by {} MB", grown >> 20);
    // Others are answered meanwhile.
    let other = rpc::Client::new(
        rpc::ws::connect(&format!("ws://{addr}/"), MethodTable::new())
            .await
            .unwrap(),
    );
    let started = std::time::Instant::now();
    assert_eq!(other.add(1, 2).await.unwrap(), 3);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The stalled connection is closed within the write-stall timeout: what
    // it still reads ends.
    tokio::time::sleep(stall + Duration::from_secs(1)).await;
    let mut sink = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stalled connection is still open");
}

/// Reads frames until the answer to a call (text or binary) or the close
/// frame; `Err(code)` for a close.
async fn answer_or_close(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Result<Value, u16> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("neither an answer nor a close");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Binary(b))) => return Ok(serde_json::from_slice(&b).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(0, |f| f.code.into())),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Err(0),
        }
    }
}

#[tokio::test]
async fn messages_of_4_mb_and_just_under_the_limit_are_answered_and_one_over_it_is_refused() {
    // The server's read buffer is a few hundred bytes: large messages
    // arrive in many reads, through a read-ahead buffer, and still whole.
    let url = server().await;
    let limit = rpc::Limits::default().max_message_bytes;
    let call = |id: u64, text_len: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":{id}}}"#,
            "y".repeat(text_len)
        )
    };
    let envelope = call(0, 0).len();
    let mut ws = raw(&url).await;
    for (id, size) in [(1, 4_000_000), (2, limit - 100)] {
        let text_len = size - envelope;
        ws.send(Message::text(call(id, text_len))).await.unwrap();
        let answer = answer_or_close(&mut ws).await.expect("answered");
        assert_eq!(answer["id"], id);
        let echoed = answer["result"].as_str().expect("the text back");
        assert_eq!(echoed.len(), text_len, "message of {size} bytes");
        assert!(echoed.bytes().all(|b| b == b'y'));
    }
    // Over the limit: refused with 1009 as soon as the frame's header says
    // so, as before (the peer is still writing the rest: a raw socket
    // sends only its start, so that the close is not lost in a reset).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    upgrade_by_hand(&mut socket, addr).await;
    let over = call(3, limit + 1 - envelope);
    let frame = text_frame(over.as_bytes());
    socket.write_all(&frame[..64 << 10]).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut reply)).await;
    let at = reply
        .iter()
        .position(|b| *b == 0x88)
        .expect("no close frame");
    assert_eq!(&reply[at + 2..at + 4], &1009u16.to_be_bytes(), "{reply:?}");
}

#[tokio::test]
async fn frames_split_at_every_byte_and_sent_together_are_answered_in_order() {
    use tokio::io::AsyncWriteExt;
    let (addr, _token) = http_server(Server::new(DemoService::default().into_rpc())).await;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.set_nodelay(true).unwrap();
    upgrade_by_hand(&mut socket, addr).await;
    let call = |id: u64| {
        let text = "z".repeat(id as usize * 37);
        text_frame(
            format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{text}"],"id":{id}}}"#)
                .as_bytes(),
        )
    };
    // One frame a byte at a time, each byte its own read on the server.
    for byte in call(1) {
        socket.write_all(&[byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Then a hundred frames in one write, 140 KB, more than the server
    // reads at once: whole frames come out of its read-ahead buffer, and
    // frames that straddle two of its reads too.
    let together: Vec<u8> = (2..102).flat_map(call).collect();
    socket.write_all(&together).await.unwrap();
    let (reader, _writer) = socket.into_split();
    let mut frames = tokio_tungstenite::WebSocketStream::from_raw_socket(
        tokio::io::join(reader, tokio::io::sink()),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    for id in 1..102u64 {
        let answer = loop {
            match tokio::time::timeout(Duration::from_secs(5), frames.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => break serde_json::from_str::<Value>(&t).unwrap(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no answer to {id}: {other:?}"),
            }
        };
        assert_eq!(answer["id"], id);
        assert_eq!(answer["result"].as_str().unwrap().len(), id as usize * 37);
    }
}

#[tokio::test]
async fn handlers_see_the_upgrade_requests_headers_but_not_the_handshakes_own() {
    let url = server().await;
    let connection = rpc::ws::WsClient::new(&url)
        .with_header("x-tenant", "acme")
        .unwrap()
        .connect(MethodTable::new())
        .await
        .unwrap();
    let client = rpc::Client::new(connection);
    assert_eq!(
        client.header("x-tenant".into()).await.unwrap().as_deref(),
        Some("acme")
    );
    assert!(client.header("host".into()).await.unwrap().is_some());
    for handshake in ["sec-websocket-key", "sec-websocket-version", "upgrade"] {
        assert_eq!(client.header(handshake.into()).await.unwrap(), None);
    }
}
