//! HTTP: the axum server ([`router`], [`serve`], [`Server`]) and the
//! reqwest client ([`HttpClient`]). POST carries JSON-RPC, GET returns the
//! OpenRPC description, [`READY_PATH`] is the readiness probe, and a
//! WebSocket upgrade on the same route opens a duplex connection.
//!
//! Handlers that take a `Context` find the peer address
//! (`ctx.get::<std::net::SocketAddr>()`) and the request headers
//! (`ctx.get::<HeaderMap>()`) in it.

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod server;
mod status;

pub use ::http::HeaderMap;
#[cfg(feature = "client")]
pub use client::HttpClient;
#[cfg(all(feature = "server", feature = "ws"))]
pub(crate) use server::Shared;
#[cfg(feature = "server")]
pub use server::{router, serve, Listening, Server, DEFAULT_HEADER_READ_TIMEOUT, READY_PATH};
pub use status::StatusError;
