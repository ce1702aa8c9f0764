//! What the clients (`https://`, `wss://`, `tls://`) trust: rustls on
//! ring, trusting the Mozilla roots (webpki-roots) and the platform's
//! store, as reqwest does, plus any certificate authority the user adds.
//!
//! The built-in roots are read once per process and shared by every
//! client: reqwest's own would read the platform's store again for each
//! client built (milliseconds each).

use std::sync::{Arc, OnceLock};

use rpc_core::ConfigError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Certificate authorities to trust beyond the Mozilla and platform roots.
#[derive(Clone, Debug, Default)]
pub(crate) struct ExtraRoots(Vec<CertificateDer<'static>>);

impl ExtraRoots {
    /// Adds every certificate of a PEM document (at least one), each
    /// checked as a trust anchor: a mistake shows here, not at the first
    /// call.
    pub(crate) fn add_pem(&mut self, pem: &[u8]) -> Result<(), ConfigError> {
        let invalid = |source: rpc_core::BoxError| ConfigError::Setting {
            setting: "root certificate",
            source,
        };
        let mut added = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| invalid(Box::new(e)))?;
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| invalid(Box::new(e)))?;
            added.push(cert);
        }
        if added.is_empty() {
            return Err(invalid("no certificate in the PEM data".into()));
        }
        self.0.extend(added);
        Ok(())
    }
}

/// The Mozilla roots and the platform's, read once per process.
fn built_in_roots() -> &'static Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let platform = rustls_native_certs::load_native_certs();
        for error in &platform.errors {
            tracing::debug!(%error, "reading the platform's root certificates");
        }
        // Platform stores hold the odd certificate rustls cannot parse:
        // skipped, as reqwest does.
        let (_, skipped) = roots.add_parsable_certificates(platform.certs);
        if skipped > 0 {
            tracing::debug!(skipped, "unparsable platform root certificates skipped");
        }
        Arc::new(roots)
    })
}

/// A rustls client configuration on ring (named explicitly: rustls picks
/// no provider by itself when more than one is built in), trusting the
/// built-in roots and `extra`.
pub(crate) fn client_config(extra: &ExtraRoots) -> Result<ClientConfig, ConfigError> {
    let roots = if extra.0.is_empty() {
        Arc::clone(built_in_roots())
    } else {
        let mut roots = RootCertStore::clone(built_in_roots());
        for cert in &extra.0 {
            roots.add(cert.clone()).map_err(|e| ConfigError::Setting {
                setting: "root certificate",
                source: Box::new(e),
            })?;
        }
        Arc::new(roots)
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Setting {
            setting: "TLS",
            source: Box::new(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
