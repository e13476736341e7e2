//! Errors, and their one mapping onto the wire.
//!
//! [`AuthError`] says precisely what went wrong, for logs and for the
//! application. What a client may learn is only the [`ErrorClass`] (an RFC 6750
//! error code, or "unavailable") and the fixed [`AuthError::description`]: no
//! token contents and no hint about which internal check failed beyond the code.
//!
//! ```
//! use auth_core::{AuthError, ErrorClass};
//!
//! let err = AuthError::Expired;
//! assert_eq!(err.class(), ErrorClass::InvalidToken);
//! assert_eq!(err.class().rfc6750_code(), Some("invalid_token"));
//! assert_eq!(err.description(), "the token has expired");
//! ```

use crate::claims::TokenKind;

/// Everything that can go wrong while issuing, validating, refreshing or
/// revoking tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is longer than the configured limit; it was not decoded.
    #[error("token is {len} bytes, over the limit of {max}")]
    TokenTooLarge {
        /// Length of the presented token.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The token is not a compact JWS: wrong number of parts, bad base64url,
    /// or a header or payload that is not a JSON object.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header carries a parameter this crate refuses to honour
    /// (`jku`, `x5u`, `jwk`, `x5c`, `crit`, `b64`), per RFC 8725.
    #[error("unsupported header parameter `{0}`")]
    UnsupportedHeader(&'static str),
    /// No key in the key set has the token's `kid`, or the token has none.
    #[error("no verification key for this token's kid")]
    UnknownKey,
    /// The token's `alg` is not the algorithm its key is pinned to
    /// (this includes `none`).
    #[error("token alg does not match the key's pinned algorithm")]
    AlgorithmMismatch,
    /// The header `typ` is not the one of the expected token kind.
    #[error("expected a {expected} token")]
    WrongTokenType {
        /// The kind the caller asked to validate.
        expected: TokenKind,
    },
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The payload lacks a required claim or a claim has the wrong type.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) is still in the future.
    #[error("token not valid yet")]
    NotYetValid,
    /// `iat` (minus leeway) is in the future: no honest issuer dates a
    /// token ahead.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `exp - iat` is longer than the validator accepts (see
    /// `max_lifetime`): a token its issuer would never have made.
    #[error("token lifetime of {lifetime} s is over the limit of {max} s")]
    LifetimeTooLong {
        /// `exp - iat`, in seconds.
        lifetime: u64,
        /// The limit, in seconds.
        max: u64,
    },
    /// `iss` is missing or not the configured issuer.
    #[error("wrong issuer")]
    InvalidIssuer,
    /// `aud` is missing or does not contain the configured audience.
    #[error("wrong audience")]
    InvalidAudience,
    /// The token, its session or its subject was revoked.
    #[error("token revoked ({0})")]
    Revoked(RevokedBy),
    /// A refresh token that had already been rotated was presented again; its
    /// whole session is now revoked.
    #[error("refresh token reused; session revoked")]
    RefreshReused,
    /// The refresh token was rotated by a concurrent refresh an instant ago
    /// (within the reuse grace): this request lost the race. The session is
    /// not revoked; the client should use the pair the winning request got.
    #[error("refresh token superseded by a concurrent refresh")]
    RefreshSuperseded,
    /// The session reached its absolute lifetime; the user must log in again.
    #[error("session expired")]
    SessionExpired,
    /// The application refused to renew the session at refresh (the user
    /// was disabled, for example; see [`Reload::Refuse`](crate::Reload::Refuse)).
    /// The session is now revoked.
    #[error("refresh refused by the application: {0}")]
    SessionRefused(String),
    /// The application could not say whether the session may be renewed
    /// ([`Reload::Unavailable`](crate::Reload::Unavailable)): nothing
    /// changed, the client may retry.
    #[error("claims source unavailable: {0}")]
    ClaimsUnavailable(String),
    /// The caller lacks a required role or scope.
    #[error("insufficient scope: requires {required}")]
    InsufficientScope {
        /// What was required, for logs.
        required: String,
    },
    /// The token is valid, but the login behind it is older than the
    /// operation allows, or its `auth_time` is unknown (RFC 9470 step-up):
    /// the user must sign in again.
    #[error("the login is older than {max_age} s")]
    LoginTooOld {
        /// The largest age of the login the operation accepts, in seconds
        /// (the challenge's `max_age`).
        max_age: u64,
        /// The `acr_values` the operation asks for, if it names any.
        acr_values: Option<String>,
    },
    /// The token is bound to a DPoP key (RFC 9449) and no valid proof of
    /// that key came with it: 401 `invalid_dpop_proof`. Nothing was
    /// rotated nor revoked.
    #[error("{0}")]
    Dpop(DpopError),
    /// The revocation store could not answer; the request is refused
    /// (fail closed). Shown as the store error itself, which says what
    /// failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The verification keys are not known yet (a JWKS not fetched since
    /// start); the request is refused (fail closed, HTTP 503).
    #[error("the verification keys are not available yet")]
    KeysUnavailable,
    /// The application's claims could not be used (not a JSON object, or a
    /// key that collides with a registered claim).
    #[error("application claims rejected: {0}")]
    Claims(String),
    /// Signing failed (a key problem on the server side).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Which check revoked a token, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedBy {
    /// The token's own `jti` is on the denylist.
    Token,
    /// Its session (`sid`) was revoked.
    Session,
    /// Its subject logged out everywhere after it was issued.
    Subject,
}

