//! Middleware, authorization and browser security, end to end over HTTP,
//! WebSocket and TCP: tower layers around every call (batch members one by
//! one), roles declared on the trait, an axum auth layer's values reaching
//! handlers, origins, and what the calculator exposes (`admin`, `/metrics`,
//! one debug event per call).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::calculator::{binary, Served};
use common::{Demo, DemoBatch, DemoClient, DemoService};
use rpc::auth::Roles;
use rpc::http::{HttpClient, Server};
use rpc::middleware::{from_fn, Call, CallService, Next, RateLimitLayer};
use rpc::tcp::{StreamOptions, TcpServer};
use rpc::{rpc, Context, MethodTable};
use serde_json::json;

/// A layer usable on both servers.
trait CallLayer:
    tower::Layer<
        CallService,
        Service: tower::Service<
            Call,
            Response = Box<serde_json::value::RawValue>,
            Error = rpc::client::BoxError,
            Future: Send + 'static,
        > + Clone
                     + Send
                     + Sync
                     + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<L> CallLayer for L where
    L: tower::Layer<
            CallService,
            Service: tower::Service<
                Call,
                Response = Box<serde_json::value::RawValue>,
                Error = rpc::client::BoxError,
                Future: Send + 'static,
            > + Clone
                         + Send
                         + Sync
                         + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// HTTP (and WebSocket) and TCP servers for `methods`, each with `layer`;
/// their addresses.
async fn serve_with(methods: MethodTable, layer: impl CallLayer) -> (SocketAddr, SocketAddr) {
    let http = Server::new(methods.clone()).with_layer(layer.clone());
    let (http, stop) = common::http_server(http).await;
    std::mem::forget(stop);
    let tcp = TcpServer::new(methods)
        .with_layer(layer)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    tokio::spawn(tcp.run());
    (http, tcp_addr)
}

/// A client of each transport.
async fn clients(http: SocketAddr, tcp: SocketAddr) -> Vec<(&'static str, rpc::Client)> {
    let options = StreamOptions::default();
    vec![
        (
            "http",
            rpc::Client::new(HttpClient::new(&format!("http://{http}/")).unwrap()),
        ),
        (
            "websocket",
            rpc::Client::new(
                rpc::ws::connect(&format!("ws://{http}/"), MethodTable::new())
                    .await
                    .unwrap(),
            ),
        ),
        (
            "tcp",
            rpc::Client::new(
                rpc::tcp::connect(tcp, &options, MethodTable::new())
                    .await
                    .unwrap(),
            ),
        ),
    ]
}

#[tokio::test]
async fn a_counting_layer_counts_each_member_of_a_batch_on_every_transport() {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let counting = from_fn(move |call: Call, next: Next| {
        counted.fetch_add(1, Ordering::SeqCst);
        next.run(call)
    });
    let (http, tcp) = serve_with(DemoService::default().into_rpc(), counting).await;
    for (transport, client) in clients(http, tcp).await {
        count.store(0, Ordering::SeqCst);
        let client = client;
        let (a, b, c) = client
            .batch()
            .add(1, 2)
            .add(3, 4)
            .echo(json!("x"))
            .send()
            .await
            .unwrap();
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (3, 7, json!("x")));
        assert_eq!(count.load(Ordering::SeqCst), 3, "{transport}");
        // A notification is a call too.
        client.bump().await.unwrap();
        assert_eq!(
            common::eventually(&count, 4, Duration::from_secs(2)).await,
            4,
            "{transport}"
        );
    }
}

