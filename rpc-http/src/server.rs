//! The HTTP server: JSON-RPC over POST, the API description over GET, and
//! WebSocket upgrades on the same route.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use rpc_core::duplex::{Connections, DuplexConfig};
use rpc_core::{code, Context, Dispatcher, ErrorObject, Limits, MethodTable};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::sync::CancellationToken;

use crate::listener::LimitedListener;
use crate::ws;

/// Configures and builds an HTTP (and WebSocket) JSON-RPC server.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use std::time::Duration;
/// let server = rpc_http::Server::new(methods)
///     .max_body_bytes(1 << 20)
///     .request_timeout(Duration::from_secs(10))
///     .bind("127.0.0.1:3000")
///     .await?;
/// println!("listening on {}", server.local_addr()?);
/// server.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    methods: MethodTable,
    limits: Limits,
    max_body_bytes: usize,
    max_connections: usize,
    connections: Connections,
    duplex: DuplexConfig,
    shutdown: CancellationToken,
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) dispatcher: Dispatcher,
    pub(crate) max_body_bytes: usize,
    pub(crate) connections: Connections,
    pub(crate) duplex: DuplexConfig,
    pub(crate) shutdown: CancellationToken,
}

impl Server {
    /// A server for `methods` with safe defaults: 5 MiB bodies, 1000-member
    /// batches, 60 s per request, 10 000 connections.
    pub fn new(methods: MethodTable) -> Self {
        Server {
            methods,
            limits: Limits {
                request_timeout: Some(Duration::from_secs(60)),
                ..Limits::default()
            },
            max_body_bytes: 5 * 1024 * 1024,
            max_connections: 10_000,
            connections: Connections::new(),
            duplex: DuplexConfig::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Largest request body (and WebSocket message) accepted; larger ones get
    /// 413 with a JSON-RPC error.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Most members in one batch.
    pub fn max_batch_len(mut self, len: usize) -> Self {
        self.limits.max_batch_len = len;
        self
    }

    /// Longest a single call may run before it is answered with a timeout error.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = Some(timeout);
        self
    }

    /// Most connections open at once (applies to [`bind`](Self::bind)).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Replaces all dispatcher limits at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Shares a registry of duplex connections (e.g. with a TCP server) so a
    /// broadcast reaches both.
    pub fn connections(mut self, connections: Connections) -> Self {
        self.connections = connections;
        self
    }

    /// Settings of WebSocket connections (keep-alive interval, in-flight limit).
    pub fn duplex(mut self, config: DuplexConfig) -> Self {
        self.duplex = config;
        self
    }

    /// The registry of open WebSocket connections.
    pub fn connection_registry(&self) -> &Connections {
        &self.connections
    }

    /// The token that shuts the server down gracefully when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    fn shared(self) -> Arc<Shared> {
        Arc::new(Shared {
            dispatcher: Dispatcher::new(self.methods).with_limits(self.limits),
            max_body_bytes: self.max_body_bytes,
            connections: self.connections,
            duplex: self.duplex,
            shutdown: self.shutdown,
        })
    }

    /// An axum router serving JSON-RPC at `/`: mount it into an existing app
    /// with `Router::nest` or `Router::merge`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(on_get).post(on_post))
            .with_state(self.shared())
    }

    /// Binds `addr`; call [`Listening::run`] to serve.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let max_connections = self.max_connections;
        let shutdown = self.shutdown.clone();
        Ok(Listening {
            listener: LimitedListener::new(listener, max_connections),
            local_addr,
            router: self.router(),
            shutdown,
        })
    }
}

/// A bound server, ready to run.
pub struct Listening {
    listener: LimitedListener,
    local_addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
}

impl Listening {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// The token that shuts the server down gracefully when cancelled:
    /// new connections are refused, in-flight requests finish, WebSocket
    /// connections are closed.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled.
    pub async fn run(self) -> io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let listener = self.listener.tap_io(|_| {});
        axum::serve(listener, service)
            .with_graceful_shutdown(self.shutdown.cancelled_owned())
            .await
    }
}

/// Serves `methods` over HTTP and WebSocket at `addr` with default limits,
/// until Ctrl-C.
pub async fn serve(addr: impl ToSocketAddrs, methods: MethodTable) -> io::Result<()> {
    let listening = Server::new(methods).bind(addr).await?;
    let shutdown = listening.shutdown_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            shutdown.cancel();
        }
    });
    listening.run().await
}

/// An axum router serving `methods` at `/` with default limits.
///
/// ```
/// # fn demo(methods: rpc_core::MethodTable) {
/// let app = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .nest("/rpc", rpc_http::router(methods));
/// # }
/// ```
pub fn router(methods: MethodTable) -> Router {
    Server::new(methods).router()
}

fn request_context(parts: axum::http::request::Parts) -> Context {
    let mut ctx = Context::new();
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        ctx.insert(*addr);
    }
    ctx.insert(parts.headers);
    ctx
}

async fn on_post(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, shared.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let ctx = request_context(parts);
    match shared.dispatcher.handle(&bytes, &ctx).await {
        Some(answer) => json_response(StatusCode::OK, answer),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let too_large =
                std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                    .any(|e| e.is::<http_body_util::LengthLimitError>());
            let (status, error) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorObject::new(
                        code::REQUEST_TOO_LARGE,
                        format!("Request body larger than {limit} bytes"),
                    ),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    ErrorObject::parse_error(format_args!("cannot read the body: {e}")),
                )
            };
            Err(json_response(
                status,
                rpc_core::response::error_response(&error),
            ))
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn on_get(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let wants_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_upgrade {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => ws::accept(upgrade, shared, request_context(parts)),
            Err(rejection) => rejection.into_response(),
        };
    }
    let document = shared
        .dispatcher
        .discovery_document()
        .get()
        .as_bytes()
        .to_vec();
    json_response(StatusCode::OK, document)
}
