//! The transport-agnostic core of the `rpc` JSON-RPC 2.0 framework.
//!
//! One path for every message: bytes are parsed once (one parser for
//! requests and responses alike), run by the [`Dispatcher`] against a
//! [`MethodTable`], and written back as bytes. Transports (HTTP, WebSocket, TCP, in-process)
//! call [`Dispatcher::handle`] and never re-implement protocol logic. The
//! [`Client`] engine does the same for the calling side, over any
//! [`Transport`].
//!
//! # Layers
//!
//! | module | what it holds | stands on |
//! | --- | --- | --- |
//! | [`protocol`] | ids, error objects, the one parser and the one encoder, params, limits, the request context | nothing else of ours |
//! | [`server`] | method table, dispatcher, middleware, roles, spans and metrics, OpenRPC, server-side subscriptions and topics, the backplane | `protocol` |
//! | [`client`] | the client engine, typed batches, client-side subscriptions | `protocol` |
//! | [`duplex`] | the connection engine (WebSocket, TCP, any byte stream): it classifies each incoming message once and hands calls to the server side, answers and subscription items to the client side; the reconnecting client | `server` and `client` |
//! | [`codec`] | framings for byte streams | `protocol` |
//! | [`backoff`] | the one back-off (listener, reconnects, retries, backplane) | tower |
//!
//! The Cargo features `server` and `client` (both on by default) each
//! compile alone, which keeps the two sides from importing each other;
//! `duplex` and [`InProcess`] need both.
//!
//! Every call has a deadline on both sides (a server's
//! [`Limits::request_timeout`], a client's [`DEFAULT_CLIENT_TIMEOUT`]), so
//! the Tokio runtime needs its timer (`enable_all()`, as `#[tokio::main]`).
//!
//! This crate opens no sockets: the network transports live in `rpc-http`.
//! Most users depend on the facade crate `rpc` and never name this one.
#![warn(missing_docs)]
// Built with one side only (a check that the sides never import each
// other), what only the duplex engine uses sits idle.
#![cfg_attr(
    not(all(feature = "server", feature = "client")),
    allow(dead_code, unused_imports)
)]

#[doc(hidden)]
#[cfg(all(feature = "server", feature = "client"))]
pub mod __private;
pub mod backoff;
#[cfg(feature = "client")]
pub mod client;
pub mod codec;
#[cfg(all(feature = "server", feature = "client"))]
pub mod duplex;
#[cfg(all(feature = "server", feature = "client"))]
mod inprocess;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;

// The paths users and the other crates know.
pub use protocol::{
    code, id, limits, trace, BoxError, Context, Deadline, ErrorObject, Id, InvalidResponse,
    LastEventId, Limits, Params, ParamsDecoder, PeerCredentials, TransportKind, DEADLINE_HEADER,
    DEFAULT_MAX_MESSAGE, DEFAULT_REQUEST_TIMEOUT,
};

#[cfg(feature = "server")]
pub use server::{auth, backplane, discover, middleware, schema};

/// Subscriptions on the server side, and named topics.
#[cfg(feature = "server")]
pub mod subscription {
    pub use crate::server::subscription::*;
    pub use crate::server::topics::{Retention, Topics, MAX_TOPIC_NAME};
}
#[cfg(feature = "server")]
pub use server::{
    to_result, Dispatcher, Handler, Method, MethodFuture, MethodInfo, MethodResult, MethodTable,
    ParamInfo, RegisterError, ServiceInfo, SubscriptionInfo,
};

pub use protocol::cancel;

/// A subscription's items on the calling side (the server side is
/// [`subscription::Subscription`]).
#[cfg(feature = "client")]
pub use client::SubscriptionStream;
#[cfg(feature = "client")]
pub use client::{
    Answer, AsClient, Batch, BatchAnswer, BatchOf, BoxFuture, Client, ConfigError, Error,
    Idempotent, Inbox, Notice, Opened, Outgoing, ParamsBuilder, Push, Slot, Slots, SubscribeCall,
    Subscriptions, Transport, TransportService, DEFAULT_CLIENT_TIMEOUT, MAX_TYPED_BATCH,
};

#[cfg(all(feature = "server", feature = "client"))]
pub use duplex::reconnect;
#[cfg(all(feature = "server", feature = "client"))]
pub use inprocess::InProcess;
