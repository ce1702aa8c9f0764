//! JSON-RPC over TCP and any other byte stream (Unix sockets, stdio): the
//! server ([`TcpServer`]), the client ([`connect`]), and [`connect_stream`]
//! for any `AsyncRead + AsyncWrite`, with a choice of
//! [`Framing`](rpc_core::codec::Framing). Connections are duplex: both
//! sides may call and notify.

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod server;
mod stream;

#[cfg(feature = "client")]
pub use client::{connect, endpoint};
#[cfg(all(unix, feature = "server", feature = "unix"))]
pub(crate) use server::Serving;
#[cfg(feature = "server")]
pub use server::{TcpListening, TcpServer};
#[cfg(feature = "client")]
pub(crate) use stream::client_stream;
pub use stream::{connect_stream, StreamOptions, DEFAULT_MESSAGE_READ_TIMEOUT};
