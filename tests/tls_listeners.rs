//! TLS on our own listeners: HTTPS and WSS on the HTTP server, TLS over
//! TCP on the TCP server, from PEM files of a private authority made here;
//! our clients, curl and Python's `ssl` as peers; a plaintext or silent
//! client closed without stopping the server; the certificate reloaded
//! under open connections; the calculator with `--tls-cert`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{next_event, peer, Demo, DemoClient, DemoService, Peer};
use rpc::http::{HttpClient, Server};
use rpc::tcp::TcpServer;
use rpc::tls::{ServerTls, TlsClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A private certificate authority, and a directory for the files.
struct Authority {
    dir: PathBuf,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Authority {
    fn new(name: &str) -> Authority {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "rpc-tls-listeners-{}-{n}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test authority"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let authority = Authority { dir, cert, key };
        std::fs::write(authority.ca_path(), authority.ca_pem()).unwrap();
        authority
    }

    fn ca_pem(&self) -> String {
        self.cert.pem()
    }

    fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate for `localhost` and 127.0.0.1 written to
    /// `cert.pem` and `key.pem` (replacing what was there); its DER.
    fn issue(&self) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (cert_path, key_path) = (self.dir.join("cert.pem"), self.dir.join("key.pem"));
        // Written aside, then renamed: a reader never sees half a file.
        let write = |path: &Path, text: String| {
            let partial = path.with_extension("new");
            std::fs::write(&partial, text).unwrap();
            std::fs::rename(&partial, path).unwrap();
        };
        write(&cert_path, cert.pem());
        write(&key_path, key.serialize_pem());
        (cert_path, key_path, cert.der().clone())
    }
}

impl Drop for Authority {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTPS (and WSS) server and a TLS-over-TCP server sharing `tls`:
/// (HTTP port, TCP port, their shutdown).
async fn servers(tls: &ServerTls) -> (u16, u16, rpc::Shutdown) {
    let shutdown = rpc::Shutdown::new();
    let service = DemoService::default();
    let http = Server::new(service.clone().into_rpc())
        .with_shutdown(shutdown.clone())
        .with_tls(tls.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let tcp = TcpServer::new(service.into_rpc())
        .with_shutdown(shutdown.clone())
        .with_tls(tls.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let ports = (
        http.local_addr().unwrap().port(),
        tcp.local_addr().unwrap().port(),
    );
    tokio::spawn(http.run());
    tokio::spawn(tcp.run());
    (ports.0, ports.1, shutdown)
}

fn https_client(port: u16, ca: &str) -> rpc::Client {
    rpc::Client::new(
        HttpClient::new(&format!("https://localhost:{port}/"))
            .unwrap()
            .with_root_certificates(ca.as_bytes())
            .unwrap(),
    )
}

async fn tls_client(port: u16, ca: &str) -> Result<rpc::Client, rpc::Error> {
    let connection = TlsClient::new(&format!("tls://localhost:{port}"))
        .with_root_certificates(ca.as_bytes())?
        .connect(rpc::MethodTable::new())
        .await?;
    Ok(rpc::Client::new(connection))
}

/// The certificate a new TLS connection to `port` is shown, trusting `ca`.
async fn presented(port: u16, ca: &str) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// Waits for the peer to close a plaintext connection: end of file or a
/// reset, within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A TLS alert: not an answer; keep reading to the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn https_wss_and_tls_over_tcp_with_a_private_authority() {
    let authority = Authority::new("clients");
    let (cert, key, _) = authority.issue();
    let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
    let (http_port, tcp_port, _shutdown) = servers(&tls).await;
    let ca = authority.ca_pem();

    assert_eq!(https_client(http_port, &ca).add(20, 22).await.unwrap(), 42);

    let (service, mut events) = peer();
    let ws = rpc::ws::WsClient::new(&format!("wss://localhost:{http_port}/"))
        .with_root_certificates(ca.as_bytes())
        .unwrap()
        .connect(service.into_rpc())
        .await
        .unwrap();
    let ws = rpc::Client::new(ws);
    assert_eq!(ws.notify_me(1).await.unwrap(), 1);
    assert_eq!(next_event(&mut events).await, "tick 0");

    let tcp = tls_client(tcp_port, &ca).await.unwrap();
    assert_eq!(tcp.add(1, 2).await.unwrap(), 3);
    // By address too: the certificate names 127.0.0.1.
    let by_ip = TlsClient::new(&format!("127.0.0.1:{tcp_port}"))
        .with_root_certificates(ca.as_bytes())
        .unwrap()
        .with_options(rpc::tcp::StreamOptions::default())
        .connect(rpc::MethodTable::new())
        .await
        .unwrap();
    assert_eq!(rpc::Client::new(by_ip).add(2, 2).await.unwrap(), 4);

    // Without the authority: refused, saying why.
    let untrusted =
        rpc::Client::new(HttpClient::new(&format!("https://localhost:{http_port}/")).unwrap());
    let error = untrusted.add(1, 1).await.unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
    let error = TlsClient::new(&format!("localhost:{tcp_port}"))
        .connect(rpc::MethodTable::new())
        .await
        .unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn curl_calls_over_https_with_cacert() {
    let authority = Authority::new("curl");
    let (cert, key, _) = authority.issue();
    let (http_port, _, _shutdown) = servers(&ServerTls::from_pem_files(&cert, &key).unwrap()).await;
    let ca = authority.ca_path();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args(["-H", "content-type: application/json", "--data-binary"])
            .arg(r#"{"jsonrpc":"2.0","method":"add","params":[40,2],"id":7}"#)
            .arg(format!("https://localhost:{http_port}/"))
            .output()
            .expect("curl is installed")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        r#"{"jsonrpc":"2.0","result":42,"id":7}"#
    );
}

#[tokio::test]
async fn python_ssl_calls_over_tls_over_tcp() {
    let authority = Authority::new("python");
    let (cert, key, _) = authority.issue();
    let (_, tcp_port, _shutdown) = servers(&ServerTls::from_pem_files(&cert, &key).unwrap()).await;
    let script = r#"
import socket, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b'{"jsonrpc":"2.0","method":"add","params":[5,6],"id":1}\n')
        line = tls.makefile("rb").readline()
        print(tls.version(), line.decode().strip())
"#;
    let ca = authority.ca_path();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&ca)
            .arg(tcp_port.to_string())
            .output()
            .expect("python3 is installed")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.starts_with("TLSv1."), "{printed}");
    assert!(
        printed.ends_with("{\"jsonrpc\":\"2.0\",\"result\":11,\"id\":1}\n"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_plaintext_client_on_a_tls_port_is_closed_and_the_server_goes_on() {
    let authority = Authority::new("plaintext");
    let (cert, key, _) = authority.issue();
    let (http_port, tcp_port, _shutdown) =
        servers(&ServerTls::from_pem_files(&cert, &key).unwrap()).await;
    let ca = authority.ca_pem();
    for _ in 0..2 {
        let mut http = TcpStream::connect(("127.0.0.1", http_port)).await.unwrap();
        http.write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await
        .unwrap();
        assert!(closed_within(&mut http, Duration::from_secs(5)).await);
        let mut tcp = TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
        tcp.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"add\",\"params\":[1,2],\"id\":1}\n")
            .await
            .unwrap();
        assert!(closed_within(&mut tcp, Duration::from_secs(5)).await);
        // The next TLS calls are served.
        assert_eq!(https_client(http_port, &ca).add(1, 1).await.unwrap(), 2);
        assert_eq!(
            tls_client(tcp_port, &ca)
                .await
                .unwrap()
                .add(1, 2)
                .await
                .unwrap(),
            3
        );
    }
}

#[tokio::test]
async fn a_silent_handshake_times_out_holding_its_place_under_the_cap_meanwhile() {
    let authority = Authority::new("silent");
    let (cert, key, _) = authority.issue();
    let tls = ServerTls::from_pem_files(&cert, &key)
        .unwrap()
        .with_handshake_timeout(Duration::from_millis(500));
    let ca = authority.ca_pem();
    // Room for one connection: a silent client holds it until its
    // handshake times out.
    let tcp = TcpServer::new(DemoService::default().into_rpc())
        .with_tls(tls.clone())
        .with_max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = tcp.local_addr().unwrap().port();
    tokio::spawn(tcp.run());
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let client = tls_client(port, &ca).await.unwrap();
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(closed_within(&mut silent, Duration::from_millis(100)).await);

    // A slow handshake does not hold up accepting others.
    let (http_port, _, _shutdown) = servers(&tls).await;
    // (The process's roots are read on the first client's first call.)
    assert_eq!(https_client(http_port, &ca).add(1, 1).await.unwrap(), 2);
    let _silent: Vec<TcpStream> = futures_util::future::join_all(
        (0..3).map(|_| TcpStream::connect(("127.0.0.1", http_port))),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let started = Instant::now();
    assert_eq!(https_client(http_port, &ca).add(2, 2).await.unwrap(), 4);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_reload_shows_new_connections_the_new_certificate_and_keeps_old_ones() {
    let authority = Authority::new("reload");
    let (cert, key, first) = authority.issue();
    let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
    let (http_port, tcp_port, _shutdown) = servers(&tls).await;
    let ca = authority.ca_pem();
    assert_eq!(presented(http_port, &ca).await, first);
    assert_eq!(presented(tcp_port, &ca).await, first);

    // Connections opened before the reload.
    let (service, mut events) = peer();
    let ws = rpc::Client::new(
        rpc::ws::WsClient::new(&format!("wss://localhost:{http_port}/"))
            .with_root_certificates(ca.as_bytes())
            .unwrap()
            .connect(service.into_rpc())
            .await
            .unwrap(),
    );
    let tcp = tls_client(tcp_port, &ca).await.unwrap();
    assert_eq!(tcp.add(1, 1).await.unwrap(), 2);

    let (_, _, second) = authority.issue();
    assert_ne!(first, second);
    // Nothing changes until the reload.
    assert_eq!(presented(http_port, &ca).await, first);
    tls.reload().unwrap();
    assert_eq!(presented(http_port, &ca).await, second);
    assert_eq!(presented(tcp_port, &ca).await, second);

    // The old connections go on.
    assert_eq!(ws.notify_me(2).await.unwrap(), 2);
    assert_eq!(next_event(&mut events).await, "tick 0");
    assert_eq!(next_event(&mut events).await, "tick 1");
    assert_eq!(tcp.add(2, 3).await.unwrap(), 5);
    // And new ones are served.
    assert_eq!(https_client(http_port, &ca).add(3, 3).await.unwrap(), 6);

    // A broken file is refused, and the certificate in use stays.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let error = tls.reload().unwrap_err();
    assert!(error.to_string().contains("key.pem"), "{error}");
    assert_eq!(presented(tcp_port, &ca).await, second);
    assert_eq!(tcp.add(4, 4).await.unwrap(), 8);
}

#[test]
fn bad_certificate_files_are_configuration_errors() {
    let authority = Authority::new("bad-files");
    let (cert, key, _) = authority.issue();
    let other = Authority::new("other");
    let (_, other_key, _) = other.issue();
    let mismatch = ServerTls::from_pem_files(&cert, &other_key).unwrap_err();
    assert!(
        matches!(mismatch, rpc::ConfigError::Setting { .. }),
        "{mismatch}"
    );
    let missing = ServerTls::from_pem_files(authority.dir.join("missing.pem"), &key).unwrap_err();
    assert!(missing.to_string().contains("missing.pem"), "{missing}");
    // A key where the certificate should be.
    let swapped = ServerTls::from_pem_files(&key, &key).unwrap_err();
    assert!(swapped.to_string().contains("no certificate"), "{swapped}");
}

/// `calculator serve --tls-cert --tls-key` on port 0: the process and its
/// `https://` and `tls://` addresses.
struct Calculator {
    child: std::process::Child,
    https: String,
    tls: String,
}

impl Calculator {
    fn start(cert: &Path, key: &Path) -> Calculator {
        let mut child = Command::new(common::calculator::binary())
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--tcp",
                "127.0.0.1:0",
                "--tls-cert",
            ])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the calculator");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let https = lines.next().unwrap().unwrap();
        let tls = lines.next().unwrap().unwrap();
        assert!(
            https.starts_with("https://127.0.0.1:") && https.ends_with('/'),
            "{https}"
        );
        assert!(tls.starts_with("tls://127.0.0.1:"), "{tls}");
        Calculator { child, https, tls }
    }

    /// The same address by name (`localhost`), as the certificate says.
    fn by_name(url: &str) -> String {
        url.replacen("127.0.0.1", "localhost", 1)
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Calculator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `calculator call URL add 2 3 --ca-cert CA`: (exit code, stdout, stderr).
fn calculator_call(url: &str, ca: &Path) -> (Option<i32>, String, String) {
    let output = Command::new(common::calculator::binary())
        .args(["call", url, "add", "2", "3", "--ca-cert"])
        .arg(ca)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_calculator_serves_https_wss_and_tls_and_reloads_on_sighup() {
    let authority = Authority::new("calculator");
    let (cert, key, _) = authority.issue();
    let mut calculator = Calculator::start(&cert, &key);
    let ca = authority.ca_path();
    let urls = [
        calculator.https.clone(),
        Calculator::by_name(&calculator.https),
        Calculator::by_name(&calculator.https).replacen("https://", "wss://", 1),
        calculator.tls.clone(),
        Calculator::by_name(&calculator.tls),
    ];
    for url in &urls {
        let (code, stdout, stderr) = calculator_call(url, &ca);
        assert_eq!((code, stdout.as_str()), (Some(0), "5"), "{url}: {stderr}");
    }
    // Plain http:// on the HTTPS port: the connection is closed (exit 2).
    let plain = calculator.https.replacen("https://", "http://", 1);
    let (code, _, _) = calculator_call(&plain, &ca);
    assert_eq!(code, Some(2));

    // A certificate from another authority, read on SIGHUP.
    let other = Authority::new("calculator-next");
    let (next_cert, next_key, _) = other.issue();
    std::fs::copy(&next_cert, &cert).unwrap();
    std::fs::copy(&next_key, &key).unwrap();
    calculator.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, stdout, stderr) = calculator_call(&calculator.tls, &other.ca_path());
        if code == Some(0) {
            assert_eq!(stdout, "5");
            break;
        }
        assert!(Instant::now() < deadline, "not reloaded: {stderr}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, stdout, stderr) = calculator_call(&calculator.https, &other.ca_path());
    assert_eq!((code, stdout.as_str()), (Some(0), "5"), "{stderr}");
    // The old authority is no longer enough.
    let (code, _, _) = calculator_call(&calculator.https, &ca);
    assert_eq!(code, Some(2));

    calculator.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = calculator.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_calculator_refuses_unreadable_certificate_files() {
    let authority = Authority::new("calculator-bad");
    let (cert, _, _) = authority.issue();
    let output = Command::new(common::calculator::binary())
        .args(["serve", "--http", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(authority.dir.join("missing-key.pem"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing-key.pem"), "{stderr}");
    // One without the other is a usage error.
    let output = Command::new(common::calculator::binary())
        .args(["serve", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
