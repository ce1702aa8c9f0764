//! WebSocket: the server side of an upgrade (on the HTTP server's route)
//! and the client ([`connect`]). Both run the shared duplex engine through
//! one adapter that only converts frames.

#[cfg(any(feature = "client", feature = "server"))]
mod adapter;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod server;

#[cfg(feature = "client")]
pub use client::{connect, connect_with, endpoint, WsClient};
#[cfg(feature = "server")]
pub(crate) use server::accept;

#[cfg(any(feature = "client", feature = "server"))]
/// The most a WebSocket may hold unwritten: one message at the size limit
/// and a little more. Beyond it the connection fails rather than buffer
/// without bound (a peer that sends but never reads).
pub(crate) fn max_write_buffer(max_message: usize) -> usize {
    max_message.saturating_add(1 << 20)
}

#[cfg(any(feature = "client", feature = "server"))]
/// Bytes a WebSocket reads at a time (tungstenite reserves 128 KiB by
/// default, for every connection, idle or not).
pub(crate) const READ_BUFFER: usize = 4 * 1024;

#[cfg(any(feature = "client", feature = "server"))]
/// Bytes of output gathered before a write to the socket.
pub(crate) const WRITE_BUFFER: usize = 16 * 1024;
