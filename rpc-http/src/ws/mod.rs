//! WebSocket: the server side of an upgrade (on the HTTP server's route)
//! and the client ([`connect`]). Both run the shared duplex engine through
//! one adapter that only converts frames.
//!
//! An idle server-side connection holds about 10.6 KB (jsonrpsee's: 20.2
//! KB): the engine's read loop, write loop and the task that took the
//! upgrade (3.7 KB), the queue toward the peer (2.3 KB, most of it touched
//! only as frames pass), tungstenite's state and a 256-byte read buffer,
//! the upgrade request's headers copied out of hyper's 8 KiB read buffer
//! (which they kept alive before), and the connection's tokens, timers and
//! budgets. Larger reads go through a buffer that lasts only while bytes
//! keep coming. tungstenite never shrinks its buffers: a connection keeps
//! room for the largest frame it received and the largest message it sent.

#[cfg(any(feature = "client", feature = "server"))]
mod adapter;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod read_ahead;
#[cfg(feature = "server")]
mod server;

#[cfg(feature = "client")]
pub use client::{connect, connect_with, endpoint, WsClient};
#[cfg(feature = "server")]
pub(crate) use server::{accept, Upgrade};

#[cfg(any(feature = "client", feature = "server"))]
/// The most a WebSocket may hold unwritten: one message at the size limit
/// and a little more. Beyond it the connection fails rather than buffer
/// without bound (a peer that sends but never reads).
pub(crate) fn max_write_buffer(max_message: usize) -> usize {
    max_message.saturating_add(1 << 20)
}

#[cfg(feature = "client")]
/// Bytes a client's WebSocket reads at a time (tungstenite reserves 128 KiB
/// by default, for every connection, idle or not).
pub(crate) const READ_BUFFER: usize = 4 * 1024;

#[cfg(feature = "server")]
/// The read buffer tungstenite keeps for each of a server's connections,
/// idle or not, and zeroes before each read: 256 bytes (its default is
/// 128 KiB). Reads larger than this go through a
/// [`ReadAhead`](read_ahead::ReadAhead) buffer that lasts only while bytes
/// keep coming. The buffer grows to hold a whole frame when one arrives.
pub(crate) const SERVER_READ_BUFFER: usize = 256;

#[cfg(any(feature = "client", feature = "server"))]
/// Bytes of output gathered before a write to the socket.
pub(crate) const WRITE_BUFFER: usize = 16 * 1024;
