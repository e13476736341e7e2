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

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::claims::{AccessClaims, Audience, NoClaims, RESERVED, RefreshClaims, TokenKind};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError, KeyError, RevokedBy};
use crate::key_ring::KeyRing;
use crate::keys::{Key, KeySet, KeySource};
use crate::metrics;
use crate::store::{MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, Store};
use crate::validator::Validator;

/// Default access token lifetime: 15 minutes.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Default refresh token lifetime: 14 days.
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Default absolute session lifetime: 30 days.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default leeway for `exp` and `nbf`: 5 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);
/// Default reuse grace: 2 seconds, enough for two tabs or a retried request
/// racing the refresh that won, short enough to leave a thief little room.
pub const DEFAULT_REUSE_GRACE: Duration = Duration::from_secs(2);
/// Default cap on one subject's live sessions: 100. Far more devices and
/// browsers than a person uses, and small enough that revoking them all
/// (logout-all) is one short, bounded step for the store, even on Redis
/// where a script blocks every other client while it runs.
pub const DEFAULT_MAX_SESSIONS_PER_SUBJECT: usize = 100;
/// The largest accepted [`AuthorityBuilder::max_sessions_per_subject`]:
/// 10 000, so the store's create step stays bounded whatever is configured.
pub const MAX_SESSIONS_PER_SUBJECT_LIMIT: usize = 10_000;
/// Default limit on a token's length, checked before decoding: 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// How long a JWKS may be cached (`Cache-Control: max-age` of the JWKS
/// routes): 5 minutes. Resource servers refresh their copy this often.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// Default delay between publishing a new public key and signing with it:
/// twice [`JWKS_MAX_AGE`], so every resource server that refreshes its JWKS
/// on time (a cache between them and the issuer included) has the key
/// before the first token it signs.
pub const DEFAULT_KEY_PUBLICATION_DELAY: Duration = Duration::from_secs(2 * JWKS_MAX_AGE.as_secs());
/// Default longest access token lifetime (`exp - iat`) a verify-only
/// [`Validator`] accepts: 1 hour. An authority's own validator accepts its
/// access lifetime plus the leeway.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The settings of an authority; see the module docs for the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
    /// Absolute session lifetime.
    pub session_lifetime: Duration,
    /// Leeway on `exp` and `nbf`.
    pub leeway: Duration,
    /// How long after a rotation the replaced refresh token counts as a lost
    /// race rather than reuse.
    pub reuse_grace: Duration,
    /// `iss` to set and require.
    pub issuer: Option<String>,
    /// `aud` to set and require.
    pub audience: Option<String>,
    /// Longest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Most live sessions per subject; a login past it revokes the oldest.
    pub max_sessions_per_subject: usize,
    /// Longest access token lifetime (`exp - iat`) accepted: an authority
    /// sets its `access_ttl + leeway`, a verify-only validator
    /// [`DEFAULT_MAX_LIFETIME`] unless told otherwise. A token that lives
    /// longer was not made by the issuer (or by a misconfigured one) and is
    /// refused, so a forged long-lived token can never linger in a cache.
    pub max_access_lifetime: Duration,
    /// Longest refresh token lifetime accepted: `refresh_ttl + leeway`.
    pub max_refresh_lifetime: Duration,
    /// How long a new public key is published before it signs (see
    /// [`TokenAuthority::rotate_signing_key`]).
    pub key_publication_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            leeway: DEFAULT_LEEWAY,
            reuse_grace: DEFAULT_REUSE_GRACE,
            issuer: None,
            audience: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_sessions_per_subject: DEFAULT_MAX_SESSIONS_PER_SUBJECT,
            max_access_lifetime: DEFAULT_MAX_LIFETIME,
            max_refresh_lifetime: DEFAULT_REFRESH_TTL + DEFAULT_LEEWAY,
            key_publication_delay: DEFAULT_KEY_PUBLICATION_DELAY,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) config: Config,
    /// The audiences of which a token must name one; empty: not checked.
    pub(crate) audiences: Box<[String]>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthority")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Issues, refreshes and revokes token pairs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenAuthority {
    validator: Validator,
    /// The same keys as the validator's source, with the signing key.
    keys: Arc<KeyRing>,
}

