//! Issuing, refreshing and revoking token pairs.
//!
//! A [`TokenAuthority`] is built once from a [`KeySet`], a [`Store`] and the
//! lifetimes, and shared (it is one `Arc`):
//!
//! - [`issue`](TokenAuthority::issue) starts a session and returns a
//!   [`TokenPair`];
//! - [`refresh`](TokenAuthority::refresh) rotates the refresh token: the old
//!   one dies, a new pair comes back with the same `sid`; presenting a rotated
//!   token again revokes the whole session (reuse detection);
//! - [`logout`](TokenAuthority::logout) revokes a session and the presented
//!   access token; [`logout_all`](TokenAuthority::logout_all) every session of
//!   a subject.
//!
//! | setting | default | why |
//! |---|---|---|
//! | access lifetime | 15 min ([`DEFAULT_ACCESS_TTL`]) | short, so a leaked access token is worth little |
//! | refresh lifetime | 14 days ([`DEFAULT_REFRESH_TTL`]) | an idle user logs in again after two weeks |
//! | session lifetime | 30 days ([`DEFAULT_SESSION_LIFETIME`]) | rotation never extends a session past it, so a stolen family cannot live forever |
//! | leeway | 5 s ([`DEFAULT_LEEWAY`]) | tolerates clock skew between instances; 0 is allowed |
//! | reuse grace | 2 s ([`DEFAULT_REUSE_GRACE`]), measured in milliseconds | a refresh racing the one that just rotated its token (two tabs, a retry) is refused without revoking the session; 0 makes every stale token reuse |
//! | sessions per subject | 100 ([`DEFAULT_MAX_SESSIONS_PER_SUBJECT`]) | more than anyone logs in from, yet bounds what logout-all has to revoke in one step; the login past it revokes the subject's oldest session |
//! | max token size | 8 KiB ([`DEFAULT_MAX_TOKEN_BYTES`]) | checked before any decoding |
//! | issuer, audience | none | checked when set |
//!
//! ```
//! use auth_core::{Algorithm, AuthError, Key, KeySet, TokenAuthority};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Claims { roles: Vec<String> }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
//! let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys)
//!     .issuer("https://auth.example")
//!     .access_ttl(Duration::from_secs(600))
//!     .reuse_grace(Duration::ZERO) // strict: any stale token is reuse
//!     .build()
//!     .unwrap();
//!
//! let first = authority.issue("alice", &Claims { roles: vec!["user".into()] }).await?;
//! let second = authority.refresh(&first.refresh_token).await?;
//! // The first refresh token was rotated away: using it again is reuse, and
//! // revokes the session, the newest tokens included.
//! assert!(matches!(authority.refresh(&first.refresh_token).await, Err(AuthError::RefreshReused)));
//! assert!(authority.refresh(&second.refresh_token).await.is_err());
//! # Ok(()) }
//! ```

mod builder;
mod issue;
mod key_rotation;
mod refresh;
mod sessions;

pub use builder::AuthorityBuilder;
#[cfg(any(test, feature = "testing"))]
pub(crate) use issue::AccessSpec;
use issue::Minting;
pub(crate) use issue::app_claims;
pub use issue::{SessionMeta, TokenPair};
pub use key_rotation::KeyRotation;
pub use refresh::{Reload, Session};
pub use sessions::{LogoutOutcome, LogoutTokens};

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{Shared, TokenConfig};
use crate::error::ConfigError;
use crate::key_ring::KeyRing;
use crate::key_set::KeySet;
use crate::keys::Key;
use crate::store::Store;
use crate::validator::Validator;

/// Issues, refreshes and revokes token pairs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenAuthority {
    validator: Validator,
    /// The same keys as the validator's source, with the signing key.
    keys: Arc<KeyRing>,
}

impl TokenAuthority {
    /// An authority with the default settings (documented on
    /// [`AuthorityBuilder`]) and the in-memory store, signing with `key`:
    /// `TokenAuthority::builder(KeySet::new(key)?).build()` in one step.
    ///
    /// ```
    /// use auth_core::{Algorithm, Key, TokenAuthority};
    ///
    /// # fn main() -> Result<(), auth_core::ConfigError> {
    /// let authority = TokenAuthority::new(Key::generate(Algorithm::EdDSA)?)?;
    /// assert_eq!(authority.keys().keys().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn new(key: Key) -> Result<TokenAuthority, ConfigError> {
        TokenAuthority::builder(KeySet::new(key)?).build()
    }

    /// A builder with the default settings, signing with `keys`.
    pub fn builder(keys: KeySet) -> AuthorityBuilder {
        AuthorityBuilder {
            keys,
            config: TokenConfig::default(),
            store: None,
            clock: None,
        }
    }

    /// The validator for incoming tokens (shares this authority's state).
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The settings in force.
    pub fn config(&self) -> &TokenConfig {
        &self.shared().config
    }

    /// The keys in force now (for a JWKS endpoint: [`KeySet::jwks`]): the
    /// signing key, a rotated key waiting to sign, and previous keys until
    /// they retire.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.current()
    }

    /// The key ring itself, to [`replace`](KeyRing::replace) the whole set
    /// (keys loaded from elsewhere) while serving.
    pub fn key_ring(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared().clock
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared().store
    }

    fn shared(&self) -> &Shared {
        &self.validator.shared
    }

    /// `now + lifetime + leeway`: until when a token issued now with that
    /// lifetime is still accepted, so how long a revocation of it must be kept.
    fn accepted_until(&self, now: u64, lifetime: Duration) -> u64 {
        now.saturating_add(lifetime.as_secs())
            .saturating_add(self.shared().config.leeway.as_secs())
    }
}