impl std::fmt::Display for RevokedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevokedBy::Token => "token",
            RevokedBy::Session => "session",
            RevokedBy::Subject => "subject",
        })
    }
}

/// How an error is reported to a client: the RFC 6750 §3.1 error codes, plus
/// a store outage and server faults, which are not the client's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// `invalid_request` (HTTP 400): the request itself is malformed.
    InvalidRequest,
    /// `invalid_token` (HTTP 401): expired, revoked, malformed or otherwise invalid.
    InvalidToken,
    /// `insufficient_scope` (HTTP 403): valid token, not enough privileges.
    InsufficientScope,
    /// `insufficient_user_authentication` (HTTP 401, RFC 9470): valid
    /// token, but the login behind it is too old for the operation.
    InsufficientUserAuthentication,
    /// The store is down (HTTP 503); the client may retry.
    Unavailable,
    /// A server-side fault (HTTP 500), such as unusable application claims.
    Internal,
    /// `invalid_dpop_proof` (HTTP 401, RFC 9449 §7.1): a DPoP-bound token
    /// without a valid proof of its key.
    InvalidDpopProof,
    /// `use_dpop_nonce` (HTTP 401 at a resource, RFC 9449 §9; the login
    /// and refresh routes answer 400, §8): the proof lacks the server's
    /// current nonce, which the answer's `DPoP-Nonce` header carries.
    UseDpopNonce,
}

impl ErrorClass {
    /// The RFC 6750 `error` code (RFC 9470's for
    /// [`InsufficientUserAuthentication`](Self::InsufficientUserAuthentication)),
    /// if this class has one.
    pub fn rfc6750_code(self) -> Option<&'static str> {
        match self {
            ErrorClass::InvalidRequest => Some("invalid_request"),
            ErrorClass::InvalidToken => Some("invalid_token"),
            ErrorClass::InsufficientScope => Some("insufficient_scope"),
            ErrorClass::InsufficientUserAuthentication => Some("insufficient_user_authentication"),
            ErrorClass::InvalidDpopProof => Some("invalid_dpop_proof"),
            ErrorClass::UseDpopNonce => Some("use_dpop_nonce"),
            ErrorClass::Unavailable | ErrorClass::Internal => None,
        }
    }

    /// The HTTP status code that goes with this class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::InvalidRequest => 400,
            ErrorClass::InvalidToken => 401,
            ErrorClass::InsufficientScope => 403,
            ErrorClass::InsufficientUserAuthentication => 401,
            ErrorClass::InvalidDpopProof => 401,
            ErrorClass::UseDpopNonce => 401,
            ErrorClass::Unavailable => 503,
            ErrorClass::Internal => 500,
        }
    }
}

