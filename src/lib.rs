//! A typed JSON-RPC 2.0 framework.
//!
//! Annotate a trait with [`#[rpc]`](macro@rpc), implement it on the server,
//! and call it through the generated typed client. The same service runs
//! over HTTP, WebSocket and TCP.
//!
//! ```
//! use rpc::{rpc, ErrorObject};
//!
//! #[rpc]
//! pub trait Calculator {
//!     /// Adds two integers.
//!     async fn add(&self, a: i64, b: i64) -> i64;
//!
//!     /// Greets, with an optional title.
//!     async fn greet(&self, name: String, title: Option<String>) -> String;
//!
//!     #[rpc(name = "div")]
//!     async fn divide(&self, a: f64, b: f64) -> Result<f64, ErrorObject>;
//! }
//!
//! struct Calc;
//!
//! impl Calculator for Calc {
//!     async fn add(&self, a: i64, b: i64) -> i64 {
//!         a + b
//!     }
//!     async fn greet(&self, name: String, title: Option<String>) -> String {
//!         match title {
//!             Some(t) => format!("Hello, {t} {name}!"),
//!             None => format!("Hello, {name}!"),
//!         }
//!     }
//!     async fn divide(&self, a: f64, b: f64) -> Result<f64, ErrorObject> {
//!         if b == 0.0 {
//!             return Err(ErrorObject::new(-32000, "Division by zero"));
//!         }
//!         Ok(a / b)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Serve in-process; `CalculatorClient` (in scope) gives `rpc::Client` the typed methods.
//! let client = rpc::Client::new(rpc::InProcess::new(Calc.into_rpc()));
//! assert_eq!(client.add(1, 2).await.unwrap(), 3);
//! assert_eq!(client.greet("Ann".into(), None).await.unwrap(), "Hello, Ann!");
//! let err = client.divide(1.0, 0.0).await.unwrap_err();
//! assert_eq!(err.error_object().unwrap().code, -32000);
//! let (sum, hello) = client.batch().add(2, 3).greet("Bo".into(), Some("Dr".into())).send().await.unwrap();
//! assert_eq!((sum.unwrap(), hello.unwrap()), (5, "Hello, Dr Bo!".to_string()));
//! # });
//! ```
//!
//! # `#[rpc]` options
//!
//! | where | option | effect |
//! | --- | --- | --- |
//! | trait | `#[rpc(namespace = "math")]` | every wire name becomes `math.<name>` |
//! | trait | `#[rpc(crate = "::my_rpc")]` | the path of this crate, when it is re-exported under another name |
//! | method | `#[rpc(name = "div")]` | the wire name (default: the Rust name) |
//! | method | `#[rpc(aliases = ["divide", "quotient"])]` | more wire names for the same method |
//! | method | `#[rpc(notification)]` | the client sends no id and waits for no answer; the method returns nothing |
//! | method | `#[rpc(named_params)]` | the client always sends this method's params by name |
//!
//! A parameter whose type is the framework's [`Context`] (written `Context`
//! with `rpc::Context` imported, or `rpc::Context`) is not a wire parameter:
//! the handler gets the request context there. A type of your own called
//! `Context` is an ordinary parameter when written with its path
//! (`app::Context`); written bare, it is reported at the type.
//!
//! `#[rpc]` also generates two traits for the calling side, each with one
//! blanket implementation: `<Trait>Client` gives every [`Client`] (and any
//! type that is [`AsClient`]) a typed method per service method, and
//! `<Trait>Batch` adds the same calls to a typed batch (`client.batch()`).
//! Bring them into scope with the service trait. A service method may take
//! any name; where it meets a method of `Client` or of the batch (`call`,
//! `batch`, `send`...), `client.name(..)` is `Client`'s own and the
//! service's is `<Trait>Client::name(&client, ..)`.
//!
//! # Application errors
//!
//! A fallible method returns `Result<T, E>` with `E: Into<ErrorObject>`;
//! [`#[derive(RpcError)]`](macro@RpcError) writes that conversion and its
//! inverse for an error enum:
//!
//! ```
//! #[derive(Debug, PartialEq, thiserror::Error, rpc::RpcError)]
//! pub enum MathError {
//!     #[error("Division by zero")]
//!     #[rpc(code = -32000)]
//!     DivisionByZero,
//!     /// `data`: the fields travel in the error object, and come back.
//!     #[error("{value} is out of range")]
//!     #[rpc(code = -32010, data)]
//!     OutOfRange { value: i64 },
//! }
//!
//! let object = rpc::ErrorObject::from(MathError::OutOfRange { value: 7 });
//! assert_eq!((object.code, object.message.as_ref()), (-32010, "7 is out of range"));
//! assert_eq!(MathError::try_from(object), Ok(MathError::OutOfRange { value: 7 }));
//! // On the client: `err.application::<MathError>()`.
//! ```
//!
//! # Cargo features
//!
//! All on by default: `server` (the HTTP and TCP servers, graceful
//! shutdown; axum and hyper), `client` (the HTTP, WebSocket and TCP clients;
//! reqwest, rustls and, with `ws`, tungstenite), and the transports `http`,
//! `ws` (implies `http`) and `tcp`. A crate that only calls services takes
//! `default-features = false, features = ["client", "http"]` (and `ws`,
//! `tcp` as needed) and compiles no server and no axum. The method table,
//! the dispatcher and `rpc::InProcess` are always there.
#![warn(missing_docs)]

