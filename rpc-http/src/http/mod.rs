//! HTTP: the axum server ([`router`], [`serve`], [`Server`]) and the
//! client ([`HttpClient`], on reqwest). POST carries JSON-RPC, GET returns the
//! OpenRPC description, [`READY_PATH`] is the readiness probe, a
//! WebSocket upgrade on the same route opens a duplex connection, and a
//! call that asks for `text/event-stream` (a POST, or a browser's
//! `EventSource` with `GET /?method=NAME&params=JSON`) is answered as
//! server-sent events: its answer, then its subscription's notifications.
//!
//! Handlers that take a `Context` find the peer address
//! (`ctx.get::<std::net::SocketAddr>()`), the request headers
//! (`ctx.get::<HeaderMap>()`) and the request's extensions (what an axum or
//! tower layer inserted: [`extension`]) in it; over WebSocket, those of the
//! upgrade request, for the whole connection.

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod encoding;
#[cfg(feature = "server")]
mod explorer;
#[cfg(feature = "client")]
mod retry;
#[cfg(feature = "server")]
pub(crate) mod serve;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod sse;
mod status;

#[cfg(feature = "server")]
pub use crate::auth::Credentials;
pub use ::http::{Extensions, HeaderMap};
#[cfg(feature = "client")]
pub use client::HttpClient;
/// The reqwest this crate's [`HttpClient`] runs on, for
/// [`HttpClient::from_client`]: a `reqwest::Client` of this version.
#[cfg(feature = "client")]
pub use reqwest;
#[cfg(feature = "client")]
pub use retry::{RetryLayer, RetryPolicy};
#[cfg(all(feature = "server", feature = "ws"))]
pub(crate) use server::Shared;
#[cfg(feature = "server")]
pub use server::{
    extension, router, serve, serve_app, Listening, Server, COMPRESS_ABOVE,
    DEFAULT_HEADER_READ_TIMEOUT, READY_PATH,
};
#[cfg(feature = "server")]
pub use sse::DEFAULT_SSE_KEEP_ALIVE;
pub use status::StatusError;
