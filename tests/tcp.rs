//! End to end over TCP (and any byte stream), in every framing.

mod common;

use std::time::Duration;

use common::duplex::*;
use common::{Demo, DemoClient, DemoService};
use rpc::tcp::{Framing, StreamOptions, TcpServer};
use rpc::MethodTable;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FRAMINGS: [Framing; 5] = [
    Framing::Newline,
    Framing::LengthPrefix1,
    Framing::LengthPrefix2,
    Framing::LengthPrefix4,
    Framing::ContentLength,
];

async fn server_with(options: StreamOptions) -> std::net::SocketAddr {
    serve(TcpServer::new(DemoService::default().into_rpc()).with_options(options)).await
}

async fn serve(server: TcpServer) -> std::net::SocketAddr {
    let listening = server.bind("127.0.0.1:0").await.unwrap();
    let addr = listening.local_addr().unwrap();
    tokio::spawn(listening.run());
    addr
}

type Connector = Box<
    dyn Fn(
        MethodTable,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = rpc::duplex::DuplexConnection>>>,
>;

async fn connector(framing: Framing) -> Connector {
    let options = StreamOptions::framing(framing);
    let addr = server_with(options.clone()).await;
    Box::new(move |methods| {
        let options = options.clone();
        Box::pin(async move {
            rpc::tcp::connect(addr, &options, methods)
                .await
                .expect("connect")
        })
    })
}

/// Sends `bytes` raw on a new connection; everything the server writes
/// until it closes the connection.
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn content_length_framing_speaks_lsps_base_protocol() {
    let addr = server_with(StreamOptions::framing(Framing::ContentLength)).await;
    // Header names in any case, other headers ignored, two messages in one
    // write; a message on its own then gets its answer the same way.
    let call =
        |id: u32| format!(r#"{{"jsonrpc":"2.0","method":"add","params":[{id},1],"id":{id}}}"#);
    let (one, two) = (call(1), call(2));
    let wire = format!(
        "content-length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{one}CONTENT-LENGTH: {}\r\n\r\n{two}",
        one.len(),
        two.len()
    );
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(wire.as_bytes()).await.unwrap();
    let mut read = String::new();
    let mut buffer = [0u8; 1024];
    while read.matches("Content-Length").count() < 2 || !read.ends_with('}') {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {read}");
        read.push_str(std::str::from_utf8(&buffer[..n]).unwrap());
    }
    let first = r#"{"jsonrpc":"2.0","result":2,"id":1}"#;
    let second = r#"{"jsonrpc":"2.0","result":3,"id":2}"#;
    assert_eq!(
        read,
        format!(
            "Content-Length: {}\r\n\r\n{first}Content-Length: {}\r\n\r\n{second}",
            first.len(),
            second.len()
        )
    );

    // A header block that cannot be read: one -32700 with id null, then the
    // connection closes.
    let oversized = format!("X-Pad: {}\r\n", "p".repeat(9000));
    for bad in [
        "Content-Type: x\r\n\r\n{}",
        "Content-Length: ten\r\n\r\n{}",
        "Content-Length: 99999999\r\n\r\n{}",
        oversized.as_str(),
    ] {
        let answer = raw_exchange(addr, bad.as_bytes()).await;
        let (headers, body) = answer.split_once("\r\n\r\n").expect("one framed answer");
        assert_eq!(
            headers,
            format!("Content-Length: {}", body.len()),
            "{bad:.30}"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], -32700, "{bad:.30}: {body}");
        assert_eq!(body["id"], Value::Null);
    }
}

#[tokio::test]
async fn calls_in_both_directions_in_every_framing() {
    for framing in FRAMINGS {
        calls_both_ways(connector(framing).await).await;
    }
}

#[tokio::test]
async fn a_notification_that_looks_like_a_subscription_item_reaches_the_handler() {
    for framing in FRAMINGS {
        notifications_shaped_like_items_reach_the_handler(connector(framing).await).await;
    }
}

#[tokio::test]
async fn server_pushes_notifications_in_every_framing() {
    for framing in FRAMINGS {
        pushes_notifications_in_order_before_the_answer(connector(framing).await).await;
    }
}

#[tokio::test]
async fn broadcast_reaches_several_clients_in_every_framing() {
    for framing in FRAMINGS {
        broadcast_reaches_every_client(connector(framing).await).await;
    }
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_one_connection_in_every_framing() {
    for framing in FRAMINGS {
        thousand_concurrent_calls_all_matched(connector(framing).await).await;
    }
}

#[tokio::test]
async fn no_head_of_line_blocking() {
    for framing in [Framing::Newline, Framing::LengthPrefix4] {
        answers_arrive_as_calls_complete(connector(framing).await).await;
    }
}

#[tokio::test]
async fn closing_fails_pending_calls_promptly() {
    pending_calls_fail_when_the_connection_closes(connector(Framing::Newline).await).await;
}

#[tokio::test]
async fn panics_and_timeouts_affect_one_call() {
    panics_and_timeouts_stay_on_their_call(connector(Framing::LengthPrefix2).await).await;
}

#[tokio::test]
async fn peer_vanishing_mid_call_fails_the_call_promptly() {
    // A "server" that reads the request and hangs up without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 256];
        let _ = socket.read(&mut buf).await;
        drop(socket);
    });
    let conn = rpc::tcp::connect(addr, &StreamOptions::default(), MethodTable::new())
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(1), rpc::Client::new(conn).add(1, 2))
        .await
        .expect("hung");
    assert!(matches!(outcome, Err(rpc::Error::Closed)), "{outcome:?}");
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = rpc::tcp::connect(addr, &StreamOptions::default(), MethodTable::new())
        .await
        .unwrap_err();
    assert!(matches!(err, rpc::Error::Connect(_)), "{err:?}");
}

