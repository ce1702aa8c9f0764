//! The HTTP server: JSON-RPC over POST, the API description over GET, a
//! readiness probe, and WebSocket upgrades on the same route.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use rpc_core::auth::Roles;
use rpc_core::duplex::{Connections, DuplexConfig};
use rpc_core::trace::TraceParent;
use rpc_core::{code, Context, Dispatcher, ErrorObject, Limits, MethodTable, TransportKind};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::task::TaskTracker;

use crate::auth::{Authenticate, Credentials};
use crate::http::Extensions;
use crate::listener::Listener;
use crate::settings::{settings_methods, Settings};
use crate::tls::ServerTls;
use crate::Shutdown;

/// How long an HTTP connection may go without a request in progress
/// (from connecting, or from the previous answer) before it is closed: a
/// client that sends nothing, sends its header a byte at a time, or keeps an
/// idle keep-alive connection. Default 10 s; a connection is closed after
/// between three quarters of it and all of it.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The smallest answer the HTTP server compresses: 1 KiB (smaller ones gain
/// little and cost a compressor's setup).
pub const COMPRESS_ABOVE: u16 = 1024;

/// The path of the readiness probe: 200 `ready`; 503 `draining` once the
/// shutdown has been triggered, or `backplane: REASON` while the server's
/// backplane ([`with_connections`](Server::with_connections)) cannot reach
/// its broker.
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
/// let server = rpc_http::http::Server::new(methods)
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
    authenticate: Option<Authenticate>,
    origins: Option<Arc<[HeaderValue]>>,
    routes: Option<Router>,
    compression: bool,
    tls: Option<ServerTls>,
    sse_keep_alive: Option<Duration>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) dispatcher: Dispatcher,
    authenticate: Option<Authenticate>,
    /// Browser origins allowed to call (POST, WebSocket upgrade); `None`: any.
    origins: Option<Arc<[HeaderValue]>>,
    pub(crate) connections: Connections,
    pub(crate) duplex: DuplexConfig,
    pub(crate) shutdown: Shutdown,
    /// Long-lived connections (WebSocket, event streams), so that
    /// shutdown waits for them.
    pub(crate) tracker: TaskTracker,
    /// The explorer page, built on first request.
    explorer: std::sync::OnceLock<bytes::Bytes>,
    /// How often an idle event stream gets a comment.
    pub(crate) sse_keep_alive: Option<Duration>,
}

impl Server {
    /// A server for `methods` with safe defaults.
    pub fn new(methods: MethodTable) -> Self {
        Server {
            settings: Settings::new(methods),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            duplex: DuplexConfig::default(),
            authenticate: None,
            origins: None,
            routes: None,
            compression: true,
            tls: None,
            sse_keep_alive: Some(super::sse::DEFAULT_SSE_KEEP_ALIVE),
        }
    }

    /// Authenticates callers: `authenticate` gets the [`Credentials`] of
    /// each POST and WebSocket upgrade that presents some (`Authorization:
    /// Bearer`/`Basic`, or the WebSocket subprotocol `bearer.TOKEN`), and
    /// the roles it returns go into the request context, where the methods'
    /// declared requirements (`#[rpc(requires = "admin")]`) are checked.
    /// (An axum/tower layer that puts [`Roles`](rpc_core::auth::Roles) into
    /// the request's extensions works as well.) Test secrets with
    /// [`Credentials::is_bearer`] and [`Credentials::is_basic`], which take
    /// constant time, not with `==`, whose time tells how much of a guess
    /// was right.
    ///
    /// ```no_run
    /// # fn demo(methods: rpc_core::MethodTable) {
    /// use rpc_core::auth::Roles;
    /// use rpc_http::http::Server;
    /// let server = Server::new(methods).with_authentication(|credentials| {
    ///     credentials.is_bearer("s3cret").then(|| Roles::new(["admin"]))
    /// });
    /// # }
    /// ```
    pub fn with_authentication<F>(mut self, authenticate: F) -> Self
    where
        F: Fn(&Credentials) -> Option<Roles> + Send + Sync + 'static,
    {
        self.authenticate = Some(Arc::new(authenticate));
        self
    }

