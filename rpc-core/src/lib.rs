//! The transport-agnostic core of the `rpc` JSON-RPC 2.0 framework.
//!
//! One path for every message: bytes are parsed once (one parser for
//! requests and responses alike), run by the [`Dispatcher`] against a
//! [`MethodTable`], and written back as bytes. Transports (HTTP, WebSocket, TCP, in-process)
//! call [`Dispatcher::handle`] and never re-implement protocol logic. The
//! [`Client`] engine does the same for the calling side, over any
//! [`Transport`].
//!
//! Every call has a deadline on both sides (a server's
//! [`Limits::request_timeout`], a client's [`DEFAULT_CLIENT_TIMEOUT`]), so
//! the Tokio runtime needs its timer (`enable_all()`, as `#[tokio::main]`).
//!
//! This crate opens no sockets: the network transports live in `rpc-http`.
//! Most users depend on the facade crate `rpc` and never name this one.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod auth;
pub mod backplane;
pub mod cancel;
mod client;
pub mod codec;
mod context;
pub mod discover;
mod dispatch;
pub mod duplex;
mod encode;
mod error;
pub mod id;
mod inprocess;
pub mod limits;
mod message;
mod methods;
pub mod middleware;
mod observe;
mod params;
pub mod reconnect;
#[doc(hidden)]
pub mod response;
mod scan;
pub mod schema;
pub mod subscription;
pub mod trace;

/// A subscription's items on the calling side (the server side is
/// [`subscription::Subscription`]).
pub use client::Subscription as ClientSubscription;
pub use client::{
    Answer, Batch, BatchAnswer, BoxError, BoxFuture, Client, Error, Idempotent, Inbox,
    InvalidResponse, Notice, Opened, Outgoing, ParamsBuilder, Push, ServiceBatch, ServiceClient,
    Slot, Slots, SubscribeCall, Transport, TransportService, DEFAULT_CLIENT_TIMEOUT,
};
pub use context::{Context, Deadline, TransportKind, DEADLINE_HEADER};
pub use dispatch::Dispatcher;
pub use error::{code, ErrorObject};
pub use id::Id;
pub use inprocess::InProcess;
pub use limits::{Limits, DEFAULT_MAX_MESSAGE, DEFAULT_REQUEST_TIMEOUT};
pub use methods::{
    to_result, Handler, Method, MethodFuture, MethodInfo, MethodResult, MethodTable, ParamInfo,
    RegisterError, ServiceInfo, SubscriptionInfo,
};
pub use params::{Params, ParamsDecoder};
