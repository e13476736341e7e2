//! Token in, typed claims or a precise error out.
//!
//! The checks, in order, each failing with its own [`AuthError`] variant:
//! size limit (before any decoding); compact JWS shape and base64url; header
//! JSON, refusing `jku`/`x5u`/`jwk`/`x5c`/`crit`/`b64`; `typ` of the expected
//! kind; a key with the token's `kid`; `alg` equal to that key's pinned
//! algorithm (so `none` never passes); the signature; the payload JSON with
//! every required claim; `exp` and `nbf` against the [`Clock`](crate::Clock)
//! with the configured leeway, a non-empty `sub`, an `iat` not in the
//! future and a lifetime (`exp - iat`) within the limit; `iss` and `aud`
//! when configured; and, for
//! [`Validator::validate_access`], the store (denylisted `jti`, revoked `sid`,
//! subject cut-off). jsonwebtoken's own claim checks are not used: every time
//! check happens here, once, with the injected clock.
//!
//! ```
//! use auth_core::{Algorithm, AuthError, Key, KeySet, NoClaims, TokenAuthority};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let keys = KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let pair = authority.issue("alice", &NoClaims {}).await.unwrap();
//!
//! let validator = authority.validator();
//! let claims = validator.validate_access::<NoClaims>(&pair.access_token).await.unwrap();
//! assert_eq!(claims.sub, "alice");
//!
//! // A refresh token is never an access token.
//! let err = validator.validate_access::<NoClaims>(&pair.refresh_token).await.unwrap_err();
//! assert!(matches!(err, AuthError::WrongTokenType { .. }));
//! # }
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::claims::{AccessClaims, Audience, RefreshClaims, TokenKind, TokenRef};
use crate::clock::{Clock, SystemClock};
use crate::config::{Shared, TokenConfig};
use crate::error::AuthError;
use crate::error::{ConfigError, StoreError};
use crate::key_set::{KeyLookup, KeySource};
use crate::store::{
    BoxFuture, Check, NewSession, RotateOutcome, Rotation, SessionInfo, Store, Verdict,
};

/// Validates tokens. Cheap to clone (one `Arc`); get one from
/// [`TokenAuthority::validator`](crate::TokenAuthority::validator).
#[derive(Clone, Debug)]
pub struct Validator {
    pub(crate) shared: Arc<Shared>,
}

/// The registered claims every token kind shares.
pub(crate) trait Registered {
    const KIND: TokenKind;
    fn sub(&self) -> &str;
    fn iat(&self) -> u64;
    fn exp(&self) -> u64;
    fn nbf(&self) -> Option<u64>;
    fn iss(&self) -> Option<&str>;
    fn aud(&self) -> &Audience;
    /// The login time, for the kinds that carry one.
    fn auth_time(&self) -> Option<u64> {
        None
    }
}

/// The registered claims of a claims type with the usual field names.
macro_rules! registered {
    ($kind:expr, [$($more:tt)*] $($ty:tt)+) => {
        impl $($ty)+ {
            $($more)*
            const KIND: TokenKind = $kind;
            fn sub(&self) -> &str {
                &self.sub
            }
            fn iat(&self) -> u64 {
                self.iat
            }
            fn exp(&self) -> u64 {
                self.exp
            }
            fn nbf(&self) -> Option<u64> {
                self.nbf
            }
            fn iss(&self) -> Option<&str> {
                self.iss.as_deref()
            }
            fn aud(&self) -> &Audience {
                &self.aud
            }
        }
    };
    ($kind:expr, $($ty:tt)+) => {
        registered!($kind, [] $($ty)+);
    };
}

registered!(
    TokenKind::Access,
    [fn auth_time(&self) -> Option<u64> { self.auth_time }]
    <E> Registered for AccessClaims<E>
);
registered!(TokenKind::Refresh, Registered for RefreshClaims);

#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    jku: Option<IgnoredAny>,
    #[serde(default)]
    x5u: Option<IgnoredAny>,
    #[serde(default)]
    jwk: Option<IgnoredAny>,
    #[serde(default)]
    x5c: Option<IgnoredAny>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    b64: Option<IgnoredAny>,
}

impl JoseHeader<'_> {
    fn refused_parameter(&self) -> Option<&'static str> {
        [
            ("jku", self.jku.is_some()),
            ("x5u", self.x5u.is_some()),
            ("jwk", self.jwk.is_some()),
            ("x5c", self.x5c.is_some()),
            ("crit", self.crit.is_some()),
            ("b64", self.b64.is_some()),
        ]
        .into_iter()
        .find_map(|(name, present)| present.then_some(name))
    }
}