#[tokio::test]
async fn towers_own_layers_work_unchanged() {
    // One call at a time: four 150 ms calls take four times as long.
    let (http, tcp) = serve_with(
        DemoService::default().into_rpc(),
        tower::limit::ConcurrencyLimitLayer::new(1),
    )
    .await;
    for (transport, client) in clients(http, tcp).await {
        let client = client;
        let started = Instant::now();
        let calls = (0..4).map(|_| client.sleep(150));
        for outcome in futures_util::future::join_all(calls).await {
            assert_eq!(outcome.unwrap(), 150);
        }
        assert!(
            started.elapsed() >= Duration::from_millis(590),
            "{transport}: {:?}",
            started.elapsed()
        );
    }
    // Without the limit the same calls overlap.
    let (http, tcp) = serve_with(
        DemoService::default().into_rpc(),
        tower::layer::util::Identity::new(),
    )
    .await;
    let client = clients(http, tcp).await.remove(0).1;
    let started = Instant::now();
    futures_util::future::join_all((0..4).map(|_| client.sleep(150))).await;
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );

    // A timeout answers -32097 for the slow call only.
    let (http, tcp) = serve_with(
        DemoService::default().into_rpc(),
        tower::timeout::TimeoutLayer::new(Duration::from_millis(100)),
    )
    .await;
    for (transport, client) in clients(http, tcp).await {
        let client = client;
        let (slow, quick) = client.batch().sleep(1000).add(1, 1).send().await.unwrap();
        assert_eq!(
            slow.unwrap_err().error_object().unwrap().code,
            -32097,
            "{transport}"
        );
        assert_eq!(quick.unwrap(), 2);
    }

    // Load shedding in front of a concurrency limit refuses the overflow with -32005.
    let shed = tower::ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .into_inner();
    let (http, _) = serve_with(DemoService::default().into_rpc(), shed).await;
    let client = rpc::Client::new(HttpClient::new(&format!("http://{http}/")).unwrap());
    let (a, b) = client.batch().sleep(200).sleep(200).send().await.unwrap();
    let codes: Vec<i64> = [a, b]
        .into_iter()
        .filter_map(|r| r.err().and_then(|e| e.error_object().map(|o| o.code)))
        .collect();
    assert_eq!(codes, [-32005]);
}

#[tokio::test]
async fn a_rate_limit_answers_the_calls_over_it_with_a_clear_error() {
    let (http, tcp) = serve_with(
        DemoService::default().into_rpc(),
        RateLimitLayer::per_peer_and_method(3, Duration::from_secs(60)),
    )
    .await;
    for (transport, client) in clients(http, tcp).await {
        let client = client;
        let mut refused = Vec::new();
        for _ in 0..5 {
            if let Err(e) = client.add(1, 1).await {
                refused.push(e.error_object().cloned().unwrap());
            }
        }
        // Each transport connects from its own port but the same address:
        // the first took the three calls the address may make.
        assert!(refused.len() >= 2, "{transport}: {refused:?}");
        assert!(refused
            .iter()
            .all(|e| e.code == -32005 && e.message.starts_with("Rate limit exceeded")));
        // Another method has its own allowance.
        assert_eq!(
            client.echo(json!(1)).await.unwrap(),
            json!(1),
            "{transport}"
        );
    }
}

/// A service whose every method requires the `admin` role.
#[rpc(namespace = "admin", requires = "admin")]
trait Vault {
    /// Runs only for admins.
    async fn secret(&self) -> String;
}

#[derive(Clone, Default)]
struct VaultService {
    runs: Arc<AtomicUsize>,
}

impl Vault for VaultService {
    async fn secret(&self) -> String {
        self.runs.fetch_add(1, Ordering::SeqCst);
        "42".into()
    }
}

