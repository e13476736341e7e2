//! Issuing: a login's token pair, and the signing every token goes through.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::claims::{AccessClaims, Audience, Confirmation, RESERVED, RefreshClaims, TokenKind};
use crate::clock::Clock;
use crate::error::AuthError;
use crate::metrics;
use crate::store::NewSession;

use super::TokenAuthority;

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
    /// `Bearer`, or `DPoP` for a pair bound to a DPoP key.
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

impl TokenAuthority {
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
            &Minting {
                subject,
                extra: &extra,
                sid,
                refresh_jti,
                auth_time: now,
                refresh_exp,
                session_exp: expires_at,
                jkt: meta.dpop_jkt.as_deref(),
            },
            now,
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

    /// Signs the pair of `m`, issued at `now`: an access token living
    /// `access_ttl` and a refresh token living until `m.refresh_exp`, neither
    /// past the session's end.
    pub(super) fn mint_pair(&self, m: &Minting<'_>, now: u64) -> Result<TokenPair, AuthError> {
        let s = self.shared();
        let access_exp = now
            .saturating_add(s.config.access_ttl.as_secs())
            .min(m.session_exp);
        let access = self.sign_access(&AccessSpec {
            subject: m.subject,
            extra: m.extra,
            sid: m.sid,
            jti: Uuid::new_v4(),
            iat: now,
            exp: access_exp,
            auth_time: Some(m.auth_time),
            jkt: m.jkt,
        })?;
        let refresh = self.sign(
            TokenKind::Refresh,
            &RefreshClaims {
                iss: s.config.issuer.clone(),
                sub: m.subject.to_owned(),
                aud: self.audience(),
                exp: m.refresh_exp,
                iat: now,
                nbf: Some(now),
                jti: m.refresh_jti,
                sid: m.sid,
                cnf: m.jkt.map(|jkt| Confirmation {
                    jkt: jkt.to_owned(),
                }),
            },
        )?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: if m.jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: access_exp.saturating_sub(now),
            refresh_expires_in: m.refresh_exp.saturating_sub(now),
            session_id: m.sid,
        })
    }

    pub(crate) fn sign_access(&self, a: &AccessSpec<'_>) -> Result<String, AuthError> {
        let claims = AccessClaims {
            iss: self.shared().config.issuer.clone(),
            sub: a.subject.to_owned(),
            aud: self.audience(),
            exp: a.exp,
            iat: a.iat,
            nbf: Some(a.iat),
            jti: a.jti,
            sid: a.sid,
            auth_time: a.auth_time,
            cnf: a.jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
            extra: a.extra,
        };
        self.sign(TokenKind::Access, &claims)
    }

    pub(super) fn audience(&self) -> Audience {
        self.shared()
            .config
            .audience
            .clone()
            .map(Audience::one)
            .unwrap_or_default()
    }

    pub(super) fn sign(
        &self,
        kind: TokenKind,
        claims: &impl Serialize,
    ) -> Result<String, AuthError> {
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

/// What a token pair is minted from: the session, as a login creates it or
/// a rotation leaves it.
pub(super) struct Minting<'a> {
    pub(super) subject: &'a str,
    pub(super) extra: &'a Map<String, Value>,
    pub(super) sid: Uuid,
    /// The `jti` of the refresh token to sign.
    pub(super) refresh_jti: Uuid,
    /// When the login that started the session happened.
    pub(super) auth_time: u64,
    pub(super) refresh_exp: u64,
    /// The session's absolute end: no token outlives it.
    pub(super) session_exp: u64,
    /// The DPoP key the pair is bound to.
    pub(super) jkt: Option<&'a str>,
}

/// The claims of one access token, before the issuer and audience.
pub(crate) struct AccessSpec<'a> {
    pub(crate) subject: &'a str,
    pub(crate) extra: &'a Map<String, Value>,
    pub(crate) sid: Uuid,
    pub(crate) jti: Uuid,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) auth_time: Option<u64>,
    /// The DPoP key thumbprint the token is bound to (`cnf.jkt`).
    pub(crate) jkt: Option<&'a str>,
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
    /// The DPoP key thumbprint the session is bound to (see
    /// [`bound_to`](Self::bound_to)).
    pub dpop_jkt: Option<String>,
}

impl SessionMeta {
    /// Binds the session to a DPoP key (RFC 9449): its tokens carry
    /// `cnf.jkt` = `jkt` (the thumbprint of
    /// [`DpopProof::jkt`](crate::dpop::DpopProof::jkt)), the pair's
    /// `token_type` is `DPoP`, and refreshing needs a proof signed by that
    /// key ([`TokenAuthority::refresh_bound`]).
    pub fn bound_to(mut self, jkt: impl Into<String>) -> Self {
        self.dpop_jkt = Some(jkt.into());
        self
    }

    /// Labels the session with `raw` (a `User-Agent`, say). The session
    /// keeps it cleaned and cut by [`device_label`](crate::store::device_label):
    /// the label is shown to the user and never trusted.
    pub fn device(mut self, raw: &str) -> Self {
        self.device = Some(raw.to_owned());
        self
    }
}