async fn read_line(socket: &mut TcpStream) -> Value {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            socket.read_exact(&mut byte).await.unwrap();
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
    })
    .await
    .expect("no answer line");
    serde_json::from_slice(&line).unwrap()
}

#[tokio::test]
async fn newline_framing_reads_concatenated_values_and_split_writes() {
    let addr = server_with(StreamOptions::default()).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    // Two requests back to back with no delimiter, as node's json-rpc2 sends them.
    let two = concat!(
        r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"add","params":[3,4],"id":2}"#
    );
    socket.write_all(two.as_bytes()).await.unwrap();
    let mut results = [read_line(&mut socket).await, read_line(&mut socket).await];
    results.sort_by_key(|v| v["id"].as_i64());
    assert_eq!(results[0], json!({"jsonrpc":"2.0","result":3,"id":1}));
    assert_eq!(results[1], json!({"jsonrpc":"2.0","result":7,"id":2}));
    // One request written a byte at a time.
    let one = r#"{"jsonrpc":"2.0","method":"echo","params":["a}b{\"c"],"id":3}"#;
    for b in one.as_bytes() {
        socket.write_all(&[*b]).await.unwrap();
        socket.flush().await.unwrap();
    }
    assert_eq!(read_line(&mut socket).await["result"], "a}b{\"c");
}

#[tokio::test]
async fn garbage_gets_a_parse_error_and_the_connection_goes_on() {
    let addr = server_with(StreamOptions::default()).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            b"hello there\n{\"jsonrpc\":\"2.0\",\"method\":\"add\",\"params\":[1,1],\"id\":9}\n",
        )
        .await
        .unwrap();
    let first = read_line(&mut socket).await;
    assert_eq!(first["error"]["code"], -32700);
    assert_eq!(read_line(&mut socket).await["result"], 2);
}

#[tokio::test]
async fn oversized_frame_closes_only_that_connection_with_an_error() {
    for framing in [Framing::Newline, Framing::LengthPrefix4] {
        let options = StreamOptions::framing(framing);
        let addr = serve(
            TcpServer::new(DemoService::default().into_rpc())
                .with_options(options.clone())
                .with_max_message_bytes(256),
        )
        .await;
        let other = rpc::Client::new(
            rpc::tcp::connect(addr, &options, MethodTable::new())
                .await
                .unwrap(),
        );
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
            "x".repeat(1000)
        );
        let mut frame = Vec::new();
        if framing == Framing::LengthPrefix4 {
            frame.extend_from_slice(&(big.len() as u32).to_be_bytes());
        }
        frame.extend_from_slice(big.as_bytes());
        let _ = socket.write_all(&frame).await;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut answer))
            .await
            .expect("not closed")
            .ok();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains(&rpc::code::REQUEST_TOO_LARGE.to_string()),
            "{framing}: {text}"
        );
        assert_eq!(
            other.add(2, 2).await.unwrap(),
            4,
            "{framing}: the other connection survives"
        );
    }
}

