//! Clients as production needs them: `https://` and `wss://` against a
//! server behind TLS with a self-signed certificate made in the test, and
//! through an HTTP proxy's `CONNECT` tunnel (reqwest's for HTTP,
//! hyper-util's for WebSocket), also one reached over TLS.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{http_server, next_event, peer, Demo, DemoClient, DemoService, Peer};
use rpc::http::{HttpClient, Server};
use rpc::MethodTable;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A self-signed certificate for `localhost`: (certificate PEM, TLS acceptor).
fn self_signed() -> (String, tokio_rustls::TlsAcceptor) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .unwrap();
    (
        cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

/// Our server behind a TLS terminator; returns the terminator's port and
/// the certificate to trust.
async fn tls_server() -> (u16, String) {
    let (plain, _stop) = http_server(Server::new(DemoService::default().into_rpc())).await;
    std::mem::forget(_stop);
    let (pem, acceptor) = self_signed();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(forward(acceptor, socket, plain));
        }
    });
    (port, pem)
}

async fn forward(acceptor: tokio_rustls::TlsAcceptor, socket: TcpStream, to: SocketAddr) {
    let Ok(mut tls) = acceptor.accept(socket).await else {
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(to).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
}

#[tokio::test]
async fn https_with_a_trusted_self_signed_certificate() {
    let (port, pem) = tls_server().await;
    let url = format!("https://localhost:{port}/");
    let client = rpc::Client::new(
        HttpClient::new(&url)
            .unwrap()
            .with_root_certificates(pem.as_bytes())
            .unwrap(),
    );
    assert_eq!(client.add(20, 22).await.unwrap(), 42);
    // Without trusting it: a clear error, no answer.
    let untrusted = rpc::Client::new(HttpClient::new(&url).unwrap());
    let err = untrusted.add(1, 2).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn https_with_the_callers_own_rustls_configuration() {
    let (port, pem) = tls_server().await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = rpc::Client::new(
        HttpClient::new(&format!("https://localhost:{port}/"))
            .unwrap()
            .with_tls_config(Arc::new(config))
            .unwrap(),
    );
    for _ in 0..3 {
        assert_eq!(client.add(20, 22).await.unwrap(), 42);
    }
}

#[tokio::test]
async fn wss_with_a_trusted_self_signed_certificate() {
    let (port, pem) = tls_server().await;
    let url = format!("wss://localhost:{port}/");
    let (service, mut events) = peer();
    let connection = rpc::ws::WsClient::new(&url)
        .with_root_certificates(pem.as_bytes())
        .unwrap()
        .with_header("authorization", "Bearer abc")
        .unwrap()
        .connect(service.into_rpc())
        .await
        .unwrap();
    let client = rpc::Client::new(connection);
    assert_eq!(client.notify_me(2).await.unwrap(), 2);
    assert_eq!(next_event(&mut events).await, "tick 0");
    assert_eq!(
        client
            .header("authorization".into())
            .await
            .unwrap()
            .as_deref(),
        Some("Bearer abc")
    );
    let refused = rpc::ws::connect(&url, MethodTable::new())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_calculator_calls_over_https_and_wss_with_ca_cert() {
    let (port, pem) = tls_server().await;
    let dir = std::env::temp_dir().join(format!("rpc-tls-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    for url in [
        format!("https://localhost:{port}/"),
        format!("wss://localhost:{port}/"),
    ] {
        let out = tokio::task::spawn_blocking({
            let (url, ca) = (url.clone(), ca.clone());
            move || {
                Command::new(common::calculator::binary())
                    .args(["call", &url, "add", "2", "3", "--ca-cert"])
                    .arg(&ca)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5", "{url}");
    }
    let out = Command::new(common::calculator::binary())
        .args(["call", "tcp://127.0.0.1:1", "add", "2", "3", "--token", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--token over tcp://");
}

/// An HTTP proxy that opens `CONNECT` tunnels, as squid or tinyproxy do,
/// for clients presenting `Proxy-Authorization: Basic <credentials>`; it
/// records each tunnel's target. Returns its port.
async fn tunnelling_proxy(credentials: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let targets = Arc::new(Mutex::new(Vec::new()));
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(byte) = client.read_u8().await else {
                        return;
                    };
                    head.push(byte);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let authorized = head.lines().any(|l| {
                    l.eq_ignore_ascii_case(&format!("proxy-authorization: Basic {credentials}"))
                });
                if !head.starts_with("CONNECT ") || !authorized {
                    let _ = client
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                        .await;
                    return;
                }
                seen.lock().unwrap().push(target.clone());
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, targets)
}

/// `ann:s3cret` in base64.
const CREDENTIALS: &str = "YW5uOnMzY3JldA==";

#[tokio::test]
async fn websocket_and_https_clients_go_through_an_http_proxy() {
    let (proxy_port, targets) = tunnelling_proxy(CREDENTIALS).await;
    let proxy = format!("http://ann:s3cret@127.0.0.1:{proxy_port}");
    // wss:// (TLS inside the tunnel), with server pushes over it.
    let (port, pem) = tls_server().await;
    let (service, mut events) = peer();
    let connection = rpc::ws::WsClient::new(&format!("wss://localhost:{port}/"))
        .with_root_certificates(pem.as_bytes())
        .unwrap()
        .with_proxy(&proxy)
        .unwrap()
        .connect(service.into_rpc())
        .await
        .unwrap();
    let client = rpc::Client::new(connection);
    assert_eq!(client.notify_me(2).await.unwrap(), 2);
    assert_eq!(next_event(&mut events).await, "tick 0");
    // ws:// through the same proxy.
    let (plain, _stop) = http_server(Server::new(DemoService::default().into_rpc())).await;
    let connection = rpc::ws::WsClient::new(&format!("ws://{plain}/"))
        .with_proxy(&proxy)
        .unwrap()
        .connect(MethodTable::new())
        .await
        .unwrap();
    assert_eq!(rpc::Client::new(connection).add(1, 2).await.unwrap(), 3);
    // https:// through it (reqwest's own CONNECT).
    let client = rpc::Client::new(
        HttpClient::new(&format!("https://localhost:{port}/"))
            .unwrap()
            .with_root_certificates(pem.as_bytes())
            .unwrap()
            .with_proxy(&proxy)
            .unwrap(),
    );
    assert_eq!(client.add(20, 22).await.unwrap(), 42);
    assert_eq!(
        *targets.lock().unwrap(),
        [
            format!("localhost:{port}"),
            plain.to_string(),
            format!("localhost:{port}")
        ]
    );
}

#[tokio::test]
async fn a_proxy_that_refuses_the_tunnel_is_a_clear_connect_error() {
    let (proxy_port, targets) = tunnelling_proxy(CREDENTIALS).await;
    let (plain, _stop) = http_server(Server::new(DemoService::default().into_rpc())).await;
    let err = rpc::ws::WsClient::new(&format!("ws://{plain}/"))
        .with_proxy(&format!("http://ann:wrong@127.0.0.1:{proxy_port}"))
        .unwrap()
        .connect(MethodTable::new())
        .await
        .unwrap_err();
    assert!(matches!(err, rpc::Error::Connect(_)), "{err:?}");
    assert!(
        err.to_string().contains("proxy authorization required"),
        "{err}"
    );
    assert!(err.to_string().contains(&proxy_port.to_string()), "{err}");
    assert!(targets.lock().unwrap().is_empty());
    let err = rpc::ws::WsClient::new(&format!("ws://{plain}/"))
        .with_proxy("socks5://127.0.0.1:1080")
        .unwrap_err();
    assert!(
        matches!(err, rpc::ConfigError::InvalidUrl { .. }),
        "{err:?}"
    );
    // The HTTP client's refusal, from reqwest's tunnel.
    let err = rpc::Client::new(
        HttpClient::new(&format!("https://localhost:{}/", plain.port()))
            .unwrap()
            .with_proxy(&format!("http://ann:wrong@127.0.0.1:{proxy_port}"))
            .unwrap(),
    )
    .add(1, 2)
    .await
    .unwrap_err();
    assert!(matches!(err, rpc::Error::Connect(_)), "{err:?}");
    assert!(err.to_string().contains("localhost"), "{err}");
    assert!(targets.lock().unwrap().is_empty());
}

#[tokio::test]
async fn https_goes_through_a_proxy_reached_over_tls() {
    let (proxy_port, targets) = tunnelling_proxy(CREDENTIALS).await;
    // The proxy behind its own TLS terminator: an `https://` proxy.
    let (proxy_pem, acceptor) = self_signed();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_proxy_port = listener.local_addr().unwrap().port();
    let proxy = SocketAddr::from(([127, 0, 0, 1], proxy_port));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(forward(acceptor.clone(), socket, proxy));
        }
    });
    let (port, pem) = tls_server().await;
    let client = rpc::Client::new(
        HttpClient::new(&format!("https://localhost:{port}/"))
            .unwrap()
            .with_root_certificates(pem.as_bytes())
            .unwrap()
            .with_root_certificates(proxy_pem.as_bytes())
            .unwrap()
            .with_proxy(&format!("https://ann:s3cret@localhost:{tls_proxy_port}"))
            .unwrap(),
    );
    assert_eq!(client.add(20, 22).await.unwrap(), 42);
    assert_eq!(*targets.lock().unwrap(), [format!("localhost:{port}")]);
    // A WebSocket does not go through a proxy over TLS: refused at once.
    let err = rpc::ws::WsClient::new(&format!("wss://localhost:{port}/"))
        .with_proxy(&format!("https://localhost:{tls_proxy_port}"))
        .unwrap_err();
    assert!(
        matches!(err, rpc::ConfigError::InvalidUrl { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("http://"), "{err}");
}