impl Validator {
    /// A verify-only validator for a service that checks tokens but never
    /// issues them: public keys (or a key source such as a JWKS client),
    /// the expected issuer and audiences, and how revocations are checked.
    /// See [`ValidatorBuilder`] for the settings and their defaults.
    pub fn builder(keys: impl KeySource) -> ValidatorBuilder {
        ValidatorBuilder {
            keys: Arc::new(keys),
            config: TokenConfig::default(),
            audiences: Vec::new(),
            store: None,
            clock: None,
        }
    }

    /// Validates an access token completely, the store check included. A
    /// token naming a `kid` the key source does not know waits for one
    /// [refetch](KeySource::refetch) of the keys, when the source offers it.
    ///
    /// A DPoP-bound token (`cnf` set, RFC 9449) is valid here too: the
    /// binding is the caller's to check, with a proof of its key
    /// ([`DpopVerifier`](crate::dpop::DpopVerifier)), as auth-tower's
    /// `AuthLayer` does. Code that takes a token outside the layer (a
    /// WebSocket handshake, an interceptor) refuses tokens with `cnf`
    /// unless it checks their proof.
    pub async fn validate_access<E: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessClaims<E>, AuthError> {
        let claims = match self.decode_access::<E>(token) {
            Err(AuthError::UnknownKey) => match self.refetch_keys() {
                Some(refetch) => {
                    refetch.await;
                    self.decode_access::<E>(token)?
                }
                None => return Err(AuthError::UnknownKey),
            },
            decoded => decoded?,
        };
        verdict(self.check_token(&claims.token_ref(), token).await)?;
        Ok(claims)
    }