impl AuthError {
    /// How this error is reported to the client. This is the one place where
    /// errors map onto the wire.
    pub fn class(&self) -> ErrorClass {
        match self {
            AuthError::TokenTooLarge { .. } => ErrorClass::InvalidRequest,
            AuthError::Malformed(_)
            | AuthError::UnsupportedHeader(_)
            | AuthError::UnknownKey
            | AuthError::AlgorithmMismatch
            | AuthError::WrongTokenType { .. }
            | AuthError::InvalidSignature
            | AuthError::InvalidClaims(_)
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::IssuedInFuture
            | AuthError::LifetimeTooLong { .. }
            | AuthError::InvalidIssuer
            | AuthError::InvalidAudience
            | AuthError::Revoked(_)
            | AuthError::RefreshReused
            | AuthError::RefreshSuperseded
            | AuthError::SessionExpired
            | AuthError::SessionRefused(_) => ErrorClass::InvalidToken,
            AuthError::InsufficientScope { .. } => ErrorClass::InsufficientScope,
            AuthError::LoginTooOld { .. } => ErrorClass::InsufficientUserAuthentication,
            AuthError::Dpop(DpopError::Unavailable(_)) => ErrorClass::Unavailable,
            AuthError::Dpop(DpopError::UseNonce) => ErrorClass::UseDpopNonce,
            AuthError::Dpop(_) => ErrorClass::InvalidDpopProof,
            // A write sent to a read-only store is a deployment fault, not an outage.
            AuthError::Store(StoreError::ReadOnly(_)) => ErrorClass::Internal,
            AuthError::Store(_) | AuthError::ClaimsUnavailable(_) | AuthError::KeysUnavailable => {
                ErrorClass::Unavailable
            }
            AuthError::Claims(_) | AuthError::Signing(_) => ErrorClass::Internal,
        }
    }

    /// A fixed, client-safe description (RFC 6750 `error_description`). It
    /// never contains token contents.
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::TokenTooLarge { .. } => "the token is too large",
            AuthError::Expired => "the token has expired",
            AuthError::NotYetValid => "the token is not valid yet",
            AuthError::Revoked(_) => "the token has been revoked",
            AuthError::RefreshReused => "the refresh token was already used",
            AuthError::RefreshSuperseded => {
                "the refresh token was just replaced by a concurrent refresh; \
                 retry once with the newest refresh token"
            }
            AuthError::SessionExpired => "the session has expired",
            AuthError::SessionRefused(_) => "the session was ended by the server",
            AuthError::WrongTokenType { .. } => "the token is of the wrong type",
            AuthError::InsufficientScope { .. } => "the token lacks the required privileges",
            AuthError::LoginTooOld { .. } => "a more recent sign-in is required for this operation",
            AuthError::Dpop(DpopError::Unavailable(_)) => {
                "the DPoP replay cache is unavailable; retry"
            }
            AuthError::Dpop(DpopError::UseNonce) => {
                "sign the DPoP proof again with the nonce in the DPoP-Nonce header"
            }
            AuthError::Dpop(_) => {
                "a valid DPoP proof signed by the key this token is bound to is required"
            }
            AuthError::Store(StoreError::ReadOnly(_))
            | AuthError::Claims(_)
            | AuthError::Signing(_) => "internal error",
            AuthError::Store(_) | AuthError::ClaimsUnavailable(_) | AuthError::KeysUnavailable => {
                "the authorization service is temporarily unavailable"
            }
            _ => "the token is invalid",
        }
    }
}

/// The store could not carry out an operation. Every caller treats this as a
/// refusal (fail closed), never as a pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend is unreachable, or its local view is not in sync with it.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something this store cannot use.
    #[error("store backend error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A write sent to a store that only checks (a read-only Redis store, or
    /// a validator without revocation checks): the deployment sends
    /// logins, refreshes or logouts to a service that only verifies.
    #[error("the store is read-only: cannot {0}")]
    ReadOnly(&'static str),
}