pub use rpc_core::protocol::response::RawJson;
pub use rpc_core::subscription::Subscription;
pub use rpc_core::{
    code, AsClient, Client, ConfigError, Context, Deadline, Error, ErrorObject, Id, InProcess,
    LastEventId, Limits, MethodTable, PeerCredentials, TransportKind,
};
#[cfg(feature = "server")]
pub use rpc_http::{shutdown, Shutdown};
pub use rpc_macros::{rpc, RpcError};

/// The server side of a service: the method table, registering handlers by
/// hand, reading params, and the dispatcher every transport calls.
pub mod server {
    pub use rpc_core::discover;
    pub use rpc_core::{
        to_result, Context, Dispatcher, Handler, Limits, Method, MethodFuture, MethodInfo,
        MethodResult, MethodTable, ParamInfo, Params, ParamsDecoder, RegisterError, ServiceInfo,
    };
}

/// The calling side: [`Client`] calls methods by name (and, with a
/// generated `<Trait>Client` trait in scope, by typed methods) over any
/// [`Transport`](client::Transport).
pub mod client {
    pub use rpc_core::client::Expecting;
    pub use rpc_core::{
        Answer, AsClient, BoxError, BoxFuture, Client, ConfigError, Error, Idempotent, Inbox,
        InvalidResponse, Opened, Outgoing, ParamsBuilder, SubscribeCall, SubscriptionStream,
        Subscriptions, Transport, TransportService, DEFAULT_CLIENT_TIMEOUT,
    };
    #[cfg(all(feature = "client", feature = "http"))]
    pub use rpc_http::http::{RetryLayer, RetryPolicy};
}

/// Subscriptions on the serving side: what a subscription method returns,
/// its limits, and named topics that many subscribers share.
pub mod subscription {
    pub use rpc_core::subscription::{
        Publisher, Retention, Subscription, Topics, LAG_WAIT, MAX_PER_CONNECTION, MAX_TOPIC_NAME,
    };
}

/// Both sides on one connection: a server reaches the client that called
/// it ([`duplex::caller`]) and calls methods back, and a connection's
/// settings ([`duplex::DuplexConfig`]).
pub mod duplex {
    pub use rpc_core::duplex::{
        caller, connections, Connections, DuplexConfig, DuplexConnection, KeepAlive,
    };
}

/// Sharing topics between server instances: implement
/// [`Broker`](backplane::Broker) for a message bus (the `rpc-backplane`
/// crate has Redis and NATS).
pub mod backplane {
    pub use rpc_core::backplane::{Backplane, Broker, Deliver};
}

/// Clients that survive their connection (WebSocket, TCP): back-off and
/// failover between endpoints, idempotent calls sent again, subscriptions
/// made again with a gap in their streams, and the connection's state to
/// watch. Endpoints come from [`ws::endpoint`] and
/// [`tcp::endpoint`].
pub mod reconnect {
    pub use rpc_core::reconnect::*;
}

/// Middleware: tower layers around every call (on a server builder:
/// `.with_layer(layer)`), the [`Call`](middleware::Call) they see, and a
/// rate limit per peer and per method.
pub mod middleware {
    pub use rpc_core::middleware::*;
    #[cfg(feature = "server")]
    pub use rpc_http::limit::{RateLimit, RateLimitLayer};
}