    /// Lets browsers on these origins (`https://app.example.com`) call the
    /// server, and no others: CORS answers for them (preflight included),
    /// and a POST or WebSocket upgrade carrying any other `Origin` is
    /// refused with 403. Requests without `Origin` (programs, curl) are not
    /// affected. Without it, no CORS headers are sent (browsers then block
    /// reading answers from other origins) but requests are not refused:
    /// see the guide, docs/guide/middleware.md, on cross-site requests.
    pub fn with_allowed_origins<I, S>(mut self, origins: I) -> Result<Self, rpc_core::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .map(|o| {
                // As browsers send it: lowercase, no trailing slash.
                let origin = o.as_ref().trim().trim_end_matches('/').to_ascii_lowercase();
                if origin == "*" || origin == "null" || origin.is_empty() {
                    return Err(rpc_core::ConfigError::Setting {
                        setting: "allowed origins",
                        source: format!("`{origin}` is not an origin: list each site, as `https://app.example.com`").into(),
                    });
                }
                HeaderValue::from_str(&origin).map_err(|e| rpc_core::ConfigError::InvalidHeader {
                    name: "origin".into(),
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.origins = Some(origins.into());
        Ok(self)
    }

    /// More routes served beside JSON-RPC (a `/metrics` endpoint, say).
    /// They must not define `/` or [`READY_PATH`]: axum panics on
    /// overlapping routes when the server is built.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.routes = Some(match self.routes.take() {
            Some(existing) => existing.merge(routes),
            None => routes,
        });
        self
    }

    settings_methods!();

    /// The same as [`with_max_message_bytes`](Self::with_max_message_bytes): the
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

    /// Whether answers of [`COMPRESS_ABOVE`] bytes or more are compressed
    /// as the request's `Accept-Encoding` allows (gzip, br or zstd; on by
    /// default). Event streams, images and WebSocket upgrades are never
    /// compressed. Request bodies sent with `Content-Encoding: gzip` are
    /// accepted either way, the message size limit applying to their
    /// decompressed size (a larger one: 413, nothing read past the limit);
    /// other encodings get 415.
    pub fn with_compression(mut self, compress: bool) -> Self {
        self.compression = compress;
        self
    }

    /// Serves HTTPS and WSS (and only them) with this certificate: each
    /// connection's TLS handshake runs in its own task, within the
    /// handshake timeout, counted against the connection caps; a client
    /// that does not speak TLS has its connection closed. Keep a clone to
    /// [`reload`](ServerTls::reload) the certificate later.
    ///
    /// ```no_run
    /// # async fn demo(methods: rpc_core::MethodTable) -> Result<(), Box<dyn std::error::Error>> {
    /// use rpc_http::tls::ServerTls;
    /// let tls = ServerTls::from_pem_files("cert.pem", "key.pem")?;
    /// let server = rpc_http::http::Server::new(methods).with_tls(tls).bind("0.0.0.0:443").await?;
    /// server.run().await?;
    /// # Ok(()) }
    /// ```
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How often an event stream that has nothing to send gets a comment
    /// line, so that proxies do not cut it (default
    /// [`DEFAULT_SSE_KEEP_ALIVE`](super::DEFAULT_SSE_KEEP_ALIVE), 15 s;
    /// `None`: never).
    pub fn with_sse_keep_alive(mut self, every: Option<Duration>) -> Self {
        self.sse_keep_alive = every.filter(|every| !every.is_zero());
        self
    }

    /// Settings of WebSocket connections and event streams (keep-alive
    /// interval, in-flight limit, queued bytes).
    pub fn with_duplex(mut self, config: DuplexConfig) -> Self {
        self.duplex = config;
        self
    }

