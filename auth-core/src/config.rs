//! The settings issuing and verifying share: the documented defaults, the
//! authority's [`TokenConfig`], and the state a validator and its authority
//! hold in common. Below both: neither [`crate::authority`] nor
//! [`crate::validator`] is imported here.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::key_set::KeySource;
use crate::store::Store;

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
/// The largest accepted [`AuthorityBuilder::max_sessions_per_subject`](crate::AuthorityBuilder::max_sessions_per_subject):
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
/// [`Validator`](crate::Validator) accepts: 1 hour. An authority's own validator accepts its
/// access lifetime plus the leeway.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The token settings of an authority: lifetimes, leeway, `iss`/`aud`,
/// size and session limits. Set through
/// [`AuthorityBuilder`](crate::AuthorityBuilder), read back with
/// [`TokenAuthority::config`](crate::TokenAuthority::config). Each field's
/// default is the matching `DEFAULT_*` constant of this crate (no `iss`, no
/// `aud`; `max_refresh_lifetime` is [`DEFAULT_REFRESH_TTL`] plus
/// [`DEFAULT_LEEWAY`]).
///
/// ```
/// use auth_core::{DEFAULT_ACCESS_TTL, TokenConfig};
///
/// let config = TokenConfig::default();
/// assert_eq!(config.access_ttl, DEFAULT_ACCESS_TTL);
/// assert_eq!(config.issuer, None);
/// ```
#[derive(Debug, Clone)]
pub struct TokenConfig {
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
    /// [`TokenAuthority::rotate_signing_key`](crate::TokenAuthority::rotate_signing_key)).
    pub key_publication_delay: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
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

/// What a validator and the authority it belongs to share.
pub(crate) struct Shared {
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) config: TokenConfig,
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
