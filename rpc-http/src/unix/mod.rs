//! JSON-RPC over Unix domain sockets: the duplex protocol of TCP (any
//! [`Framing`](rpc_core::codec::Framing)) for local daemons and IPC. The
//! server ([`UnixServer`]) creates its socket file owner-only, replaces a
//! stale one left by a dead server, refuses one a live server holds, and
//! removes it on shutdown; handlers see the peer's credentials
//! ([`Context::peer_credentials`](rpc_core::Context::peer_credentials)).
//! The client is [`connect`] (or [`endpoint`] for a reconnecting client).

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod server;

#[cfg(feature = "client")]
pub use client::{connect, endpoint};
#[cfg(feature = "server")]
pub use server::{UnixListening, UnixServer, DEFAULT_SOCKET_MODE};
