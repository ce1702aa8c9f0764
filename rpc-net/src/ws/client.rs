//! The WebSocket client (tokio-tungstenite).

use axum::http::HeaderMap;
use rpc_core::duplex::{DuplexConfig, DuplexConnection};
use rpc_core::{Context, Dispatcher, Error, MethodTable};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::Connector;

use crate::tls::ExtraRoots;

use super::adapter::adapt;

/// Connects to a WebSocket JSON-RPC server (`ws://` or `wss://`).
///
/// The connection is a [`Transport`](rpc_core::Transport): wrap it in a
/// generated client. `methods` serves what the server sends this client
/// (notifications such as `tick`); pass `MethodTable::new()` to ignore them.
/// [`WsClient`] sets headers of the handshake and trusted certificates.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let connection = rpc_net::ws::connect("ws://127.0.0.1:3000/", rpc_core::MethodTable::new()).await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str, methods: MethodTable) -> Result<DuplexConnection, Error> {
    WsClient::new(url).connect(methods).await
}

/// [`connect`] with explicit engine settings.
pub async fn connect_with(
    url: &str,
    methods: MethodTable,
    config: DuplexConfig,
) -> Result<DuplexConnection, Error> {
    WsClient::new(url).duplex(config).connect(methods).await
}

/// A WebSocket connection to make: the URL, headers of the handshake
/// (`Authorization`, say), certificate authorities to trust for `wss://`,
/// and engine settings.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let connection = rpc_net::ws::WsClient::new("wss://example.com/rpc")
///     .with_header("authorization", "Bearer s3cret")?
///     .connect(rpc_core::MethodTable::new())
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WsClient {
    url: String,
    headers: HeaderMap,
    roots: ExtraRoots,
    config: DuplexConfig,
}

impl WsClient {
    /// A connection to `url` with default settings.
    pub fn new(url: &str) -> Self {
        WsClient {
            url: url.to_owned(),
            headers: HeaderMap::new(),
            roots: ExtraRoots::default(),
            config: DuplexConfig::default(),
        }
    }

    /// Adds a header to the handshake request.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let (name, value) = crate::header(name, value)?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Trusts the certificate authorities of a PEM document for `wss://`,
    /// beside the Mozilla roots.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.roots.add_pem(pem)?;
        Ok(self)
    }

    /// Engine settings (keep-alive, queues).
    pub fn duplex(mut self, config: DuplexConfig) -> Self {
        self.config = config;
        self
    }

    /// Connects; `methods` serves what the server sends this client.
    pub async fn connect(self, methods: MethodTable) -> Result<DuplexConnection, Error> {
        let mut request =
            self.url
                .as_str()
                .into_client_request()
                .map_err(|e| Error::InvalidUrl {
                    url: self.url.clone(),
                    reason: e.to_string(),
                })?;
        request.headers_mut().extend(self.headers);
        // Answers are bounded like requests on a server: the message size limit.
        let max = rpc_core::DEFAULT_MAX_MESSAGE;
        let limits = WebSocketConfig::default()
            .read_buffer_size(super::READ_BUFFER)
            .write_buffer_size(super::WRITE_BUFFER)
            .max_message_size(Some(max))
            .max_frame_size(Some(max))
            .max_write_buffer_size(super::max_write_buffer(max));
        let tls = Connector::Rustls(crate::tls::client_config(&self.roots)?);
        let handshake = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(limits),
            true,
            Some(tls),
        );
        let (socket, _response) = tokio::time::timeout(crate::CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| Error::Timeout(crate::CONNECT_TIMEOUT))?
            .map_err(|e| match e {
                tungstenite::Error::Http(response) => {
                    let body = response.body().as_deref().unwrap_or_default();
                    let status = response.status().as_u16();
                    Error::Connect(Box::new(crate::http::StatusError::new(status, body)))
                }
                other => Error::Connect(Box::new(other)),
            })?;
        let (incoming, outgoing) = adapt(socket);
        Ok(DuplexConnection::spawn(
            incoming,
            outgoing,
            Dispatcher::new(methods),
            Context::new(),
            None,
            self.config,
        ))
    }
}
