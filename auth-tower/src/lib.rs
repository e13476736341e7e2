//! A tower [`Layer`](tower_layer::Layer) that enforces JWT access tokens on
//! any tower stack: an axum `Router`, a hyper `service_fn`, a tonic server.
//!
//! [`AuthLayer`] reads the token (`Authorization: Bearer`; opted into, a
//! cookie, a query parameter or a function of yours: see [`TokenSource`]),
//! validates it with an `auth-core` [`Validator`](auth_core::Validator)
//! (signature, pinned `alg`, `typ`, `exp`/`nbf`, issuer/audience, revocation
//! store) and puts the typed [`AccessClaims<E>`](auth_core::AccessClaims) into
//! the request extensions. [`RequireLayer`] adds a role or scope check.
//!
//! Refusals follow RFC 6750 §3:
//!
//! | case | HTTP | `WWW-Authenticate` | JSON `error` | gRPC status |
//! |---|---|---|---|---|
//! | no token | 401 | `Bearer realm="api"` | `missing_token` | 16 UNAUTHENTICATED |
//! | malformed credentials, oversized token | 400 | `error="invalid_request"` | `invalid_request` | 16 |
//! | bad, expired, revoked, wrong-type token | 401 | `error="invalid_token"` | `invalid_token` | 16 |
//! | missing role or scope | 403 | `error="insufficient_scope"` | `insufficient_scope` | 7 PERMISSION_DENIED |
//! | revocation store or verification keys unavailable (fail closed) | 503 | none | `temporarily_unavailable` | 14 UNAVAILABLE |
//! | stack wired wrongly ([`RequireLayer`] without an `AuthLayer` of its claims type) | 500 | none | `server_error` | 13 INTERNAL |
//!
//! An HTTP refusal carries the JSON body
//! `{"error":"<code>","error_description":"<reason>"}` with
//! `content-type: application/json` and `cache-control: no-store`, the shape
//! of `auth-axum-extras`' extractors and routes
//! (see [`Rejection::to_response`]). Requests with
//! `content-type: application/grpc*` get a trailers-only gRPC answer
//! (HTTP 200, `grpc-status`, `grpc-message`, no body).
//! [`AuthLayer::on_rejection`] lets the application write its own answers.
//!
//! The services answer with an [`AuthBody`]: the inner service's body, or
//! the refusal. It is a body whenever the inner one is, so the layer wraps
//! services of any body type (axum's, hyper's, tonic's).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `aws-lc-rs` | yes | auth-core's signature backend on aws-lc-rs |
//! | `rust-crypto` | no | auth-core's pure-Rust backend (build with `default-features = false` so no aws-lc is built) |
//! | `tonic` | no | the layer on one tonic service, claims and role checks in handlers ([`grpc`]) |
//! | `metrics` | no | refusals counted by class, failed store checks (see `auth_core::metrics`) |
//! | `jwks` | no | [`jwks::Jwks`]: the keys of an issuer's JWKS URL or OpenID discovery, for services that only verify (plain HTTP) |
//! | `jwks-tls` | no | `jwks` over HTTPS (rustls) |
//!
//! # Services that only verify
//!
//! A service that never issues tokens builds its validator with
//! [`Validator::builder`](auth_core::Validator::builder) from public keys or a
//! [`KeySource`](auth_core::KeySource) such as [`jwks::Jwks`]. A token naming
//! a `kid` the source does not know waits for one refetch of the keys (which
//! the source rate-limits), so an issuer's new key is accepted on its first
//! token.
//!
//! Rate limiting is not this layer's job: put a limiter (for example tower's
//! `RateLimitLayer` or a per-client one) in front of the login route.
//!
//! # axum
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority, AccessClaims};
//! use auth_tower::{AuthLayer, RequireLayer};
//! use axum::{Extension, Router, routing::get};
//!
//! // The claims are shared (`Arc`) with the layer's cache of verified tokens.
//! async fn profile(Extension(claims): Extension<Arc<AccessClaims<RoleClaims>>>) -> String {
//!     claims.sub.clone()
//! }
//!
//! let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/profile", get(profile))
//!     .route("/admin", get(|| async { "hi" }).layer(RequireLayer::<_, RoleClaims>::role("admin")))
//!     .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
//! ```
//!
//! # hyper
//!
//! ```
//! use std::convert::Infallible;
//! use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
//! use auth_tower::AuthLayer;
//! use http_body_util::Full;
//! use hyper::{Request, Response, StatusCode, body::{Bytes, Incoming}};
//! use tower::ServiceBuilder;
//!
//! async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     // `Err`: no AuthLayer<NoClaims> ran, a wiring bug rather than a missing token.
//!     Ok(match auth_tower::claims::<NoClaims>(req.extensions()) {
//!         Ok(Some(claims)) => Response::new(Full::from(format!("hello {}", claims.sub))),
//!         Ok(None) => Response::new(Full::from("hello stranger")), // optional layer, no token
//!         Err(e) => {
//!             eprintln!("{e}");
//!             let mut res = Response::new(Full::from("server misconfigured"));
//!             *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
//!             res
//!         }
//!     })
//! }
//!
//! let keys = KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::<NoClaims>::new(authority.validator().clone()))
//!     .service_fn(hello);
//! // Serve it with hyper_util::service::TowerToHyperService::new(service).
//! # let _ = hyper_util::service::TowerToHyperService::new(service);
//! ```
//!
//! # tonic
//!
//! Guarding the whole server (health checks included), as below, needs no
//! feature; with the `tonic` feature the layer can guard one service and
//! handlers read claims and check roles per method (see [`grpc`]).
//!
//! ```
//! use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
//! use auth_tower::AuthLayer;
//! use tonic_health::server::health_reporter;
//!
//! # async fn serve() -> Result<(), tonic::transport::Error> {
//! let keys = KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let (_reporter, health) = health_reporter();
//! tonic::transport::Server::builder()
//!     .layer(AuthLayer::<NoClaims>::new(authority.validator().clone()))
//!     .add_service(health)
//!     .serve("127.0.0.1:50051".parse().unwrap())
//!     .await
//! # }
//! ```

