//! Ending sessions: logout, logout-all, a user's session list and
//! revoking one of them.

use uuid::Uuid;

use crate::claims::{AccessClaims, Confirmation, NoClaims, RefreshClaims, TokenKind};
use crate::clock::Clock;
use crate::dpop::{DpopError, DpopProof};
use crate::error::AuthError;
use crate::metrics;
use crate::store::SessionInfo;

use super::TokenAuthority;

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
    /// Logs one session out: revokes the session of the refresh token and the
    /// access token's `jti` and session. Expired tokens still identify their
    /// session (a client whose access token just ran out can still log out),
    /// but their signature, type, issuer and audience must check out: tokens
    /// that do not (forged, garbage) are skipped silently, so logout is never an
    /// oracle. Only a store failure is an error.
    pub async fn logout(&self, tokens: LogoutTokens<'_>) -> Result<LogoutOutcome, AuthError> {
        self.logout_bound(tokens, None).await
    }

    /// Whether a token of `tokens` is bound to `proof`'s key, read as
    /// [`logout_bound`](Self::logout_bound) reads them (signature, type,
    /// issuer and audience checked; expired or not): whether that logout
    /// would use the proof. A caller that keeps proofs from being replayed
    /// records such a proof before the logout, so that a replay, with any
    /// token of the key, ends nothing; a proof that names no token proves
    /// nothing and need not be kept.
    pub fn names_key_of(&self, tokens: LogoutTokens<'_>, proof: &DpopProof) -> bool {
        let bound = |cnf: Option<&Confirmation>| cnf.is_some_and(|c| c.is_key(&proof.jkt));
        let refresh = tokens.refresh_token.is_some_and(|t| {
            self.validator
                .decode::<RefreshClaims>(t, TokenKind::Refresh, false)
                .is_ok_and(|c| bound(c.cnf.as_ref()))
        });
        refresh
            || tokens.access_token.is_some_and(|t| {
                self.validator
                    .decode::<AccessClaims<NoClaims>>(t, TokenKind::Access, false)
                    .is_ok_and(|c| bound(c.cnf.as_ref()))
            })
    }

    /// [`logout`](Self::logout) for a request that carried a DPoP proof
    /// (RFC 9449), already verified: a token bound to a key
    /// (`cnf.jkt`) is revoked only when `proof` is signed by that key, and
    /// ignored otherwise, like an invalid token. Whoever glimpses a bound
    /// token cannot log its owner out with it; `logout` (no proof) revokes
    /// unbound tokens only.
    pub async fn logout_bound(
        &self,
        tokens: LogoutTokens<'_>,
        proof: Option<&DpopProof>,
    ) -> Result<LogoutOutcome, AuthError> {
        let proved = |cnf: &Option<Confirmation>| match cnf {
            None => true,
            Some(c) => proof.is_some_and(|p| c.is_key(&p.jkt)),
        };
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
                Ok(c) if !proved(&c.cnf) => {
                    metrics::dpop_refused(DpopError::KeyMismatch.reason(), "logout");
                    tracing::info!(sid = %c.sid, "logout: a DPoP-bound refresh token without its key's proof ignored");
                }
                Ok(c) => {
                    let until = c.exp.saturating_add(leeway).max(floor);
                    let revoke = s.store.revoke_session(c.sid, &c.sub, until);
                    if metrics::store_call("revoke_session", revoke).await? {
                        metrics::revoked("session", "logout", 1);
                        outcome.sessions_revoked += 1;
                    }
                    tracing::debug!(sid = %c.sid, "logout: the refresh token's session revoked");
                }
                Err(e) => tracing::debug!(error = %e, "logout: refresh token ignored"),
            }
        }
        if let Some(token) = tokens.access_token {
            match self
                .validator
                .decode::<AccessClaims<NoClaims>>(token, TokenKind::Access, false)
            {
                Ok(c) if !proved(&c.cnf) => {
                    metrics::dpop_refused(DpopError::KeyMismatch.reason(), "logout");
                    tracing::info!(sid = %c.sid, "logout: a DPoP-bound access token without its key's proof ignored");
                }
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
                    tracing::debug!(sid = %c.sid, jti = %c.jti, "logout: the access token and its session revoked");
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
}
