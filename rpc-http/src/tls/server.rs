//! A server's side of TLS: its certificate and key, read from PEM, swapped
//! for new ones without a restart, and the handshake of each accepted
//! connection (inside the connection's own task, under a timeout).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rpc_core::ConfigError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::Shutdown;

/// How long a connection may take over its TLS handshake by default: 10 s
/// (counted from the accept; meanwhile it holds its place under the
/// connection caps).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's TLS: its certificate chain and private key, for HTTPS and
/// WSS ([`http::Server::with_tls`](crate::http::Server::with_tls)) and TLS
/// over TCP ([`tcp::TcpServer::with_tls`](crate::tcp::TcpServer::with_tls)).
/// rustls on ring; TLS 1.3 and 1.2.
///
/// Clones share one certificate: [`reload`](Self::reload) reads the files
/// again, and from then on every server holding a clone presents the new
/// certificate to new connections, while open connections go on with the
/// one they began with. A client that does not speak TLS, or does not
/// finish its handshake within [`DEFAULT_HANDSHAKE_TIMEOUT`], has its
/// connection closed; the server goes on.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_http::tls::ServerTls;
/// let tls = ServerTls::from_pem_files("cert.pem", "key.pem")?;
/// let https = rpc_http::http::Server::new(methods.clone()).with_tls(tls.clone()).bind("0.0.0.0:443").await?;
/// let tcp = rpc_http::tcp::TcpServer::new(methods).with_tls(tls.clone()).bind("0.0.0.0:4443").await?;
/// // Later, once the files have been renewed (on SIGHUP, say):
/// tls.reload()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    shared: Arc<Shared>,
    handshake_timeout: Duration,
}

/// What the clones of a [`ServerTls`] share.
struct Shared {
    /// Where the certificate comes from, for `reload`.
    source: Source,
    /// The configuration new connections get.
    current: RwLock<Arc<ServerConfig>>,
}

enum Source {
    Files { cert: PathBuf, key: PathBuf },
    Pem,
    Config,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths only: never key material.
        let mut debug = f.debug_struct("ServerTls");
        match &self.shared.source {
            Source::Files { cert, key } => debug.field("cert", cert).field("key", key),
            Source::Pem => debug.field("source", &"PEM data"),
            Source::Config => debug.field("source", &"rustls::ServerConfig"),
        };
        debug
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl ServerTls {
    /// The certificate chain in the PEM file `cert` (the server's own
    /// certificate first, then any intermediates) and the private key in
    /// the PEM file `key` (PKCS#8, PKCS#1 or SEC1). A file that cannot be
    /// read, holds no certificate or key, or a key that does not match the
    /// certificate is a [`ConfigError`] naming the file.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let config = read_files(&cert, &key)?;
        Ok(ServerTls::new(Source::Files { cert, key }, config))
    }

    /// The certificate chain and private key from PEM data in memory
    /// (from a secret store, say). [`reload`](Self::reload) has nothing to
    /// read again: use [`replace`](Self::replace).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, ConfigError> {
        let config = config_from_pem(cert, key, "the certificate PEM", "the key PEM")?;
        Ok(ServerTls::new(Source::Pem, config))
    }

    /// Your own rustls configuration (client certificates, several
    /// certificates by server name, ALPN...). It must be built on the
    /// `ring` provider, as everything here is.
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
        ServerTls {
            shared: Arc::new(Shared {
                source: Source::Config,
                current: RwLock::new(config),
            }),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    fn new(source: Source, config: ServerConfig) -> Self {
        ServerTls {
            shared: Arc::new(Shared {
                source,
                current: RwLock::new(Arc::new(config)),
            }),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a connection may take over its handshake before it is
    /// closed (default [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Reads the certificate and key files again; new connections get them,
    /// open ones keep theirs. On an error (a file missing, half written, a
    /// key that does not match) nothing changes: the server goes on with
    /// the certificate it had. Made from PEM data or a configuration, there
    /// is nothing to read: an error.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let Source::Files { cert, key } = &self.shared.source else {
            return Err(ConfigError::Setting {
                setting: "TLS reload",
                source: "this TLS setting was not made from files: use ServerTls::replace".into(),
            });
        };
        let config = read_files(cert, key)?;
        self.replace(Arc::new(config));
        Ok(())
    }

    /// Serves new connections with `config` from now on (open ones keep
    /// theirs); as [`from_config`](Self::from_config), on `ring`.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// The configuration new connections get.
    fn current(&self) -> Arc<ServerConfig> {
        self.shared
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The TLS handshake of an accepted connection, within the handshake
    /// timeout and until the shutdown drains; `None` (the connection
    /// dropped, so closed) when it fails: a plaintext client, a client
    /// that does not trust the certificate, a silent one.
    pub(crate) async fn accept<S>(
        &self,
        stream: S,
        peer: &(dyn fmt::Display + Sync),
        shutdown: &Shutdown,
    ) -> Option<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = TlsAcceptor::from(self.current()).accept(stream);
        tokio::select! {
            outcome = tokio::time::timeout(self.handshake_timeout, handshake) => match outcome {
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "closing a connection whose TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "closing a connection that did not finish its TLS handshake in time");
                    None
                }
            },
            () = shutdown.draining() => None,
        }
    }
}

/// A configuration from the PEM files `cert` and `key`.
fn read_files(cert: &Path, key: &Path) -> Result<ServerConfig, ConfigError> {
    let read = |path: &Path, setting: &'static str| {
        std::fs::read(path).map_err(|e| ConfigError::Setting {
            setting,
            source: format!("cannot read {}: {e}", path.display()).into(),
        })
    };
    let (cert_pem, key_pem) = (
        read(cert, "TLS certificate")?,
        read(key, "TLS private key")?,
    );
    config_from_pem(
        &cert_pem,
        &key_pem,
        &cert.display().to_string(),
        &key.display().to_string(),
    )
}

/// A configuration on ring from PEM data; `cert_name` and `key_name` say
/// where the data came from, in errors.
fn config_from_pem(
    cert: &[u8],
    key: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<ServerConfig, ConfigError> {
    let invalid = |setting: &'static str, text: String| ConfigError::Setting {
        setting,
        source: text.into(),
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("TLS certificate", format!("{cert_name}: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(
            "TLS certificate",
            format!("{cert_name}: no certificate (a `BEGIN CERTIFICATE` block) in it"),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        invalid(
            "TLS private key",
            format!("{key_name}: no private key in it ({e})"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            invalid(
                "TLS certificate",
                format!("{cert_name} with {key_name}: {e}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_pem_are_refused_naming_them() {
        let dir = std::env::temp_dir().join(format!("rpc-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let error = ServerTls::from_pem_files(&cert, &key).unwrap_err();
        assert!(error.to_string().contains("cert.pem"), "{error}");
        let missing = ServerTls::from_pem_files(dir.join("nope.pem"), &key).unwrap_err();
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pem_data_without_a_certificate_is_refused() {
        let error = ServerTls::from_pem(b"", b"").unwrap_err();
        assert!(error.to_string().contains("no certificate"), "{error}");
    }
}
