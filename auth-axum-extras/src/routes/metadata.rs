//! The discovery documents (OpenID Connect Discovery and RFC 8414
//! authorization server metadata): where a verifier finds the keys, the
//! algorithms and the introspection endpoint, from the issuer's URL alone.

use std::sync::Arc;

use auth_core::TokenAuthority;
use axum::extract::State;
use axum_core::body::Body;
use axum_core::response::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value, json};

/// The OpenID Connect form of the discovery path.
pub(super) const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// The RFC 8414 form of the discovery path.
pub(super) const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";

/// What the documents are written from.
pub(super) struct Metadata {
    pub(super) authority: TokenAuthority,
    /// The URL the router's root is reached at, without a trailing `/`.
    pub(super) base: String,
    /// The JWKS route's path.
    pub(super) jwks_path: String,
    /// The introspection route's path, when enabled.
    pub(super) introspection_path: Option<String>,
}

/// Checks `base` for [`AuthRoutes::discovery`](super::AuthRoutes::discovery)
/// by the rules of a resource identifier (RFC 9728, the same URL rules): an
/// `http(s)://` URL of plain ASCII naming a host, without user info, query
/// or fragment; returned without a trailing `/`.
pub(super) fn base_url(base: &str) -> Result<String, String> {
    let trimmed = base.trim_end_matches('/');
    auth_tower::ResourceMetadata::new(trimmed).map_err(|_| {
        format!(
            "discovery base URL {base:?} must be an https:// (or http://) URL naming a host, in plain ASCII, without user info, query or fragment"
        )
    })?;
    Ok(trimmed.to_owned())
}

pub(super) async fn serve(State(m): State<Arc<Metadata>>) -> Response {
    let mut res = Response::new(Body::from(m.document().to_string()));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let max_age = format!("public, max-age={}", auth_core::JWKS_MAX_AGE.as_secs());
    if let Ok(v) = HeaderValue::from_str(&max_age) {
        res.headers_mut().insert(CACHE_CONTROL, v);
    }
    res
}

impl Metadata {
    /// The document, written anew for each request: a key rotation or
    /// withdrawal shows at once.
    fn document(&self) -> Value {
        let keys = self.authority.keys();
        let mut doc = Map::new();
        let issuer = self
            .authority
            .config()
            .issuer
            .clone()
            .unwrap_or_else(|| self.base.clone());
        doc.insert("issuer".into(), issuer.into());
        // Only keys with a public half are published; HMAC keys never are.
        if !keys.jwks().keys.is_empty() {
            doc.insert(
                "jwks_uri".into(),
                format!("{}{}", self.base, self.jwks_path).into(),
            );
        }
        let mut algs: Vec<&'static str> =
            keys.keys().iter().map(|k| k.algorithm().as_str()).collect();
        algs.sort_unstable();
        algs.dedup();
        doc.insert(
            "access_token_signing_alg_values_supported".into(),
            json!(algs),
        );
        if let Some(path) = &self.introspection_path {
            doc.insert(
                "introspection_endpoint".into(),
                format!("{}{path}", self.base).into(),
            );
            doc.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                json!(["client_secret_basic"]),
            );
        }
        Value::Object(doc)
    }
}