#[tokio::test]
async fn an_unauthorized_call_fails_alone_and_its_handler_never_runs() {
    let vault = VaultService::default();
    let methods = vault
        .clone()
        .into_rpc()
        .merge(DemoService::default().into_rpc())
        .unwrap();
    assert_eq!(
        methods
            .get("admin.secret")
            .unwrap()
            .info()
            .requires
            .as_deref(),
        Some("admin")
    );
    let server = Server::new(methods.clone())
        .with_authentication(|c| c.is_bearer("t0ken").then(|| Roles::new(["admin"])));
    let (http, stop) = common::http_server(server).await;
    std::mem::forget(stop);
    let tcp = TcpServer::new(methods).bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    tokio::spawn(tcp.run());
    let wrong = HttpClient::new(&format!("http://{http}/"))
        .unwrap()
        .with_header("authorization", "Bearer nope")
        .unwrap();
    let mut callers = clients(http, tcp_addr).await;
    callers.push(("http, wrong token", rpc::Client::new(wrong)));
    for (transport, client) in callers {
        let (secret, sum) = client
            .batch()
            .call::<String>("admin.secret", rpc::client::ParamsBuilder::new(false))
            .call::<i64>("add", {
                let mut p = rpc::client::ParamsBuilder::new(false);
                p.push("a", &1);
                p.push("b", &2);
                p
            })
            .send()
            .await
            .unwrap();
        let error = secret.unwrap_err();
        let object = error.error_object().unwrap();
        assert_eq!(
            (object.code, object.message.as_ref()),
            (-32001, "Unauthorized"),
            "{transport}"
        );
        assert_eq!(sum.unwrap(), 3, "{transport}");
    }
    assert_eq!(vault.runs.load(Ordering::SeqCst), 0, "a refused call ran");
    // With the token, over HTTP and over the WebSocket upgrade (header or
    // the browser's way, a `bearer.` subprotocol).
    let authorized = HttpClient::new(&format!("http://{http}/"))
        .unwrap()
        .with_header("authorization", "Bearer t0ken")
        .unwrap();
    assert_eq!(rpc::Client::new(authorized).secret().await.unwrap(), "42");
    for (name, value) in [
        ("authorization", "Bearer t0ken"),
        ("sec-websocket-protocol", "jsonrpc, bearer.t0ken"),
    ] {
        let connection = rpc::ws::WsClient::new(&format!("ws://{http}/"))
            .with_header(name, value)
            .unwrap()
            .connect(MethodTable::new())
            .await
            .unwrap();
        assert_eq!(
            rpc::Client::new(connection).secret().await.unwrap(),
            "42",
            "{name}"
        );
    }
    assert_eq!(vault.runs.load(Ordering::SeqCst), 3);
}

/// Who an HTTP auth layer says the caller is.
#[derive(Clone, Debug, PartialEq)]
struct User(String);

#[rpc]
trait Whoami {
    async fn whoami(&self, ctx: Context) -> Option<String>;
    #[rpc(requires = "reader")]
    async fn read(&self) -> u8;
}

struct WhoamiService;

impl Whoami for WhoamiService {
    async fn whoami(&self, ctx: Context) -> Option<String> {
        rpc::http::extension::<User>(&ctx).map(|u| u.0.clone())
    }
    async fn read(&self) -> u8 {
        7
    }
}