/// A key could not be built or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2).
    #[error("{alg} needs a secret of at least {min} bytes, got {len}")]
    SecretTooShort {
        /// The algorithm.
        alg: crate::algorithm::Algorithm,
        /// The minimum length in bytes.
        min: usize,
        /// The length given.
        len: usize,
    },
    /// The operation does not fit this algorithm (e.g. a raw secret for ES256).
    #[error("{alg} cannot be used this way: {reason}")]
    WrongAlgorithm {
        /// The algorithm.
        alg: crate::algorithm::Algorithm,
        /// Why.
        reason: &'static str,
    },
    /// The key's numbers are not a valid key (a damaged file), an RSA key
    /// has under 2048 bits, a public key stored with its private key is not
    /// its own, or a JWK's coordinates are not of its curve's size.
    #[error("invalid key for {alg}: {reason}")]
    InvalidKey {
        /// The algorithm.
        alg: crate::algorithm::Algorithm,
        /// What was wrong.
        reason: String,
    },
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generation(String),
    /// Two keys in one key set have the same `kid`.
    #[error("duplicate kid {0}")]
    DuplicateKid(String),
    /// A rotation would leave more keys in a [`KeyRing`](crate::KeyRing)
    /// than [`MAX_RING_KEYS`](crate::MAX_RING_KEYS): older keys are
    /// still waiting for their tokens to expire.
    #[error("the key ring already holds {0} keys waiting for their tokens to expire")]
    TooManyKeys(usize),
    /// The signing key cannot be withdrawn alone (nothing would sign):
    /// replace it, which withdraws it
    /// ([`KeyRing::replace_signing_key`](crate::KeyRing::replace_signing_key)).
    #[error("the signing key cannot be withdrawn alone: replace it with a new signing key")]
    SigningKeyWithdrawal,
    /// The key set's active key has no private part.
    #[error("the active key of a key set must be able to sign")]
    NotASigningKey,
    /// A JWK could not be turned into a key.
    #[error("unusable JWK: {0}")]
    Jwk(String),
    /// The document holds nothing this call can use, said in plain words
    /// with what to do: not PEM, an encrypted key, a certificate, a public
    /// key where a private one is needed, a key type or curve no algorithm
    /// uses, an RSA key given without its algorithm.
    #[error("{0}")]
    Unusable(String),
    /// The key is not of the type or curve the algorithm needs (a P-384 key
    /// for ES256, an EC key for RS256).
    #[error("the key is {found}, but {alg} needs {expected}")]
    Mismatch {
        /// The algorithm asked for.
        alg: crate::algorithm::Algorithm,
        /// What the key is ("a P-384 EC key").
        found: String,
        /// What the algorithm needs ("a P-256 EC key").
        expected: &'static str,
    },
    /// A key file could not be read (`error.kind()` is
    /// [`NotFound`](std::io::ErrorKind::NotFound) when it does not exist).
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A key file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A key file was read, but what it holds is not usable: `error` says why.
    #[error("{}: {error}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with its contents.
        error: Box<KeyError>,
    },
}

