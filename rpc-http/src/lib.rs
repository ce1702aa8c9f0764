//! HTTP and WebSocket transports of the `rpc` JSON-RPC 2.0 framework.
//!
//! - Server: [`router`] (an axum `Router` to mount anywhere), [`serve`] for
//!   the common case, and [`Server`] to set limits. POST carries JSON-RPC,
//!   GET returns the OpenRPC description, and a WebSocket upgrade on the same
//!   route opens a duplex connection.
//! - Clients: [`HttpClient`] (reqwest) and [`ws::connect`] (tokio-tungstenite).
//!
//! Handlers that take a `Context` find the peer address
//! (`ctx.get::<std::net::SocketAddr>()`) and the request headers
//! (`ctx.get::<axum::http::HeaderMap>()`) in it.
#![warn(missing_docs)]

mod client;
mod listener;
mod server;
pub mod ws;

pub use axum::http::HeaderMap;
pub use client::HttpClient;
pub use server::{router, serve, Listening, Server};
