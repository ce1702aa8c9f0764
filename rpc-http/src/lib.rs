//! The network transports of the `rpc` JSON-RPC 2.0 framework: HTTP and
//! WebSocket (axum server; reqwest and tungstenite clients), TCP and any
//! other byte stream, one listener that every server uses, and graceful
//! shutdown.
//!
//! - [`http`]: [`http::Server`], [`http::router`], [`http::serve`], [`http::HttpClient`].
//! - [`ws`]: the WebSocket client ([`ws::connect`]); the server side is the
//!   HTTP server's upgrade on the same route.
//! - [`tcp`]: [`tcp::TcpServer`], [`tcp::connect`], [`tcp::connect_stream`].
//! - [`tls`]: HTTPS, WSS and TLS over TCP on the servers
//!   ([`tls::ServerTls`], reloadable), and the TLS-over-TCP client.
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
//! | nesting depth | 128 levels where params are decoded (-32602 naming the parameter) | every transport |
//! | run time of one message | 60 s ([`rpc_core::DEFAULT_REQUEST_TIMEOUT`]), counted once the message has arrived; an HTTP body must arrive within the same time | every transport |
//! | open connections | 10 000 per server ([`DEFAULT_MAX_CONNECTIONS`]); WebSockets count as HTTP connections | every server |
//! | open connections per address | a quarter of the server's cap, at least 64 (an IPv6 /64 counts as one address); more are closed at once | every server |
//! | request header read | 10 s ([`http::DEFAULT_HEADER_READ_TIMEOUT`]) without a request in progress, from connecting or from the previous answer: silent, slow-header and idle keep-alive connections are closed | HTTP |
//! | keep-alive ping | every 30 s | WebSocket |
//! | first message, partial message | 10 s each ([`tcp::DEFAULT_MESSAGE_READ_TIMEOUT`]) | TCP and other byte streams |
//! | bytes queued toward a peer | 1 MiB per connection, 64 MiB per server ([`rpc_core::duplex::DEFAULT_MAX_QUEUED_BYTES`], [`rpc_core::duplex::DEFAULT_MAX_SERVER_QUEUED_BYTES`]); a write stalled 30 s closes the connection | WebSocket, TCP |
//! | bytes of messages whose calls still run | 4 MiB per connection, 64 MiB per server, HTTP bodies included ([`rpc_core::duplex::DEFAULT_MAX_RUNNING_BYTES`], [`rpc_core::duplex::DEFAULT_MAX_SERVER_RUNNING_BYTES`]); past them reading waits | every server |
//! | calls after a byte stream's end of file | 1 s ([`rpc_core::duplex::DEFAULT_HALF_CLOSE_GRACE`]), then the rest are cancelled | TCP and other byte streams |
//! | shutdown grace period | 30 s ([`shutdown::DEFAULT_GRACE`]) | every server |
//!
//! A closed connection cancels the calls it left running, on every
//! transport: their handler futures are dropped.
//!
//! # Cargo features
//!
//! All on by default. `server` (the HTTP and TCP servers, the listener,
//! [`Shutdown`]; pulls in axum and hyper) and `client` (the HTTP, WebSocket
//! and TCP clients; pulls in reqwest, rustls and, with `ws`, tungstenite)
//! pick the sides; `http`, `ws` (implies `http`: the server upgrades on the
//! HTTP route) and `tcp` pick the transports. A client-only build
//! (`default-features = false, features = ["client", "http"]`) compiles
//! no axum and no server.
#![warn(missing_docs)]

#[cfg(all(feature = "server", feature = "http"))]
mod auth;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "server")]
pub mod limit;
#[cfg(all(feature = "server", any(feature = "http", feature = "tcp")))]
mod listener;
#[cfg(all(feature = "server", any(feature = "http", feature = "tcp")))]
mod settings;
#[cfg(feature = "server")]
pub mod shutdown;
#[cfg(all(unix, feature = "stdio"))]
pub mod stdio;
#[cfg(feature = "tcp")]
pub mod tcp;
#[cfg(all(
    any(feature = "client", feature = "server"),
    any(feature = "http", feature = "tcp")
))]
pub mod tls;
#[cfg(all(unix, feature = "unix"))]
pub mod unix;
#[cfg(feature = "ws")]
pub mod ws;

