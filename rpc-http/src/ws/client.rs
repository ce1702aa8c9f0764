//! The WebSocket client (tokio-tungstenite).

use ::http::HeaderMap;
use rpc_core::duplex::{DuplexConfig, DuplexConnection};
use rpc_core::{ConfigError, Context, Dispatcher, Error, MethodTable};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::Connector;

use super::adapter::adapt;
use crate::tls::ExtraRoots;

/// Connects to a WebSocket JSON-RPC server (`ws://` or `wss://`).
///
/// The connection is a [`Transport`](rpc_core::Transport): wrap it in a
/// generated client. `methods` serves what the server sends this client
/// (notifications such as `tick`); pass `MethodTable::new()` to ignore them.
/// [`WsClient`] sets headers of the handshake and trusted certificates.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let connection = rpc_http::ws::connect("ws://127.0.0.1:3000/", rpc_core::MethodTable::new()).await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str, methods: MethodTable) -> Result<DuplexConnection, Error> {
    WsClient::new(url).connect(methods).await
}

/// An endpoint for a reconnecting client
/// ([`Reconnect`](rpc_core::reconnect::Reconnect)): a WebSocket connection
/// to `url` that serves `methods` to the server. [`WsClient::endpoint`]
/// sets headers, certificates or a proxy.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// use rpc_core::reconnect::Reconnect;
/// let connection = Reconnect::new(rpc_http::ws::endpoint("ws://10.0.0.1:3000/", rpc_core::MethodTable::new()))
///     .with_endpoint(rpc_http::ws::endpoint("ws://10.0.0.2:3000/", rpc_core::MethodTable::new()))
///     .connect()
///     .await?;
/// let client = rpc_core::Client::new(connection.clone());
/// println!("{}", connection.state());
/// # Ok(()) }
/// ```
pub fn endpoint(url: &str, methods: MethodTable) -> rpc_core::reconnect::Endpoint {
    WsClient::new(url).endpoint(methods)
}

/// [`connect`] with explicit engine settings.
pub async fn connect_with(
    url: &str,
    methods: MethodTable,
    config: DuplexConfig,
) -> Result<DuplexConnection, Error> {
    WsClient::new(url)
        .with_duplex(config)
        .connect(methods)
        .await
}

/// A WebSocket connection to make: the URL, headers of the handshake
/// (`Authorization`, say), certificate authorities to trust for `wss://`
/// (beside the Mozilla roots and the platform's), an HTTP proxy to tunnel
/// through, and engine settings.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_core::Error> {
/// let connection = rpc_http::ws::WsClient::new("wss://example.com/rpc")
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
    proxy: Option<Proxy>,
    config: DuplexConfig,
}

/// An HTTP proxy for a WebSocket: where it listens, and the credentials
/// it asks for (from its URL's user info).
#[derive(Clone)]
struct Proxy {
    /// The proxy's URL, without user info.
    uri: ::http::Uri,
    authorization: Option<::http::HeaderValue>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Proxy")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl WsClient {
    /// A connection to `url` with default settings.
    pub fn new(url: &str) -> Self {
        WsClient {
            url: url.to_owned(),
            headers: HeaderMap::new(),
            roots: ExtraRoots::default(),
            proxy: None,
            config: DuplexConfig::default(),
        }
    }

