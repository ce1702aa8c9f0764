//! The WebSocket client (tokio-tungstenite).

use rpc_core::duplex::{DuplexConfig, DuplexConnection};
use rpc_core::{Context, Dispatcher, Error, MethodTable};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::adapter::adapt;

/// Connects to a WebSocket JSON-RPC server (`ws://host:port/path`).
///
/// The connection is a [`Transport`](rpc_core::Transport): wrap it in a
/// generated client. `methods` serves what the server sends this client
/// (notifications such as `tick`); pass `MethodTable::new()` to ignore them.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let connection = rpc_net::ws::connect("ws://127.0.0.1:3000/", rpc_core::MethodTable::new()).await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str, methods: MethodTable) -> Result<DuplexConnection, Error> {
    connect_with(url, methods, DuplexConfig::default()).await
}

/// [`connect`] with explicit engine settings.
pub async fn connect_with(
    url: &str,
    methods: MethodTable,
    config: DuplexConfig,
) -> Result<DuplexConnection, Error> {
    // Answers are bounded like requests on a server: the message size limit.
    let max = rpc_core::DEFAULT_MAX_MESSAGE;
    let limits = WebSocketConfig::default()
        .read_buffer_size(super::READ_BUFFER)
        .write_buffer_size(super::WRITE_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .max_write_buffer_size(super::max_write_buffer(max));
    let (socket, _response) = tokio_tungstenite::connect_async_with_config(url, Some(limits), true)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Io(io) => Error::Connect(io.to_string()),
            tungstenite::Error::Http(response) => Error::HttpStatus {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            },
            other => Error::Connect(other.to_string()),
        })?;
    let (incoming, outgoing) = adapt(socket);
    Ok(DuplexConnection::spawn(
        incoming,
        outgoing,
        Dispatcher::new(methods),
        Context::new(),
        None,
        config,
    ))
}