    fn shared(self, tracker: TaskTracker) -> Arc<Shared> {
        let dispatcher = self.settings.dispatcher();
        let Settings {
            connections,
            shutdown,
            ..
        } = self.settings;
        Arc::new(Shared {
            dispatcher,
            authenticate: self.authenticate,
            origins: self.origins,
            connections,
            duplex: self.duplex,
            shutdown,
            tracker,
            explorer: std::sync::OnceLock::new(),
            sse_keep_alive: self.sse_keep_alive,
        })
    }

    /// An axum router serving JSON-RPC at `/`: mount it into an existing app
    /// with `Router::nest` or `Router::merge`. (A server started with
    /// [`bind`](Self::bind) also answers the readiness probe at [`READY_PATH`].)
    pub fn router(self) -> Router {
        self.router_with(TaskTracker::new())
    }

    fn router_with(mut self, tracker: TaskTracker) -> Router {
        let routes = self.routes.take();
        let compress = self.compression;
        let cors = self.origins.as_ref().map(|origins| {
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::AllowOrigin::list(origins.iter().cloned()))
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    header::HeaderName::from_static("traceparent"),
                    header::HeaderName::from_static(rpc_core::DEADLINE_HEADER),
                    // An event stream resuming after its last event.
                    header::HeaderName::from_static("last-event-id"),
                ])
        });
        let mut router = Router::new()
            .route("/", get(on_get).post(on_post))
            .with_state(self.shared(tracker));
        if let Some(cors) = cors {
            router = router.layer(cors);
        }
        if let Some(routes) = routes {
            router = router.merge(routes);
        }
        super::encoding::negotiated(router, compress)
    }

    /// Binds `addr`; call [`Listening::run`] to serve.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Listening> {
        let listener = Listener::new(
            TcpListener::bind(addr).await?,
            self.settings.max_connections,
            self.settings.max_connections_per_address,
        );
        let tracker = TaskTracker::new();
        Ok(Listening {
            local_addr: listener.local_addr()?,
            listener,
            header_read_timeout: self.header_read_timeout,
            tls: self.tls.clone(),
            shutdown: self.settings.shutdown.clone(),
            router: Router::new()
                .route(
                    READY_PATH,
                    get(on_ready).with_state((
                        self.settings.shutdown.clone(),
                        self.settings.connections.clone(),
                    )),
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
    tls: Option<ServerTls>,
    shutdown: Shutdown,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening").finish_non_exhaustive()
    }
}

impl Listening {
    /// Binds `addr` to serve `routes` alone: no JSON-RPC, no readiness
    /// probe, but a server's connection handling (the default connection
    /// cap and header read timeout) and its drain on `shutdown`. For
    /// endpoints kept apart from the public port, as `GET /metrics` on a
    /// private interface:
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use rpc_http::{http::Listening, Shutdown};
    /// let metrics = axum::Router::new().route("/metrics", axum::routing::get(|| async { "" }));
    /// let listening = Listening::bind_routes("10.0.0.1:9100", metrics, Shutdown::new()).await?;
    /// listening.run().await
    /// # }
    /// ```
    pub async fn bind_routes(
        addr: impl ToSocketAddrs,
        routes: Router,
        shutdown: Shutdown,
    ) -> io::Result<Listening> {
        let listener = Listener::new(
            TcpListener::bind(addr).await?,
            crate::DEFAULT_MAX_CONNECTIONS,
            None,
        );
        Ok(Listening {
            local_addr: listener.local_addr()?,
            listener,
            router: routes,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls: None,
            shutdown,
            tracker: TaskTracker::new(),
        })
    }

    /// Serves `app` (your axum application, with JSON-RPC routers mounted
    /// in it) on a listener you bound, as [`serve_app`] does; call
    /// [`run`](Self::run).
    pub fn from_app(
        listener: TcpListener,
        app: Router,
        shutdown: Shutdown,
    ) -> io::Result<Listening> {
        let listener = Listener::new(listener, crate::DEFAULT_MAX_CONNECTIONS, None);
        Ok(Listening {
            local_addr: listener.local_addr()?,
            listener,
            router: app,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls: None,
            shutdown,
            tracker: TaskTracker::new(),
        })
    }

    /// Serves HTTPS (and WSS) with this certificate, as
    /// [`Server::with_tls`] does: for an app of yours
    /// ([`from_app`](Self::from_app)) or routes kept apart
    /// ([`bind_routes`](Self::bind_routes)).
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

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
            self.tls,
        )
        .await
    }
}