#[tokio::test]
async fn length_prefix_frames_are_big_endian() {
    let addr = server_with(StreamOptions::framing(Framing::LengthPrefix2)).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let body = br#"{"jsonrpc":"2.0","method":"add","params":{"a":20,"b":22},"id":"q"}"#;
    let mut frame = (body.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    // Split inside the prefix and inside the body.
    socket.write_all(&frame[..1]).await.unwrap();
    socket.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    socket.write_all(&frame[1..10]).await.unwrap();
    socket.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    socket.write_all(&frame[10..]).await.unwrap();
    let mut len = [0u8; 2];
    socket.read_exact(&mut len).await.unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    socket.read_exact(&mut answer).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).unwrap(),
        json!({"jsonrpc":"2.0","result":42,"id":"q"})
    );
}

#[cfg(unix)]
#[tokio::test]
async fn any_byte_stream_works_too() {
    let (server_side, client_side) = tokio::net::UnixStream::pair().unwrap();
    let options = StreamOptions::framing(Framing::LengthPrefix4);
    let dispatcher = rpc::server::Dispatcher::new(DemoService::default().into_rpc());
    let server =
        rpc::tcp::connect_stream(server_side, &options, dispatcher, rpc::Context::new(), None);
    let client_conn = rpc::tcp::connect_stream(
        client_side,
        &options,
        rpc::server::Dispatcher::new(MethodTable::new()),
        rpc::Context::new(),
        None,
    );
    assert_eq!(rpc::Client::new(client_conn).add(5, 6).await.unwrap(), 11);
    drop(server);
}

#[tokio::test]
async fn answer_too_long_for_a_one_byte_prefix_becomes_an_error_and_the_connection_goes_on() {
    let addr = server_with(StreamOptions::framing(Framing::LengthPrefix1)).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let batch: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"x","id":{i}}}"#))
        .collect();
    let body = format!("[{}]", batch.join(","));
    let mut frame = vec![u8::try_from(body.len()).unwrap()];
    frame.extend_from_slice(body.as_bytes());
    socket.write_all(&frame).await.unwrap();
    let mut len = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(2), socket.read_exact(&mut len))
        .await
        .expect("no answer")
        .unwrap();
    let mut answer = vec![0u8; usize::from(len[0])];
    socket.read_exact(&mut answer).await.unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        answer["error"]["code"],
        rpc::code::REQUEST_TOO_LARGE,
        "{answer}"
    );
    let call = br#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
    let mut frame = vec![u8::try_from(call.len()).unwrap()];
    frame.extend_from_slice(call);
    socket.write_all(&frame).await.unwrap();
    socket.read_exact(&mut len).await.unwrap();
    let mut answer = vec![0u8; usize::from(len[0])];
    socket.read_exact(&mut answer).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).unwrap()["result"],
        3
    );
}

#[tokio::test]
async fn null_results_are_answers_in_every_framing() {
    for framing in FRAMINGS {
        null_results_are_answers(connector(framing).await).await;
    }
}

/// A connection whose peer never reads, with a small receive buffer.
async fn stalled_tcp(addr: std::net::SocketAddr) -> Box<dyn std::any::Any + Send> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    Box::new(stream)
}

#[tokio::test]
async fn a_peer_that_never_reads_does_not_block_broadcasts_in_every_framing() {
    for framing in FRAMINGS {
        let mut options = StreamOptions::framing(framing);
        options.duplex.send_queue = 16;
        let addr = server_with(options.clone()).await;
        let connect = move |methods| {
            let options = options.clone();
            async move { rpc::tcp::connect(addr, &options, methods).await.unwrap() }
        };
        let (len, rounds) = match framing {
            Framing::LengthPrefix1 => (150, 3000),
            _ => (60_000, 400),
        };
        a_peer_that_never_reads_does_not_block_broadcasts(connect, stalled_tcp(addr), len, rounds)
            .await;
    }
}

