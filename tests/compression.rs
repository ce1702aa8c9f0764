//! HTTP compression: large answers compressed as `Accept-Encoding` allows,
//! small ones and WebSocket upgrades left alone, gzip request bodies
//! accepted with the size limit on what they decompress to (a bomb gets
//! 413 and the server's memory stays low).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{http_server, next_event, peer, Demo, DemoClient, DemoService, Peer, PeerService};
use rpc::http::Server;

async fn server() -> SocketAddr {
    let (addr, shutdown) = http_server(Server::new(DemoService::default().into_rpc())).await;
    std::mem::forget(shutdown);
    addr
}

/// A call of `echo` whose result is `len` bytes of text (plus quotes).
fn echo_call(len: usize) -> String {
    serde_json::json!({"jsonrpc": "2.0", "method": "echo", "params": ["x".repeat(len)], "id": 1})
        .to_string()
}

/// `data` gzipped by the `gzip` program.
/// POSTs `body` as JSON with one more header (`accept-encoding` or
/// `content-encoding`, say).
async fn post(
    addr: SocketAddr,
    header: (&str, &str),
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .header(header.0, header.1)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Runs curl with `args` against `addr`: (response headers, body).
fn curl(addr: SocketAddr, args: &[&str], body: &str) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("rpc-compression-{}", addr.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let headers = dir.join(format!("headers-{}", body.len()));
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-D"])
        .arg(&headers)
        .args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ])
        .args(args)
        .arg(format!("http://{addr}/"))
        .output()
        .expect("curl is installed");
    assert!(output.status.success(), "{output:?}");
    let headers = std::fs::read_to_string(&headers)
        .unwrap()
        .to_ascii_lowercase();
    (headers, String::from_utf8(output.stdout).unwrap())
}

