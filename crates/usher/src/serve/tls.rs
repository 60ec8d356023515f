//! TLS on a listener (the reception's management listener, for `wss://` links): a certificate
//! chain and its private key from PEM files, *ring* as the crypto, and a bounded handshake.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Longest a client may take over its TLS handshake before its connection is closed.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An acceptor serving the chain in `cert` (PEM, leaf first) with the key in `key` (PEM:
/// PKCS#8, PKCS#1 or SEC1).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the certificate file {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("a certificate in {} does not parse", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("no private key in {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(usher_gate::link::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the key do not make a TLS setting")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