#[tokio::test]
async fn what_an_axum_auth_layer_inserts_reaches_handlers_over_http_and_websocket() {
    async fn authenticate(
        mut request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let user = request
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(user) = user {
            request.extensions_mut().insert(User(user));
            request.extensions_mut().insert(Roles::new(["reader"]));
        }
        next.run(request).await
    }
    let app = Server::new(WhoamiService.into_rpc())
        .router()
        .layer(axum::middleware::from_fn(authenticate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let http = rpc::Client::new(
        HttpClient::new(&format!("http://{addr}/"))
            .unwrap()
            .with_header("x-user", "ann")
            .unwrap(),
    );
    assert_eq!(http.whoami().await.unwrap().as_deref(), Some("ann"));
    assert_eq!(http.read().await.unwrap(), 7);
    let ws = rpc::Client::new(
        rpc::ws::WsClient::new(&format!("ws://{addr}/"))
            .with_header("x-user", "bo")
            .unwrap()
            .connect(MethodTable::new())
            .await
            .unwrap(),
    );
    assert_eq!(ws.whoami().await.unwrap().as_deref(), Some("bo"));
    assert_eq!(ws.read().await.unwrap(), 7);
    let anonymous = rpc::Client::new(HttpClient::new(&format!("http://{addr}/")).unwrap());
    assert_eq!(anonymous.whoami().await.unwrap(), None);
    let refused = anonymous.read().await.unwrap_err();
    assert_eq!(refused.error_object().unwrap().code, -32001);
}

#[tokio::test]
async fn only_allowed_origins_may_call_from_a_browser() {
    // `*` is no origin: refused when configured, not at the first request.
    assert!(matches!(
        Server::new(MethodTable::new()).with_allowed_origins(["*"]),
        Err(rpc::ConfigError::Setting { .. })
    ));
    // Written as people do (case, trailing slash), compared as browsers send it.
    let server = Server::new(DemoService::default().into_rpc())
        .with_allowed_origins(["https://App.example/"])
        .unwrap();
    let (addr, stop) = common::http_server(server).await;
    std::mem::forget(stop);
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/");
    let body = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
    // A cross-site form post: text/plain from another origin. Refused.
    let forged = http
        .post(&url)
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // The allowed origin gets its answer and the CORS header.
    let allowed = http
        .post(&url)
        .header("origin", "https://app.example")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // The preflight of a JSON POST is answered for it.
    let preflight = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // Programs send no Origin: unaffected.
    let program = http.post(&url).body(body).send().await.unwrap();
    assert_eq!(program.status(), 200);
    // A WebSocket opened by a page on another origin is refused too.
    assert_cross_site_websocket_refused(&format!("ws://{addr}/")).await;
}

/// `calculator serve --auth-token` with debug logs of `rpc::call` on stderr.
fn calculator_with_logs(log: &std::path::Path) -> Served {
    let mut command = Command::new(binary());
    command
        .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .args(["--auth-token", "s3cret"])
        .env("RUST_LOG", "rpc::call=debug")
        .env("NO_COLOR", "1")
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
    Served::spawn(command)
}

fn call(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("call")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[tokio::test]
async fn the_calculators_admin_methods_metrics_and_call_log() {
    let log = std::env::temp_dir().join(format!("rpc-calc-log-{}", std::process::id()));
    let served = tokio::task::spawn_blocking({
        let log = log.clone();
        move || calculator_with_logs(&log)
    })
    .await
    .unwrap();
    let (http, ws, tcp) = (
        served.http.clone(),
        served.ws(),
        format!("tcp://{}", served.tcp),
    );
    let outcomes = tokio::task::spawn_blocking(move || {
        vec![
            call(&[&http, "admin.connections"]),
            call(&[&http, "admin.active_calls", "--token", "s3cret"]),
            call(&[&ws, "admin.connections", "--token", "s3cret"]),
            call(&[&ws, "admin.connections", "--token", "wrong"]),
            call(&[&tcp, "admin.connections"]),
            call(&[&http, "add", "2", "3"]),
        ]
    })
    .await
    .unwrap();
    let expected = [
        (1, "", "error -32001: Unauthorized"),
        (0, "1", ""),
        (0, "1", ""),
        (1, "", "error -32001: Unauthorized"),
        (1, "", "error -32001: Unauthorized"),
        (0, "5", ""),
    ];
    for ((code, out, err), (want_code, want_out, want_err)) in outcomes.iter().zip(expected) {
        assert_eq!((*code, out.as_str()), (want_code, want_out), "{err}");
        assert!(err.contains(want_err), "{err}");
    }
    // /metrics counts what was called.
    let scrape = || async {
        reqwest::get(format!("{}metrics", served.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let metrics = scrape().await;
    let value = |line: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        value(r#"rpc_server_calls_total{method="add",transport="http"}"#),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        value(r#"rpc_server_calls_total{method="admin.connections",transport="websocket"}"#),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        value(r#"rpc_server_errors_total{method="admin.connections",code="-32001"}"#),
        Some(3.0),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rpc_server_duration_seconds_count{method="add"} 1"#),
        "{metrics}"
    );
    // Series only for what was used: no transport nobody used, no method
    // nobody called.
    for unused in [
        r#"transport="in-process""#,
        r#"transport="unknown""#,
        r#"method="divide""#,
    ] {
        assert!(!metrics.contains(unused), "{unused} in\n{metrics}");
    }
    // A method that does not exist is labelled `<unknown>`, whatever its name.
    let client = reqwest::Client::new();
    for name in ["nope1", "nope2"] {
        client
            .post(&served.http)
            .body(format!(r#"{{"jsonrpc":"2.0","method":"{name}","id":1}}"#))
            .send()
            .await
            .unwrap();
    }
    // A caller's W3C trace: the call's span carries its trace id.
    client
        .post(&served.http)
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(r#"{"jsonrpc":"2.0","method":"add","params":[1,1],"id":"traced"}"#)
        .send()
        .await
        .unwrap();
    let metrics = scrape().await;
    assert!(
        metrics.contains(r#"rpc_server_calls_total{method="<unknown>",transport="http"} 2"#),
        "{metrics}"
    );
    assert!(!metrics.contains("nope1"));
    // A batch member's duration is its own, not the batch's; in flight is
    // what still runs after its first poll (`add` is answered at once).
    let batch = tokio::spawn(
        client
            .post(&served.http)
            .body(r#"[{"jsonrpc":"2.0","method":"sleep","params":[300],"id":"slow"},{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"fast"}]"#)
            .send(),
    );
    let in_flight = || async {
        let metrics = scrape().await;
        metrics
            .lines()
            .find(|l| l.starts_with("rpc_server_calls_in_flight "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(in_flight().await, Some(1.0));
    batch.await.unwrap().unwrap();
    assert_eq!(in_flight().await, Some(0.0));
    // A batch's calls are counted per method, whatever their order.
    let call = |method: &str, id: u32| {
        format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":[1,2],"id":{id}}}"#)
    };
    let mixed = [
        call("add", 1),
        call("add", 2),
        call("nope3", 3),
        call("add", 4),
    ];
    client
        .post(&served.http)
        .body(format!("[{}]", mixed.join(",")))
        .send()
        .await
        .unwrap();
    let metrics = scrape().await;
    for counted in [
        r#"rpc_server_calls_total{method="add",transport="http"} 6"#,
        r#"rpc_server_calls_total{method="<unknown>",transport="http"} 3"#,
    ] {
        assert!(metrics.contains(counted), "{counted} in\n{metrics}");
    }
    // One debug event per call, with method, id, transport, outcome and duration.
    drop(served);
    let log = std::fs::read_to_string(&log).unwrap();
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("rpc::call: call"))
        .collect();
    assert_eq!(events.len(), 15, "{log}");
    let duration = |id: &str| -> u64 {
        let event = events
            .iter()
            .find(|l| l.contains(&format!(r#"id="\"{id}\"""#)))
            .unwrap_or_else(|| panic!("no event for {id} in {log}"));
        event
            .split("duration_us=")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| panic!("no duration in {event}"))
    };
    assert!(duration("slow") >= 300_000, "{log}");
    assert!(duration("fast") < 100_000, "{log}");
    let traced = events
        .iter()
        .find(|l| l.contains(r#"id="\"traced\"""#))
        .unwrap();
    assert!(
        traced.contains(r#"trace_id="4bf92f3577b34da6a3ce929d0e0e4736""#),
        "{traced}"
    );
    let add = events
        .iter()
        .find(|l| l.contains(r#"method="add""#))
        .unwrap();
    for field in [
        r#"id="1""#,
        r#"transport="http""#,
        r#"outcome="ok""#,
        "duration_us=",
    ] {
        assert!(add.contains(field), "{field} in {add}");
    }
}

#[tokio::test]
async fn client_layers_add_headers_count_messages_and_time_out() {
    use rpc::client::{Outgoing, TransportService};
    let (http, tcp) = serve_with(
        DemoService::default().into_rpc(),
        tower::layer::util::Identity::new(),
    )
    .await;
    // A layer that puts a header on every message, and counts them.
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let tagging = tower::layer::layer_fn(move |inner: TransportService| {
        let counted = counted.clone();
        tower::service_fn(move |mut message: Outgoing| {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut headers = rpc::http::HeaderMap::new();
            headers.insert("x-trace", "abc".parse().unwrap());
            message.context.insert(headers);
            tower::ServiceExt::oneshot(inner.clone(), message)
        })
    });
    let engine = rpc::Client::new(HttpClient::new(&format!("http://{http}/")).unwrap())
        .with_layer(tagging.clone());
    let client = engine;
    assert_eq!(
        client.header("x-trace".into()).await.unwrap().as_deref(),
        Some("abc")
    );
    let (a, b) = client
        .batch()
        .add(1, 1)
        .header("x-trace".into())
        .send()
        .await
        .unwrap();
    assert_eq!((a.unwrap(), b.unwrap().as_deref()), (2, Some("abc")));
    client.bump().await.unwrap();
    // One call, one batch, one notification.
    assert_eq!(sent.load(Ordering::SeqCst), 3);
    // Over a duplex transport the layer runs too (headers mean nothing there).
    for (transport, engine) in clients(http, tcp).await.into_iter().skip(1) {
        let before = sent.load(Ordering::SeqCst);
        let client = engine.with_layer(tagging.clone());
        assert_eq!(client.add(2, 2).await.unwrap(), 4, "{transport}");
        assert_eq!(sent.load(Ordering::SeqCst), before + 1, "{transport}");
    }
    // tower's timeout on the client: the slow call fails, its error is the layer's.
    let impatient = rpc::Client::new(HttpClient::new(&format!("http://{http}/")).unwrap())
        .with_layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            100,
        )));
    let started = Instant::now();
    let error = impatient.sleep(2000).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(
        error
            .transport_error::<tower::timeout::error::Elapsed>()
            .is_some(),
        "{error:?}"
    );
    assert_eq!(impatient.add(1, 2).await.unwrap(), 3);
}

#[rpc]
trait Patience {
    /// Milliseconds the caller still waits, as the handler sees it.
    async fn patience(&self, ctx: Context) -> Option<u64>;
}

struct PatienceService;

impl Patience for PatienceService {
    async fn patience(&self, ctx: Context) -> Option<u64> {
        ctx.get::<rpc::Deadline>().map(|deadline| {
            deadline
                .0
                .saturating_duration_since(std::time::Instant::now())
                .as_millis() as u64
        })
    }
}

#[tokio::test]
async fn the_clients_deadline_reaches_the_handler_over_http() {
    let (http, stop) = common::http_server(Server::new(PatienceService.into_rpc())).await;
    std::mem::forget(stop);
    let url = format!("http://{http}/");
    let client =
        rpc::Client::new(HttpClient::new(&url).unwrap()).with_timeout(Duration::from_secs(5));
    let left = client.patience().await.unwrap().unwrap();
    assert!((4000..=5000).contains(&left), "{left}");
    // Without a client timeout, no deadline.
    let unbounded = rpc::Client::new(HttpClient::new(&url).unwrap()).without_timeout();
    assert_eq!(unbounded.patience().await.unwrap(), None);
}

/// A method name (and id) holding a newline and a terminal escape, sent
/// to the calculator under `RUST_LOG=debug`: every event that names them
/// escapes them, so no log line is forged and the terminal is not driven.
#[tokio::test]
async fn names_a_peer_chose_are_escaped_in_the_logs() {
    let log = std::env::temp_dir().join(format!("rpc-calc-escape-{}", std::process::id()));
    let served = tokio::task::spawn_blocking({
        let log = log.clone();
        move || {
            let mut command = Command::new(binary());
            command
                .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
                .env("RUST_LOG", "debug")
                .env("NO_COLOR", "1")
                .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
            Served::spawn(command)
        }
    })
    .await
    .unwrap();
    let forged = "nope\n2099-01-01T00:00:00.000000Z ERROR rpc_core: forged \u{1b}[31mred";
    let method = serde_json::to_string(forged).unwrap();
    let client = reqwest::Client::new();
    for body in [
        // A notification: "notification failed" names the method.
        format!(r#"{{"jsonrpc":"2.0","method":{method}}}"#),
        // A call, with an id of the same kind.
        format!(r#"{{"jsonrpc":"2.0","method":{method},"id":{method}}}"#),
    ] {
        client.post(&served.http).body(body).send().await.unwrap();
    }
    // The events are written (stderr is unbuffered) by the time the answers
    // come; waits a little in case a notification's comes after its 204.
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("notification failed")
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(served);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains('\u{1b}'), "a raw ESC in the log:\n{log:?}");
    assert!(
        !log.lines().any(|l| l.starts_with("2099-01-01")),
        "a forged line:\n{log}"
    );
    let escaped = |what: &str| {
        log.lines()
            .any(|l| l.contains(what) && l.contains(r"nope\n2099") && l.contains(r"\u{1b}[31mred"))
    };
    assert!(escaped("notification failed"), "{log}");
    assert!(escaped("rpc::call: call"), "{log}");
}

/// `calculator serve --allowed-origin ORIGIN` (repeatable) refuses browsers
/// of other sites; `--metrics ADDR` moves `GET /metrics` to its own
/// listener, logged on stderr, and off the `--http` port.
#[tokio::test]
async fn the_calculators_allowed_origins_and_metrics_listener() {
    let mut served = tokio::task::spawn_blocking(|| {
        let mut command = Command::new(binary());
        command
            .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .args(["--allowed-origin", "https://good.example"])
            .args(["--allowed-origin", "https://Also.example/"])
            .args(["--metrics", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped());
        Served::spawn(command)
    })
    .await
    .unwrap();
    // The metrics address, from the log on stderr (read until the end, so
    // that the calculator never blocks writing to it).
    let stderr = served.child.stderr.take().unwrap();
    let (found, addresses) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, url)) = line.split_once("metrics: GET ") {
                let _ = found.send(url.trim().to_owned());
            }
        }
    });
    let metrics_url = tokio::task::spawn_blocking(move || {
        addresses
            .recv_timeout(Duration::from_secs(10))
            .expect("the metrics listener's address on stderr")
    })
    .await
    .unwrap();
    assert!(
        metrics_url.starts_with("http://127.0.0.1:") && metrics_url.ends_with("/metrics"),
        "{metrics_url}"
    );
    let http = reqwest::Client::new();
    let body = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;
    let post = |origin: Option<&str>| {
        let mut request = http
            .post(&served.http)
            .header("content-type", "text/plain")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    // A cross-site text/plain POST: refused.
    assert_eq!(
        post(Some("https://evil.example")).await.unwrap().status(),
        403
    );
    // The allowed origins (as browsers send them) and programs: answered.
    for origin in [
        Some("https://good.example"),
        Some("https://also.example"),
        None,
    ] {
        let answer = post(origin).await.unwrap();
        assert_eq!(answer.status(), 200, "{origin:?}");
        let answer: serde_json::Value =
            serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert_eq!(answer["result"], 3, "{origin:?}");
    }
    // A WebSocket from another site is refused as well.
    assert_cross_site_websocket_refused(&served.ws()).await;
    // The metrics on their listener, counting the calls above...
    let metrics = reqwest::get(&metrics_url).await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(r#"rpc_server_calls_total{method="add",transport="http"} 3"#),
        "{metrics}"
    );
    // ...and not on the --http port.
    let moved = reqwest::get(format!("{}metrics", served.http))
        .await
        .unwrap();
    assert_eq!(moved.status(), 404);
    // Nothing but the metrics on their listener.
    let base = metrics_url.trim_end_matches("metrics");
    let other = http.post(base).body(body).send().await.unwrap();
    assert_eq!(other.status(), 404);
    // An origin that is no origin: a usage error, exit 2.
    let out = Command::new(binary())
        .args(["serve", "--http", "127.0.0.1:0", "--allowed-origin", "*"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--allowed-origin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    served.kill();
}

/// A WebSocket opened by a page of another site (`Origin: https://evil.example`)
/// is refused with 403.
async fn assert_cross_site_websocket_refused(url: &str) {
    let refused = rpc::ws::WsClient::new(url)
        .with_header("origin", "https://evil.example")
        .unwrap()
        .connect(MethodTable::new())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
}