    /// Adds a header to the handshake request.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let (name, value) = crate::header(name, value)?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Trusts the certificate authorities of a PEM document for `wss://`,
    /// beside the Mozilla roots and the platform's.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        self.roots.add_pem(pem)?;
        Ok(self)
    }

    /// Connects through the HTTP proxy at `url`
    /// (`http://[user:password@]host[:port]`) with a `CONNECT` tunnel
    /// (hyper-util's), for `ws://` and `wss://` alike (TLS then runs inside
    /// the tunnel). None by default: unlike the HTTP client, the WebSocket
    /// client does not read the environment's proxy variables. A proxy
    /// reached over TLS (`https://`) is not supported for WebSocket: an
    /// [`ConfigError::InvalidUrl`](ConfigError::InvalidUrl).
    ///
    /// ```
    /// # fn demo() -> Result<(), rpc_core::Error> {
    /// let client = rpc_http::ws::WsClient::new("wss://example.com/rpc")
    ///     .with_proxy("http://proxy.internal:3128")?;
    /// # Ok(()) }
    /// ```
    pub fn with_proxy(mut self, url: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidUrl {
            url: crate::redacted(url),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(crate::url_error(e)))?;
        match parsed.scheme() {
            "http" => {}
            "https" => {
                return Err(invalid(
                    "a WebSocket cannot go through a proxy reached over TLS; \
                     use the proxy's http:// address"
                        .into(),
                ))
            }
            other => {
                return Err(invalid(format!(
                    "unsupported proxy scheme `{other}`; expected http"
                )))
            }
        }
        // hyper-util's matcher reads the user info as reqwest does
        // (percent-decoded Basic credentials).
        let intercept = hyper_util::client::proxy::matcher::Matcher::builder()
            .all(url.to_owned())
            .build()
            .intercept(&::http::Uri::from_static("http://target/"))
            .ok_or_else(|| invalid("not a proxy URL".into()))?;
        self.proxy = Some(Proxy {
            uri: intercept.uri().clone(),
            authorization: intercept.basic_auth().cloned(),
        });
        Ok(self)
    }

    /// Engine settings (keep-alive, queues).
    pub fn with_duplex(mut self, config: DuplexConfig) -> Self {
        self.config = config;
        self
    }

    /// An endpoint for a reconnecting client: each connection it opens is
    /// made with these settings and serves `methods` to the server.
    pub fn endpoint(self, methods: MethodTable) -> rpc_core::reconnect::Endpoint {
        let name = crate::redacted(&self.url);
        rpc_core::reconnect::Endpoint::new(name, move || self.clone().connect(methods.clone()))
    }

    /// Connects; `methods` serves what the server sends this client.
    pub async fn connect(self, methods: MethodTable) -> Result<DuplexConnection, Error> {
        let mut request =
            self.url
                .as_str()
                .into_client_request()
                .map_err(|e| ConfigError::InvalidUrl {
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
        let tls = Connector::Rustls(std::sync::Arc::new(crate::tls::client_config(&self.roots)?));
        let handshake = async {
            let Some(proxy) = &self.proxy else {
                let handshake = tokio_tungstenite::connect_async_tls_with_config(
                    request,
                    Some(limits),
                    true,
                    Some(tls),
                );
                return handshake.await.map_err(handshake_error);
            };
            let tunnel = proxy.tunnel(request.uri()).await?;
            tokio_tungstenite::client_async_tls_with_config(
                request,
                tunnel,
                Some(limits),
                Some(tls),
            )
            .await
            .map_err(handshake_error)
        };
        let (socket, _response) = tokio::time::timeout(crate::CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| Error::Timeout(crate::CONNECT_TIMEOUT))??;
        let (incoming, outgoing) = adapt(socket);
        Ok(DuplexConnection::spawn(
            incoming,
            outgoing,
            Dispatcher::new(methods),
            Context::new().with(rpc_core::TransportKind::WebSocket),
            None,
            self.config,
        ))
    }
}

impl Proxy {
    /// A TCP connection to `target`'s host and port through the proxy.
    async fn tunnel(&self, target: &::http::Uri) -> Result<tokio::net::TcpStream, Error> {
        use hyper_util::client::legacy::connect::{proxy::Tunnel, HttpConnector};
        use tower::ServiceExt;
        let port = target
            .port_u16()
            .unwrap_or(if target.scheme_str() == Some("wss") {
                443
            } else {
                80
            });
        let host = target.host().unwrap_or_default();
        let destination: ::http::Uri =
            format!("http://{host}:{port}/")
                .parse()
                .map_err(|e| ConfigError::InvalidUrl {
                    url: target.to_string(),
                    reason: format!("{e}"),
                })?;
        let mut tunnel = Tunnel::new(self.uri.clone(), HttpConnector::new());
        if let Some(authorization) = &self.authorization {
            tunnel = tunnel.with_auth(authorization.clone());
        }
        let stream = tunnel.oneshot(destination).await.map_err(|e| {
            let context = format!("through the proxy {}", self.uri);
            Error::Connect(Box::new(crate::Described::new(Some(&context), e)))
        })?;
        let stream = stream.into_inner();
        crate::tune(&stream);
        Ok(stream)
    }
}

/// A failed handshake: an HTTP refusal keeps its status.
fn handshake_error(e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            let status = response.status().as_u16();
            Error::Connect(Box::new(crate::http::StatusError::new(status, body)))
        }
        other => Error::Connect(Box::new(other)),
    }
}
