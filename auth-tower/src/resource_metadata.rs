//! RFC 9728 protected resource metadata: what a resource server tells
//! clients about itself (its identifier, the authorization servers whose
//! tokens it takes, how tokens are sent), at
//! `/.well-known/oauth-protected-resource`.
//!
//! Serve [`ResourceMetadata::document`] at [`ResourceMetadata::path`], and
//! name [`ResourceMetadata::url`] in the layer's challenges with
//! [`AuthLayer::resource_metadata`](crate::AuthLayer::resource_metadata):
//!
//! ```
//! use auth_core::RoleClaims;
//! use auth_tower::ResourceMetadata;
//! use axum::{Json, Router, routing::get};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metadata = ResourceMetadata::new("https://api.example.com")?
//!     .authorization_server("https://auth.example.com")
//!     .scopes(["orders:read", "orders:write"]);
//! assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource");
//! assert_eq!(
//!     metadata.url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource"
//! );
//! let document = metadata.document();
//! let app: Router = Router::new()
//!     .route(&metadata.path(), get(move || async move { Json(document) }));
//! // ... and `AuthLayer::<RoleClaims>::new(validator).resource_metadata(metadata.url())`
//! // around the protected routes.
//! # Ok(()) }
//! ```

use serde_json::{Map, Value, json};

/// The well-known path of the document (RFC 9728 §3).
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// A resource identifier that is not an `http(s)` URL without query or
/// fragment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the resource {0:?} must be an https:// (or http://) URL of plain ASCII, without user info, query or fragment"
)]
pub struct ResourceMetadataError(String);

/// The metadata of a protected resource (RFC 9728 §2).
#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    jwks_uri: Option<String>,
    scopes: Vec<String>,
    bearer_methods: Vec<String>,
}

impl ResourceMetadata {
    /// The metadata of the resource identified by `resource`: the URL
    /// clients reach it at (`https://api.example.com`). Tokens are sent in
    /// the `Authorization` header (`bearer_methods_supported: ["header"]`),
    /// the layer's default.
    pub fn new(resource: &str) -> Result<Self, ResourceMetadataError> {
        let refused = || ResourceMetadataError(resource.to_owned());
        let rest = resource
            .strip_prefix("https://")
            .or_else(|| resource.strip_prefix("http://"))
            .ok_or_else(refused)?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty()
            || host.contains('@')
            || rest.contains(['?', '#'])
            || rest
                .chars()
                .any(|c| !c.is_ascii_graphic() || "\"\\<>^`{|}".contains(c))
        {
            return Err(refused());
        }
        Ok(ResourceMetadata {
            resource: resource.to_owned(),
            authorization_servers: Vec::new(),
            jwks_uri: None,
            scopes: Vec::new(),
            bearer_methods: vec!["header".to_owned()],
        })
    }

    /// An authorization server (its issuer identifier, a URL) whose tokens
    /// the resource accepts; repeat for several.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The JWKS the resource verifies tokens with, when clients should know
    /// it (RFC 9728 `jwks_uri`).
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// The scopes the resource uses in authorization decisions.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How tokens may be sent (`header`, `body`, `query`): the token
    /// sources the layer reads. `["header"]` by default.
    pub fn bearer_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bearer_methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// The path to serve the document at: the well-known path, followed by
    /// the resource's own path when it has one (RFC 9728 §3.1).
    pub fn path(&self) -> String {
        let rest = self.resource.split_once("://").map_or("", |(_, rest)| rest);
        let own = rest.find('/').map_or("", |i| &rest[i..]);
        format!("{RESOURCE_METADATA_PATH}{}", own.trim_end_matches('/'))
    }

    /// The document's URL, for the layer's challenges.
    pub fn url(&self) -> String {
        let (scheme, rest) = self
            .resource
            .split_once("://")
            .unwrap_or(("https", &self.resource));
        let host = rest.split('/').next().unwrap_or_default();
        format!("{scheme}://{host}{}", self.path())
    }

    /// The JSON document: `resource`, `bearer_methods_supported`, and
    /// `authorization_servers`, `jwks_uri` and `scopes_supported` when set.
    pub fn document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("resource".into(), self.resource.clone().into());
        if !self.authorization_servers.is_empty() {
            doc.insert(
                "authorization_servers".into(),
                json!(self.authorization_servers),
            );
        }
        if let Some(jwks) = &self.jwks_uri {
            doc.insert("jwks_uri".into(), jwks.clone().into());
        }
        if !self.scopes.is_empty() {
            doc.insert("scopes_supported".into(), json!(self.scopes));
        }
        doc.insert(
            "bearer_methods_supported".into(),
            json!(self.bearer_methods),
        );
        Value::Object(doc)
    }
}
