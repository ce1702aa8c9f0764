//! A closed connection cancels the calls it left running, on every
//! transport: their handler futures are dropped, so nothing keeps running
//! (or holding memory) for a peer that has gone.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{eventually, http_server, Demo, DemoBatch, DemoClient, DemoService};
use futures_util::SinkExt;
use rpc::http::Server;
use rpc::tcp::{Framing, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const FRAMINGS: [Framing; 5] = [
    Framing::Newline,
    Framing::LengthPrefix1,
    Framing::LengthPrefix2,
    Framing::LengthPrefix4,
    Framing::ContentLength,
];

/// A batch of `n` calls that would each run for a minute.
fn slow_batch(first_id: usize, n: usize) -> String {
    let calls: Vec<String> = (first_id..first_id + n)
        .map(|id| format!(r#"{{"jsonrpc":"2.0","method":"hold","params":[60000],"id":{id}}}"#))
        .collect();
    format!("[{}]", calls.join(","))
}

/// One slow call (fits even a one-byte length prefix).
fn slow_call(id: usize) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"hold","params":[60000],"id":{id}}}"#)
}

fn framed(framing: Framing, message: &str) -> Vec<u8> {
    let mut out = match framing {
        Framing::LengthPrefix1 => vec![u8::try_from(message.len()).unwrap()],
        Framing::LengthPrefix2 => u16::try_from(message.len()).unwrap().to_be_bytes().to_vec(),
        Framing::LengthPrefix4 => u32::try_from(message.len()).unwrap().to_be_bytes().to_vec(),
        Framing::ContentLength => format!("Content-Length: {}\r\n\r\n", message.len()).into_bytes(),
        Framing::Newline => Vec::new(),
    };
    out.extend_from_slice(message.as_bytes());
    if framing == Framing::Newline {
        out.push(b'\n');
    }
    out
}

#[tokio::test]
async fn closing_a_tcp_connection_cancels_its_calls_in_every_framing() {
    for framing in FRAMINGS {
        let service = DemoService::default();
        let listening = TcpServer::new(service.clone().into_rpc())
            .with_framing(framing)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = listening.local_addr().unwrap();
        tokio::spawn(listening.run());
        // Round after round, what a vanished peer left running is dropped:
        // nothing accumulates.
        for round in 0..3 {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let mut expected = 0;
            if framing == Framing::LengthPrefix1 {
                for id in 0..50 {
                    socket
                        .write_all(&framed(framing, &slow_call(id)))
                        .await
                        .unwrap();
                }
                expected += 50;
            } else {
                for batch in 0..20 {
                    let message = slow_batch(batch * 100, 100);
                    socket.write_all(&framed(framing, &message)).await.unwrap();
                }
                expected += 2000;
            }
            let note = r#"{"jsonrpc":"2.0","method":"hold","params":[60000]}"#;
            socket.write_all(&framed(framing, note)).await.unwrap();
            expected += 1;
            let running = eventually(&service.live, expected, Duration::from_secs(5)).await;
            assert_eq!(running, expected, "{framing} round {round}: calls started");
            drop(socket);
            let left = eventually(&service.live, 0, Duration::from_secs(2)).await;
            assert_eq!(left, 0, "{framing} round {round}: calls left running");
        }
    }
}

#[tokio::test]
async fn closing_a_websocket_cancels_its_calls() {
    let service = DemoService::default();
    let (addr, _stop) = http_server(Server::new(service.clone().into_rpc())).await;
    for round in 0..3 {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        for batch in 0..10 {
            socket
                .send(Message::text(slow_batch(batch * 100, 100)))
                .await
                .unwrap();
        }
        let running = eventually(&service.live, 1000, Duration::from_secs(5)).await;
        assert_eq!(running, 1000, "round {round}: calls started");
        drop(socket);
        let left = eventually(&service.live, 0, Duration::from_secs(2)).await;
        assert_eq!(left, 0, "round {round}: calls left running");
    }
}

