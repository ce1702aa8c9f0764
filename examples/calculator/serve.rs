//! `calculator serve`: the services over HTTP (POST, WebSocket, `GET
//! /metrics`, or that on its own `--metrics` listener) and TCP, over TLS
//! with `--tls-cert` (reloaded on SIGHUP), with a graceful drain on SIGTERM
//! and SIGINT.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rpc::auth::{Credentials, Roles};
use rpc::duplex::Connections;
use rpc::middleware::{from_fn, Call, CallLayer, Next};
use rpc::subscription::Topics;

use crate::cli::ServeArgs;
use crate::services::{Admin, Administration, Calc, Calculator, Math, Multiplier};

/// Serves until SIGTERM or SIGINT has drained every server: exit 0, or 1
/// if a server failed, 2 if a listener or the backplane could not be set up.
pub(crate) async fn serve(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let ServeArgs {
        mut http,
        tcp,
        unix,
        stdio,
        framing,
        auth_token,
        backplane: backplane_url,
        allowed_origins,
        metrics: metrics_addr,
        tls_cert,
        tls_key,
    } = args;
    if http.is_none() && tcp.is_none() && unix.is_none() && !stdio {
        http = Some("127.0.0.1:3000".to_owned());
    }
    // `--tls-cert`, `--tls-key`: HTTPS, WSS and TLS over TCP; SIGHUP reads
    // the files again.
    let tls = match (&tls_cert, &tls_key) {
        (Some(cert), Some(key)) => match rpc::tls::ServerTls::from_pem_files(cert, key) {
            Ok(tls) => Some(reload_on_hangup(tls)),
            Err(e) => {
                eprintln!("--tls-cert/--tls-key: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let (mut connections, mut topics) = (Connections::new(), Topics::new());
    if let Some(url) = &backplane_url {
        // Reached in the background: a broker that is down is retried
        // while this instance serves its own clients.
        match rpc_backplane::connect(url).await {
            Ok(backplane) => {
                connections = connections.with_backplane(backplane.clone());
                topics = topics.with_backplane(backplane);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let active = Arc::new(AtomicU64::new(0));
    let admin = Administration {
        connections: connections.clone(),
        active: active.clone(),
    };
    let methods = match (Calc {
        connections: connections.clone(),
        topics,
    })
    .into_rpc()
    .with_info(rpc::server::ServiceInfo {
        title: "calculator".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: Some(
            "The JSON-RPC 2.0 specification's example methods, structured types, subscriptions and an admin namespace.".into(),
        ),
    })
    .merge(Multiplier.into_rpc())
    .and_then(|m| m.merge(admin.into_rpc()))
    {
        Ok(methods) => methods,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // SIGTERM and Ctrl-C drain every server: new connections are refused,
    // calls in flight are answered, WebSockets close with 1001.
    let shutdown = rpc::Shutdown::new().on_signals();
    // Metrics of every call, served as Prometheus text at GET /metrics.
    let prometheus = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
    {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot install the metrics recorder: {e}");
            return ExitCode::from(2);
        }
    };
    let metrics_route = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(prometheus.render())),
    );
    // `--metrics ADDR`: on a listener of its own, and then not on `--http`.
    let (metrics_route, metrics) = match metrics_addr {
        Some(addr) => {
            let bind = rpc::http::Listening::bind_routes(&addr, metrics_route, shutdown.clone());
            match bound(&addr, bind.await) {
                Ok(listening) => (None, Some(listening)),
                Err(code) => return code,
            }
        }
        None => (Some(metrics_route), None),
    };
    let http = match http {
        Some(addr) => {
            // `--auth-token T`: `Authorization: Bearer T` (on a POST or the
            // WebSocket upgrade) grants the `admin` role; the token is
            // compared in constant time.
            let token = auth_token.clone();
            let mut server = rpc::http::Server::new(methods.clone())
                .with_connections(connections.clone())
                .with_shutdown(shutdown.clone())
                .with_layer(count_active(active.clone()))
                .with_metrics()
                .with_authentication(move |credentials: &Credentials| {
                    let token = token.as_deref()?;
                    credentials.is_bearer(token).then(|| Roles::new(["admin"]))
                });
            if let Some(route) = metrics_route {
                server = server.with_routes(route);
            }
            if let Some(tls) = &tls {
                server = server.with_tls(tls.clone());
            }
            // `--allowed-origin ORIGIN`...: browsers on other sites are refused.
            if !allowed_origins.is_empty() {
                server = match server.with_allowed_origins(&allowed_origins) {
                    Ok(server) => server,
                    Err(e) => {
                        eprintln!("--allowed-origin: {e}");
                        return ExitCode::from(2);
                    }
                };
            }
            match bound(&addr, server.bind(&addr).await) {
                Ok(listening) => Some(listening),
                Err(code) => return code,
            }
        }
        None => None,
    };
    if stdio {
        // stdout carries frames only: nothing is printed, logs go to stderr.
        let dispatcher = rpc::server::Dispatcher::new(methods)
            .with_layer(count_active(active))
            .with_metrics();
        let server = rpc::stdio::StdioServer::from_dispatcher(dispatcher)
            .with_framing(framing)
            .with_shutdown(shutdown);
        return match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cannot serve on stdio: {e}");
                ExitCode::from(2)
            }
        };
    }
    let unix = match unix {
        Some(path) => {
            // A Unix socket carries no credentials either, but the kernel's
            // (`ctx.peer_credentials()`); admin calls get -32001.
            let server = rpc::unix::UnixServer::new(methods.clone())
                .with_framing(framing)
                .with_connections(connections.clone())
                .with_shutdown(shutdown.clone())
                .with_layer(count_active(active.clone()))
                .with_metrics();
            match bound(&path.display().to_string(), server.bind(&path).await) {
                Ok(listening) => Some(listening),
                Err(code) => return code,
            }
        }
        None => None,
    };
    let tcp = match tcp {
        Some(addr) => {
            // TCP carries no credentials: admin calls get -32001.
            let mut server = rpc::tcp::TcpServer::new(methods)
                .with_framing(framing)
                .with_connections(connections)
                .with_shutdown(shutdown.clone())
                .with_layer(count_active(active))
                .with_metrics();
            if let Some(tls) = &tls {
                server = server.with_tls(tls.clone());
            }
            match bound(&addr, server.bind(&addr).await) {
                Ok(listening) => Some(listening),
                Err(code) => return code,
            }
        }
        None => None,
    };
    // One line per listener on stdout, so that port 0 works.
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listening) = http {
        if let Ok(addr) = listening.local_addr() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            println!("{scheme}://{addr}/");
        }
        tasks.spawn(listening.run());
    }
    if let Some(listening) = tcp {
        if let Ok(addr) = listening.local_addr() {
            let scheme = if tls.is_some() { "tls" } else { "tcp" };
            println!("{scheme}://{addr}");
        }
        tracing::info!("TCP framing: {framing}");
        tasks.spawn(listening.run());
    }
    if let Some(listening) = unix {
        println!("unix://{}", listening.path().display());
        tasks.spawn(listening.run());
    }
    if let Some(listening) = metrics {
        // On stderr: stdout lists the JSON-RPC listeners only.
        if let Ok(addr) = listening.local_addr() {
            tracing::info!("metrics: GET http://{addr}/metrics");
        }
        tasks.spawn(listening.run());
    }
    let mut code = ExitCode::SUCCESS;
    while let Some(finished) = tasks.join_next().await {
        if let Ok(Err(e)) = finished {
            tracing::error!("server failed: {e}");
            code = ExitCode::from(1);
            shutdown.trigger();
        }
    }
    tracing::info!("drained; exiting");
    code
}

/// Reads the certificate and key files again on each SIGHUP: new
/// connections get them, open ones keep theirs, and a failed read keeps the
/// old ones (saying why on stderr). The handler is in place on return.
fn reload_on_hangup(tls: rpc::tls::ServerTls) -> rpc::tls::ServerTls {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP, the certificate will not be reloaded: {e}");
            return tls;
        }
    };
    let reloading = tls.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match reloading.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => tracing::error!(
                    "SIGHUP: TLS certificate not reloaded, keeping the old one: {e}"
                ),
            }
        }
    });
    tls
}

/// A bound listener, or exit code 2 after saying why not.
fn bound<T>(addr: &str, bind: std::io::Result<T>) -> Result<T, ExitCode> {
    bind.map_err(|error| {
        eprintln!("cannot listen on {addr}: {error}");
        ExitCode::from(2)
    })
}

/// A middleware counting the handler futures alive: one more when a call
/// starts, one less when its future ends or is dropped (a closed connection).
fn count_active(active: Arc<AtomicU64>) -> impl CallLayer + Clone {
    from_fn(move |call: Call, next: Next| {
        let alive = Alive::new(&active);
        async move {
            let _alive = alive;
            next.run(call).await
        }
    })
}

/// Counts one live call until dropped.
struct Alive(Arc<AtomicU64>);

impl Alive {
    fn new(active: &Arc<AtomicU64>) -> Alive {
        active.fetch_add(1, Ordering::Relaxed);
        Alive(active.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