/// Serves your own axum app, with JSON-RPC routers ([`router`],
/// [`Server::router`]) mounted in it, until `shutdown` has drained it: use it
/// where you would write `axum::serve(listener, app)`. Over `axum::serve` it
/// adds what a [`Server`] gives its own listener:
/// - the peer's address in every handler's context (`ctx.get::<SocketAddr>()`,
///   which per-peer rate limits count by), and in axum's `ConnectInfo`;
/// - the graceful shutdown: on SIGTERM (with [`Shutdown::on_signals`])
///   listening stops, requests in flight are answered, WebSockets drain and
///   close with code 1001, and this returns within the grace period; new
///   WebSocket upgrades get 503 meanwhile;
/// - the connection caps (10 000, a quarter of it per address) and the
///   header read timeout.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// let app = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .nest("/rpc", rpc_http::http::router(methods));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
/// rpc_http::http::serve_app(listener, app, rpc_http::Shutdown::new().on_signals()).await
/// # }
/// ```
pub async fn serve_app(listener: TcpListener, app: Router, shutdown: Shutdown) -> io::Result<()> {
    Listening::from_app(listener, app, shutdown)?.run().await
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
///     .nest("/rpc", rpc_http::http::router(methods));
/// # }
/// ```
pub fn router(methods: MethodTable) -> Router {
    Server::new(methods).router()
}

/// A value an axum or tower layer put into the HTTP request's extensions
/// (for a WebSocket, the upgrade request's), from a handler's context.
///
/// ```no_run
/// # #[derive(Clone)] struct User(String);
/// # fn demo(ctx: rpc_core::Context) {
/// let user = rpc_http::http::extension::<User>(&ctx);
/// # }
/// ```
pub fn extension<T: Send + Sync + 'static>(ctx: &Context) -> Option<&T> {
    ctx.get::<Extensions>()?.get::<T>()
}

