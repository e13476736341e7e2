//! A tower [`Layer`](tower_layer::Layer) that enforces JWT access tokens on
//! any tower stack: an axum `Router`, a hyper `service_fn`, a tonic server.
//!
//! [`AuthLayer`] reads the token (`Authorization: Bearer`, optionally a
//! cookie), validates it with an `auth-core` [`Validator`](auth_core::Validator)
//! (signature, pinned `alg`, `typ`, `exp`/`nbf`, issuer/audience, revocation
//! store) and puts the typed [`AccessClaims<E>`](auth_core::AccessClaims) into
//! the request extensions. [`RequireLayer`] adds a role or scope check.
//!
//! Refusals follow RFC 6750 §3:
//!
//! | case | HTTP | `WWW-Authenticate` | gRPC status |
//! |---|---|---|---|
//! | no token | 401 | `Bearer realm="api"` | 16 UNAUTHENTICATED |
//! | malformed `Authorization`, oversized token | 400 | `error="invalid_request"` | 16 |
//! | bad, expired, revoked, wrong-type token | 401 | `error="invalid_token"` | 16 |
//! | missing role or scope | 403 | `error="insufficient_scope"` | 7 PERMISSION_DENIED |
//! | revocation store unavailable (fail closed) | 503 | none | 14 UNAVAILABLE |
//!
//! Requests with `content-type: application/grpc*` get a trailers-only gRPC
//! answer (HTTP 200, `grpc-status`, `grpc-message`). The body is always the
//! response body type's `Default`, so the layer fits any body type.
//!
//! Rate limiting is not this layer's job: put a limiter (for example tower's
//! `RateLimitLayer` or a per-client one) in front of the login route.
//!
//! # axum
//!
//! ```
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority, AccessClaims};
//! use auth_tower::{AuthLayer, RequireLayer};
//! use axum::{Extension, Router, routing::get};
//!
//! async fn profile(Extension(claims): Extension<AccessClaims<RoleClaims>>) -> String {
//!     claims.sub
//! }
//!
//! let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/profile", get(profile))
//!     .route("/admin", get(|| async { "hi" }).layer(RequireLayer::<RoleClaims, _>::role("admin")))
//!     .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
//! ```
//!
//! # hyper
//!
//! ```
//! use std::convert::Infallible;
//! use auth_core::{Algorithm, Key, KeySet, NoClaims, AccessClaims, TokenAuthority};
//! use auth_tower::AuthLayer;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::{Bytes, Incoming}};
//! use tower::ServiceBuilder;
//!
//! async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let sub = req.extensions().get::<AccessClaims<NoClaims>>().map(|c| c.sub.clone());
//!     Ok(Response::new(Full::from(sub.unwrap_or_default())))
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

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod claims;
mod future;
mod layer;
mod rejection;
mod require;
mod service;
mod source;

pub use claims::{ClaimsError, ClaimsType, claims};
pub use future::ResponseFuture;
pub use layer::{AuthLayer, DEFAULT_CHECK_TIMEOUT, DEFAULT_REALM};
pub use rejection::Rejection;
pub use require::{Authorize, HasRole, HasScope, Require, RequireLayer};
pub use service::AuthService;
pub use source::{TokenSource, cookie_values};