#[tokio::test]
async fn closing_an_http_connection_cancels_its_request() {
    let service = DemoService::default();
    let (addr, _stop) = http_server(Server::new(service.clone().into_rpc())).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let body = slow_batch(0, 100);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let running = eventually(&service.live, 100, Duration::from_secs(5)).await;
    assert_eq!(running, 100, "calls started");
    drop(socket);
    let left = eventually(&service.live, 0, Duration::from_secs(2)).await;
    assert_eq!(left, 0, "calls left running");
    assert_eq!(service.live.load(Ordering::SeqCst), 0);
}

/// A duplex connection to a server of `service`: WebSocket, or TCP in `framing`.
async fn duplex_to(
    service: &DemoService,
    framing: Option<Framing>,
) -> rpc::duplex::DuplexConnection {
    match framing {
        None => {
            let (addr, stop) = http_server(Server::new(service.clone().into_rpc())).await;
            std::mem::forget(stop);
            rpc::ws::connect(&format!("ws://{addr}/"), rpc::MethodTable::new())
                .await
                .unwrap()
        }
        Some(framing) => {
            let listening = TcpServer::new(service.clone().into_rpc())
                .with_framing(framing)
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listening.local_addr().unwrap();
            tokio::spawn(listening.run());
            let options = rpc::tcp::StreamOptions::framing(framing);
            rpc::tcp::connect(addr, &options, rpc::MethodTable::new())
                .await
                .unwrap()
        }
    }
}

const DUPLEX: [Option<Framing>; 3] = [None, Some(Framing::Newline), Some(Framing::LengthPrefix2)];

#[tokio::test]
async fn cancel_request_stops_a_running_call_alone_or_in_a_batch() {
    for framing in DUPLEX {
        let service = DemoService::default();
        let connection = duplex_to(&service, framing).await;
        let client = rpc::Client::new(connection.clone());
        // A fresh connection numbers its calls from 1.
        let held = tokio::spawn({
            let client = client.clone();
            async move { client.hold(60_000).await }
        });
        assert_eq!(
            eventually(&service.live, 1, Duration::from_secs(2)).await,
            1
        );
        connection
            .notify("$/cancelRequest", serde_json::json!({ "id": 1 }))
            .await
            .unwrap();
        let error = held.await.unwrap().unwrap_err();
        let object = error.error_object().unwrap();
        assert_eq!(
            (object.code, object.message.as_ref()),
            (-32800, "Request cancelled"),
            "{framing:?}"
        );
        assert_eq!(
            eventually(&service.live, 0, Duration::from_secs(1)).await,
            0,
            "{framing:?}"
        );
        // In a batch (ids 2 and 3): the cancelled member answers -32800, the other its result.
        let batch = tokio::spawn({
            let client = client.clone();
            async move { client.batch().hold(60_000).add(1, 2).send().await }
        });
        assert_eq!(
            eventually(&service.live, 1, Duration::from_secs(2)).await,
            1
        );
        connection
            .notify("$/cancelRequest", serde_json::json!({ "id": 2 }))
            .await
            .unwrap();
        let (held, sum) = batch.await.unwrap().unwrap();
        assert_eq!(
            held.unwrap_err().error_object().unwrap().code,
            -32800,
            "{framing:?}"
        );
        assert_eq!(sum.unwrap(), 3);
        // Unknown ids are ignored; the connection goes on.
        connection
            .notify("$/cancelRequest", serde_json::json!({ "id": 99 }))
            .await
            .unwrap();
        assert_eq!(client.add(2, 2).await.unwrap(), 4);
    }
}

#[tokio::test]
async fn a_client_that_gives_up_tells_the_server() {
    for framing in DUPLEX {
        let service = DemoService::default();
        let connection = duplex_to(&service, framing).await;
        let client = rpc::Client::new(connection.clone()).with_timeout(Duration::from_millis(200));
        let error = client.hold(60_000).await.unwrap_err();
        assert!(matches!(error, rpc::Error::Timeout(_)), "{error:?}");
        // The server dropped the handler's future: it was told, not left running.
        assert_eq!(
            eventually(&service.live, 0, Duration::from_secs(1)).await,
            0,
            "{framing:?}"
        );
        assert!(!connection.is_closed());
        assert_eq!(client.add(1, 1).await.unwrap(), 2);
    }
}
