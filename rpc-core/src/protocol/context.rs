//! The request context: what a transport knows about the caller.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// Information a transport attaches to each request: the peer address, HTTP
/// headers, the duplex connection the request came on, or anything else.
///
/// What every handler may want has its own accessor:
///
/// | accessor | what | set by |
/// | --- | --- | --- |
/// | [`peer`](Self::peer) | the caller's address | HTTP, WebSocket, TCP servers (an app mounted in axum: served with `rpc::http::serve_app`, or with axum's connect info) |
/// | [`transport`](Self::transport) | HTTP, WebSocket, TCP or in-process | every transport |
/// | [`deadline`](Self::deadline) | when the caller stops waiting | the `rpc-timeout-ms` header (our HTTP client sends it) |
/// | [`headers`](Self::headers) | the HTTP request's headers (the upgrade's, on a WebSocket) | HTTP, WebSocket |
/// | [`extensions`](Self::extensions) | what tower/axum layers put in the request's extensions | HTTP, WebSocket |
///
/// Anything else is looked up by type with [`get`](Self::get); the duplex
/// connection of the caller with `rpc::duplex::caller(&ctx)`. Cloning is
/// cheap.
///
/// ```
/// use rpc_core::Context;
/// #[derive(Debug, PartialEq)]
/// struct UserId(u32);
/// let ctx = Context::new().with(UserId(7));
/// assert_eq!(ctx.get::<UserId>(), Some(&UserId(7)));
/// assert_eq!(ctx.get::<String>(), None);
/// ```
#[derive(Clone, Default)]
pub struct Context {
    /// What every request has, kept inline (no allocation): the transport
    /// and the peer's address.
    transport: Option<TransportKind>,
    peer: Option<std::net::SocketAddr>,
    /// A call's deadline, which every client call with a timeout carries.
    deadline: Option<Deadline>,
    /// `None` until something else is inserted, so an empty context costs nothing.
    values: Option<Arc<Vec<Entry>>>,
}

/// One value, keyed by its type.
type Entry = (TypeId, Arc<dyn Any + Send + Sync>);

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Context::default()
    }

    /// Returns the context with `value` added (replacing a value of the same type).
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.insert(value);
        self
    }

    /// Adds `value`, replacing any value of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        let any: &dyn Any = &value;
        if let Some(transport) = any.downcast_ref::<TransportKind>() {
            self.transport = Some(*transport);
            return;
        }
        if let Some(peer) = any.downcast_ref::<std::net::SocketAddr>() {
            self.peer = Some(*peer);
            return;
        }
        if let Some(deadline) = any.downcast_ref::<Deadline>() {
            self.deadline = Some(*deadline);
            return;
        }
        let values = Arc::make_mut(
            self.values
                .get_or_insert_with(|| Arc::new(Vec::with_capacity(6))),
        );
        let id = TypeId::of::<T>();
        values.retain(|(t, _)| *t != id);
        values.push((id, Arc::new(value)));
    }

    /// The caller's address, when the transport knows it.
    ///
    /// ```
    /// let peer: std::net::SocketAddr = "192.0.2.7:4000".parse().unwrap();
    /// let ctx = rpc_core::Context::new().with(peer);
    /// assert_eq!(ctx.peer(), Some(peer));
    /// assert_eq!(rpc_core::Context::new().peer(), None);
    /// ```
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// The transport the call came over.
    pub fn transport(&self) -> Option<TransportKind> {
        self.transport
    }

    /// Who is at the other end of a Unix domain socket: its user, group
    /// and process ids, as the kernel reports them (not forgeable by the
    /// peer); `None` on other transports.
    pub fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.get::<PeerCredentials>().copied()
    }

    /// The event id a server-sent event stream resumes after: its
    /// `Last-Event-ID` header (a browser's `EventSource` sends it by itself
    /// when it reconnects). A subscription handler that resumes passes it
    /// on, as a `since` parameter would be:
    ///
    /// ```
    /// # use rpc_core::{Context, LastEventId};
    /// # fn demo(topics: &rpc_core::subscription::Topics, since: Option<String>, ctx: &Context) {
    /// let since = since.as_deref().or(ctx.last_event_id());
    /// let items = topics.subscribe_since::<serde_json::Value>("news", since);
    /// # }
    /// let ctx = Context::new().with(LastEventId("7".into()));
    /// assert_eq!(ctx.last_event_id(), Some("7"));
    /// ```
    pub fn last_event_id(&self) -> Option<&str> {
        self.get::<LastEventId>().map(|id| id.0.as_str())
    }

    /// When the caller stops waiting for the answer, if it said.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline.map(|d| d.0)
    }

    /// The HTTP request's headers (on a WebSocket, the upgrade request's).
    ///
    /// ```
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-tenant", http::HeaderValue::from_static("blue"));
    /// let ctx = rpc_core::Context::new().with(headers);
    /// assert_eq!(ctx.headers().and_then(|h| h.get("x-tenant")).unwrap(), "blue");
    /// ```
    pub fn headers(&self) -> Option<&http::HeaderMap> {
        self.get::<http::HeaderMap>()
    }

    /// The HTTP request's extensions: what tower and axum layers put there
    /// (a user resolved by an auth layer, say).
    pub fn extensions(&self) -> Option<&http::Extensions> {
        self.get::<http::Extensions>()
    }

    /// The value of type `T`, if the transport provided one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        if id == TypeId::of::<TransportKind>() {
            return self
                .transport
                .as_ref()
                .and_then(|t| (t as &dyn Any).downcast_ref());
        }
        if id == TypeId::of::<std::net::SocketAddr>() {
            return self
                .peer
                .as_ref()
                .and_then(|p| (p as &dyn Any).downcast_ref());
        }
        if id == TypeId::of::<Deadline>() {
            return self
                .deadline
                .as_ref()
                .and_then(|d| (d as &dyn Any).downcast_ref());
        }
        self.values
            .as_deref()?
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref())
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("transport", &self.transport)
            .field("peer", &self.peer)
            .field("deadline", &self.deadline)
            .field("values", &self.values.as_ref().map_or(0, |v| v.len()))
            .finish()
    }
}

