//! The three contenders, serving the same `subtract` method (and the two
//! frameworks the same `echo`, for the large-payload rows).

use std::net::SocketAddr;

use axum::body::Bytes;
use rpc::rpc;
use rpc::tcp::{Framing, TcpServer};

/// `subtract` as users of each framework would write it.
#[rpc]
pub trait Bench {
    /// minuend - subtrahend.
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> i64;

    /// The text, as it came.
    async fn echo(&self, text: String) -> String;

    /// 0, 1, 2, ... as fast as the subscriber takes them.
    #[rpc(subscription = "numbers", unsubscribe = "unsubscribe_numbers")]
    async fn subscribe_numbers(&self) -> rpc::Subscription<u64>;
}

struct Impl;

impl Bench for Impl {
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> i64 {
        minuend.wrapping_sub(subtrahend)
    }

    async fn echo(&self, text: String) -> String {
        text
    }

    async fn subscribe_numbers(&self) -> rpc::Subscription<u64> {
        rpc::Subscription::new(futures_util::stream::iter(0u64..))
    }
}

/// Our server: HTTP + WebSocket, and TCP in both framings.
pub struct Ours {
    pub http: SocketAddr,
    pub tcp_newline: SocketAddr,
    pub tcp_length_prefix: SocketAddr,
    /// A Unix socket, newline framing.
    pub unix: std::path::PathBuf,
    pub dispatcher: rpc::server::Dispatcher,
}

/// Our method table.
pub fn methods() -> rpc::MethodTable {
    Impl.into_rpc()
}

pub async fn ours() -> Ours {
    let methods = methods();
    // Every client of the benches has one address (5000 idle connections
    // in the memory rows): no per-address cap.
    let listening = rpc::http::Server::new(methods.clone())
        .with_max_connections_per_address(usize::MAX)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = listening.local_addr().expect("addr");
    tokio::spawn(listening.run());
    let mut tcp = Vec::new();
    for framing in [Framing::Newline, Framing::LengthPrefix4] {
        let server = TcpServer::new(methods.clone())
            .with_framing(framing)
            .with_max_connections_per_address(usize::MAX)
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        tcp.push(server.local_addr().expect("addr"));
        tokio::spawn(server.run());
    }
    let unix = std::env::temp_dir().join(format!("rpc-benches-{}.sock", std::process::id()));
    let server = rpc::unix::UnixServer::new(methods.clone())
        .bind(&unix)
        .await
        .expect("bind the Unix socket");
    let unix = server.path().to_owned();
    tokio::spawn(server.run());
    Ours {
        http,
        tcp_newline: tcp[0],
        tcp_length_prefix: tcp[1],
        unix,
        dispatcher: rpc::server::Dispatcher::new(methods),
    }
}

/// jsonrpsee with the same method, as its `#[rpc]` macro registers an `async fn`.
pub struct Jsonrpsee {
    pub http: SocketAddr,
    pub module: jsonrpsee::RpcModule<()>,
    _handle: jsonrpsee::server::ServerHandle,
}

pub fn jsonrpsee_module() -> jsonrpsee::RpcModule<()> {
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_async_method("subtract", |params, _, _| async move {
            let (minuend, subtrahend): (i64, i64) = params.parse()?;
            Ok::<i64, jsonrpsee::types::ErrorObjectOwned>(minuend.wrapping_sub(subtrahend))
        })
        .expect("register");
    module
        .register_async_method("echo", |params, _, _| async move {
            let mut params = params.sequence();
            let text: String = params.next()?;
            Ok::<String, jsonrpsee::types::ErrorObjectOwned>(text)
        })
        .expect("register");
    module
        .register_subscription(
            "subscribe_numbers",
            "numbers",
            "unsubscribe_numbers",
            |_, pending: jsonrpsee::PendingSubscriptionSink, _, _| async move {
                let sink = pending.accept().await?;
                for i in 0u64.. {
                    let item = serde_json::value::to_raw_value(&i)?;
                    sink.send(jsonrpsee::SubscriptionMessage::from(item))
                        .await?;
                }
                Ok(())
            },
        )
        .expect("register");
    module
}

pub async fn jsonrpsee() -> Jsonrpsee {
    jsonrpsee_with_connections(100).await
}

/// jsonrpsee accepting up to `max` connections (its default is 100).
pub async fn jsonrpsee_with_connections(max: u32) -> Jsonrpsee {
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_connections(max)
        .build();
    let server = jsonrpsee::server::Server::builder()
        .set_config(config)
        .build("127.0.0.1:0")
        .await
        .expect("bind");
    let http = server.local_addr().expect("addr");
    let handle = server.start(jsonrpsee_module());
    Jsonrpsee {
        http,
        module: jsonrpsee_module(),
        _handle: handle,
    }
}

#[derive(serde::Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    id: &'a serde_json::value::RawValue,
    params: (i64, i64),
}

/// The floor: one axum handler that decodes exactly this request and writes
/// the answer, with no framework in between.
pub async fn bare_axum() -> SocketAddr {
    async fn handler(body: Bytes) -> ([(axum::http::HeaderName, &'static str); 1], Vec<u8>) {
        let answer = match serde_json::from_slice::<Request<'_>>(&body) {
            Ok(req) => format!(
                r#"{{"jsonrpc":"2.0","result":{},"id":{}}}"#,
                req.params.0 - req.params.1,
                req.id.get()
            ),
            Err(_) => {
                r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#
                    .to_owned()
            }
        };
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            answer.into_bytes(),
        )
    }
    serve_axum(axum::Router::new().route("/", axum::routing::post(handler))).await
}

/// Serves `app` on a free loopback port, with the framework servers' socket
/// option (no Nagle delay), so that a plain axum server is a fair reference.
pub async fn serve_axum(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Our HTTP server over TLS (a certificate for `localhost` made here), and a
/// connector that trusts it.
pub async fn ours_https() -> (SocketAddr, tokio_rustls::TlsConnector) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let (cert, key) = (certified.cert.pem(), certified.key_pair.serialize_pem());
    let tls = rpc::tls::ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).expect("TLS config");
    let listening = rpc::http::Server::new(methods())
        .with_max_connections_per_address(usize::MAX)
        .with_tls(tls)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listening.local_addr().expect("addr");
    tokio::spawn(listening.run());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("a root");
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (
        addr,
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)),
    )
}
