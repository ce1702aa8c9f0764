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
//! // Serve in-process and call through the generated client.
//! let client = CalculatorClient::new(rpc::InProcess::new(Calc.into_rpc()));
//! assert_eq!(client.add(1, 2).await.unwrap(), 3);
//! assert_eq!(client.greet("Ann".into(), None).await.unwrap(), "Hello, Ann!");
//! let err = client.divide(1.0, 0.0).await.unwrap_err();
//! assert_eq!(err.error_object().unwrap().code, -32000);
//! let (sum, hello) = client.batch().add(2, 3).greet("Bo".into(), Some("Dr".into())).send().await.unwrap();
//! assert_eq!((sum.unwrap(), hello.unwrap()), (5, "Hello, Dr Bo!".to_string()));
//! # });
//! ```
#![warn(missing_docs)]

pub use rpc_core::{code, Client, Context, Error, ErrorObject, Id, InProcess, MethodTable};
pub use rpc_core::{discover, duplex, limits, Limits, DEFAULT_CLIENT_TIMEOUT};
pub use rpc_macros::{rpc, RpcError};
pub use rpc_net::{shutdown, Shutdown};

/// The server side of a service: the method table, registering handlers by
/// hand, reading params, and the dispatcher every transport calls.
pub mod server {
    pub use rpc_core::{
        to_result, Context, Dispatcher, Handler, Limits, Method, MethodFuture, MethodInfo,
        MethodResult, MethodTable, ParamInfo, Params, ParamsDecoder, RegisterError,
    };
}

/// The client engine: [`Client`](client::Client) calls methods by name over
/// any [`Transport`](client::Transport); generated clients wrap one and
/// implement [`ServiceClient`](client::ServiceClient).
pub mod client {
    pub use rpc_core::{
        Answer, BoxError, BoxFuture, Client, Error, InvalidResponse, Outgoing, ParamsBuilder,
        ServiceBatch, ServiceClient, Transport, DEFAULT_CLIENT_TIMEOUT,
    };
}

/// Typed batches: several calls in one round trip, a tuple of results back.
/// Generated clients build them (`client.batch().add(1, 2).send()`); these
/// are the types in their signatures.
pub mod batch {
    pub use rpc_core::{Batch, BatchAnswer, Push, Slot, Slots};
}

/// HTTP: the axum server ([`http::router`], [`http::serve`],
/// [`http::Server`]) and the reqwest client ([`http::HttpClient`]); the
/// server also upgrades WebSocket connections on its route.
pub mod http {
    pub use rpc_net::http::*;
}

/// The WebSocket client ([`ws::connect`]).
pub mod ws {
    pub use rpc_net::ws::*;
}

/// TCP and other byte streams (Unix sockets, stdio), with newline or
/// length-prefix framing.
pub mod tcp {
    pub use rpc_core::codec::{Framing, NewlineCodec, StreamCodec, UnknownFraming};
    pub use rpc_net::tcp::*;
}

#[doc(hidden)]
pub use rpc_core::__private;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
