//! The network transports of the `rpc` JSON-RPC 2.0 framework: HTTP and
//! WebSocket (axum server, reqwest and tungstenite clients), TCP and any
//! other byte stream, one listener that every server uses, and graceful
//! shutdown.
//!
//! - [`http`]: [`http::Server`], [`http::router`], [`http::serve`], [`http::HttpClient`].
//! - [`ws`]: the WebSocket client ([`ws::connect`]); the server side is the
//!   HTTP server's upgrade on the same route.
//! - [`tcp`]: [`tcp::TcpServer`], [`tcp::connect`], [`tcp::connect_stream`].
//! - [`Shutdown`]: drain every server of a process on SIGTERM or Ctrl-C.
//!
//! # Defaults
//!
//! Every server starts with the same limits, safe for a public server:
//!
//! | setting | default | where |
//! | --- | --- | --- |
//! | message size | 5 MiB ([`rpc_core::DEFAULT_MAX_MESSAGE`]) | HTTP bodies (413 beyond, at once when `Content-Length` says so), WebSocket messages, TCP frames |
//! | batch length | 1000 members | every transport |
//! | nesting depth | 64 levels | every transport |
//! | run time of one message | 60 s ([`rpc_core::DEFAULT_REQUEST_TIMEOUT`]), counted once the message has arrived; an HTTP body must arrive within the same time | every transport |
//! | open connections | 10 000 per server ([`DEFAULT_MAX_CONNECTIONS`]); WebSockets count as HTTP connections | every server |
//! | request header read | 10 s ([`http::DEFAULT_HEADER_READ_TIMEOUT`]) without a request in progress, from connecting or from the previous answer: silent, slow-header and idle keep-alive connections are closed | HTTP |
//! | keep-alive ping | every 30 s | WebSocket |
//! | shutdown grace period | 30 s ([`shutdown::DEFAULT_GRACE`]) | every server |
//!
//! A closed connection cancels the calls it left running, on every
//! transport: their handler futures are dropped.
#![warn(missing_docs)]

pub mod http;
mod listener;
mod settings;
pub mod shutdown;
pub mod tcp;
mod tls;
pub mod ws;

pub use listener::DEFAULT_MAX_CONNECTIONS;
pub use shutdown::Shutdown;

/// A header for a request or a handshake, checked.
pub(crate) fn header(
    name: &str,
    value: &str,
) -> Result<(axum::http::HeaderName, axum::http::HeaderValue), rpc_core::Error> {
    let invalid = |source: rpc_core::BoxError| rpc_core::Error::InvalidHeader {
        name: name.to_owned(),
        source,
    };
    let parsed_name = axum::http::HeaderName::try_from(name).map_err(|e| invalid(Box::new(e)))?;
    let parsed_value =
        axum::http::HeaderValue::try_from(value).map_err(|e| invalid(Box::new(e)))?;
    Ok((parsed_name, parsed_value))
}

/// How long a client waits for a connection to be made (TCP, TLS and the
/// WebSocket handshake included): 10 s.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