/// Builds a [`TokenAuthority`]; every setting has a documented default.
#[derive(Debug)]
#[must_use]
pub struct AuthorityBuilder {
    keys: KeySet,
    config: Config,
    store: Option<Arc<dyn Store>>,
    clock: Option<Arc<dyn Clock>>,
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
    /// is refused as [`AuthError::RefreshSuperseded`] without revoking the
    /// session (default 2 s, [`DEFAULT_REUSE_GRACE`]). Past it, or with zero,
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
    /// [`DEFAULT_MAX_SESSIONS_PER_SUBJECT`]; 0 and more than
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
    /// 10 min, [`DEFAULT_KEY_PUBLICATION_DELAY`]): at least the JWKS
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

/// An access token and its refresh token.
///
/// Serializes to the JSON the login and refresh endpoints answer with:
/// `{"accessToken","refreshToken","tokenType":"Bearer","expiresIn"}`.
/// `Debug` never prints the tokens.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// The access token (JWT, `typ: at+jwt`).
    pub access_token: String,
    /// The refresh token (JWT, `typ: refresh+jwt`), single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the refresh token expires (the refresh cookie's `Max-Age`).
    #[serde(skip)]
    pub refresh_expires_in: u64,
    /// The session both tokens belong to.
    #[serde(skip)]
    pub session_id: Uuid,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// A scheduled rotation of the signing key
/// ([`TokenAuthority::rotate_signing_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRotation {
    /// The new key's `kid`, published now.
    pub kid: String,
    /// From when (Unix seconds) it signs.
    pub signs_from: u64,
    /// When (Unix seconds) the key signing until then stops verifying.
    pub previous_retires_at: u64,
}

/// The tokens a logout presents; either may be absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogoutTokens<'a> {
    /// The refresh token (from the body or the cookie): its session is revoked.
    pub refresh_token: Option<&'a str>,
    /// The bearer access token: its `jti` and its session are revoked.
    pub access_token: Option<&'a str>,
}

/// What a logout revoked. Invalid or expired tokens revoke nothing and are
/// not an error, so logout never tells a caller whether a token was good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogoutOutcome {
    /// Live sessions removed.
    pub sessions_revoked: usize,
    /// Whether the access token was denylisted.
    pub access_token_revoked: bool,
}

impl TokenAuthority {
    /// A builder with the default settings, signing with `keys`.
    pub fn builder(keys: KeySet) -> AuthorityBuilder {
        AuthorityBuilder {
            keys,
            config: Config::default(),
            store: None,
            clock: None,
        }
    }

    /// The validator for incoming tokens (shares this authority's state).
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
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