/// The authority's configuration is inconsistent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A lifetime of zero.
    #[error("{0} must be longer than zero")]
    ZeroLifetime(&'static str),
    /// The access lifetime exceeds the refresh lifetime.
    #[error("the access token lifetime must not exceed the refresh token lifetime")]
    AccessOutlivesRefresh,
    /// The token size limit is too small to hold any token this authority issues.
    #[error("max_token_bytes must be at least 256")]
    TokenLimitTooSmall,
    /// A cap of zero sessions per subject (nobody could log in), or one over
    /// [`MAX_SESSIONS_PER_SUBJECT_LIMIT`](crate::MAX_SESSIONS_PER_SUBJECT_LIMIT)
    /// (the store's work would be unbounded).
    #[error("max_sessions_per_subject must be between 1 and 10000")]
    NoSessionsAllowed,
    /// An authority was given a [verifying](crate::KeySet::verifying) key
    /// set: it has nothing to sign with.
    #[error("the authority's key set has no signing key")]
    NoSigningKey,
    /// A verify-only validator was built without choosing how revocations are
    /// checked: give it a store, or say
    /// [`without_revocation_checks`](crate::ValidatorBuilder::without_revocation_checks).
    #[error("choose the revocation store of the validator, or call without_revocation_checks()")]
    RevocationChecksUnset,
    /// The signing key cannot be used (from [`TokenAuthority::new`](crate::TokenAuthority::new)).
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Why a proof was refused. Every variant is answered 401
/// `invalid_dpop_proof` except [`Unavailable`](Self::Unavailable) (503)
/// and [`UseNonce`](Self::UseNonce) (`use_dpop_nonce`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// Not a compact JWS with JSON header and claims, too long, or a claim
    /// of the wrong type.
    #[error("the DPoP proof is malformed: {0}")]
    Malformed(&'static str),
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    /// `alg` is not one this server accepts (never `none` nor HMAC).
    #[error("the DPoP proof's alg {0} is not accepted")]
    Algorithm(String),
    /// The `jwk` is missing, private, of another family than `alg`, or too
    /// weak.
    #[error("the DPoP proof's jwk is unusable: {0}")]
    Key(&'static str),
    /// The signature does not verify with the `jwk`.
    #[error("the DPoP proof's signature is invalid")]
    Signature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another HTTP method")]
    Method,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof is for another URL")]
    Url,
    /// `iat` is outside the accepted window.
    #[error("the DPoP proof's iat is too far from now")]
    Time,
    /// This proof (its key and `jti`) was seen before.
    #[error("the DPoP proof was already used")]
    Replayed,
    /// `ath` is missing or is not the hash of the access token.
    #[error("the DPoP proof is not for this access token (ath)")]
    AccessTokenHash,
    /// The proof is valid but signed by another key than the token is bound to.
    #[error("the DPoP proof is signed by another key than the token is bound to")]
    KeyMismatch,
    /// A request for a bound token came without a proof, or presented the
    /// token with the `Bearer` scheme.
    #[error("a DPoP proof is required")]
    Missing,
    /// A token presented with the `DPoP` scheme is not bound to a key.
    #[error("the token is not bound to a DPoP key")]
    Unbound,
    /// More than one `DPoP` header.
    #[error("more than one DPoP header")]
    Repeated,
    /// The proof carries no server nonce, or a stale or foreign one, where
    /// the server [requires one](crate::dpop::DpopVerifier::nonces):
    /// `use_dpop_nonce`, answered with a fresh nonce to sign again with.
    #[error("the DPoP proof must carry the server's current nonce")]
    UseNonce,
    /// The replay cache could not be asked: retry.
    #[error("the DPoP replay cache is unavailable: {0}")]
    Unavailable(StoreError),
}

impl DpopError {
    /// A short label for logs and metrics (`reason` of
    /// `auth_dpop_refusals_total`).
    pub fn reason(&self) -> &'static str {
        match self {
            DpopError::Malformed(_) => "malformed",
            DpopError::Type => "typ",
            DpopError::Algorithm(_) => "alg",
            DpopError::Key(_) => "jwk",
            DpopError::Signature => "signature",
            DpopError::Method => "htm",
            DpopError::Url => "htu",
            DpopError::Time => "iat",
            DpopError::Replayed => "replay",
            DpopError::AccessTokenHash => "ath",
            DpopError::KeyMismatch => "key_mismatch",
            DpopError::Missing => "missing",
            DpopError::Unbound => "unbound",
            DpopError::Repeated => "repeated",
            DpopError::UseNonce => "nonce",
            DpopError::Unavailable(_) => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_is_shown_once() {
        let e = AuthError::from(StoreError::Unavailable("redis: timed out".into()));
        assert_eq!(e.to_string(), "store unavailable: redis: timed out");
    }

    #[test]
    fn a_superseded_refresh_is_described_apart_from_reuse() {
        let superseded = AuthError::RefreshSuperseded.description();
        assert_ne!(superseded, AuthError::RefreshReused.description());
        assert!(superseded.contains("retry"), "{superseded}");
        assert_eq!(
            AuthError::RefreshSuperseded.class(),
            ErrorClass::InvalidToken
        );
    }
}
