//! TLS, on rustls with ring: a server's certificate ([`ServerTls`], for
//! HTTPS and WSS on the HTTP server and TLS over TCP on the TCP server,
//! reloadable without a restart), the TLS-over-TCP client ([`TlsClient`],
//! `tls://`), and the roots the clients trust.

#[cfg(all(feature = "client", feature = "tcp"))]
mod client;
#[cfg(feature = "client")]
mod roots;
#[cfg(feature = "server")]
mod server;

#[cfg(all(feature = "client", feature = "tcp"))]
pub use client::TlsClient;
#[cfg(feature = "client")]
pub(crate) use roots::{client_config, ExtraRoots};
#[cfg(feature = "server")]
pub use server::{ServerTls, DEFAULT_HANDSHAKE_TIMEOUT};
