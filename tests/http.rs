//! End to end over HTTP: a real server on a loopback port, our client and raw requests.

mod common;

use std::time::Duration;

use axum::routing::{get, post};
use common::{http_server, Demo, DemoBatch, DemoClient, DemoService};
use rpc::http::{HttpClient, Server};
use serde_json::{json, Value};

async fn demo_server() -> (String, rpc::Shutdown) {
    let (addr, token) = http_server(Server::new(DemoService::default().into_rpc())).await;
    (format!("http://{addr}/"), token)
}

fn client(url: &str) -> rpc::Client {
    rpc::Client::new(HttpClient::new(url).unwrap())
}

async fn post_raw(
    url: &str,
    body: &str,
    content_type: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ct, response.text().await.unwrap())
}

#[tokio::test]
async fn generated_client_calls_in_both_param_styles() {
    let (url, _stop) = demo_server().await;
    let positional = client(&url);
    assert_eq!(positional.add(2, 3).await.unwrap(), 5);
    let named = positional.with_named_params();
    assert_eq!(named.add(4, 5).await.unwrap(), 9);
    assert_eq!(
        named.echo(json!({"k": [1, 2]})).await.unwrap(),
        json!({"k": [1, 2]})
    );
}

#[tokio::test]
async fn body_without_json_content_type_is_accepted_and_answer_is_json() {
    let (url, _stop) = demo_server().await;
    let body = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":7}"#;
    for ct in [None, Some("text/plain"), Some("application/json")] {
        let (status, content_type, text) = post_raw(&url, body, ct).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"jsonrpc":"2.0","result":3,"id":7})
        );
    }
}

#[tokio::test]
async fn jsonrpc_errors_travel_with_status_200() {
    let (url, _stop) = demo_server().await;
    for body in [
        "{bad json",
        r#"{"jsonrpc":"2.0","method":"nope","id":1}"#,
        "42",
        "[]",
    ] {
        let (status, _, text) = post_raw(&url, body, None).await;
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert!(answer["error"]["code"].is_i64(), "{body}: {text}");
    }
}

#[tokio::test]
async fn notifications_get_204_and_an_empty_body() {
    let (url, _stop) = demo_server().await;
    for body in [
        r#"{"jsonrpc":"2.0","method":"bump"}"#,
        r#"[{"jsonrpc":"2.0","method":"bump"},{"jsonrpc":"2.0","method":"bump"}]"#,
    ] {
        let (status, _, text) = post_raw(&url, body, None).await;
        assert_eq!((status, text.as_str()), (204, ""));
    }
    let c = client(&url);
    c.bump().await.unwrap();
    assert_eq!(c.bumps().await.unwrap(), 4);
}

#[tokio::test]
async fn get_and_rpc_discover_return_the_openrpc_document() {
    let (url, _stop) = demo_server().await;
    let doc: Value =
        serde_json::from_str(&reqwest::get(&url).await.unwrap().text().await.unwrap()).unwrap();
    let methods = doc["methods"].as_array().unwrap();
    let add = methods.iter().find(|m| m["name"] == "add").unwrap();
    assert_eq!(add["description"], "Adds two integers.");
    assert_eq!(add["params"][0]["name"], "a");
    assert_eq!(add["params"][0]["required"], true);
    assert_eq!(add["result"]["schema"]["type"], "integer");
    let header = methods.iter().find(|m| m["name"] == "header").unwrap();
    assert_eq!(
        header["params"].as_array().unwrap().len(),
        1,
        "the context is not a parameter"
    );
    let (_, _, text) = post_raw(
        &url,
        r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#,
        None,
    )
    .await;
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["result"], doc);
}

