//! Refreshing: a refresh token rotated into a new pair, reuse detected,
//! claims reloaded.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::claims::NoClaims;
use crate::clock::Clock;
use crate::dpop::{DpopError, DpopProof};
use crate::error::{AuthError, RevokedBy};
use crate::metrics;
use crate::store::{RotateOutcome, Rotation};

use super::{Minting, TokenAuthority, TokenPair, app_claims};

impl TokenAuthority {
    /// Exchanges a refresh token for a new pair (same session, new `jti`s).
    /// The presented token dies. Errors: the usual validation errors;
    /// [`AuthError::RefreshReused`] when it had already been rotated (the
    /// session is then revoked); [`AuthError::SessionExpired`] past the
    /// absolute lifetime; [`AuthError::Revoked`] for a revoked session. Each
    /// means "log in again"; nothing else is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let result = self
            .rotate_with(refresh_token, false, None, |_| async {
                Reload::<NoClaims>::Keep
            })
            .await;
        metrics::refresh(&result);
        result
    }

    /// [`refresh`](Self::refresh), asking `reload` first whether the session
    /// may go on and with which claims, so that a demoted user's new access
    /// token carries the new roles and a disabled user's refresh fails.
    ///
    /// `reload` gets the [`Session`] (its id, subject and current claims)
    /// once the refresh token is known to be valid, and before anything
    /// changes:
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
    /// Reading the session costs one store lookup
    /// ([`Store::session`](crate::store::Store::session)) per refresh.
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
    ///     .refresh_with(&pair.refresh_token, |session| async move {
    ///         let claims: RoleClaims = session.claims.unwrap_or_default();
    ///         assert_eq!((session.subject.as_str(), claims.roles.as_slice()), ("alice", ["admin".to_string()].as_slice()));
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
        E: Serialize + DeserializeOwned,
        F: FnOnce(Session<E>) -> Fut,
        Fut: Future<Output = Reload<E>>,
    {
        let result = self.rotate_with(refresh_token, true, None, reload).await;
        metrics::refresh(&result);
        result
    }

    /// [`refresh_with`](Self::refresh_with) for a client that sent a DPoP
    /// proof (RFC 9449), already checked by a
    /// [`DpopVerifier`](crate::dpop::DpopVerifier) for this request: a
    /// session bound to a key ([`SessionMeta::bound_to`](super::SessionMeta::bound_to))
    /// refreshes only with a proof of that key, and its new pair stays
    /// bound. Without a proof, or with another key's, the refresh fails
    /// with [`AuthError::Dpop`] (401 `invalid_dpop_proof`) and nothing is
    /// rotated nor revoked: the token is useless without the key, and
    /// revoking would let whoever glimpses it log its owner out. Every
    /// refresh of a bound session goes through here: `refresh` and
    /// `refresh_with` refuse one.
    pub async fn refresh_bound<E, F, Fut>(
        &self,
        refresh_token: &str,
        proof: Option<&DpopProof>,
        reload: F,
    ) -> Result<TokenPair, AuthError>
    where
        E: Serialize + DeserializeOwned,
        F: FnOnce(Session<E>) -> Fut,
        Fut: Future<Output = Reload<E>>,
    {
        let jkt = proof.map(|p| p.jkt.as_str());
        let result = self
            .rotate_with(refresh_token, true, Some(jkt), reload)
            .await;
        metrics::refresh(&result);
        result
    }

    pub(super) async fn rotate_with<E, F, Fut>(
        &self,
        refresh_token: &str,
        read_session: bool,
        // The thumbprint of the request's DPoP proof: `None` from the
        // callers that take no proof, `Some(None)` for no proof sent.
        proof_jkt: Option<Option<&str>>,
        reload: F,
    ) -> Result<TokenPair, AuthError>
    where
        E: Serialize + DeserializeOwned,
        F: FnOnce(Session<E>) -> Fut,
        Fut: Future<Output = Reload<E>>,
    {
        let s = self.shared();
        let claims = self.validator.validate_refresh(refresh_token).await?;
        if let Some(cnf) = &claims.cnf {
            let refused = match proof_jkt.flatten() {
                None => Some(DpopError::Missing),
                Some(jkt) if !cnf.is_key(jkt) => Some(DpopError::KeyMismatch),
                Some(_) => None,
            };
            if let Some(why) = refused {
                metrics::dpop_refused(why.reason(), "refresh");
                tracing::warn!(sid = %claims.sid, reason = why.reason(), "refresh of a DPoP-bound session refused: no proof of its key; nothing rotated");
                return Err(AuthError::Dpop(why));
            }
        }
        // Only a caller that reads the session pays for the lookup.
        let record = if read_session {
            metrics::store_call("session", s.store.session(claims.sid, &claims.sub)).await?
        } else {
            None
        };
        let session = Session {
            id: claims.sid,
            subject: claims.sub.clone(),
            login_at: record.as_ref().map(|r| r.created_at),
            // Claims the application no longer reads as `E` (its type
            // changed since the login) are shown as unknown.
            claims: record.and_then(|r| serde_json::from_str(&r.claims).ok()),
        };
        // Asked before the rotation: an outage of the application's user
        // directory must leave the presented token usable for a retry.
        let fresh = match reload(session).await {
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
                // The login time stays the session's: a refresh is no sign-in.
                self.mint_pair(
                    &Minting {
                        subject: &session.subject,
                        extra: &extra,
                        sid: session.sid,
                        refresh_jti: next,
                        auth_time: session.created_at,
                        refresh_exp: session.refresh_expires_at,
                        session_exp: session.expires_at,
                        jkt: claims.cnf.as_ref().map(|c| c.jkt.as_str()),
                    },
                    now,
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
}

/// What the application decides at refresh, in
/// [`TokenAuthority::refresh_with`].
///
/// A [`Replace`](Self::Replace) becomes the session's claims, stored with
/// the rotation: a later [`Keep`](Self::Keep) keeps them, never the login
/// claims they replaced.
///
/// ```
/// use auth_core::{Algorithm, AuthError, Key, KeySet, Reload, RoleClaims, TokenAuthority};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
/// let keys = KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
/// let authority = TokenAuthority::builder(keys).build().unwrap();
/// let pair = authority.issue("alice", &RoleClaims::with_roles(["admin"])).await?;
///
/// // The user directory is down: this refresh fails (503) and changes nothing ...
/// let down = authority
///     .refresh_with(&pair.refresh_token, |_| async {
///         Reload::<RoleClaims>::Unavailable("user directory down".into())
///     })
///     .await;
/// assert!(matches!(down, Err(AuthError::ClaimsUnavailable(_))));
///
/// // ... so the same token works once it is back. alice lost `admin` meanwhile:
/// let pair = authority
///     .refresh_with(&pair.refresh_token, |_| async {
///         Reload::Replace(RoleClaims::with_roles(["user"]))
///     })
///     .await?;
///
/// // A later refresh that keeps the claims keeps the replaced ones.
/// let pair = authority
///     .refresh_with(&pair.refresh_token, |_| async { Reload::<RoleClaims>::Keep })
///     .await?;
/// let claims = authority.validator().validate_access::<RoleClaims>(&pair.access_token).await?;
/// assert_eq!(claims.extra.roles, ["user"]);
/// # Ok(()) }
/// ```
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

/// The session being refreshed, as [`TokenAuthority::refresh_with`] shows
/// it to the application's `reload`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session<E> {
    /// The session id (`sid` of its tokens): the id of
    /// [`TokenAuthority::sessions`] and of `revoke_session`.
    pub id: Uuid,
    /// The user (`sub`).
    pub subject: String,
    /// The login time (Unix seconds); `None` when the store cannot look
    /// sessions up.
    pub login_at: Option<u64>,
    /// The session's application claims: those given at login, or of the
    /// last [`Reload::Replace`]. `None` when the store cannot look sessions
    /// up, or when the stored claims no longer read as `E`.
    pub claims: Option<E>,
}
