//! `https://` and `wss://` clients against a server behind TLS with a
//! self-signed certificate made in the test.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use common::{http_server, next_event, peer, Demo, DemoClient, DemoService, Peer};
use rpc::http::{HttpClient, Server};
use rpc::MethodTable;
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
    let client = DemoClient::new(
        HttpClient::new(&url)
            .unwrap()
            .with_root_certificates(pem.as_bytes())
            .unwrap(),
    );
    assert_eq!(client.add(20, 22).await.unwrap(), 42);
    // Without trusting it: a clear error, no answer.
    let untrusted = DemoClient::new(HttpClient::new(&url).unwrap());
    let err = untrusted.add(1, 2).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
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
    let client = DemoClient::new(connection);
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
