//! JSON-RPC over TCP and any other byte stream (Unix sockets, stdio): the
//! server ([`TcpServer`]), the client ([`connect`]), and [`connect_stream`]
//! for any `AsyncRead + AsyncWrite`, with a choice of
//! [`Framing`](rpc_core::codec::Framing). Connections are duplex: both
//! sides may call and notify.

mod client;
mod server;
mod stream;

pub use client::connect;
pub use server::{TcpListening, TcpServer};
pub use stream::{connect_stream, StreamOptions};