fn content_encoding(headers: &str) -> Option<&str> {
    headers
        .lines()
        .find_map(|line| line.strip_prefix("content-encoding:"))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_compressed_gets_a_large_answer_compressed_and_a_small_one_plain() {
    let addr = server().await;
    let large = echo_call(100_000);
    let (headers, body) = tokio::task::spawn_blocking(move || {
        curl(
            addr,
            &["--compressed", "-H", "accept-encoding: gzip"],
            &large,
        )
    })
    .await
    .unwrap();
    assert_eq!(content_encoding(&headers), Some("gzip"), "{headers}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["result"].as_str().unwrap().len(), 100_000);

    // curl's own offer (deflate, gzip, br, zstd): one of ours, decoded by curl.
    let large = echo_call(100_000);
    let (headers, body) =
        tokio::task::spawn_blocking(move || curl(addr, &["--compressed"], &large))
            .await
            .unwrap();
    let encoding = content_encoding(&headers).unwrap_or("none").to_owned();
    assert!(
        ["gzip", "br", "zstd"].contains(&encoding.as_str()),
        "{headers}"
    );
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["result"].as_str().unwrap().len(), 100_000);

    let (headers, body) =
        tokio::task::spawn_blocking(move || curl(addr, &["--compressed"], &echo_call(10)))
            .await
            .unwrap();
    assert_eq!(content_encoding(&headers), None, "{headers}");
    assert_eq!(
        body, r#"{"jsonrpc":"2.0","result":"xxxxxxxxxx","id":1}"#,
        "{headers}"
    );
}

#[tokio::test]
async fn brotli_and_zstd_are_offered_and_nothing_without_accept_encoding() {
    let addr = server().await;
    let http = reqwest::Client::new();
    let large = echo_call(100_000);
    for (accept, expected) in [
        (Some("br"), Some("br")),
        (Some("zstd"), Some("zstd")),
        (Some("gzip;q=0.5, br;q=0.9"), Some("br")),
        (Some("identity"), None),
        (None, None),
    ] {
        let mut request = http
            .post(format!("http://{addr}/"))
            .header("content-type", "application/json")
            .body(large.clone());
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let encoding = response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(encoding.as_deref(), expected, "{accept:?}");
        let body = response.bytes().await.unwrap();
        if expected.is_some() {
            assert!(body.len() < 10_000, "{accept:?}: {} bytes", body.len());
        } else {
            assert!(body.len() > 100_000);
        }
    }
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let (addr, _shutdown) =
        http_server(Server::new(DemoService::default().into_rpc()).with_compression(false)).await;
    let response = post(
        addr,
        ("accept-encoding", "gzip, br, zstd"),
        echo_call(100_000),
    )
    .await;
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn a_gzip_request_body_is_accepted() {
    let addr = server().await;
    let call = echo_call(200_000);
    let compressed = gzip(call.as_bytes());
    assert!(compressed.len() < 2_000);
    let response = post(addr, ("content-encoding", "gzip"), compressed).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["result"].as_str().unwrap().len(), 200_000);

    // Not gzip after all: a parse error, the server goes on.
    let response = post(addr, ("content-encoding", "gzip"), call.clone()).await;
    assert_eq!(response.status(), 400);
    // An encoding we do not take: 415.
    let response = post(addr, ("content-encoding", "br"), call).await;
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn the_size_limit_counts_decompressed_bytes() {
    let (addr, _shutdown) =
        http_server(Server::new(DemoService::default().into_rpc()).with_max_message_bytes(10_000))
            .await;
    let send = |len: usize| {
        let body = gzip(echo_call(len).as_bytes());
        // Small on the wire either way.
        assert!(body.len() < 1_000);
        post(addr, ("content-encoding", "gzip"), body)
    };
    assert_eq!(send(9_000).await.status(), 200);
    let refused = send(20_000).await;
    assert_eq!(refused.status(), 413);
    let answer: serde_json::Value =
        serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["error"]["code"], -32098);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_gets_413_and_the_server_stays_small() {
    let addr = server().await;
    // 50 MiB of zeros: about 50 KiB gzipped.
    let bomb = tokio::task::spawn_blocking(|| gzip(&vec![0u8; 50 << 20]))
        .await
        .unwrap();
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    // Warm up (runtime, connection pool, allocator) before measuring.
    let http = reqwest::Client::new();
    let warm = http
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .body(echo_call(10))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let before = common::resident();
    // The highest resident size seen while the bomb is handled.
    let peak = Arc::new(AtomicUsize::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(common::resident(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    for _ in 0..3 {
        let response = http
            .post(format!("http://{addr}/"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        let answer: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(answer["error"]["code"], -32098);
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "resident: {:.1} MiB before, {:.1} MiB at the peak during three 50 MiB gzip bombs ({} bytes each on the wire), {:.1} MiB after",
        mib(before),
        mib(peak),
        bomb.len(),
        mib(common::resident()),
    );
    // At most the 5 MiB limit (in a growing buffer) and the decoder's
    // window: far from the 50 MiB the bomb holds.
    assert!(
        peak.saturating_sub(before) < 24 << 20,
        "grew {:.1} MiB",
        mib(peak - before)
    );
    // And the server goes on.
    let response = http
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .body(echo_call(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_websocket_upgrade_offering_compression_still_works() {
    let addr = server().await;
    let (service, mut events): (PeerService, _) = peer();
    let connection = rpc::ws::WsClient::new(&format!("ws://{addr}/"))
        .with_header("accept-encoding", "gzip, br, zstd")
        .unwrap()
        .connect(service.into_rpc())
        .await
        .unwrap();
    let client = rpc::Client::new(connection);
    assert_eq!(client.notify_me(1).await.unwrap(), 1);
    assert_eq!(next_event(&mut events).await, "tick 0");
    // Large messages travel as they are over the upgraded connection.
    let large = serde_json::Value::from("y".repeat(100_000));
    assert_eq!(client.echo(large.clone()).await.unwrap(), large);
}