#[tokio::test]
async fn oversized_body_gets_413_with_a_jsonrpc_error() {
    let (addr, _stop) =
        http_server(Server::new(DemoService::default().into_rpc()).with_max_body_bytes(1024)).await;
    let url = format!("http://{addr}/");
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
        "x".repeat(4096)
    );
    let (status, _, text) = post_raw(&url, &big, None).await;
    assert_eq!(status, 413);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], rpc::code::REQUEST_TOO_LARGE);
    // The typed client reports it as the server's error.
    let err = client(&url)
        .echo(json!("x".repeat(4096)))
        .await
        .unwrap_err();
    assert_eq!(
        err.error_object().unwrap().code,
        rpc::code::REQUEST_TOO_LARGE
    );
    // Smaller bodies still work.
    assert_eq!(client(&url).add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn batch_over_the_limit_is_refused() {
    let (addr, _stop) =
        http_server(Server::new(DemoService::default().into_rpc()).with_max_batch_len(3)).await;
    let url = format!("http://{addr}/");
    let call = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
    let (_, _, text) = post_raw(&url, &format!("[{call},{call},{call},{call}]"), None).await;
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], rpc::code::REQUEST_TOO_LARGE);
    let (_, _, text) = post_raw(&url, &format!("[{call},{call},{call}]"), None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn slow_calls_are_answered_with_a_timeout_error() {
    let server = Server::new(DemoService::default().into_rpc())
        .with_request_timeout(Duration::from_millis(100));
    let (addr, _stop) = http_server(server).await;
    let err = client(&format!("http://{addr}/"))
        .sleep(2000)
        .await
        .unwrap_err();
    assert_eq!(err.error_object().unwrap().code, rpc::code::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn typed_batch_over_http() {
    let (url, _stop) = demo_server().await;
    let (a, b, c) = client(&url)
        .batch()
        .add(1, 2)
        .fail(-32050)
        .sleep(1)
        .send()
        .await
        .unwrap();
    assert_eq!(a.unwrap(), 3);
    assert_eq!(b.unwrap_err().error_object().unwrap().code, -32050);
    assert_eq!(c.unwrap(), 1);
}

#[tokio::test]
async fn a_typed_batch_of_twenty_four_calls() {
    let (url, _stop) = demo_server().await;
    let c = client(&url);
    let b = c.batch();
    let b = b
        .add(0, 1)
        .add(1, 1)
        .add(2, 1)
        .add(3, 1)
        .add(4, 1)
        .add(5, 1);
    let b = b
        .add(6, 1)
        .add(7, 1)
        .add(8, 1)
        .add(9, 1)
        .add(10, 1)
        .add(11, 1);
    let b = b
        .add(12, 1)
        .add(13, 1)
        .add(14, 1)
        .add(15, 1)
        .add(16, 1)
        .add(17, 1);
    let b = b
        .add(18, 1)
        .add(19, 1)
        .add(20, 1)
        .add(21, 1)
        .add(22, 1)
        .fail(-32050);
    let (
        r0,
        r1,
        r2,
        r3,
        r4,
        r5,
        r6,
        r7,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        r16,
        r17,
        r18,
        r19,
        r20,
        r21,
        r22,
        failed,
    ) = b.send().await.unwrap();
    let sums = [
        r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15, r16, r17, r18, r19,
        r20, r21, r22,
    ];
    for (i, sum) in sums.into_iter().enumerate() {
        assert_eq!(sum.unwrap(), i as i64 + 1);
    }
    assert_eq!(failed.unwrap_err().error_object().unwrap().code, -32050);
}

#[tokio::test]
async fn a_batch_of_one_result_type_built_in_a_loop() {
    let (url, _stop) = demo_server().await;
    let client = rpc::Client::new(HttpClient::new(&url).unwrap());
    let mut batch = client.batch_of::<i64>();
    for n in 0..100i64 {
        let mut p = rpc::client::ParamsBuilder::new(false);
        p.push("a", &n);
        p.push(
            "b",
            &if n == 50 {
                serde_json::json!("x")
            } else {
                serde_json::json!(1)
            },
        );
        batch.push("add", p);
    }
    assert_eq!(batch.len(), 100);
    let results = batch.send().await.unwrap();
    assert_eq!(results.len(), 100);
    for (n, result) in results.into_iter().enumerate() {
        match n {
            50 => assert_eq!(
                result.unwrap_err().error_object().unwrap().code,
                rpc::code::INVALID_PARAMS
            ),
            _ => assert_eq!(result.unwrap(), n as i64 + 1),
        }
    }
    // An empty one sends nothing.
    assert!(client.batch_of::<i64>().send().await.unwrap().is_empty());
}

#[tokio::test]
async fn panicking_handler_answers_internal_error_and_server_goes_on() {
    let (url, _stop) = demo_server().await;
    let c = client(&url);
    let err = c.boom().await.unwrap_err();
    assert_eq!(err.error_object().unwrap().code, rpc::code::INTERNAL_ERROR);
    assert_eq!(c.add(1, 2).await.unwrap(), 3);
}

#[tokio::test]
async fn handlers_see_headers_and_peer_address() {
    let (url, _stop) = demo_server().await;
    let http = HttpClient::new(&url)
        .unwrap()
        .with_header("authorization", "Bearer t0ken")
        .unwrap();
    let c = rpc::Client::new(http);
    assert_eq!(
        c.header("authorization".into()).await.unwrap().as_deref(),
        Some("Bearer t0ken")
    );
    assert_eq!(c.peer().await.unwrap().as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_reqwest_client_of_ones_own_carries_the_calls() {
    let (url, _stop) = demo_server().await;
    // The reqwest the crate re-exports: its settings (here a default
    // header) apply to every call.
    use rpc::http::reqwest;
    let mut defaults = reqwest::header::HeaderMap::new();
    defaults.insert("x-tenant", "acme".parse().unwrap());
    let own = reqwest::Client::builder()
        .default_headers(defaults)
        .build()
        .unwrap();
    let http = HttpClient::from_client(own, &url)
        .unwrap()
        .with_header("authorization", "Bearer t0ken")
        .unwrap();
    let c = rpc::Client::new(http.clone());
    assert_eq!(c.add(1, 2).await.unwrap(), 3);
    assert_eq!(
        c.header("x-tenant".into()).await.unwrap().as_deref(),
        Some("acme")
    );
    assert_eq!(
        c.header("authorization".into()).await.unwrap().as_deref(),
        Some("Bearer t0ken")
    );
    // Settings that build a reqwest client belong on the one handed in.
    let err = http.with_proxy("http://127.0.0.1:3128").unwrap_err();
    assert!(matches!(err, rpc::ConfigError::Setting { .. }), "{err:?}");
}

#[tokio::test]
async fn router_mounts_into_an_existing_app_behind_tower_layers() {
    let rpc_routes = rpc::http::router(DemoService::default().into_rpc());
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .nest("/rpc", rpc_routes)
        .layer(tower_http::cors::CorsLayer::permissive());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(
        reqwest::get(format!("http://{addr}/health"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/rpc"))
        .header("origin", "http://example.com")
        .body(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#)
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert_eq!(
        serde_json::from_str::<Value>(&response.text().await.unwrap()).unwrap()["result"],
        3
    );
    assert_eq!(
        client(&format!("http://{addr}/rpc"))
            .add(2, 2)
            .await
            .unwrap(),
        4
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls_then_refuses() {
    let (url, stop) = demo_server().await;
    let c = client(&url);
    let in_flight = tokio::spawn({
        let c = c.clone();
        async move { c.sleep(300).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.trigger();
    assert_eq!(in_flight.await.unwrap().unwrap(), 300);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = client(&url).add(1, 2).await.unwrap_err();
    assert!(matches!(err, rpc::Error::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn connection_limit_holds_extra_clients_until_a_slot_frees() {
    let (addr, _stop) =
        http_server(Server::new(DemoService::default().into_rpc()).with_max_connections(1)).await;
    let url = format!("http://{addr}/");
    // The first client's connection takes the only slot until the client is
    // dropped at the end of its task (about 400 ms from now).
    let first = client(&url);
    let slow = tokio::spawn(async move { first.sleep(400).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let second = client(&url).add(1, 2).await;
    assert_eq!(
        second.unwrap(),
        3,
        "the waiting client is served once a slot frees"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "admitted after {:?}",
        started.elapsed()
    );
    assert_eq!(slow.await.unwrap().unwrap(), 400);
}

// ---- client errors, against a deliberately misbehaving server ----

async fn misbehaving_server() -> String {
    let app = axum::Router::new()
        .route(
            "/status500",
            post(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "upstream broke",
                )
            }),
        )
        .route("/html", post(|| async { "<html>hello</html>" }))
        .route(
            "/v1",
            post(|| async { r#"{"jsonrpc":"1.0","result":1,"id":1}"# }),
        )
        .route(
            "/both",
            post(|| async {
                r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"x"},"id":1}"#
            }),
        )
        .route("/neither", post(|| async { r#"{"jsonrpc":"2.0","id":1}"# }))
        .route(
            "/wrong-id",
            post(|| async { r#"{"jsonrpc":"2.0","result":1,"id":999}"# }),
        )
        .route(
            "/wrong-type",
            post(|| async { r#"{"jsonrpc":"2.0","result":"three","id":1}"# }),
        )
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                ""
            }),
        )
        .route("/empty", post(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn add_at(base: &str, path: &str) -> rpc::Error {
    client(&format!("{base}{path}"))
        .add(1, 2)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn each_client_failure_is_a_distinct_error() {
    let base = misbehaving_server().await;
    let status = |e: rpc::Error| {
        e.transport_error::<rpc::http::StatusError>()
            .map(|s| s.status)
    };
    assert_eq!(status(add_at(&base, "/status500").await), Some(500));
    assert_eq!(status(add_at(&base, "/missing").await), Some(404));
    assert!(matches!(
        add_at(&base, "/html").await,
        rpc::Error::NotJson { .. }
    ));
    use rpc::client::InvalidResponse as Invalid;
    let e = add_at(&base, "/v1").await;
    assert!(
        matches!(&e, rpc::Error::InvalidResponse(Invalid::WrongVersion(_))),
        "{e:?}"
    );
    let e = add_at(&base, "/both").await;
    assert!(
        matches!(&e, rpc::Error::InvalidResponse(Invalid::BothResultAndError)),
        "{e:?}"
    );
    let e = add_at(&base, "/neither").await;
    assert!(
        matches!(
            &e,
            rpc::Error::InvalidResponse(Invalid::NeitherResultNorError)
        ),
        "{e:?}"
    );
    assert!(matches!(
        add_at(&base, "/wrong-id").await,
        rpc::Error::IdMismatch { .. }
    ));
    assert!(matches!(
        add_at(&base, "/wrong-type").await,
        rpc::Error::Decode { .. }
    ));
    assert!(matches!(
        add_at(&base, "/empty").await,
        rpc::Error::InvalidResponse(_)
    ));
    let slow = client(&format!("{base}/hang")).with_timeout(Duration::from_millis(100));
    assert!(matches!(
        slow.add(1, 2).await.unwrap_err(),
        rpc::Error::Timeout(_)
    ));
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(&format!("http://{addr}/"))
        .add(1, 2)
        .await
        .unwrap_err();
    assert!(matches!(err, rpc::Error::Connect(_)), "{err:?}");
    assert!(HttpClient::new("ftp://x/").is_err());
    assert!(HttpClient::new("not a url").is_err());
}

#[tokio::test]
async fn an_answer_over_the_client_limit_fails_the_call_without_being_read() {
    let (url, _stop) = demo_server().await;
    let small = rpc::Client::new(HttpClient::new(&url).unwrap().with_max_response_bytes(1000));
    let err = small.echo(json!("z".repeat(5000))).await.unwrap_err();
    assert!(
        matches!(err, rpc::Error::ResponseTooLarge { limit: 1000 }),
        "{err}"
    );
    assert_eq!(small.add(1, 2).await.unwrap(), 3);
    // A server announcing a gigabyte: refused from its headers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n[";
        let _ = socket.write_all(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let huge = rpc::Client::new(HttpClient::new(&format!("http://{addr}/")).unwrap());
    let started = std::time::Instant::now();
    let err = huge.add(1, 2).await.unwrap_err();
    assert!(matches!(err, rpc::Error::ResponseTooLarge { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// What a raw HTTP/1.1 server saw: per connection, the heads of the
/// requests it read.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>;

/// A raw HTTP/1.1 server answering every POST with `{"result": 3}` for its
/// id; after `answers_per_connection` answers it closes the connection
/// without saying so (as a server whose keep-alive timeout ran out does).
/// A connection the client closed ends with the head `closed`.
async fn recording_server(answers_per_connection: usize) -> (u16, Seen) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Default::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let record = record.clone();
            let at = {
                let mut all = record.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            tokio::spawn(async move {
                let mut socket = BufReader::new(socket);
                for _ in 0..answers_per_connection {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                            record.lock().unwrap()[at].push("closed".to_owned());
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    let mut body = vec![0; length];
                    socket.read_exact(&mut body).await.unwrap();
                    let call: Value = serde_json::from_slice(&body).unwrap();
                    let answer =
                        json!({"jsonrpc": "2.0", "result": 3, "id": call["id"]}).to_string();
                    record.lock().unwrap()[at].push(head);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    socket
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .unwrap();
                }
                // Closed without `Connection: close`.
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn calls_share_keep_alive_connections_and_carry_url_credentials() {
    let (port, seen) = recording_server(usize::MAX).await;
    let client = client(&format!("http://ann:p%40ss@127.0.0.1:{port}/rpc?v=2"));
    for _ in 0..20 {
        assert_eq!(client.add(1, 2).await.unwrap(), 3);
    }
    // Ten at once need more connections; sequential calls reuse them.
    let calls: Vec<_> = (0..10).map(|_| client.add(1, 2)).collect();
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.unwrap(), 3);
    }
    let seen = seen.lock().unwrap();
    assert!(seen.len() <= 10, "{} connections", seen.len());
    assert!(seen[0].len() >= 20, "{:?}", seen[0].len());
    let head = &seen[0][0];
    assert!(head.starts_with("POST /rpc?v=2 HTTP/1.1\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(
        lower.contains("content-type: application/json\r\n"),
        "{head}"
    );
    // The call's deadline (the default 90 s timeout), in milliseconds left.
    let left: u64 = lower
        .split("rpc-timeout-ms: ")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    assert!((80_000..=90_000).contains(&left), "{head}");
    // `ann:p@ss`.
    assert!(head.contains("YW5uOnBAc3M="), "{head}");
    assert!(!head.contains("p%40ss"), "{head}");
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    // One answer per connection, then a silent close.
    let (port, seen) = recording_server(1).await;
    let client = client(&format!("http://127.0.0.1:{port}/"));
    for _ in 0..5 {
        assert_eq!(client.add(1, 2).await.unwrap(), 3);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Straight after the answer, before the close is noticed, too.
    for _ in 0..5 {
        assert_eq!(client.add(1, 2).await.unwrap(), 3);
    }
    assert_eq!(seen.lock().unwrap().len(), 10);
}

#[tokio::test]
async fn plain_http_through_a_proxy_asks_it_for_the_whole_url() {
    // The recording server plays the proxy: it must see the absolute URL
    // and the proxy's credentials, not the endpoint's.
    let (proxy_port, seen) = recording_server(usize::MAX).await;
    let client = rpc::Client::new(
        HttpClient::new("http://rpc.internal:8545/v1")
            .unwrap()
            .with_proxy(&format!("http://ann:s3cret@127.0.0.1:{proxy_port}"))
            .unwrap(),
    );
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    let head = seen.lock().unwrap()[0][0].clone();
    assert!(
        head.starts_with("POST http://rpc.internal:8545/v1 HTTP/1.1\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("host: rpc.internal:8545\r\n"), "{head}");
    assert!(
        lower.contains("proxy-authorization: basic yw5uonmzy3jlda==\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let (port, seen) = recording_server(usize::MAX).await;
    let client = rpc::Client::new(
        HttpClient::new(&format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .with_idle_timeout(Duration::from_millis(200))
            .unwrap(),
    );
    // A burst opens several connections; then nobody calls.
    let calls: Vec<_> = (0..5).map(|_| client.add(1, 2)).collect();
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.unwrap(), 3);
    }
    let opened = seen.lock().unwrap().len();
    assert!(opened >= 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Every one of them closed by the client, with no call to notice.
    for (i, heads) in seen.lock().unwrap().iter().enumerate() {
        assert_eq!(
            heads.last().map(String::as_str),
            Some("closed"),
            "connection {i}: {heads:?}"
        );
    }
    // The next call opens a new one.
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    assert_eq!(seen.lock().unwrap().len(), opened + 1);
}

#[tokio::test]
async fn user_info_without_a_password_and_bad_ports() {
    let (port, seen) = recording_server(usize::MAX).await;
    let client = client(&format!("http://apikey@127.0.0.1:{port}/"));
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    // `apikey:` in base64: RFC 7617 keeps the colon.
    let head = seen.lock().unwrap()[0][0].clone();
    assert!(head.contains("Basic YXBpa2V5Og==\r\n"), "{head}");
    // A typo in the port is refused, not taken as port 80.
    for url in ["http://127.0.0.1:85450/", "https://example.com:4433x/"] {
        let err = HttpClient::new(url).unwrap_err();
        assert!(
            matches!(err, rpc::ConfigError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains("not a port number"), "{err}");
    }
}

#[tokio::test]
async fn routes_alone_on_their_own_listener() {
    let shutdown = rpc::Shutdown::new();
    let routes = axum::Router::new().route("/metrics", get(|| async { "calls 1\n" }));
    let listening = rpc::http::Listening::bind_routes("127.0.0.1:0", routes, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://{}/", listening.local_addr().unwrap());
    let running = tokio::spawn(listening.run());
    let metrics = reqwest::get(format!("{base}metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(metrics.text().await.unwrap(), "calls 1\n");
    // No JSON-RPC, no readiness probe: only the routes given.
    let (status, _, _) = post_raw(
        &base,
        r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let ready = reqwest::get(format!("{base}ready")).await.unwrap();
    assert_eq!(ready.status(), 404);
    // It drains with its shutdown.
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("drained")
        .unwrap()
        .unwrap();
}
