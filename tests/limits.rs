//! Limits that protect a server from slow, silent or greedy peers: header
//! read timeouts, announced bodies over the limit, connection caps.

mod common;

use std::time::{Duration, Instant};

use common::calculator::{binary, Served};
use common::{http_server, Demo, DemoClient, DemoService};
use rpc::http::{HttpClient, Server};
use rpc::tcp::{StreamOptions, TcpServer};
use rpc::MethodTable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; the time it took.
async fn time_until_closed(socket: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

fn timed_server(timeout: Duration) -> Server {
    Server::new(DemoService::default().into_rpc()).with_header_read_timeout(timeout)
}

#[tokio::test]
async fn a_silent_http_connection_is_closed_after_the_header_read_timeout() {
    let (addr, _stop) = http_server(timed_server(Duration::from_millis(500))).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let took = time_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(350), "closed after {took:?}");
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_timeout() {
    let (addr, _stop) = http_server(timed_server(Duration::from_millis(500))).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let header = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: ";
    let mut closed = false;
    for byte in header.iter().cycle().take(200) {
        if socket.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        time_until_closed(&mut socket, Duration::from_secs(2)).await;
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "a slow header kept the connection for {took:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_but_a_busy_one_does_not() {
    let (addr, _stop) = http_server(timed_server(Duration::from_millis(400))).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    // Requests closer together than the timeout keep the connection.
    for _ in 0..4 {
        let body = br#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        socket.write_all(body).await.unwrap();
        let mut buf = [0u8; 512];
        let n = socket.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains(r#""result":3"#));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = time_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(150), "closed after {took:?}");
}

#[tokio::test]
async fn silent_sockets_cannot_lock_clients_out_behind_the_connection_cap() {
    let server = timed_server(Duration::from_millis(500)).with_max_connections(5);
    let (addr, _stop) = http_server(server).await;
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let client = DemoClient::new(HttpClient::new(&format!("http://{addr}/")).unwrap());
    let sum = tokio::time::timeout(Duration::from_secs(5), client.add(2, 2))
        .await
        .expect("locked out");
    assert_eq!(sum.unwrap(), 4);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_announced_body_over_the_limit_is_refused_before_it_is_sent() {
    let (addr, _stop) =
        http_server(Server::new(DemoService::default().into_rpc()).with_max_body_bytes(1024)).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n{")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(1), socket.read(&mut buf))
        .await
        .expect("the server waited for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.contains(&rpc::code::REQUEST_TOO_LARGE.to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn the_tcp_listener_caps_connections_and_admits_more_as_they_close() {
    let listening = TcpServer::new(DemoService::default().into_rpc())
        .with_max_connections(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listening.local_addr().unwrap();
    tokio::spawn(listening.run());
    let options = StreamOptions::default();
    let connect = || async {
        DemoClient::new(
            rpc::tcp::connect(addr, &options, MethodTable::new())
                .await
                .unwrap(),
        )
    };
    let (a, b) = (connect().await, connect().await);
    assert_eq!(a.add(1, 1).await.unwrap(), 2);
    assert_eq!(b.add(1, 1).await.unwrap(), 2);
    // The kernel accepts the third connection into its backlog, but the
    // server does not serve it while two are open.
    let c = connect().await;
    let waiting = tokio::spawn(async move { c.add(3, 3).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a third connection was served");
    drop(a);
    let answer = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("not admitted after a slot freed")
        .unwrap();
    assert_eq!(answer.unwrap(), 6);
}

#[tokio::test]
async fn a_full_tcp_listener_does_not_starve_the_http_one() {
    let service = DemoService::default();
    let tcp = TcpServer::new(service.clone().into_rpc())
        .with_max_connections(3)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    tokio::spawn(tcp.run());
    let (http_addr, _stop) = http_server(Server::new(service.into_rpc())).await;
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(TcpStream::connect(tcp_addr).await.unwrap());
    }
    let client = DemoClient::new(HttpClient::new(&format!("http://{http_addr}/")).unwrap());
    for i in 0..20 {
        assert_eq!(client.add(i, 1).await.unwrap(), i + 1);
    }
}

/// Out of file descriptors, the listeners wait with a growing back-off and
/// warn once, instead of retrying (and logging) every few milliseconds;
/// once descriptors free up, every listener serves again.
#[test]
fn accept_failures_back_off_quietly_and_the_server_recovers() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut command = Command::new("prlimit");
    command
        .arg("--nofile=40:40")
        .arg("--")
        .arg(binary())
        .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped());
    let mut served = Served::spawn(command);
    let stderr = served.child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    std::thread::spawn({
        let log = log.clone();
        move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        }
    });
    let warnings = || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("accept failed"))
            .count()
    };
    // Far more connections than the server has descriptors for.
    let mut held = Vec::new();
    for _ in 0..80 {
        held.push(std::net::TcpStream::connect(served.tcp.as_str()).unwrap());
    }
    std::thread::sleep(Duration::from_secs(2));
    let failing = warnings();
    assert!(
        failing >= 1,
        "accept never failed: {:?}",
        log.lock().unwrap()
    );
    assert!(
        failing <= 2,
        "{failing} warnings in 2 s: the listener spins"
    );
    drop(held);
    let http = served.http.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sum = runtime.block_on(async move {
        let client = DemoClient::new(HttpClient::new(&http).unwrap());
        tokio::time::timeout(Duration::from_secs(5), client.add(2, 3)).await
    });
    assert_eq!(sum.expect("not served after recovery").unwrap(), 5);
}

#[tokio::test]
async fn a_request_running_longer_than_the_header_timeout_is_answered() {
    let (addr, _stop) = http_server(timed_server(Duration::from_millis(300))).await;
    let client = DemoClient::new(HttpClient::new(&format!("http://{addr}/")).unwrap());
    assert_eq!(client.sleep(1000).await.unwrap(), 1000);
}
