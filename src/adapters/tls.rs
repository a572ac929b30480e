//! The TLS set-up of the adapters' HTTPS clients (reqwest): the platform's roots plus, when the
//! operator gave one, a PEM bundle of extra CAs.
//!
//! Reading the platform's roots (every certificate under /etc/ssl) costs 5–15 ms, and reqwest
//! reads them again for every client it builds. The verifier is built once per process for each
//! bundle and shared by the clients built after it; each client keeps its own connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What a bundle could not be used for, in words for the operator's message.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleError {
    /// Not PEM, or a PEM certificate that does not parse.
    NotPem(String),
    /// PEM without a single certificate.
    NoCertificate,
    /// The platform's roots or the TLS set-up failed.
    Setup(String),
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleError::NotPem(e) => write!(f, "not a PEM bundle ({e})"),
            BundleError::NoCertificate => {
                write!(f, "no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            BundleError::Setup(e) => write!(f, "{e}"),
        }
    }
}

type Configs = Mutex<HashMap<Vec<u8>, Arc<ClientConfig>>>;

fn configs() -> &'static Configs {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    CONFIGS.get_or_init(Configs::default)
}

/// The certificates of a PEM bundle.
pub fn parse_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, BundleError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BundleError::NotPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(BundleError::NoCertificate);
    }
    Ok(certs)
}

/// The client TLS configuration trusting the platform's roots and `extra` (a PEM bundle, already
/// checked by [`parse_bundle`] or not), offering HTTP/2 and HTTP/1.1 by ALPN as reqwest does.
pub fn client_config(extra: Option<&[u8]>) -> Result<ClientConfig, BundleError> {
    let key = extra.unwrap_or_default().to_vec();
    let cached = configs()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    if let Some(config) = cached {
        return Ok((*config).clone());
    }
    let roots = extra.map(parse_bundle).transpose()?.unwrap_or_default();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            .map_err(|e| BundleError::Setup(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BundleError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    configs()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, Arc::new(config.clone()));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_a_certificate_or_not_pem_is_refused() {
        assert_eq!(parse_bundle(b"hello\n"), Err(BundleError::NoCertificate));
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(parse_bundle(broken), Err(BundleError::NotPem(_))));
    }
}