/// The `Last-Event-ID` of a server-sent event stream's request, in its
/// context ([`Context::last_event_id`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LastEventId(pub String);

/// The credentials of the process at the other end of a Unix domain
/// socket, from the kernel ([`Context::peer_credentials`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
    /// The process id, where the platform reports it.
    pub pid: Option<i32>,
}

/// Which transport a request came over; every transport puts it in the
/// request [`Context`] (metrics and logs label calls with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// An HTTP POST.
    Http,
    /// A server-sent event stream (an HTTP POST or GET asking for
    /// `text/event-stream`).
    Sse,
    /// A WebSocket connection.
    WebSocket,
    /// TCP, plain or under TLS.
    Tcp,
    /// A Unix domain socket.
    Unix,
    /// The process's standard input and output (or a child's).
    Stdio,
    /// The in-process transport (`InProcess`): no network.
    InProcess,
}

impl TransportKind {
    /// `http`, `sse`, `websocket`, `tcp`, `unix`, `stdio` or `in-process`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Http => "http",
            TransportKind::Sse => "sse",
            TransportKind::WebSocket => "websocket",
            TransportKind::Tcp => "tcp",
            TransportKind::Unix => "unix",
            TransportKind::Stdio => "stdio",
            TransportKind::InProcess => "in-process",
        }
    }
}

/// When the caller stops waiting for the answer: the HTTP server reads it
/// from the `rpc-timeout-ms` header a client sends (ours does, from its
/// timeout) into the request [`Context`], where a handler finds it to
/// give up early. On WebSocket and TCP the caller says so instead with a
/// `$/cancelRequest` when its deadline passes.
///
/// ```
/// # fn demo(ctx: rpc_core::Context) {
/// if let Some(deadline) = ctx.get::<rpc_core::Deadline>() {
///     let left = deadline.0.saturating_duration_since(std::time::Instant::now());
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(pub std::time::Instant);

/// The header that carries a call's deadline, in milliseconds from now.
pub const DEADLINE_HEADER: &str = "rpc-timeout-ms";
