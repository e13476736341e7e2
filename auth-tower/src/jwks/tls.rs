//! The HTTPS connector (feature `jwks-tls`): rustls with the platform's or
//! the given trust roots.

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use super::JwksError;

/// HTTPS or HTTP, checking servers against `roots_pem` when given, else
/// the system's trust store. The crypto provider is named here, so no
/// process-wide default is needed.
pub(crate) fn connector(
    mut http: HttpConnector,
    roots_pem: Option<&[u8]>,
) -> Result<HttpsConnector<HttpConnector>, JwksError> {
    let tls = |e: &dyn std::fmt::Display| JwksError::Tls(e.to_string());
    let mut roots = RootCertStore::empty();
    match roots_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "JWKS client: could not read some system root certificates");
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        return Err(tls(
            &"no trust roots (none in the PEM, or none found on the system)",
        ));
    }
    let config =
        ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    http.enforce_http(false);
    Ok(HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}
