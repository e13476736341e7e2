//! [`AuthorityBuilder`]: the authority's settings, each with a documented
//! default, checked when built.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::{MAX_SESSIONS_PER_SUBJECT_LIMIT, Shared, TokenConfig};
use crate::error::ConfigError;
use crate::key_ring::KeyRing;
use crate::key_set::KeySet;
use crate::store::{MemoryStore, Store};
use crate::validator::Validator;

use super::TokenAuthority;

/// Builds a [`TokenAuthority`]; every setting has a documented default.
/// [`build`](Self::build) checks that the settings fit together.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use auth_core::store::MemoryStore;
/// use auth_core::{Algorithm, ConfigError, Key, KeySet, TokenAuthority};
///
/// let keys = || KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
/// let authority = TokenAuthority::builder(keys())
///     .access_ttl(Duration::from_secs(5 * 60))
///     .issuer("https://auth.example.com")
///     .audience("example-api")
///     .store(Arc::new(MemoryStore::new()))
///     .build()?;
/// assert_eq!(authority.config().access_ttl, Duration::from_secs(300));
/// assert_eq!(authority.config().issuer.as_deref(), Some("https://auth.example.com"));
///
/// // An access token outliving its refresh token (14 days by default) is refused.
/// let month = Duration::from_secs(30 * 24 * 3600);
/// let refused = TokenAuthority::builder(keys()).access_ttl(month).build();
/// assert!(matches!(refused, Err(ConfigError::AccessOutlivesRefresh)));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct AuthorityBuilder {
    pub(super) keys: KeySet,
    pub(super) config: TokenConfig,
    pub(super) store: Option<Arc<dyn Store>>,
    pub(super) clock: Option<Arc<dyn Clock>>,
}

impl AuthorityBuilder {
    /// Access token lifetime (default 15 min).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.config.access_ttl = ttl;
        self
    }

    /// Refresh token lifetime (default 14 days).
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.config.refresh_ttl = ttl;
        self
    }

    /// Absolute session lifetime (default 30 days): no token of a session,
    /// however often refreshed, outlives it.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.session_lifetime = lifetime;
        self
    }

    /// Leeway on `exp` and `nbf` (default 5 s; zero allowed). Whole seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.config.leeway = leeway;
        self
    }

    /// How long after a rotation the replaced refresh token, presented again,
    /// is refused as [`AuthError::RefreshSuperseded`](crate::AuthError::RefreshSuperseded) without revoking the
    /// session (default 2 s, [`DEFAULT_REUSE_GRACE`](crate::DEFAULT_REUSE_GRACE)). Past it, or with zero,
    /// a stale refresh token is reuse and revokes the session. Measured in
    /// milliseconds (finer fractions are dropped): with 1 s, a replay 999 ms
    /// after the rotation is superseded and one at 1 000 ms is reuse. The
    /// clock must read milliseconds for that ([`Clock::now_millis`];
    /// [`SystemClock`] does).
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.config.reuse_grace = grace;
        self
    }

    /// Sets `iss` on issued tokens and requires it on validated ones.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// Sets `aud` on issued tokens and requires it on validated ones.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.config.audience = Some(audience.into());
        self
    }

    /// Longest token accepted, in bytes (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.config.max_token_bytes = max;
        self
    }

    /// The most live sessions one subject may have (default 100,
    /// [`DEFAULT_MAX_SESSIONS_PER_SUBJECT`](crate::DEFAULT_MAX_SESSIONS_PER_SUBJECT); 0 and more than
    /// [`MAX_SESSIONS_PER_SUBJECT_LIMIT`] are refused by
    /// [`build`](Self::build)). The login that goes past it revokes the
    /// subject's oldest session, in the store's atomic create step, with its
    /// tokens refused like those of any revoked session. The cap keeps
    /// logout-all (and every other store operation on a subject) bounded.
    pub fn max_sessions_per_subject(mut self, max: usize) -> Self {
        self.config.max_sessions_per_subject = max;
        self
    }

    /// How long a new public key is published before it signs (default
    /// 10 min, [`DEFAULT_KEY_PUBLICATION_DELAY`](crate::DEFAULT_KEY_PUBLICATION_DELAY)): at least the JWKS
    /// `max-age` your resource servers see, plus any cache in between.
    /// Zero signs with a rotated key at once (a verifier that does not have
    /// it yet refetches the JWKS for it, at most once per its refetch
    /// interval). HMAC keys are never published and always sign at once.
    pub fn key_publication_delay(mut self, delay: Duration) -> Self {
        self.config.key_publication_delay = delay;
        self
    }

    /// The store (default: a [`MemoryStore`] on the authority's clock).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The authority, or why the settings do not fit together.
    pub fn build(self) -> Result<TokenAuthority, ConfigError> {
        let c = &self.config;
        for (name, d) in [
            ("access_ttl", c.access_ttl),
            ("refresh_ttl", c.refresh_ttl),
            ("session_lifetime", c.session_lifetime),
        ] {
            if d.as_secs() == 0 {
                return Err(ConfigError::ZeroLifetime(name));
            }
        }
        if c.access_ttl > c.refresh_ttl {
            return Err(ConfigError::AccessOutlivesRefresh);
        }
        if c.max_token_bytes < 256 {
            return Err(ConfigError::TokenLimitTooSmall);
        }
        if c.max_sessions_per_subject == 0
            || c.max_sessions_per_subject > MAX_SESSIONS_PER_SUBJECT_LIMIT
        {
            return Err(ConfigError::NoSessionsAllowed);
        }
        if self.keys.signing_key().is_none() {
            return Err(ConfigError::NoSigningKey);
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::builder().clock(clock.clone()).build()));
        // Access tokens are accepted at most this long: per-request
        // revocations need keeping no longer (see Store::set_access_window).
        store.set_access_window(self.config.access_ttl + self.config.leeway);
        let keys = Arc::new(KeyRing::with_clock(self.keys, clock.clone()));
        let audiences = self.config.audience.iter().cloned().collect();
        let mut config = self.config;
        // Its own tokens live exactly this long at most.
        config.max_access_lifetime = config.access_ttl + config.leeway;
        config.max_refresh_lifetime = config.refresh_ttl + config.leeway;
        Ok(TokenAuthority {
            validator: Validator {
                shared: Arc::new(Shared {
                    keys: keys.clone(),
                    config,
                    audiences,
                    store,
                    clock,
                }),
            },
            keys,
        })
    }
}
