//! The TCP client.

use rpc_core::duplex::DuplexConnection;
use rpc_core::reconnect::Endpoint;
use rpc_core::{Error, MethodTable};
use tokio::net::{TcpStream, ToSocketAddrs};

use super::{client_stream, StreamOptions};

/// Connects to a TCP JSON-RPC server. The returned connection is a
/// [`Transport`](rpc_core::Transport): wrap it in a generated client.
///
/// `methods` serves what the server sends this client (its notifications
/// and calls); pass an empty table to ignore them. The options'
/// first-message timeout does not apply: a server speaks only when asked.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// use rpc_http::tcp::{connect, StreamOptions};
/// let connection = connect("127.0.0.1:4000", &StreamOptions::default(), rpc_core::MethodTable::new()).await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub async fn connect(
    addr: impl ToSocketAddrs,
    options: &StreamOptions,
    methods: MethodTable,
) -> Result<DuplexConnection, Error> {
    let stream = tokio::time::timeout(crate::CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout(crate::CONNECT_TIMEOUT))?
        .map_err(|e| Error::Connect(Box::new(e)))?;
    crate::tune(&stream);
    Ok(client_stream(
        stream,
        options,
        methods,
        rpc_core::TransportKind::Tcp,
    ))
}

/// An endpoint for a reconnecting client
/// ([`Reconnect`](rpc_core::reconnect::Reconnect)): a TCP connection to
/// `addr` (`host:port`) with `options` (its framing), serving `methods` to
/// the server.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// use rpc_core::reconnect::Reconnect;
/// use rpc_http::tcp::{endpoint, StreamOptions};
/// let connection = Reconnect::new(endpoint("127.0.0.1:4000", StreamOptions::default(), rpc_core::MethodTable::new()))
///     .connect()
///     .await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub fn endpoint(addr: impl Into<String>, options: StreamOptions, methods: MethodTable) -> Endpoint {
    let addr = addr.into();
    Endpoint::new(format!("tcp://{addr}"), move || {
        let (addr, options, methods) = (addr.clone(), options.clone(), methods.clone());
        async move { connect(addr.as_str(), &options, methods).await }
    })
}
