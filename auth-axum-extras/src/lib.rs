//! axum extras for the `auth-core` / `auth-tower` token family: typed
//! extractors, ready-made login, refresh, logout, logout-all and session
//! list endpoints, and the HTTP-only refresh cookie.
//!
//! # Protect an app and mount the auth routes
//!
//! ```
//! use auth_axum_extras::{Auth, AuthRoutes, InMemoryUsers, password::hash_password};
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
//! use auth_tower::AuthLayer;
//! use axum::{Router, routing::get};
//!
//! async fn profile(Auth(claims): Auth<RoleClaims>) -> String {
//!     format!("hello {}", claims.sub)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA)?)?).build()?;
//! let users = InMemoryUsers::new()
//!     .user("alice", hash_password("alice-password")?, RoleClaims::with_roles(["user"]));
//! let app: Router = Router::new()
//!     .route("/profile", get(profile))
//!     .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()))
//!     .merge(AuthRoutes::new(authority, users).into_router()?); // POST /auth/login, ...
//! # Ok(()) }
//! ```
//!
//! The [`AuthLayer`](auth_tower::AuthLayer) goes on the protected routes
//! only (axum applies `.layer` to the routes added before it); the auth routes
//! check their own tokens. The [`routes`] module lists the endpoints, their
//! inputs and answers; [`extract`] has the rules of the extractors (the
//! claims type is the layer's, and a wiring mistake is a 500, never a
//! silent 401).
//!
//! # Logins
//!
//! The application checks credentials with its own [`CredentialVerifier`];
//! [`InMemoryUsers`] with [`password`] hashing is a ready one. Both answer an
//! unknown user and a wrong password alike, in similar time.
//!
//! A login flood costs time, never memory: at most
//! [`DEFAULT_LOGIN_CONCURRENCY`] logins are checked at once and
//! [`DEFAULT_MAX_WAITING_LOGINS`] wait their turn holding only their raw
//! body; past that a login is refused at once (503, `Retry-After: 1`). The
//! body's extra fields are bounded while they are parsed
//! ([`MAX_EXTRA_FIELDS`], [`MAX_EXTRA_DEPTH`], [`MAX_EXTRA_VALUES`]).
//!
//! # Cookies and cross-origin requests
//!
//! Login and refresh set the refresh token in an `HttpOnly; Secure;
//! SameSite=Strict` cookie scoped to the auth routes' path
//! ([`cookie`]); refresh and logout accept it in place of a body. Every
//! `POST` refuses cross-origin browser requests ([`csrf`] has the rule).
//!
//! # Rate limiting
//!
//! Not built in. Put a limiter in front of the login route, for example a
//! tower `RateLimitLayer` or a per-client limiter, with `route_layer` on a
//! router holding the login route, or in the reverse proxy.
//!

// `InMemoryUsers` and `password` exist with the `argon2` feature only; without
// it they are linked to the documentation built with every feature.
#![cfg_attr(feature = "argon2", doc = "[`InMemoryUsers`]: crate::InMemoryUsers")]
#![cfg_attr(
    not(feature = "argon2"),
    doc = "[`InMemoryUsers`]: https://docs.rs/auth-axum-extras/latest/auth_axum_extras/struct.InMemoryUsers.html"
)]
#![cfg_attr(feature = "argon2", doc = "[`password`]: crate::password")]
#![cfg_attr(
    not(feature = "argon2"),
    doc = "[`password`]: https://docs.rs/auth-axum-extras/latest/auth_axum_extras/password/"
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod body;
pub mod cookie;
mod credentials;
pub mod csrf;
mod error;
pub mod extract;
mod login_body;
mod login_gate;
#[cfg(feature = "argon2")]
pub mod password;
pub mod routes;
pub mod throttle;

pub use cookie::{DEFAULT_COOKIE_NAME, MAX_COOKIE_VALUES, RefreshCookie, SECURE_COOKIE_NAME};
pub use credentials::{
    CredentialVerifier, Credentials, KeepClaims, LoginError, Verified, VerifyWith, verify_with,
};
#[cfg(feature = "argon2")]
pub use credentials::{InMemoryUsers, check_password};
pub use csrf::{CrossOrigin, CrossOriginProtection};
pub use error::ApiError;
pub use extract::{Auth, MaybeAuth, RequireLoginWithin, RequireRole, RequireScope, Role, Scope};
pub use login_body::{MAX_EXTRA_DEPTH, MAX_EXTRA_FIELDS, MAX_EXTRA_VALUES};
pub use login_gate::{DEFAULT_LOGIN_CONCURRENCY, DEFAULT_MAX_WAITING_LOGINS};
pub use routes::{
    AuthRoutes, DEFAULT_MAX_BODY, DEFAULT_PREFIX, MAX_PASSWORD, MAX_USERNAME, RoutesError,
    TokenFormat,
};

/// What an axum application with login routes uses, in one import:
/// `use auth_axum_extras::prelude::*;`.
///
/// ```
/// use auth_axum_extras::prelude::*;
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize, Privileges)]
/// struct Claims {
///     roles: Vec<String>,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let authority = TokenAuthority::new(Key::generate(Algorithm::EdDSA)?)?;
/// let routes = AuthRoutes::new(authority, verify_with(|c: Credentials| async move {
///     let _ = c;
///     Err::<Verified<Claims>, _>(LoginError::InvalidCredentials)
/// }));
/// let _layer: AuthLayer<Claims> = routes.layer();
/// # Ok(()) }
/// ```
pub mod prelude {
    #[cfg(feature = "argon2")]
    pub use crate::InMemoryUsers;
    #[cfg(feature = "argon2")]
    pub use crate::check_password;
    #[cfg(feature = "argon2")]
    pub use crate::password::hash_password;
    pub use crate::{
        Auth, AuthRoutes, CredentialVerifier, Credentials, LoginError, MaybeAuth, RefreshCookie,
        RequireRole, Role, Verified, verify_with,
    };
    pub use auth_core::{Algorithm, Key, Privileges, Reload, RoleClaims, Session, TokenAuthority};
    pub use auth_tower::{AuthLayer, RequireLayer};
}
