//! HTTP: the axum server ([`router`], [`serve`], [`Server`]) and the
//! reqwest client ([`HttpClient`]). POST carries JSON-RPC, GET returns the
//! OpenRPC description, [`READY_PATH`] is the readiness probe, and a
//! WebSocket upgrade on the same route opens a duplex connection.
//!
//! Handlers that take a `Context` find the peer address
//! (`ctx.get::<std::net::SocketAddr>()`) and the request headers
//! (`ctx.get::<HeaderMap>()`) in it.

mod client;
mod serve;
mod server;

pub use axum::http::HeaderMap;
pub use client::{HttpClient, StatusError};
pub(crate) use server::Shared;
pub use server::{router, serve, Listening, Server, DEFAULT_HEADER_READ_TIMEOUT, READY_PATH};
