//! `POST {prefix}/refresh` and `POST {prefix}/logout`: the refresh token
//! presented in the body or the cookie, rotated or revoked.

use auth_core::dpop::DpopProof;
use auth_core::{AuthError, ErrorClass, LogoutTokens};
use axum::extract::Request;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::SET_COOKIE;
use serde::Deserialize;

use crate::body::read_json;
use crate::credentials::CredentialVerifier;
use crate::error::ApiError;

use super::dpop::presented_access_token;
use super::{Delivery, Shared};

/// The refresh tokens a request carries.
struct PresentedTokens {
    body: Option<String>,
    cookie: Option<String>,
    /// The request's DPoP proof, verified.
    proof: Option<DpopProof>,
}

#[derive(Deserialize)]
struct RefreshBody {
    /// `refreshToken`, or `refresh_token` (the OAuth 2.0 spelling, for
    /// clients of [`TokenFormat::OAuth2`](super::TokenFormat::OAuth2)).
    #[serde(rename = "refreshToken", alias = "refresh_token")]
    refresh_token: Option<String>,
}

impl<V: CredentialVerifier> Shared<V> {
    /// The refresh tokens of the JSON body and of the cookie.
    async fn refresh_tokens(&self, req: Request) -> Result<PresentedTokens, ApiError> {
        let (parts, body) = req.into_parts();
        let body = read_json::<RefreshBody>(&parts.headers, body, self.max_body)
            .await?
            .and_then(|b| b.refresh_token);
        let cookie = self
            .cookie
            .read(&parts.headers)
            .map_err(ApiError::bad_request)?
            .map(str::to_owned);
        let proof = self.dpop_proof(&parts, "refresh").await?;
        Ok(PresentedTokens {
            body,
            cookie,
            proof,
        })
    }

    pub(super) async fn refresh(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let tokens = self.refresh_tokens(req).await?;
        // The body wins: a client that sends one means it. A token that came
        // from the cookie goes back only in the cookie.
        let from_cookie = tokens.cookie.is_some() && tokens.body.is_none()
            || tokens.body.is_some() && tokens.body == tokens.cookie;
        let (token, delivery) = match (tokens.body, tokens.cookie) {
            (Some(body), _) => (Some(body), Delivery::BodyAndCookie),
            (None, cookie) => (cookie, Delivery::CookieOnly),
        };
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "no refresh token in the body or the cookie",
            ));
        };
        // The proof is recorded once the refresh token proved good, and
        // before the rotation: a replayed request (token and proof copied
        // together) is refused as a replay, never taken for reuse of the
        // token (which would end its owner's session).
        if let Some(proof) = &tokens.proof
            && self
                .authority
                .validator()
                .validate_refresh(&token)
                .await
                .is_ok()
        {
            self.record_proof(proof, "refresh").await?;
        }
        let verifier = &self.verifier;
        let reload = |session| verifier.reload(session);
        let refreshed = self
            .authority
            .refresh_bound(&token, tokens.proof.as_ref(), reload)
            .await
            .map_err(|e| {
                // An oversized refresh token is as invalid as any other: 401.
                if e.class() == ErrorClass::InvalidRequest {
                    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", e.description())
                } else if matches!(e, AuthError::RefreshSuperseded) {
                    tracing::info!("refresh superseded by a concurrent refresh");
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "refresh_superseded",
                        e.description(),
                    )
                } else if let AuthError::Dpop(why) = &e {
                    // A bound session without its key's proof: nothing was
                    // rotated nor revoked, and the cookie stays.
                    let challenge = self.dpop_challenge(why);
                    let err = ApiError::from(e);
                    match challenge {
                        Some(c) => err.with_challenge(c),
                        None => err,
                    }
                } else {
                    ApiError::from(e)
                }
            });
        match refreshed {
            Ok(pair) => self.tokens(&pair, delivery),
            // The cookie's token is dead for good (invalid, expired, reused,
            // revoked, or refused by the application): clear it, so the
            // browser stops sending it. Not after `refresh_superseded`,
            // whose winner is setting the newest cookie, nor after a 503.
            Err(e)
                if from_cookie
                    && e.status() == StatusCode::UNAUTHORIZED
                    && e.code() != "refresh_superseded"
                    && e.code() != "invalid_dpop_proof" =>
            {
                let mut res = e.into_response();
                if let Some(cookie) = self.cookie.clear() {
                    res.headers_mut().append(SET_COOKIE, cookie);
                }
                Ok(res)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a token of this logout (the body's or a cookie's refresh
    /// token, the access token, expired or not) is bound to `proof`'s key:
    /// read as the logout reads them.
    fn names_a_token(
        &self,
        proof: &DpopProof,
        body: Option<&str>,
        cookies: &[&str],
        access: Option<&str>,
    ) -> bool {
        let names = |refresh_token, access_token| {
            self.authority.names_key_of(
                LogoutTokens {
                    refresh_token,
                    access_token,
                },
                proof,
            )
        };
        names(body, access) || cookies.iter().any(|c| names(Some(*c), None))
    }

    pub(super) async fn logout(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let (parts, body) = req.into_parts();
        // A body that cannot be read (another media type from a beacon or a
        // form, bad JSON, too large) names no token, but the cookie and the
        // bearer token still end their sessions: logout never fails on input.
        let body = match read_json::<RefreshBody>(&parts.headers, body, self.max_body).await {
            Ok(body) => body.and_then(|b| b.refresh_token),
            Err(e) => {
                tracing::debug!(error = %e, "logout: request body ignored");
                None
            }
        };
        // Every cookie value, not just an unambiguous one: a cookie planted
        // from a sibling domain must not shield the real session, which
        // ends here since its cookie is cleared below.
        let cookies = self.cookie.read_all(&parts.headers);
        // A malformed Authorization header revokes nothing, like an invalid token.
        let access = presented_access_token(&parts.headers, self.dpop.is_some())
            .ok()
            .flatten();
        // DPoP-bound tokens are revoked only with a proof of their key. A
        // proof sent and refused (its nonce, time, URL...) is answered
        // before anything is revoked or cleared, so that the client, told
        // why, signs again: a 204 would tell it that a bound session ended
        // which lives on.
        let with_ath = access.filter(|(_, dpop)| *dpop).map(|(token, _)| token);
        let proof = self.dpop_proof_for(&parts, "logout", with_ath).await?;
        if let Some(proof) = &proof
            && self.names_a_token(proof, body.as_deref(), &cookies, access.map(|(t, _)| t))
        {
            // Spent once it names a token of this request (a replay ends
            // nothing); one that names none proves nothing and fills no
            // replay cache.
            self.record_proof(proof, "logout").await?;
        }
        let outcome = self
            .authority
            .logout_bound(
                LogoutTokens {
                    refresh_token: body.as_deref(),
                    access_token: access.map(|(token, _)| token),
                },
                proof.as_ref(),
            )
            .await?;
        let mut sessions = outcome.sessions_revoked;
        for cookie in cookies.into_iter().filter(|c| Some(*c) != body.as_deref()) {
            let more = self
                .authority
                .logout_bound(
                    LogoutTokens {
                        refresh_token: Some(cookie),
                        access_token: None,
                    },
                    proof.as_ref(),
                )
                .await?;
            sessions += more.sessions_revoked;
        }
        tracing::info!(
            sessions,
            access_token = outcome.access_token_revoked,
            "logout"
        );
        Ok(self.no_content_clearing_cookie())
    }
}