    /// Rotates the signing key while serving, with no gap at resource
    /// servers and nobody logged out:
    ///
    /// 1. now, `key`'s public half joins the JWKS ([`keys`](Self::keys)),
    ///    and the current key goes on signing;
    /// 2. after the [publication delay](AuthorityBuilder::key_publication_delay)
    ///    (10 min by default: resource servers refresh their JWKS copy at
    ///    least that often), `key` signs every new token;
    /// 3. the previous key verifies until the last token it signed has
    ///    expired (the refresh lifetime plus the leeway after step 2), then
    ///    stops verifying and leaves the JWKS.
    ///
    /// An HMAC key is never published: it signs at once. A second rotation
    /// before the first key signs replaces it (that key signed nothing).
    /// Fails with [`KeyError::TooManyKeys`] when
    /// [`MAX_RING_KEYS`](crate::MAX_RING_KEYS) keys still wait for their
    /// tokens to expire; [`withdraw_key`](Self::withdraw_key) and
    /// [`replace_signing_key`](Self::replace_signing_key) never do.
    ///
    /// Each instance has its own key ring: with several instances of one
    /// issuer, give every instance the same keys and roll them in two steps
    /// (see the README's "Several services").
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let first = Key::generate(Algorithm::ES256).unwrap();
    /// let authority = TokenAuthority::builder(KeySet::new(first.clone()).unwrap())
    ///     .key_publication_delay(Duration::from_secs(600))
    ///     .build()
    ///     .unwrap();
    /// let next = Key::generate(Algorithm::ES256).unwrap();
    /// let rotation = authority.rotate_signing_key(next.clone()).unwrap();
    /// // Published at once, signing in ten minutes.
    /// assert_eq!(authority.keys().jwks().keys.len(), 2);
    /// assert_eq!(rotation.signs_from, authority.clock().now() + 600);
    /// let pair = authority.issue("alice", &NoClaims {}).await.unwrap();
    /// let v = authority.validator();
    /// assert!(v.validate_access::<NoClaims>(&pair.access_token).await.is_ok());
    /// # }
    /// ```
    pub fn rotate_signing_key(&self, key: Key) -> Result<KeyRotation, KeyError> {
        let s = self.shared();
        let now = s.clock.now();
        let delay = if key.algorithm().is_symmetric() {
            0
        } else {
            s.config.key_publication_delay.as_secs()
        };
        let signs_from = now.saturating_add(delay);
        let previous_retires_at = signs_from
            .saturating_add(s.config.refresh_ttl.as_secs())
            .saturating_add(s.config.leeway.as_secs());
        let kid = key.kid().to_owned();
        self.keys.schedule(key, signs_from, previous_retires_at)?;
        tracing::info!(%kid, signs_from, previous_retires_at, "signing key rotation scheduled");
        Ok(KeyRotation {
            kid,
            signs_from,
            previous_retires_at,
        })
    }

    /// Withdraws the key `kid` at once (a leaked verification key, or a
    /// rotated key that must not start signing): every token it signed is
    /// refused from now on, tokens already cached included. Sessions whose
    /// current refresh token it signed end (their users log in again);
    /// other sessions go on. Resource servers stop accepting it at their
    /// next JWKS refresh. Returns whether the ring held it. The signing key
    /// is replaced instead: [`replace_signing_key`](Self::replace_signing_key).
    pub fn withdraw_key(&self, kid: &str) -> Result<bool, KeyError> {
        let withdrawn = self.keys.withdraw(kid)?;
        if withdrawn {
            tracing::warn!(%kid, "key withdrawn: its tokens are refused from now on");
        }
        Ok(withdrawn)
    }

    /// The answer to a leaked signing key: `key` signs from now on, and the
    /// previous signing key (and any rotation still pending) is withdrawn
    /// at once, as by [`withdraw_key`](Self::withdraw_key). Never refused
    /// for the number of keys in the ring. Resource servers fetch the new
    /// key with the first token that names it.
    pub fn replace_signing_key(&self, key: Key) -> Result<(), KeyError> {
        let kid = key.kid().to_owned();
        let previous = self.keys.replace_signing_key(key)?;
        tracing::warn!(%kid, withdrawn = previous.as_ref().map(Key::kid), "signing key replaced at once");
        Ok(())
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

    /// Starts a session for `subject` (after the application checked the
    /// credentials) and returns its first pair. `claims` must serialize to a
    /// JSON object (or unit) without registered claim names; it is carried in
    /// every access token of the session.
    pub async fn issue<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
    ) -> Result<TokenPair, AuthError> {
        self.issue_with(subject, claims, SessionMeta::default())
            .await
    }

