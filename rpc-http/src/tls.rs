//! TLS for the clients (`https://`, `wss://`): rustls on ring, trusting the
//! Mozilla roots (webpki-roots) plus any certificate authority the user adds.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use rpc_core::Error;

/// Certificate authorities to trust beyond the Mozilla roots.
#[derive(Clone, Debug, Default)]
pub(crate) struct ExtraRoots(Vec<CertificateDer<'static>>);

impl ExtraRoots {
    /// Adds every certificate of a PEM document.
    pub(crate) fn add_pem(&mut self, pem: &[u8]) -> Result<(), Error> {
        let before = self.0.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Config {
                setting: "root certificate",
                source: Box::new(e),
            })?;
            self.0.push(cert);
        }
        if self.0.len() == before {
            return Err(Error::Config {
                setting: "root certificate",
                source: "no certificate in the PEM data".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &CertificateDer<'static>> {
        self.0.iter()
    }
}

/// A rustls client configuration with an explicit crypto provider (ring).
pub(crate) fn client_config(extra: &ExtraRoots) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra.iter() {
        roots.add(cert.clone()).map_err(|e| Error::Config {
            setting: "root certificate",
            source: Box::new(e),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            setting: "TLS",
            source: Box::new(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
