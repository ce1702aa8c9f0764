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
    let client = rpc::Client::new(HttpClient::new(&format!("http://{addr}/")).unwrap());
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
        rpc::Client::new(
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
    let client = rpc::Client::new(HttpClient::new(&format!("http://{http_addr}/")).unwrap());
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
        let client = rpc::Client::new(HttpClient::new(&http).unwrap());
        tokio::time::timeout(Duration::from_secs(5), client.add(2, 3)).await
    });
    assert_eq!(sum.expect("not served after recovery").unwrap(), 5);
}

#[tokio::test]
async fn a_request_running_longer_than_the_header_timeout_is_answered() {
    let (addr, _stop) = http_server(timed_server(Duration::from_millis(300))).await;
    let client = rpc::Client::new(HttpClient::new(&format!("http://{addr}/")).unwrap());
    assert_eq!(client.sleep(1000).await.unwrap(), 1000);
}

/// A TCP server with these stream timeouts; its address.
async fn tcp_server(
    framing: rpc::tcp::Framing,
    first_message: Option<Duration>,
    partial_message: Option<Duration>,
) -> std::net::SocketAddr {
    let listening = TcpServer::new(DemoService::default().into_rpc())
        .with_framing(framing)
        .with_first_message_timeout(first_message)
        .with_partial_message_timeout(partial_message)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listening.local_addr().unwrap();
    tokio::spawn(listening.run());
    addr
}

/// Sends `bytes` on a new connection and goes silent: how long after the
/// bytes were sent the server closed it, and what it wrote before.
async fn send_and_go_silent(addr: std::net::SocketAddr, bytes: &[u8]) -> (Duration, String) {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    // The server may stop reading (its budget spent) and close first.
    let sent = Instant::now();
    let _ = socket.write_all(bytes).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("the server kept the silent connection open for 10 s")
        .ok();
    (
        sent.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

/// Calls `add` every 100 ms until `stop`, each within 2 s; the longest wait.
fn keep_calling(
    client: rpc::Client,
    stop: std::sync::Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let mut longest = Duration::ZERO;
        for i in 0.. {
            let started = Instant::now();
            let sum = tokio::time::timeout(Duration::from_secs(2), client.add(i, 1))
                .await
                .expect("another client waited 2 s for an answer");
            assert_eq!(sum.unwrap(), i + 1);
            longest = longest.max(started.elapsed());
            tokio::select! {
                () = stop.notified() => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        longest
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unfinished_tcp_frames_are_dropped_after_the_partial_message_timeout() {
    use rpc::tcp::Framing;
    let addr = tcp_server(Framing::LengthPrefix4, None, Some(Duration::from_secs(1))).await;
    let options = StreamOptions::framing(Framing::LengthPrefix4);
    let other = rpc::Client::new(
        rpc::tcp::connect(addr, &options, MethodTable::new())
            .await
            .unwrap(),
    );
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let calling = keep_calling(other.clone(), stop.clone());
    // The first 4 MB of a 4.5 MB frame (under the 5 MiB limit), never finished.
    let mut frame = 4_500_000u32.to_be_bytes().to_vec();
    frame.resize(4 + 4_000_000, b' ');
    let frame: std::sync::Arc<[u8]> = frame.into();
    let before = common::resident();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(before));
    let sampling = tokio::spawn({
        let peak = peak.clone();
        async move {
            loop {
                peak.fetch_max(common::resident(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let started = Instant::now();
    let attackers: Vec<_> = (0..50)
        .map(|_| {
            let frame = frame.clone();
            tokio::spawn(async move { send_and_go_silent(addr, &frame).await })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    // Closed within the partial-message timeout of its first byte.
    for attacker in attackers {
        let (closed_after, answer) = attacker.await.unwrap();
        assert!(
            answer.contains(&rpc::code::REQUEST_TIMEOUT.to_string()),
            "{answer}"
        );
        slowest = slowest.max(closed_after);
    }
    let all_closed = started.elapsed();
    sampling.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = common::resident();
    stop.notify_one();
    let longest_call = calling.await.unwrap();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "50 unfinished 4.5 MB frames: resident {} MB before, {} MB at the peak, {} MB once \
         closed; every connection closed within {slowest:?} of its first byte ({all_closed:?} \
         for all); another client's longest call {longest_call:?}",
        before >> 20,
        peak >> 20,
        after >> 20,
    );
    assert!(
        slowest < Duration::from_secs(2),
        "a connection was held {slowest:?}"
    );
    assert!(
        after.saturating_sub(before) < 32 << 20,
        "{} MB still held after the connections closed",
        after.saturating_sub(before) >> 20
    );
    // 200 MB sent: what is buffered stays within the server's 64 MiB of
    // running bytes (and a read's worth per connection).
    assert!(
        peak.saturating_sub(before) < 100 << 20,
        "the server grew by {} MB",
        peak.saturating_sub(before) >> 20
    );
    assert_eq!(other.add(2, 2).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_lines_are_dropped_after_the_partial_message_timeout() {
    let addr = tcp_server(
        rpc::tcp::Framing::Newline,
        None,
        Some(Duration::from_secs(1)),
    )
    .await;
    let other = rpc::Client::new(
        rpc::tcp::connect(addr, &StreamOptions::default(), MethodTable::new())
            .await
            .unwrap(),
    );
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let calling = keep_calling(other, stop.clone());
    // A call whose string (1 MB and more) never ends, and a line never finished.
    let object = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"#,
        "x".repeat(1 << 20)
    );
    let line = "not json, and no end of line".to_owned();
    let attackers: Vec<_> = [object, line]
        .into_iter()
        .cycle()
        .take(10)
        .map(|bytes| tokio::spawn(async move { send_and_go_silent(addr, bytes.as_bytes()).await }))
        .collect();
    for attacker in attackers {
        let (closed_after, answer) = attacker.await.unwrap();
        assert!(
            closed_after < Duration::from_secs(2),
            "a partial line held its connection {closed_after:?}"
        );
        assert!(
            answer.contains(&rpc::code::REQUEST_TIMEOUT.to_string()),
            "{answer}"
        );
    }
    stop.notify_one();
    calling.await.unwrap();
}

#[tokio::test]
async fn a_tcp_connection_that_sends_nothing_is_closed_after_the_first_message_timeout() {
    let addr = tcp_server(
        rpc::tcp::Framing::Newline,
        Some(Duration::from_millis(500)),
        None,
    )
    .await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let took = time_until_closed(&mut socket, Duration::from_secs(3)).await;
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
        "closed after {took:?}"
    );
}

#[tokio::test]
async fn an_idle_tcp_connection_between_messages_stays_open() {
    let short = Some(Duration::from_millis(500));
    let addr = tcp_server(rpc::tcp::Framing::Newline, short, short).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let call =
        |id: u32| format!(r#"{{"jsonrpc":"2.0","method":"add","params":[{id},1],"id":{id}}}"#);
    let mut answers = tokio::io::BufReader::new(&mut socket);
    let mut line = String::new();
    for id in 1..=3 {
        // Idle for longer than both timeouts between calls; then a call
        // in two halves, 300 ms apart (each message is timed on its own).
        let text = call(id);
        let (head, tail) = text.split_at(text.len() / 2);
        answers.get_mut().write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        answers.get_mut().write_all(tail.as_bytes()).await.unwrap();
        answers.get_mut().write_all(b"\n").await.unwrap();
        line.clear();
        tokio::io::AsyncBufReadExt::read_line(&mut answers, &mut line)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(answer["result"], id + 1, "{line}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
}
