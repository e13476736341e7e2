//! JWT access and refresh tokens for servers: claims, keys, issuing,
//! validation, rotation with reuse detection, and revocation stores.
//!
//! This crate knows no HTTP framework; `auth-tower` enforces its tokens on any
//! tower stack and `auth-axum-extras` adds extractors and ready-made handlers.
//!
//! The flow:
//!
//! 1. **Login**: the application checks the credentials, then
//!    [`TokenAuthority::issue`] starts a session and returns a [`TokenPair`]: a
//!    short-lived access token carrying the application's claims, and a
//!    long-lived refresh token carrying only what rotation needs.
//! 2. **Requests**: [`Validator::validate_access`] checks size, shape, `typ`,
//!    `kid`, `alg`, signature, required claims, `exp`/`nbf`, `iss`/`aud`, and
//!    the [`Store`](store::Store) (denylisted `jti`, revoked session, logout-all
//!    cut-off), and returns the typed [`AccessClaims`].
//! 3. **Refresh**: [`TokenAuthority::refresh`] rotates: the presented refresh
//!    token dies and a new pair comes back. A rotated token presented again
//!    revokes its whole session (reuse detection).
//! 4. **Logout**: [`TokenAuthority::logout`] revokes the session and the access
//!    token; [`TokenAuthority::logout_all`] every session of a user.
//!
//! ```
//! use auth_core::{Algorithm, Key, KeySet, TokenAuthority, LogoutTokens, AuthError};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Claims { roles: Vec<String> }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
//! let keys = KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//!
//! let pair = authority.issue("alice", &Claims { roles: vec!["admin".into()] }).await?;
//! let claims = authority.validator().validate_access::<Claims>(&pair.access_token).await?;
//! assert_eq!(claims.extra.roles, ["admin"]);
//!
//! let pair = authority.refresh(&pair.refresh_token).await?;
//! authority
//!     .logout(LogoutTokens { refresh_token: Some(&pair.refresh_token), access_token: Some(&pair.access_token) })
//!     .await?;
//! let err = authority.validator().validate_access::<Claims>(&pair.access_token).await.unwrap_err();
//! assert!(matches!(err, AuthError::Revoked(_)));
//! # Ok(()) }
//! ```
//!
//! Features: `aws-lc-rs` (default) signs and verifies with aws-lc-rs, several
//! times faster for ES/RS/PS/EdDSA than `rust-crypto`, the pure-Rust backend.
//! `redis` adds [`store::RedisStore`], revocations and sessions
//! shared by several instances. `metrics` records the counters and
//! histograms listed in [`metrics`]. `testing` adds [`ManualClock`] and the
//! [`testing`] kit.
//!

// Feature-gated items are linked here when they exist, else to the
// documentation built with every feature.
#![cfg_attr(
    feature = "redis",
    doc = "[`store::RedisStore`]: crate::store::RedisStore"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`store::RedisStore`]: https://docs.rs/auth-core/latest/auth_core/store/struct.RedisStore.html"
)]
#![cfg_attr(feature = "testing", doc = "[`ManualClock`]: crate::ManualClock")]
#![cfg_attr(
    not(feature = "testing"),
    doc = "[`ManualClock`]: https://docs.rs/auth-core/latest/auth_core/struct.ManualClock.html"
)]
#![cfg_attr(feature = "testing", doc = "[`testing`]: crate::testing")]
#![cfg_attr(
    not(feature = "testing"),
    doc = "[`testing`]: https://docs.rs/auth-core/latest/auth_core/testing/"
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod algorithm;
mod authority;
pub mod cache;
mod claims;
mod clock;
mod config;
mod crypto;
mod der;
pub mod dpop;
mod error;
mod files;
pub mod introspection;
mod key_doc;
mod key_file;
mod key_ring;
mod key_set;
mod keys;
pub mod metrics;
pub mod privileges;
mod sec1;
pub mod store;
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod throttle;
mod validator;

pub use algorithm::{Algorithm, UnknownAlgorithm};
/// `#[derive(Privileges)]` (feature `derive`, on by default): implements
/// [`Privileges`] for claims with a `roles` and/or a `scope` field.
///
/// ```
/// use auth_core::Privileges;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Privileges)]
/// struct Claims {
///     roles: Vec<String>,
///     tenant: String,
/// }
///
/// let claims = Claims { roles: vec!["admin".into()], tenant: "acme".into() };
/// assert!(claims.has_role("admin") && !claims.has_role("root") && !claims.has_scope("read"));
/// ```
///
/// Another field name is marked: `#[privileges(roles)]`,
/// `#[privileges(scope)]`. The roles field may be any collection of
/// strings ([`privileges::RoleList`]), the scope a space-separated string
/// ([`privileges::ScopeString`]). The generated code names `::auth_core`:
/// the application depends on this crate directly. A struct with neither
/// field is refused, since no check could ever pass:
///
/// ```compile_fail
/// #[derive(auth_core::Privileges)]
/// struct Claims {
///     tenant: String, // error: #[derive(Privileges)] found no `roles` nor `scope` field
/// }
/// ```
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use auth_derive::Privileges;
pub use authority::{
    AuthorityBuilder, KeyRotation, LogoutOutcome, LogoutTokens, Reload, Session, SessionMeta,
    TokenAuthority, TokenPair,
};
pub use claims::{
    AccessClaims, Audience, Confirmation, NoClaims, Privileges, RefreshClaims, RoleClaims,
    TokenKind, TokenRef,
};
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use config::{
    DEFAULT_ACCESS_TTL, DEFAULT_KEY_PUBLICATION_DELAY, DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME,
    DEFAULT_MAX_SESSIONS_PER_SUBJECT, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_REFRESH_TTL,
    DEFAULT_REUSE_GRACE, DEFAULT_SESSION_LIFETIME, JWKS_MAX_AGE, MAX_SESSIONS_PER_SUBJECT_LIMIT,
    TokenConfig,
};
pub use error::{AuthError, ConfigError, ErrorClass, KeyError, RevokedBy, StoreError};
pub use key_ring::{KeyRing, MAX_RING_KEYS};
pub use key_set::{KeyLookup, KeySet, KeySource};
pub use keys::Key;
pub use validator::{Validator, ValidatorBuilder};

/// The id type of sessions and tokens (`sid`, `jti`) in public APIs, so
/// applications need no direct `uuid` dependency to name it.
pub use uuid::Uuid;

/// JSON Web Keys, as published by [`KeySet::jwks`] and read by [`Key::from_jwk`].
pub mod jwk {
    pub use jsonwebtoken::jwk::{Jwk, JwkSet};
}
