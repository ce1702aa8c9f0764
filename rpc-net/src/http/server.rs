//! The HTTP server: JSON-RPC over POST, the API description over GET, a
//! readiness probe, and WebSocket upgrades on the same route.

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
use axum::Router;
use rpc_core::duplex::{Connections, DuplexConfig};
use rpc_core::{code, Context, Dispatcher, ErrorObject, Limits, MethodTable};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::task::TaskTracker;

use crate::listener::{Listener, DEFAULT_MAX_CONNECTIONS};
use crate::{ws, Shutdown};

/// How long a client may take to send a request's complete header, counted
/// from connecting or from the previous response; also how long an idle
/// keep-alive connection stays open. Default 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of the readiness probe: 200 `ready`, or 503 `draining` once the
/// shutdown has been triggered.
pub const READY_PATH: &str = "/ready";

/// Configures and builds an HTTP (and WebSocket) JSON-RPC server.
///
/// Defaults (the crate documentation lists them all): the [`Limits`]
/// defaults (5 MiB messages, 1000-member batches, 60 s per message),
/// 10 000 connections, a 10 s header read timeout.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use std::time::Duration;
/// let server = rpc_net::http::Server::new(methods)
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
    max_connections: usize,
    header_read_timeout: Duration,
    connections: Connections,
    duplex: DuplexConfig,
    shutdown: Shutdown,
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) dispatcher: Dispatcher,
    pub(crate) connections: Connections,
    pub(crate) duplex: DuplexConfig,
    pub(crate) shutdown: Shutdown,
    /// Upgraded WebSocket connections, so that shutdown waits for them.
    pub(crate) tracker: TaskTracker,
}

impl Server {
    /// A server for `methods` with safe defaults.
    pub fn new(methods: MethodTable) -> Self {
        Server {
            methods,
            limits: Limits::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            connections: Connections::new(),
            duplex: DuplexConfig::default(),
            shutdown: Shutdown::new(),
        }
    }

    /// Largest request body (and WebSocket message) accepted; a larger one
    /// gets 413 with a JSON-RPC error, before its body is read when its
    /// `Content-Length` announces it.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_message_bytes = bytes;
        self
    }

    /// Most members in one batch.
    pub fn max_batch_len(mut self, len: usize) -> Self {
        self.limits.max_batch_len = len;
        self
    }

    /// Longest a message's calls may run before each is answered with a
    /// timeout error; also bounds reading a request body.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = Some(timeout);
        self
    }

    /// Replaces all message limits at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Most connections open at once, WebSockets included (applies to
    /// [`bind`](Self::bind)); more clients wait in the kernel's backlog.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long a client may take to send a complete request header
    /// (counted from connecting, or from the previous response on a
    /// keep-alive connection, so idle connections close after it too).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
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

    /// Drains on this shutdown (share one between the servers of a process).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The registry of open WebSocket connections.
    pub fn connection_registry(&self) -> &Connections {
        &self.connections
    }

    /// The shutdown this server drains on.
    pub fn shutdown_handle(&self) -> &Shutdown {
        &self.shutdown
    }

    fn shared(self, tracker: TaskTracker) -> Arc<Shared> {
        Arc::new(Shared {
            dispatcher: Dispatcher::new(self.methods).with_limits(self.limits),
            connections: self.connections,
            duplex: self.duplex,
            shutdown: self.shutdown,
            tracker,
        })
    }

    /// An axum router serving JSON-RPC at `/` and the readiness probe at
    /// [`READY_PATH`]: mount it into an existing app with `Router::nest` or
    /// `Router::merge`.
    pub fn router(self) -> Router {
        self.router_with(TaskTracker::new())
    }

    fn router_with(self, tracker: TaskTracker) -> Router {
        Router::new()
            .route("/", get(on_get).post(on_post))
            .route(READY_PATH, get(on_ready))
            .with_state(self.shared(tracker))
    }

    /// Binds `addr`; call [`Listening::run`] to serve.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        let listener = Listener::new(TcpListener::bind(addr).await?, self.max_connections);
        let tracker = TaskTracker::new();
        Ok(Listening {
            local_addr: listener.local_addr()?,
            listener,
            header_read_timeout: self.header_read_timeout,
            shutdown: self.shutdown.clone(),
            router: self.router_with(tracker.clone()),
            tracker,
        })
    }
}

/// A bound server, ready to run.
pub struct Listening {
    listener: Listener,
    local_addr: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    shutdown: Shutdown,
    tracker: TaskTracker,
}

impl Listening {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// The shutdown this server drains on; [`Shutdown::trigger`] stops it.
    pub fn shutdown_handle(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Serves until the shutdown has drained every connection (or its
    /// grace period is over).
    pub async fn run(self) -> io::Result<()> {
        crate::http::serve::serve(
            self.listener,
            self.router,
            self.shutdown,
            self.header_read_timeout,
            self.tracker,
        )
        .await
    }
}

/// Serves `methods` over HTTP and WebSocket at `addr` with default limits,
/// until SIGTERM or Ctrl-C has drained it.
pub async fn serve(addr: impl ToSocketAddrs, methods: MethodTable) -> io::Result<()> {
    Server::new(methods)
        .shutdown(Shutdown::new().on_signals())
        .bind(addr)
        .await?
        .run()
        .await
}

/// An axum router serving `methods` at `/` with default limits.
///
/// ```
/// # fn demo(methods: rpc_core::MethodTable) {
/// let app = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .nest("/rpc", rpc_net::http::router(methods));
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
    let limits = shared.dispatcher.limits();
    let bytes = match read_body(&parts, body, limits).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let ctx = request_context(parts);
    match shared.dispatcher.handle(&bytes, &ctx).await {
        Some(answer) => json_response(StatusCode::OK, answer),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Reads the body within the size limit (refusing at once one whose
/// `Content-Length` is over it) and the request timeout.
async fn read_body(
    parts: &axum::http::request::Parts,
    body: Body,
    limits: &Limits,
) -> Result<Bytes, Response> {
    let limit = limits.max_message_bytes;
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    let read = axum::body::to_bytes(body, limit);
    let outcome = match limits.request_timeout {
        Some(timeout) => tokio::time::timeout(timeout, read).await.map_err(|_| {
            error_reply(
                StatusCode::REQUEST_TIMEOUT,
                ErrorObject::new(
                    code::REQUEST_TIMEOUT,
                    format!(
                        "Request body not received within {} ms",
                        timeout.as_millis()
                    ),
                ),
            )
        })?,
        None => read.await,
    };
    outcome.map_err(|e| {
        let over = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if over {
            too_large(limit)
        } else {
            error_reply(
                StatusCode::BAD_REQUEST,
                ErrorObject::parse_error(format_args!("cannot read the body: {e}")),
            )
        }
    })
}

fn too_large(limit: usize) -> Response {
    error_reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorObject::new(
            code::REQUEST_TOO_LARGE,
            format!("Request body larger than {limit} bytes"),
        ),
    )
}

fn error_reply(status: StatusCode, error: ErrorObject) -> Response {
    json_response(status, rpc_core::response::error_response(&error))
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

async fn on_ready(State(shared): State<Arc<Shared>>) -> Response {
    if shared.shutdown.is_triggered() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
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