    /// [`issue`](Self::issue), recording `meta` (a device label) with the
    /// session, for session lists ([`sessions`](Self::sessions)).
    pub async fn issue_with<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
        meta: SessionMeta,
    ) -> Result<TokenPair, AuthError> {
        if subject.is_empty() {
            return Err(AuthError::Claims("the subject must not be empty".into()));
        }
        let extra = app_claims(claims)?;
        let s = self.shared();
        let now = s.clock.now();
        let sid = Uuid::new_v4();
        let refresh_jti = Uuid::new_v4();
        let expires_at = now.saturating_add(s.config.session_lifetime.as_secs());
        let refresh_exp = now
            .saturating_add(s.config.refresh_ttl.as_secs())
            .min(expires_at);
        // Sign first: a token that would be refused (too large) must not
        // leave a session behind.
        let pair = self.mint_pair(
            subject,
            &extra,
            sid,
            refresh_jti,
            now,
            refresh_exp,
            expires_at,
        )?;
        let create = s.store.create_session(NewSession {
            sid,
            subject: subject.to_owned(),
            refresh_jti,
            created_at: now,
            refresh_expires_at: refresh_exp,
            expires_at,
            revoke_until: self.accepted_until(now, s.config.session_lifetime),
            claims: serde_json::to_string(&extra).map_err(|e| AuthError::Claims(e.to_string()))?,
            // Cleaned here, the one place every label passes (the field is public).
            device: meta.device.as_deref().and_then(crate::store::device_label),
            max_sessions: s.config.max_sessions_per_subject,
        });
        metrics::store_call("create_session", create).await?;
        tracing::debug!(%sid, "session started");
        Ok(pair)
    }

    /// Exchanges a refresh token for a new pair (same session, new `jti`s).
    /// The presented token dies. Errors: the usual validation errors;
    /// [`AuthError::RefreshReused`] when it had already been rotated (the
    /// session is then revoked); [`AuthError::SessionExpired`] past the
    /// absolute lifetime; [`AuthError::Revoked`] for a revoked session. Each
    /// means "log in again"; nothing else is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        self.refresh_with(refresh_token, |_| async { Reload::<NoClaims>::Keep })
            .await
    }

    /// [`refresh`](Self::refresh), asking `reload` first whether the session
    /// may go on and with which claims, so that a demoted user's new access
    /// token carries the new roles and a disabled user's refresh fails.
    ///
    /// `reload` gets the session's subject once the refresh token is known
    /// to be valid and its session alive, and before anything changes:
    ///
    /// - [`Reload::Keep`]: the claims given at login, as [`refresh`](Self::refresh) does;
    /// - [`Reload::Replace`]: these claims in the new access token, and
    ///   from now on the session's own (a later `Keep` keeps them);
    /// - [`Reload::Refuse`]: the session is revoked (its access tokens
    ///   die too) and the refresh fails with [`AuthError::SessionRefused`];
    /// - [`Reload::Unavailable`]: nothing changes, the refresh fails with
    ///   [`AuthError::ClaimsUnavailable`] (503) and the client may retry with
    ///   the same token.
    ///
    /// ```
    /// use auth_core::{Algorithm, AuthError, Key, KeySet, Reload, RoleClaims, TokenAuthority};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
    /// let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
    /// let authority = TokenAuthority::builder(keys).build().unwrap();
    /// let pair = authority.issue("alice", &RoleClaims::with_roles(["admin"])).await?;
    ///
    /// // alice was demoted since she logged in:
    /// let pair = authority
    ///     .refresh_with(&pair.refresh_token, |_subject| async {
    ///         Reload::Replace(RoleClaims::with_roles(["user"]))
    ///     })
    ///     .await?;
    /// let claims = authority.validator().validate_access::<RoleClaims>(&pair.access_token).await?;
    /// assert_eq!(claims.extra.roles, ["user"]);
    ///
    /// // ... and then disabled: the session ends.
    /// let refused = authority
    ///     .refresh_with(&pair.refresh_token, |_| async { Reload::<RoleClaims>::Refuse("disabled".into()) })
    ///     .await;
    /// assert!(matches!(refused, Err(AuthError::SessionRefused(_))));
    /// assert!(authority.validator().validate_access::<RoleClaims>(&pair.access_token).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn refresh_with<E, F, Fut>(
        &self,
        refresh_token: &str,
        reload: F,
    ) -> Result<TokenPair, AuthError>
    where
        E: Serialize,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Reload<E>>,
    {
        let result = self.rotate_with(refresh_token, reload).await;
        metrics::refresh(&result);
        result
    }

    async fn rotate_with<E, F, Fut>(
        &self,
        refresh_token: &str,
        reload: F,
    ) -> Result<TokenPair, AuthError>
    where
        E: Serialize,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Reload<E>>,
    {
        let s = self.shared();
        let claims = self.validator.validate_refresh(refresh_token).await?;
        // Asked before the rotation: an outage of the application's user
        // directory must leave the presented token usable for a retry.
        let fresh = match reload(claims.sub.clone()).await {
            Reload::Keep => None,
            Reload::Replace(e) => Some(app_claims(&e)?),
            Reload::Refuse(why) => {
                let until = self.accepted_until(s.clock.now(), s.config.session_lifetime);
                metrics::store_call(
                    "revoke_session",
                    s.store.revoke_session(claims.sid, &claims.sub, until),
                )
                .await?;
                metrics::revoked("session", "refused", 1);
                tracing::info!(sid = %claims.sid, reason = %why, "refresh refused by the application; session revoked");
                return Err(AuthError::SessionRefused(why));
            }
            Reload::Unavailable(why) => return Err(AuthError::ClaimsUnavailable(why)),
        };
        // One reading: the grace is judged in milliseconds, the new tokens
        // carry the same instant in seconds.
        let rotation = Rotation {
            sid: claims.sid,
            subject: claims.sub.clone(),
            presented: claims.jti,
            next: Uuid::new_v4(),
            now_ms: s.clock.now_millis(),
            refresh_ttl: s.config.refresh_ttl.as_secs(),
            grace_ms: u64::try_from(s.config.reuse_grace.as_millis()).unwrap_or(u64::MAX),
            // Fresh claims become the session's: a later `Keep` keeps them.
            claims: fresh
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| AuthError::Claims(e.to_string()))?,
        };
        let (now, next) = (rotation.now(), rotation.next);
        let outcome = metrics::store_call("rotate", s.store.rotate(rotation)).await?;
        match outcome {
            RotateOutcome::Rotated(session) => {
                if session.subject != claims.sub {
                    return Err(AuthError::Revoked(RevokedBy::Session));
                }
                let extra: Map<String, Value> = match fresh {
                    Some(fresh) => fresh,
                    None => serde_json::from_str(&session.claims)
                        .map_err(|e| AuthError::Claims(e.to_string()))?,
                };
                self.mint_pair(
                    &session.subject,
                    &extra,
                    session.sid,
                    next,
                    now,
                    session.refresh_expires_at,
                    session.expires_at,
                )
            }
            RotateOutcome::Reused => {
                metrics::revoked("session", "reuse", 1);
                tracing::warn!(sid = %claims.sid, "refresh token reuse detected; session revoked");
                Err(AuthError::RefreshReused)
            }
            RotateOutcome::Superseded => Err(AuthError::RefreshSuperseded),
            RotateOutcome::Expired => Err(AuthError::SessionExpired),
            _ => Err(AuthError::Revoked(RevokedBy::Session)),
        }
    }

    /// Logs one session out: revokes the session of the refresh token and the
    /// access token's `jti` and session. Expired tokens still identify their
    /// session (a client whose access token just ran out can still log out),
    /// but their signature, type, issuer and audience must check out: tokens
    /// that do not (forged, garbage) are skipped silently, so logout is never an
    /// oracle. Only a store failure is an error.
    pub async fn logout(&self, tokens: LogoutTokens<'_>) -> Result<LogoutOutcome, AuthError> {
        let s = self.shared();
        let leeway = s.config.leeway.as_secs();
        let now = s.clock.now();
        // A session the store does not know (another instance's, or from
        // before a restart) may have access tokens newer than the one shown:
        // keep its revocation until any of them would have expired.
        let floor = self.accepted_until(now, s.config.access_ttl);
        let mut outcome = LogoutOutcome::default();
        if let Some(token) = tokens.refresh_token {
            match self
                .validator
                .decode::<RefreshClaims>(token, TokenKind::Refresh, false)
            {
                Ok(c) => {
                    let until = c.exp.saturating_add(leeway).max(floor);
                    let revoke = s.store.revoke_session(c.sid, &c.sub, until);
                    if metrics::store_call("revoke_session", revoke).await? {
                        metrics::revoked("session", "logout", 1);
                        outcome.sessions_revoked += 1;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "logout: refresh token ignored"),
            }
        }
        if let Some(token) = tokens.access_token {
            match self
                .validator
                .decode::<AccessClaims<NoClaims>>(token, TokenKind::Access, false)
            {
                Ok(c) => {
                    let until = c.exp.saturating_add(leeway);
                    if until > now {
                        let revoke = s.store.revoke_token(c.jti, until);
                        metrics::store_call("revoke_token", revoke).await?;
                        metrics::revoked("token", "logout", 1);
                        outcome.access_token_revoked = true;
                    }
                    let revoke = s.store.revoke_session(c.sid, &c.sub, until.max(floor));
                    if metrics::store_call("revoke_session", revoke).await? {
                        metrics::revoked("session", "logout", 1);
                        outcome.sessions_revoked += 1;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "logout: access token ignored"),
            }
        }
        Ok(outcome)
    }

    /// Logs `subject` out everywhere: every session and access token that
    /// exists when this returns is revoked; a login made afterwards, even in
    /// the same second, is not affected. Returns how many sessions were revoked.
    ///
    /// Sessions are revoked one by one, exactly. The subject's cut-off, which
    /// also refuses tokens of sessions the store lost track of, is set a leeway
    /// before now, so a login on an instance whose clock is slightly behind is
    /// never caught by it.
    pub async fn logout_all(&self, subject: &str) -> Result<usize, AuthError> {
        let s = self.shared();
        let now = s.clock.now();
        let leeway = s.config.leeway.as_secs();
        let until = self.accepted_until(now, s.config.session_lifetime);
        let revoke = s
            .store
            .revoke_subject(subject, now.saturating_sub(leeway), until);
        let n = metrics::store_call("revoke_subject", revoke).await?;
        metrics::revoked("session", "logout_all", n as u64);
        tracing::debug!(sessions = n, "logout-all");
        Ok(n)
    }

    /// The live sessions of `subject`, oldest first.
    pub async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, AuthError> {
        let list = self.shared().store.sessions(subject);
        Ok(metrics::store_call("sessions", list).await?)
    }

    /// Revokes one of `subject`'s sessions (for a "sign out that device"
    /// button): only if the session belongs to `subject`, so a user cannot
    /// revoke another user's session by its id. Returns whether it was revoked.
    pub async fn revoke_session_of(&self, subject: &str, sid: Uuid) -> Result<bool, AuthError> {
        // A session's subject never changes, so checking it first is enough.
        let owned = self.sessions(subject).await?.iter().any(|i| i.sid == sid);
        if !owned {
            return Ok(false);
        }
        self.revoke_session(subject, sid).await
    }

    /// Revokes a session by id without asking who may: an administrator's
    /// operation. `subject` is the session's subject (as
    /// [`sessions`](Self::sessions) lists it, or the `sub` of its tokens):
    /// stores sharded by subject find the session by it. The `sid` is
    /// denylisted even when no live session has it. Handlers acting for a
    /// user want [`revoke_session_of`](Self::revoke_session_of). Returns
    /// whether a live session was revoked.
    pub async fn revoke_session(&self, subject: &str, sid: Uuid) -> Result<bool, AuthError> {
        let s = self.shared();
        let until = self.accepted_until(s.clock.now(), s.config.session_lifetime);
        let revoke = s.store.revoke_session(sid, subject, until);
        let revoked = metrics::store_call("revoke_session", revoke).await?;
        metrics::revoked("session", "revoked", u64::from(revoked));
        Ok(revoked)
    }

    #[allow(clippy::too_many_arguments)]
    fn mint_pair(
        &self,
        subject: &str,
        extra: &Map<String, Value>,
        sid: Uuid,
        refresh_jti: Uuid,
        now: u64,
        refresh_exp: u64,
        session_exp: u64,
    ) -> Result<TokenPair, AuthError> {
        let s = self.shared();
        let access_exp = now
            .saturating_add(s.config.access_ttl.as_secs())
            .min(session_exp);
        let access = self.sign_access(subject, extra, sid, Uuid::new_v4(), now, access_exp)?;
        let refresh = self.sign(
            TokenKind::Refresh,
            &RefreshClaims {
                iss: s.config.issuer.clone(),
                sub: subject.to_owned(),
                aud: self.audience(),
                exp: refresh_exp,
                iat: now,
                nbf: Some(now),
                jti: refresh_jti,
                sid,
            },
        )?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: access_exp.saturating_sub(now),
            refresh_expires_in: refresh_exp.saturating_sub(now),
            session_id: sid,
        })
    }

    pub(crate) fn sign_access(
        &self,
        subject: &str,
        extra: &Map<String, Value>,
        sid: Uuid,
        jti: Uuid,
        iat: u64,
        exp: u64,
    ) -> Result<String, AuthError> {
        let claims = AccessClaims {
            iss: self.shared().config.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience(),
            exp,
            iat,
            nbf: Some(iat),
            jti,
            sid,
            extra,
        };
        self.sign(TokenKind::Access, &claims)
    }

    fn audience(&self) -> Audience {
        self.shared()
            .config
            .audience
            .clone()
            .map(Audience::one)
            .unwrap_or_default()
    }

    fn sign(&self, kind: TokenKind, claims: &impl Serialize) -> Result<String, AuthError> {
        let s = self.shared();
        let keys = self.keys.current();
        let key = keys
            .signing_key()
            .ok_or_else(|| AuthError::Signing("the key set has no signing key".into()))?;
        let encoding = key
            .encoding()
            .ok_or_else(|| AuthError::Signing("the signing key has no private part".into()))?;
        let mut header = jsonwebtoken::Header::new(key.algorithm().to_jwt());
        header.typ = Some(kind.typ().to_owned());
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, claims, encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))?;
        if token.len() > s.config.max_token_bytes {
            return Err(AuthError::Claims(format!(
                "the {kind} token would be {} bytes, over max_token_bytes ({})",
                token.len(),
                s.config.max_token_bytes
            )));
        }
        Ok(token)
    }
}