#[cfg(all(feature = "server", any(feature = "http", feature = "tcp")))]
pub use listener::DEFAULT_MAX_CONNECTIONS;
#[cfg(feature = "server")]
pub use shutdown::Shutdown;

/// A header for a request or a handshake, checked.
#[cfg(all(feature = "client", feature = "http"))]
pub(crate) fn header(
    name: &str,
    value: &str,
) -> Result<(::http::HeaderName, ::http::HeaderValue), rpc_core::ConfigError> {
    let invalid = |source: rpc_core::BoxError| rpc_core::ConfigError::InvalidHeader {
        name: name.to_owned(),
        source,
    };
    let parsed_name = ::http::HeaderName::try_from(name).map_err(|e| invalid(Box::new(e)))?;
    let mut parsed_value =
        ::http::HeaderValue::try_from(value).map_err(|e| invalid(Box::new(e)))?;
    // Never printed by `Debug` (of a client, say): credentials.
    if matches!(
        parsed_name,
        ::http::header::AUTHORIZATION
            | ::http::header::PROXY_AUTHORIZATION
            | ::http::header::COOKIE
    ) {
        parsed_value.set_sensitive(true);
    }
    Ok((parsed_name, parsed_value))
}

/// `url` with any `user:password@` replaced by `***@`, to show in errors
/// and `Debug` output.
#[cfg(all(feature = "client", feature = "http"))]
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(all(feature = "client", feature = "http"))]
/// What is wrong with a URL, in words for the user.
pub(crate) fn url_error(e: url::ParseError) -> String {
    match e {
        url::ParseError::RelativeUrlWithoutBase => "no scheme; expected http:// or https://".into(),
        url::ParseError::InvalidPort => "the port is not a port number (0 to 65535)".into(),
        url::ParseError::EmptyHost => "no host".into(),
        other => other.to_string(),
    }
}

/// An error whose message says what failed and gives every cause (the
/// libraries' own messages stop at the first: "error sending request for
/// url (..)", "tunnel error: unsuccessful"); the error itself stays the
/// [`source`](std::error::Error::source).
#[cfg(all(feature = "client", feature = "http"))]
#[derive(Debug)]
pub(crate) struct Described {
    message: String,
    error: rpc_core::BoxError,
}

#[cfg(all(feature = "client", feature = "http"))]
impl Described {
    /// `error`, its message after `context` (if any) and followed by its causes.
    pub(crate) fn new(
        context: Option<&str>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut message = context.map_or_else(String::new, |c| format!("{c}: "));
        message.push_str(&error.to_string());
        let mut source = error.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // Some layers repeat their source's message.
            if !message.ends_with(&cause_text) {
                message.push_str(": ");
                message.push_str(&cause_text);
            }
            source = cause.source();
        }
        Described {
            message,
            error: Box::new(error),
        }
    }
}

#[cfg(all(feature = "client", feature = "http"))]
impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(all(feature = "client", feature = "http"))]
impl std::error::Error for Described {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// Sets a TCP connection up: no Nagle delay (each message goes out at
/// once), and keep-alive probes so that a peer gone without a word (a
/// crashed host, a network cut) is noticed within about a minute: after
/// 30 s of silence, a probe every 10 s, 3 unanswered ones end it.
#[cfg(any(
    all(feature = "server", any(feature = "http", feature = "tcp")),
    all(feature = "client", any(feature = "ws", feature = "tcp"))
))]
pub(crate) fn tune(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(30));
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    ))]
    let keepalive = keepalive
        .with_interval(std::time::Duration::from_secs(10))
        .with_retries(3);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

/// How long a client waits for a connection to be made (TCP, TLS and the
/// WebSocket handshake included): 10 s.
#[cfg(feature = "client")]
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(all(test, feature = "tcp", feature = "client"))]
mod tests {
    #[tokio::test]
    async fn tcp_connections_probe_a_silent_peer_after_thirty_seconds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        super::tune(&stream);
        let socket = socket2::SockRef::from(&stream);
        assert!(socket.keepalive().unwrap());
        assert!(socket.tcp_nodelay().unwrap());
        #[cfg(target_os = "linux")]
        {
            assert_eq!(socket.tcp_keepalive_time().unwrap().as_secs(), 30);
            assert_eq!(socket.tcp_keepalive_interval().unwrap().as_secs(), 10);
            assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
        }
    }
}
