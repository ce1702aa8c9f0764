//! The HTTP server: JSON-RPC over POST, the API description over GET, a
//! readiness probe, and WebSocket upgrades on the same route.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
#[cfg(feature = "ws")]
use axum::extract::ws::WebSocketUpgrade;
#[cfg(feature = "ws")]
use axum::extract::FromRequestParts;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::FutureExt;
use rpc_core::duplex::{Connections, DuplexConfig};
use rpc_core::{code, Context, Dispatcher, ErrorObject, Limits, MethodTable};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::task::TaskTracker;

use crate::listener::Listener;
use crate::settings::{settings_methods, Settings};
use crate::Shutdown;

/// How long an HTTP connection may go without a request in progress
/// (from connecting, or from the previous answer) before it is closed: a
/// client that sends nothing, sends its header a byte at a time, or keeps an
/// idle keep-alive connection. Default 10 s; a connection is closed after
/// between three quarters of it and all of it.
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
///     .with_max_body_bytes(1 << 20)
///     .with_request_timeout(Duration::from_secs(10))
///     .bind("127.0.0.1:3000")
///     .await?;
/// println!("listening on {}", server.local_addr()?);
/// server.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    settings: Settings,
    header_read_timeout: Duration,
    duplex: DuplexConfig,
}

/// What every request handler shares.
// Without WebSocket, only the dispatcher is read (the rest serves upgrades).
#[cfg_attr(not(feature = "ws"), allow(dead_code))]
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
            settings: Settings::new(methods),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            duplex: DuplexConfig::default(),
        }
    }

    settings_methods!();

    /// The same as [`max_message_bytes`](Self::max_message_bytes): the
    /// largest request body and WebSocket message.
    pub fn with_max_body_bytes(self, bytes: usize) -> Self {
        self.with_max_message_bytes(bytes)
    }

    /// How long a connection may go without a request in progress before
    /// it is closed (see [`DEFAULT_HEADER_READ_TIMEOUT`]); a request's
    /// header must arrive within it, and idle keep-alive connections close
    /// after it.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Settings of WebSocket connections (keep-alive interval, in-flight limit).
    pub fn with_duplex(mut self, config: DuplexConfig) -> Self {
        self.duplex = config;
        self
    }

    fn shared(self, tracker: TaskTracker) -> Arc<Shared> {
        let Settings {
            methods,
            limits,
            connections,
            shutdown,
            ..
        } = self.settings;
        Arc::new(Shared {
            dispatcher: Dispatcher::new(methods).with_limits(limits),
            connections,
            duplex: self.duplex,
            shutdown,
            tracker,
        })
    }

    /// An axum router serving JSON-RPC at `/`: mount it into an existing app
    /// with `Router::nest` or `Router::merge`. (A server started with
    /// [`bind`](Self::bind) also answers the readiness probe at [`READY_PATH`].)
    pub fn router(self) -> Router {
        self.router_with(TaskTracker::new())
    }

    fn router_with(self, tracker: TaskTracker) -> Router {
        Router::new()
            .route("/", get(on_get).post(on_post))
            .with_state(self.shared(tracker))
    }

    /// Binds `addr`; call [`Listening::run`] to serve.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        let max_connections = self.settings.max_connections;
        let listener = Listener::new(TcpListener::bind(addr).await?, max_connections);
        let tracker = TaskTracker::new();
        Ok(Listening {
            local_addr: listener.local_addr()?,
            listener,
            header_read_timeout: self.header_read_timeout,
            shutdown: self.settings.shutdown.clone(),
            router: Router::new()
                .route(
                    READY_PATH,
                    get(on_ready).with_state(self.settings.shutdown.clone()),
                )
                .merge(self.router_with(tracker.clone())),
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
    pub fn shutdown(&self) -> &Shutdown {
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
        .with_shutdown(Shutdown::new().on_signals())
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
    let mut read = std::pin::pin!(axum::body::to_bytes(body, limit));
    // A small body is usually here already: no timer for it.
    let outcome = match (read.as_mut().now_or_never(), limits.request_timeout) {
        (Some(outcome), _) => outcome,
        (None, None) => read.await,
        (None, Some(timeout)) => tokio::time::timeout(timeout, read).await.map_err(|_| {
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

async fn on_ready(State(shutdown): State<Shutdown>) -> Response {
    if shutdown.is_triggered() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn on_get(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    #[cfg_attr(not(feature = "ws"), allow(unused_mut))]
    let (mut parts, _body) = request.into_parts();
    let wants_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_upgrade {
        #[cfg(feature = "ws")]
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => crate::ws::accept(upgrade, shared, request_context(parts)),
            Err(rejection) => rejection.into_response(),
        };
        #[cfg(not(feature = "ws"))]
        return (
            StatusCode::BAD_REQUEST,
            "this server was built without WebSocket support\n",
        )
            .into_response();
    }
    let document = shared
        .dispatcher
        .discovery_document()
        .get()
        .as_bytes()
        .to_vec();
    json_response(StatusCode::OK, document)
}