// Feature-gated items are linked when they exist, else to the documentation
// built with every feature. The `grpc` module exists with the `tonic` feature
// only.
#![cfg_attr(feature = "tonic", doc = "[`grpc`]: crate::grpc")]
#![cfg_attr(
    not(feature = "tonic"),
    doc = "[`grpc`]: https://docs.rs/auth-tower/latest/auth_tower/grpc/"
)]
// The `jwks` module exists with the `jwks` feature only.
#![cfg_attr(feature = "jwks", doc = "[`jwks::Jwks`]: crate::jwks::Jwks")]
#![cfg_attr(
    not(feature = "jwks"),
    doc = "[`jwks::Jwks`]: https://docs.rs/auth-tower/latest/auth_tower/jwks/struct.Jwks.html"
)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod claims;
mod config;
mod dpop;
mod future;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod grpc;
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub mod introspection;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks;
mod layer;
mod on_rejection;
mod refusal;
mod rejection;
mod require;
pub mod resource_metadata;
mod service;
mod source;

pub use body::AuthBody;
pub use claims::{ClaimsType, claims};
pub use config::{DEFAULT_CHECK_TIMEOUT, DEFAULT_REALM};
pub use dpop::DPOP_NONCE;
pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use on_rejection::RejectedRequest;
pub use rejection::{ClaimsError, Rejection};
pub use require::{Authorize, HasRole, HasScope, LoginWithin, Require, RequireLayer};
pub use resource_metadata::{RESOURCE_METADATA_PATH, ResourceMetadata, ResourceMetadataError};
pub use service::AuthService;
pub use source::{CustomSource, TokenSource, cookie_values};
