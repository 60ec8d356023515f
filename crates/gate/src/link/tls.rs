//! TLS for the management link (`wss://`): the reception's certificate is checked against the
//! certificates in a PEM file the operator names (a private CA, or the reception's own
//! self-signed certificate), or, without one, against the system's roots.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use thiserror::Error;

/// Why a TLS client setting could not be made.
#[derive(Debug, Error)]
pub enum TlsError {
    /// The PEM text holds no certificate, or one that does not parse.
    #[error("no usable certificate in the CA file: {0}")]
    Certificates(String),
    /// rustls refused the setting.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS client setting trusting only the certificates in `ca_pem` (PEM text).
pub fn client_config(ca_pem: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| TlsError::Certificates(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| TlsError::Certificates(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Certificates("the file holds none".into()));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS crypto both ends of the management link use: *ring*, the crypto every other part of
/// usher uses, rather than a second C library (aws-lc) for post-quantum key exchange, which
/// rustls has deprecated *ring*'s provider for lacking. The management link's frames are
/// authenticated under keys TLS never sees in any case.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        assert!(matches!(client_config(b""), Err(TlsError::Certificates(_))));
        let garbage = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert!(client_config(garbage).is_err());
    }
}