    /// After [`AuthError::UnknownKey`]: a future that completes once the
    /// key source has looked for new keys, or `None` when it will not now
    /// (see [`KeySource::refetch`]). Decode the token again after it.
    pub fn refetch_keys(&self) -> Option<BoxFuture<'static, ()>> {
        self.shared.keys.refetch()
    }

    /// The key source's [`generation`](KeySource::generation): changes when
    /// a key leaves it.
    pub fn keys_generation(&self) -> u64 {
        self.shared.keys.generation()
    }

    /// Validates a refresh token completely, the store check included. (Its
    /// session's current `jti` is only compared by rotation.)
    pub async fn validate_refresh(&self, token: &str) -> Result<RefreshClaims, AuthError> {
        let claims = self.decode_refresh(token)?;
        verdict(self.check_token(&claims.token_ref(), token).await)?;
        Ok(claims)
    }

    /// Every check of an access token except the store's. Pair it with
    /// [`Validator::check`] to avoid an `.await` when the store answers at once.
    pub fn decode_access<E: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<AccessClaims<E>, AuthError> {
        self.decode(token, TokenKind::Access, true)
    }

    /// Every check of a refresh token except the store's.
    pub fn decode_refresh(&self, token: &str) -> Result<RefreshClaims, AuthError> {
        self.decode(token, TokenKind::Refresh, true)
    }

    /// The store's verdict on a decoded token.
    pub fn check(&self, token: &TokenRef<'_>) -> Check {
        self.shared.store.check(token)
    }

    /// The store's verdict on a decoded token, given the token itself too
    /// (see [`Store::check_token`]); what the layer asks.
    pub fn check_token(&self, token: &TokenRef<'_>, raw: &str) -> Check {
        self.shared.store.check_token(token, raw)
    }

    /// The store behind this validator.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Decodes and checks a token; `check_exp: false` lets expired tokens
    /// through, for logout, which revokes what it can identify.
    pub(crate) fn decode<T: DeserializeOwned + Registered>(
        &self,
        token: &str,
        kind: TokenKind,
        check_exp: bool,
    ) -> Result<T, AuthError> {
        let max = self.shared.config.max_token_bytes;
        if token.len() > max {
            return Err(AuthError::TokenTooLarge {
                len: token.len(),
                max,
            });
        }
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or(AuthError::Malformed("not a JWS"))?;
        let (header_b64, payload_b64) = message
            .split_once('.')
            .ok_or(AuthError::Malformed("not a JWS"))?;
        if payload_b64.contains('.') {
            return Err(AuthError::Malformed("too many parts"));
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| AuthError::Malformed("header is not base64url"))?;
        let header: JoseHeader<'_> = serde_json::from_slice(&header_json)
            .map_err(|_| AuthError::Malformed("header is not a JOSE header"))?;
        if let Some(name) = header.refused_parameter() {
            return Err(AuthError::UnsupportedHeader(name));
        }
        if !header.typ.as_deref().is_some_and(|t| kind.matches_typ(t)) {
            return Err(AuthError::WrongTokenType { expected: kind });
        }
        let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
        let key = match self.shared.keys.key(kid) {
            KeyLookup::Found(key) => key,
            KeyLookup::Unavailable => return Err(AuthError::KeysUnavailable),
            _ => return Err(AuthError::UnknownKey),
        };
        if header.alg != key.algorithm().as_str() {
            return Err(AuthError::AlgorithmMismatch);
        }
        if !key.verify(message.as_bytes(), signature) {
            return Err(AuthError::InvalidSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| AuthError::Malformed("payload is not base64url"))?;
        let claims: T = serde_json::from_slice(&payload).map_err(claims_error)?;
        self.check_registered(&claims, check_exp)?;
        Ok(claims)
    }

    /// Whether a token expiring at `exp` is refused now: valid while
    /// `now < exp + leeway` (RFC 7519 §4.1.4: "on or after" the expiry it
    /// must be refused).
    pub(crate) fn expired(&self, exp: u64) -> bool {
        self.expired_at(exp, self.shared.clock.now())
    }

    /// [`expired`](Self::expired) at `now`, read by the caller.
    pub(crate) fn expired_at(&self, exp: u64, now: u64) -> bool {
        now >= exp.saturating_add(self.shared.config.leeway.as_secs())
    }

    fn check_registered<T: Registered>(
        &self,
        claims: &T,
        check_exp: bool,
    ) -> Result<(), AuthError> {
        let config = &self.shared.config;
        let now = self.shared.clock.now();
        let leeway = config.leeway.as_secs();
        if claims.sub().is_empty() {
            return Err(AuthError::InvalidClaims("empty `sub`".into()));
        }
        if check_exp && self.expired(claims.exp()) {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf()
            .is_some_and(|nbf| now.saturating_add(leeway) < nbf)
        {
            return Err(AuthError::NotYetValid);
        }
        if now.saturating_add(leeway) < claims.iat() {
            return Err(AuthError::IssuedInFuture);
        }
        // A login after the token was issued is no login we signed.
        if claims.auth_time().is_some_and(|t| t > claims.iat()) {
            return Err(AuthError::InvalidClaims("`auth_time` after `iat`".into()));
        }
        let max = match T::KIND {
            TokenKind::Access => config.max_access_lifetime,
            TokenKind::Refresh => config.max_refresh_lifetime,
        }
        .as_secs();
        let lifetime = claims.exp().saturating_sub(claims.iat());
        if lifetime > max {
            return Err(AuthError::LifetimeTooLong { lifetime, max });
        }
        if let Some(issuer) = &config.issuer
            && claims.iss() != Some(issuer.as_str())
        {
            return Err(AuthError::InvalidIssuer);
        }
        let audiences = &self.shared.audiences;
        if !audiences.is_empty() && !audiences.iter().any(|a| claims.aud().contains(a)) {
            return Err(AuthError::InvalidAudience);
        }
        Ok(())
    }
}

/// Turns a store verdict into the validation result.
pub(crate) fn verdict(v: Result<Verdict, crate::StoreError>) -> Result<(), AuthError> {
    match v? {
        Verdict::Allowed => Ok(()),
        Verdict::Revoked(by) => Err(AuthError::Revoked(by)),
    }
}

/// Names a missing claim; any other mismatch is reported without the
/// offending value, which came from the token.
fn claims_error(e: serde_json::Error) -> AuthError {
    let msg = e.to_string();
    if msg.starts_with("missing field") {
        let field = msg.split('`').nth(1).unwrap_or("?");
        AuthError::InvalidClaims(format!("missing claim `{field}`"))
    } else if e.is_data() {
        AuthError::InvalidClaims("a claim has the wrong type".into())
    } else {
        AuthError::Malformed("payload is not a JSON object")
    }
}

/// Builds a verify-only [`Validator`] (from [`Validator::builder`]).
///
/// | setting | default |
/// |---|---|
/// | issuer | none: `iss` is not checked; set it |
/// | audiences | none: `aud` is not checked; set them |
/// | leeway on `exp`/`nbf` | 5 s ([`DEFAULT_LEEWAY`](crate::DEFAULT_LEEWAY)) |
/// | max token size | 8 KiB ([`DEFAULT_MAX_TOKEN_BYTES`](crate::DEFAULT_MAX_TOKEN_BYTES)) |
/// | max access token lifetime (`exp - iat`) | 1 h ([`DEFAULT_MAX_LIFETIME`](crate::DEFAULT_MAX_LIFETIME)) |
/// | revocation checks | **no default**: [`store`](Self::store) or [`without_revocation_checks`](Self::without_revocation_checks), else [`build`](Self::build) fails |
/// | clock | [`SystemClock`] |
///
/// ```
/// use std::sync::Arc;
/// use auth_core::store::MemoryStore;
/// use auth_core::{Algorithm, AuthError, Key, KeySet, NoClaims, TokenAuthority, Validator};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let issuer = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap())
///     .issuer("https://auth.example")
///     .audience("orders")
///     .build()
///     .unwrap();
/// let pair = issuer.issue("alice", &NoClaims {}).await.unwrap();
///
/// // Another service: the issuer's public keys only.
/// let public = KeySet::verifying(
///     issuer.keys().jwks().keys.iter().map(|jwk| Key::from_jwk(jwk).unwrap()),
/// )
/// .unwrap();
/// let validator = Validator::builder(public)
///     .issuer("https://auth.example")
///     .audiences(["orders", "billing"])
///     .without_revocation_checks() // an explicit choice: logouts are not seen
///     .build()
///     .unwrap();
/// let claims = validator.validate_access::<NoClaims>(&pair.access_token).await.unwrap();
/// assert_eq!(claims.sub, "alice");
///
/// // Neither a store nor its absence chosen: refused.
/// let keys = KeySet::verifying([]).unwrap();
/// assert!(Validator::builder(keys).build().is_err());
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct ValidatorBuilder {
    keys: Arc<dyn KeySource>,
    config: TokenConfig,
    audiences: Vec<String>,
    store: Option<Arc<dyn Store>>,
    clock: Option<Arc<dyn Clock>>,
}

impl ValidatorBuilder {
    /// Requires `iss` to be exactly this.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// Adds an accepted audience: a token must name at least one of them in
    /// `aud`. Call it once per audience, or use [`audiences`](Self::audiences).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences.
    pub fn audiences(mut self, audiences: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Leeway on `exp` and `nbf` (default 5 s; zero allowed). Whole seconds.
    pub fn leeway(mut self, leeway: std::time::Duration) -> Self {
        self.config.leeway = leeway;
        self
    }

    /// Longest token accepted, in bytes (default 8 KiB; at least 256).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.config.max_token_bytes = max;
        self
    }

    /// Longest access token lifetime accepted, `exp - iat` (default 1 h,
    /// [`DEFAULT_MAX_LIFETIME`](crate::DEFAULT_MAX_LIFETIME)): set it to
    /// the issuer's access lifetime plus the leeway. A token living longer
    /// is refused ([`AuthError::LifetimeTooLong`]), whoever signed it.
    pub fn max_lifetime(mut self, max: std::time::Duration) -> Self {
        self.config.max_access_lifetime = max;
        self
    }

    /// Checks every token against this store: denylisted `jti`s, revoked
    /// sessions, logout-all cut-offs. For a service beside the issuer, a
    /// [read-only Redis store] on the issuer's Redis.
    ///
    #[cfg_attr(
        feature = "redis",
        doc = "[read-only Redis store]: crate::store::RedisStoreBuilder::read_only"
    )]
    #[cfg_attr(
        not(feature = "redis"),
        doc = "[read-only Redis store]: https://docs.rs/auth-core/latest/auth_core/store/struct.RedisStoreBuilder.html#method.read_only"
    )]
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Checks no revocations: a token stays valid until it expires, logouts
    /// included. Only for services that accept that (short access tokens,
    /// nothing sensitive); the validator never does this by default.
    pub fn without_revocation_checks(mut self) -> Self {
        self.store = Some(Arc::new(NoRevocationChecks));
        self
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The validator, or why the settings do not fit together.
    pub fn build(self) -> Result<Validator, ConfigError> {
        let store = self.store.ok_or(ConfigError::RevocationChecksUnset)?;
        if self.config.max_token_bytes < 256 {
            return Err(ConfigError::TokenLimitTooSmall);
        }
        Ok(Validator {
            shared: Arc::new(Shared {
                keys: self.keys,
                config: self.config,
                audiences: self.audiences.into(),
                store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            }),
        })
    }
}

/// The store of a validator built
/// [`without_revocation_checks`](ValidatorBuilder::without_revocation_checks):
/// allows every token, refuses every write.
#[derive(Debug)]
struct NoRevocationChecks;

impl NoRevocationChecks {
    fn refuse<'a, T: Send + 'a>(what: &'static str) -> BoxFuture<'a, Result<T, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::ReadOnly(what))))
    }
}

impl Store for NoRevocationChecks {
    fn check(&self, _: &TokenRef<'_>) -> Check {
        Check::ready(Ok(Verdict::Allowed))
    }
    fn create_session(&self, _: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        Self::refuse("create sessions")
    }
    fn rotate(&self, _: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        Self::refuse("rotate refresh tokens")
    }
    fn revoke_token(&self, _: uuid::Uuid, _: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        Self::refuse("revoke tokens")
    }
    fn revoke_session<'a>(
        &'a self,
        _: uuid::Uuid,
        _: &'a str,
        _: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Self::refuse("revoke sessions")
    }
    fn revoke_subject<'a>(
        &'a self,
        _: &'a str,
        _: u64,
        _: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Self::refuse("revoke subjects")
    }
    fn sessions<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Self::refuse("list sessions (none are kept)")
    }
}