/// The application's claims as a JSON object without registered names.
pub(crate) fn app_claims<E: Serialize>(claims: &E) -> Result<Map<String, Value>, AuthError> {
    match serde_json::to_value(claims).map_err(|e| AuthError::Claims(e.to_string()))? {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => {
            if let Some(k) = map.keys().find(|k| RESERVED.contains(&k.as_str())) {
                return Err(AuthError::Claims(format!(
                    "`{k}` is a registered claim and cannot be an application claim"
                )));
            }
            Ok(map)
        }
        _ => Err(AuthError::Claims(
            "application claims must serialize to a JSON object".into(),
        )),
    }
}

/// Facts recorded with a new session and shown in its user's session list
/// ([`TokenAuthority::issue_with`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionMeta {
    /// A label for the device, as given; the session keeps it cleaned (see
    /// [`device`](Self::device)).
    pub device: Option<String>,
}

impl SessionMeta {
    /// Labels the session with `raw` (a `User-Agent`, say). The session
    /// keeps it cleaned and cut by [`device_label`](crate::store::device_label):
    /// the label is shown to the user and never trusted.
    pub fn device(mut self, raw: &str) -> Self {
        self.device = Some(raw.to_owned());
        self
    }
}

/// What the application decides at refresh, in
/// [`TokenAuthority::refresh_with`].
///
/// A [`Replace`](Self::Replace) becomes the session's claims, stored with
/// the rotation: a later [`Keep`](Self::Keep) keeps them, never the login
/// claims they replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reload<E> {
    /// Go on with the session's claims: those given at login, or of the
    /// last `Replace`.
    Keep,
    /// Go on, with these claims in the new access token and in the session.
    Replace(E),
    /// End the session (a disabled or deleted user). The reason is logged,
    /// never sent to the client.
    Refuse(String),
    /// The application cannot tell now (its user directory is down): refuse
    /// this refresh with 503 and change nothing. The reason is logged.
    Unavailable(String),
}
