//! The Unix socket client.

use std::path::{Path, PathBuf};

use rpc_core::duplex::DuplexConnection;
use rpc_core::reconnect::Endpoint;
use rpc_core::{Error, MethodTable, TransportKind};
use tokio::net::UnixStream;

use crate::tcp::{client_stream, StreamOptions};

/// Connects to a JSON-RPC server on the Unix socket at `path`. The
/// connection is a [`Transport`](rpc_core::Transport) with subscriptions:
/// make a client of it with `rpc::Client::new(connection)`.
///
/// `methods` serves what the server sends this client; pass an empty table
/// to ignore it. The options' first-message timeout does not apply.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// use rpc_http::tcp::StreamOptions;
/// let connection = rpc_http::unix::connect("/run/app.sock", &StreamOptions::default(), rpc_core::MethodTable::new()).await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub async fn connect(
    path: impl AsRef<Path>,
    options: &StreamOptions,
    methods: MethodTable,
) -> Result<DuplexConnection, Error> {
    let stream = tokio::time::timeout(crate::CONNECT_TIMEOUT, UnixStream::connect(path))
        .await
        .map_err(|_| Error::Timeout(crate::CONNECT_TIMEOUT))?
        .map_err(|e| Error::Connect(Box::new(e)))?;
    Ok(client_stream(stream, options, methods, TransportKind::Unix))
}

/// An endpoint for a reconnecting client
/// ([`Reconnect`](rpc_core::reconnect::Reconnect)): the Unix socket at
/// `path`, with `options`, serving `methods` to the server.
pub fn endpoint(
    path: impl Into<PathBuf>,
    options: StreamOptions,
    methods: MethodTable,
) -> Endpoint {
    let path = path.into();
    Endpoint::new(format!("unix://{}", path.display()), move || {
        let (path, options, methods) = (path.clone(), options.clone(), methods.clone());
        async move { connect(&path, &options, methods).await }
    })
}
