//! The TLS-over-TCP client (`tls://HOST:PORT`).

use std::sync::Arc;

use rpc_core::duplex::DuplexConnection;
use rpc_core::reconnect::Endpoint;
use rpc_core::{ConfigError, Error, MethodTable, TransportKind};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;

use super::ExtraRoots;
use crate::tcp::{client_stream, StreamOptions};

/// Connects to a JSON-RPC server over TLS over TCP (`tls://HOST:PORT`, as
/// [`TcpServer::with_tls`](crate::tcp::TcpServer::with_tls) serves it),
/// with the TCP client's framing and settings. The server's certificate
/// must be valid for HOST (a name, or an IP address) and come from the
/// Mozilla roots, the platform's store, or an authority added with
/// [`with_root_certificates`](Self::with_root_certificates).
///
/// ```no_run
/// # async fn demo(ca_pem: &[u8]) -> Result<(), rpc_core::Error> {
/// use rpc_http::tls::TlsClient;
/// let connection = TlsClient::new("rpc.internal:4443")
///     .with_root_certificates(ca_pem)?
///     .connect(rpc_core::MethodTable::new())
///     .await?;
/// let client = rpc_core::Client::new(connection);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TlsClient {
    addr: String,
    roots: ExtraRoots,
    config: Option<Arc<ClientConfig>>,
    options: StreamOptions,
}

impl TlsClient {
    /// A connection to `addr`: `HOST:PORT`, `[IPV6]:PORT`, or the same
    /// after `tls://`.
    pub fn new(addr: &str) -> Self {
        let addr = addr.strip_prefix("tls://").unwrap_or(addr);
        TlsClient {
            addr: addr.trim_end_matches('/').to_owned(),
            roots: ExtraRoots::default(),
            config: None,
            options: StreamOptions::default(),
        }
    }

    /// Trusts the certificate authorities of a PEM document, beside the
    /// Mozilla roots and the platform's.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        self.roots.add_pem(pem)?;
        Ok(self)
    }

    /// Your own rustls configuration (client certificates, say), instead
    /// of the roots above; built on the `ring` provider.
    pub fn with_tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// Framing, timeouts and engine settings, as for
    /// [`tcp::connect`](crate::tcp::connect).
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// An endpoint for a reconnecting client: each connection it opens is
    /// made with these settings and serves `methods` to the server.
    pub fn endpoint(self, methods: MethodTable) -> Endpoint {
        let name = format!("tls://{}", self.addr);
        Endpoint::new(name, move || self.clone().connect(methods.clone()))
    }

    /// Connects (TCP and the TLS handshake within
    /// [`CONNECT_TIMEOUT`](crate::CONNECT_TIMEOUT)); `methods` serves what
    /// the server sends this client.
    pub async fn connect(self, methods: MethodTable) -> Result<DuplexConnection, Error> {
        let host = host_of(&self.addr).ok_or_else(|| ConfigError::InvalidUrl {
            url: format!("tls://{}", self.addr),
            reason: "expected HOST:PORT".into(),
        })?;
        let name = ServerName::try_from(host.to_owned()).map_err(|e| ConfigError::InvalidUrl {
            url: format!("tls://{}", self.addr),
            reason: format!("`{host}` is not a host name or IP address: {e}"),
        })?;
        let config = match self.config {
            Some(config) => config,
            None => Arc::new(super::client_config(&self.roots)?),
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let connecting = async {
            let stream = TcpStream::connect(self.addr.as_str())
                .await
                .map_err(|e| Error::Connect(Box::new(e)))?;
            crate::tune(&stream);
            // rustls's error inside says why ("invalid peer certificate: UnknownIssuer").
            connector
                .connect(name, stream)
                .await
                .map_err(|e| Error::Connect(Box::new(e)))
        };
        let stream = tokio::time::timeout(crate::CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| Error::Timeout(crate::CONNECT_TIMEOUT))??;
        Ok(client_stream(
            stream,
            &self.options,
            methods,
            TransportKind::Tcp,
        ))
    }
}

/// The host of `HOST:PORT` or `[IPV6]:PORT`.
fn host_of(addr: &str) -> Option<&str> {
    let (host, port) = addr.rsplit_once(':')?;
    if port.is_empty() || host.is_empty() {
        return None;
    }
    Some(
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host),
    )
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_is_what_comes_before_the_port() {
        assert_eq!(host_of("localhost:4443"), Some("localhost"));
        assert_eq!(host_of("127.0.0.1:1"), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:4443"), Some("::1"));
        assert_eq!(host_of("localhost"), None);
        assert_eq!(host_of(":4443"), None);
    }
}