/// Authorization: the [`Roles`](auth::Roles) a caller holds, checked
/// against what methods declare (`#[rpc(requires = "admin")]`).
pub mod auth {
    pub use rpc_core::auth::*;
    #[cfg(all(feature = "server", feature = "http"))]
    pub use rpc_http::http::Credentials;
}

/// W3C Trace Context (`traceparent`): callers' traces continue in call spans.
pub mod trace {
    pub use rpc_core::trace::*;
}

/// Typed batches: several calls in one round trip, a tuple of results back.
/// Generated clients build them (`client.batch().add(1, 2).send()`); these
/// are the types in their signatures.
pub mod batch {
    pub use rpc_core::{Batch, BatchAnswer, BatchOf, Push, Slot, Slots, MAX_TYPED_BATCH};
}

#[cfg(feature = "http")]
/// HTTP: the axum server ([`http::router`], [`http::serve`],
/// [`http::Server`]) and the client ([`http::HttpClient`], on reqwest,
/// re-exported as `http::reqwest` with the client feature); the server
/// also upgrades WebSocket connections on its route.
pub mod http {
    pub use rpc_http::http::*;
}

/// The WebSocket client ([`ws::connect`], [`ws::WsClient`]); the server
/// side is the HTTP server's upgrade on its route.
#[cfg(all(feature = "ws", feature = "client"))]
pub mod ws {
    pub use rpc_http::ws::*;
}

/// TCP and other byte streams (Unix sockets, stdio), with newline,
/// content-length (LSP) or length-prefix framing.
#[cfg(feature = "tcp")]
pub mod tcp {
    pub use rpc_core::codec::{
        ContentLengthCodec, Framing, HeaderError, NewlineCodec, StreamCodec, UnknownFraming,
    };
    pub use rpc_http::tcp::*;
}

/// TLS on rustls with ring: a server's certificate for HTTPS and WSS
/// (`http::Server::with_tls`) and TLS over TCP (`tcp::TcpServer::with_tls`),
/// reloadable without a restart (`tls::ServerTls`), and the TLS-over-TCP
/// client (`tls://`).
#[cfg(any(
    all(feature = "client", feature = "tcp"),
    all(feature = "server", any(feature = "http", feature = "tcp"))
))]
pub mod tls {
    pub use rpc_http::tls::*;
}

/// Unix domain sockets: [`unix::UnixServer`] (an owner-only socket file,
/// peer credentials in the context) and [`unix::connect`].
#[cfg(all(unix, feature = "unix"))]
pub mod unix {
    pub use rpc_http::unix::*;
}

/// Standard input and output: [`stdio::StdioServer`] serves on the
/// process's own (a language server, a tool server), [`stdio::spawn`]
/// calls a child process over its.
#[cfg(all(unix, feature = "stdio"))]
pub mod stdio {
    pub use rpc_http::stdio::*;
}

#[doc(hidden)]
pub use rpc_core::__private;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guide's examples (`docs/guide/`), compiled as doctests.
#[cfg(doctest)]
pub mod guide {
    #[doc = include_str!("../docs/guide/dependencies.md")]
    pub struct Dependencies;
    #[doc = include_str!("../docs/guide/axum.md")]
    pub struct Axum;
    #[doc = include_str!("../docs/guide/errors.md")]
    pub struct Errors;
    #[doc = include_str!("../docs/guide/client.md")]
    pub struct Client;
    #[doc = include_str!("../docs/guide/batches.md")]
    pub struct Batches;
    #[doc = include_str!("../docs/guide/subscriptions.md")]
    pub struct Subscriptions;
    #[doc = include_str!("../docs/guide/middleware.md")]
    pub struct Middleware;
    #[doc = include_str!("../docs/guide/schemas.md")]
    pub struct Schemas;
    #[doc = include_str!("../docs/guide/reconnecting.md")]
    pub struct Reconnecting;
    #[doc = include_str!("../docs/guide/backplane.md")]
    pub struct Backplane;
    #[doc = include_str!("../docs/guide/limits.md")]
    pub struct Limits;
    #[doc = include_str!("../docs/guide/tls.md")]
    pub struct Tls;
    #[doc = include_str!("../docs/guide/local.md")]
    pub struct Local;
    #[doc = include_str!("../docs/guide/large.md")]
    pub struct Large;
}