impl Shared {
    /// Counts a long-lived connection (a WebSocket, an event stream) as one
    /// of this server's from now, and of the server serving the app this
    /// router is mounted in (`serving`), until [`Held::follow`] returns.
    pub(crate) fn hold(&self, serving: Option<&super::serve::Serving>) -> Held {
        Held {
            _tracked: self.tracker.token(),
            served: serving.map(|s| (s.tracker.token(), s.shutdown.clone())),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// A long-lived connection's place among its servers' connections.
pub(crate) struct Held {
    /// Counts while held; given back when `follow` returns.
    _tracked: tokio_util::task::task_tracker::TaskTrackerToken,
    served: Option<(tokio_util::task::task_tracker::TaskTrackerToken, Shutdown)>,
    shutdown: Shutdown,
}

impl Held {
    /// Drains `connection` on either server's shutdown (closes it once the
    /// grace period is over), and returns when it has ended: then it no
    /// longer counts.
    pub(crate) async fn follow(self, connection: &rpc_core::duplex::DuplexConnection) {
        let other = self.served.as_ref().map(|(_, shutdown)| shutdown);
        self.shutdown.follow_with(other, connection).await;
    }
}

/// What a handler learns of the request: peer, transport, roles (from
/// the server's authentication or an auth layer), headers, extensions.
pub(crate) fn request_context(
    mut parts: axum::http::request::Parts,
    shared: &Shared,
    transport: TransportKind,
) -> Context {
    let mut ctx = Context::new();
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        ctx.insert(*addr);
    }
    ctx.insert(transport);
    let granted = shared.authenticate.as_ref().and_then(|authenticate| {
        Credentials::from_headers(&parts.headers).and_then(|c| authenticate(&c))
    });
    if let Some(roles) = granted.or_else(|| parts.extensions.remove::<Roles>()) {
        ctx.insert(roles);
    }
    // When the caller stops waiting.
    if let Some(ms) = parts
        .headers
        .get(rpc_core::DEADLINE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        let left = std::time::Duration::from_millis(ms.min(86_400_000));
        ctx.insert(rpc_core::Deadline(std::time::Instant::now() + left));
    }
    // The caller's trace, continued by the call's span.
    if let Some(parent) = parts
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
    {
        ctx.insert(parent);
    }
    ctx.insert(parts.headers);
    ctx.insert(parts.extensions);
    ctx
}

/// Refuses a browser request from an origin that is not allowed.
fn origin_refused(shared: &Shared, headers: &axum::http::HeaderMap) -> Option<Response> {
    let allowed = shared.origins.as_ref()?;
    let origin = headers.get(header::ORIGIN)?;
    let same = |a: &HeaderValue| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes());
    if allowed.iter().any(same) {
        return None;
    }
    tracing::debug!(
        ?origin,
        "refusing a request from an origin that is not allowed"
    );
    Some(error_reply(
        StatusCode::FORBIDDEN,
        ErrorObject::new(code::INVALID_REQUEST, "Origin not allowed"),
    ))
}

async fn on_post(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(refused) = origin_refused(&shared, &parts.headers) {
        return refused;
    }
    let limits = shared.dispatcher.limits();
    // The body counts against the server's running bytes from its first
    // byte until it is answered.
    let mut hold = shared.connections.hold_running();
    let bytes = match read_body(&parts, body, limits, &mut hold).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    if super::sse::wanted(&parts.headers) && super::sse::is_call(&bytes) {
        drop(hold);
        if let Some(refused) = draining(&shared, &parts) {
            return refused;
        }
        return super::sse::open(shared, parts, bytes);
    }
    let ctx = request_context(parts, &shared, TransportKind::Http);
    let answer = shared.dispatcher.handle(&bytes, &ctx).await;
    drop(hold);
    match answer {
        Some(answer) => json_response(StatusCode::OK, answer),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Reads the body within the size limit (refusing at once one whose
/// `Content-Length` is over it) and the request timeout, once the server's
/// running bytes have room for it (until then the peer's sending stalls).
async fn read_body(
    parts: &axum::http::request::Parts,
    body: Body,
    limits: &Limits,
    hold: &mut rpc_core::duplex::RunningHold,
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
    // Room for the whole body is taken before any of it is read (so that
    // bodies half read cannot hold the budget between them, each waiting
    // for the others); a body of unknown length takes the limit, and gives
    // back what it did not use. A gzip body is one: its `Content-Length`
    // (the compressed size) was removed with its encoding, and the limit
    // below counts the decompressed bytes as they come out.
    let reserved = announced.map_or(limit, |len| len as usize);
    let read = async {
        hold.take(reserved, None).await;
        let mut body = body;
        let bytes = http_body_util::Limited::new(&mut body, limit)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes);
        match &bytes {
            Ok(bytes) => hold.keep(bytes.len()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                hold.keep(0);
                drain(&mut body).await;
            }
            Err(_) => {}
        }
        bytes
    };
    let mut read = std::pin::pin!(read);
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
        let over = std::iter::successors(Some(&*e as &dyn std::error::Error), |e| e.source())
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

/// Most of a body over the limit that is read on and thrown away (counted
/// after decompression), and for how long, before the 413 goes out.
const DRAIN: (usize, Duration) = (64 << 20, Duration::from_secs(1));

/// Reads on what the peer still sends of a body over the limit, keeping
/// none of it, within [`DRAIN`]: a peer still sending when the server
/// closes would get a reset instead of the 413 (its unread data makes the
/// close a reset). A gzip bomb's rest is decompressed to be thrown away,
/// 64 MiB at most; past that, the connection is closed.
async fn drain(body: &mut Body) {
    let mut left = DRAIN.0;
    let read = async {
        while let Some(Ok(frame)) = body.frame().await {
            let len = frame.data_ref().map_or(0, Bytes::len);
            left = left.saturating_sub(len);
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN.1, read).await;
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

pub(crate) fn error_reply(status: StatusCode, error: ErrorObject) -> Response {
    json_response(status, rpc_core::protocol::response::error_response(&error))
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

/// The answer to a new long-lived connection (a WebSocket, an event
/// stream) while the server drains (also the server serving the app this
/// router is mounted in): a reconnecting client goes elsewhere instead of
/// being accepted and closed in a loop.
fn draining(shared: &Shared, parts: &axum::http::request::Parts) -> Option<Response> {
    let serving = parts.extensions.get::<super::serve::Serving>();
    let triggered =
        shared.shutdown.is_triggered() || serving.is_some_and(|s| s.shutdown.is_triggered());
    triggered.then(|| {
        error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorObject::new(code::SHUTTING_DOWN, "Server is shutting down"),
        )
    })
}

/// 200 `ready`; 503 `draining` once the shutdown has been triggered, or
/// `backplane: REASON` while the backplane's broker is not reachable (the
/// server still serves its own clients meanwhile, but what crosses
/// instances does not: a balancer sends new clients elsewhere).
async fn on_ready(State((shutdown, connections)): State<(Shutdown, Connections)>) -> Response {
    if shutdown.is_triggered() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    if let Some(Err(reason)) = connections.backplane().map(|b| b.readiness()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("backplane: {reason}\n"),
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
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
        if let Some(refused) = origin_refused(&shared, &parts.headers) {
            return refused;
        }
        if let Some(refused) = draining(&shared, &parts) {
            return refused;
        }
        // The shutdown of the server serving this router, when it is
        // mounted in an app that `serve_app` serves.
        #[cfg(feature = "ws")]
        let serving = parts.extensions.get::<super::serve::Serving>().cloned();
        #[cfg(feature = "ws")]
        return match crate::ws::Upgrade::check(&mut parts).await {
            Ok(upgrade) => {
                let context = request_context(parts, &shared, TransportKind::WebSocket);
                crate::ws::accept(upgrade, shared, context, serving)
            }
            Err(refused) => refused,
        };
        #[cfg(not(feature = "ws"))]
        return (
            StatusCode::BAD_REQUEST,
            "this server was built without WebSocket support\n",
        )
            .into_response();
    }
    if super::sse::wanted(&parts.headers) {
        if let Some(refused) =
            origin_refused(&shared, &parts.headers).or_else(|| draining(&shared, &parts))
        {
            return refused;
        }
        return match super::sse::call_of_query(parts.uri.query()) {
            Ok(call) => super::sse::open(shared, parts, call),
            Err(refused) => error_reply(StatusCode::BAD_REQUEST, refused),
        };
    }
    if super::explorer::wants_page(&parts.headers) {
        // Made once, from the document as a value (never its text parsed back).
        let page = shared.explorer.get_or_init(|| {
            let document = rpc_core::discover::document(shared.dispatcher.methods());
            bytes::Bytes::from(super::explorer::page(&document))
        });
        let mut response = Response::new(Body::from(page.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        // Its script and style are inline; it loads nothing else.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        return response;
    }
    let document = shared.dispatcher.discovery_document().get();
    let mut response = json_response(StatusCode::OK, document.as_bytes().to_vec());
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}