/// A TCP peer in `framing` that answers every request with `answer`.
async fn fake_peer(framing: Framing, answer: Answer) -> std::net::SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let codec = rpc::tcp::StreamCodec::new(framing, 1 << 20);
                let mut framed = tokio_util::codec::Framed::new(socket, codec);
                while let Some(Ok(message)) = framed.next().await {
                    let reply = answer(&request_id(&message));
                    if framed.send(bytes::Bytes::from(reply)).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn odd_answers_from_a_peer_end_the_call_clearly_in_every_framing() {
    for framing in FRAMINGS {
        let peer_with = |answer: Answer| {
            move |methods: MethodTable| async move {
                let addr = fake_peer(framing, answer).await;
                rpc::tcp::connect(addr, &StreamOptions::framing(framing), methods)
                    .await
                    .unwrap()
            }
        };
        odd_answers_end_the_call_clearly(peer_with).await;
    }
}

#[tokio::test]
async fn a_stuck_notification_does_not_stall_the_connection_in_every_framing() {
    for framing in FRAMINGS {
        a_stuck_notification_does_not_stall_the_connection(connector(framing).await).await;
    }
}

#[tokio::test]
async fn clients_sharing_a_connection_never_mix_their_answers() {
    let addr = server_with(StreamOptions::default()).await;
    let conn = rpc::tcp::connect(addr, &StreamOptions::default(), MethodTable::new())
        .await
        .unwrap();
    // Two clients on one connection: their ids come from one counter.
    let (a, b) = (rpc::Client::new(conn.clone()), rpc::Client::new(conn));
    let (x, y) = tokio::join!(a.sleep(200), b.sleep(100));
    assert_eq!((x.unwrap(), y.unwrap()), (200, 100));
}

#[tokio::test]
async fn a_late_answer_is_dropped_not_given_to_the_next_call() {
    use futures_util::{SinkExt, StreamExt};
    // A peer that answers every call 300 ms late, with the call's own id.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let codec = rpc::tcp::StreamCodec::new(Framing::Newline, 1 << 20);
        let (mut sink, mut stream) = tokio_util::codec::Framed::new(socket, codec).split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = sink.send(bytes::Bytes::from(reply)).await;
            }
        });
        while let Some(Ok(message)) = stream.next().await {
            // Notifications (the client's `$/cancelRequest` for the call it
            // gave up on) get no answer.
            let value: serde_json::Value = serde_json::from_slice(&message).unwrap();
            if value.get("id").is_none() {
                continue;
            }
            let id = request_id(&message);
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = tx.send(format!(r#"{{"jsonrpc":"2.0","result":7,"id":{id}}}"#));
            });
        }
    });
    let conn = rpc::tcp::connect(addr, &StreamOptions::default(), MethodTable::new())
        .await
        .unwrap();
    let client = rpc::Client::new(conn);
    let hasty = client.clone().with_timeout(Duration::from_millis(100));
    assert!(matches!(hasty.add(1, 2).await, Err(rpc::Error::Timeout(_))));
    // The first answer arrives while this call waits: it is not this call's.
    assert_eq!(client.add(3, 4).await.unwrap(), 7);
}

#[tokio::test]
async fn a_peer_that_half_closes_gets_its_answers_and_longer_calls_stop_within_the_grace() {
    let service = DemoService::default();
    let live = service.live.clone();
    let addr = serve(TcpServer::new(service.into_rpc())).await;
    // `nc -N`: the calls, then the write side shut.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let calls = concat!(
        r#"{"jsonrpc":"2.0","method":"sleep","params":[300],"id":1}"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"hold","params":[60000],"id":2}"#,
        "\n",
    );
    socket.write_all(calls.as_bytes()).await.unwrap();
    assert_eq!(
        common::eventually(&live, 1, Duration::from_secs(2)).await,
        1
    );
    socket.shutdown().await.unwrap();
    let started = std::time::Instant::now();
    // The short call is answered after the end of file...
    assert_eq!(
        read_line(&mut socket).await,
        json!({"jsonrpc":"2.0","result":300,"id":1})
    );
    // ...the long one is cancelled within the grace, and the server closes.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), socket.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1800), "{elapsed:?}");
    assert_eq!(
        common::eventually(&live, 0, Duration::from_secs(1)).await,
        0
    );
}

#[tokio::test]
async fn one_address_over_its_cap_is_closed_at_once_and_others_are_served() {
    let addr = serve(
        TcpServer::new(DemoService::default().into_rpc())
            .with_max_connections(10)
            .with_max_connections_per_address(3),
    )
    .await;
    // `add(n, n)` on `socket`, answered.
    async fn doubles(socket: &mut TcpStream, n: i64) {
        let call = json!({"jsonrpc": "2.0", "method": "add", "params": [n, n], "id": 1});
        socket
            .write_all(format!("{call}\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(read_line(socket).await["result"], 2 * n);
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        doubles(&mut socket, 1).await;
        held.push(socket);
    }
    // The fourth from the same address is accepted and closed at once.
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), fourth.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the fourth connection was left open");
    assert!(rest.is_empty());
    // Another address (127.0.0.2 is loopback too) is served meanwhile.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(addr).await.unwrap();
    doubles(&mut other, 2).await;
    // One leaves: the address may connect again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    doubles(&mut again, 3).await;
}
