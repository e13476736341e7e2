//! `POST {prefix}/login`: throttled, queued, checked, then a new session.

use auth_core::SessionMeta;
use auth_core::dpop::DpopProof;
use axum::extract::Request;
use axum_core::response::Response;
use http::StatusCode;
use http::header::{SET_COOKIE, USER_AGENT};
use serde::Deserialize;

use crate::body::{parse_json, read_object};
use crate::credentials::{CredentialVerifier, Credentials, LoginError};
use crate::error::ApiError;
use crate::login_body::LoginBody;
use crate::throttle::{Begun, Outcome};

use super::{Delivery, MAX_PASSWORD, MAX_USERNAME, Shared};

/// The `error` of a login refused because too many wait already.
pub(super) const OVERLOADED: &str = "temporarily_unavailable";

/// Counts a login attempt that reached the verifier or failed on input
/// (feature `metrics`): `ok`, `throttled` (429), `overloaded` (the queue
/// was full), `refused` (any other 4xx), `unavailable` (5xx).
pub(super) fn count_login(result: &Result<Response, ApiError>) {
    #[cfg(feature = "metrics")]
    {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) if e.code() == OVERLOADED => "overloaded",
            Err(e) if e.code() == crate::throttle::TOO_MANY_ATTEMPTS => "throttled",
            Err(e) if e.status().is_server_error() => "unavailable",
            Err(_) => "refused",
        };
        metrics::counter!(auth_core::metrics::LOGINS, "outcome" => outcome).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// The username and password of a login body, read before the rest: only a
/// body that can be checked is counted.
#[derive(Deserialize)]
struct Who {
    username: String,
    password: String,
}

impl<V: CredentialVerifier> Shared<V> {
    pub(super) async fn login(&self, req: Request) -> Result<Response, ApiError> {
        let result = self.login_inner(req).await;
        count_login(&result);
        result
    }

    async fn login_inner(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let (parts, body) = req.into_parts();
        // The proof first: cheap, and a refused one costs no throttle count.
        let proof = self.dpop_proof(&parts, "login").await?;
        let raw = read_object(&parts.headers, body, self.max_body)
            .await?
            .ok_or_else(|| ApiError::bad_request("the request body is empty"))?;
        // Throttled before anything costly, the queue included: the
        // username and password alone are read (other fields skipped
        // unparsed), and only a body that can be checked is counted.
        let mut begun = None;
        if let (Some(t), Ok(Who { username, password })) =
            (&self.throttling, serde_json::from_slice::<Who>(&raw))
            && !username.is_empty()
            && username.len() <= MAX_USERNAME
            && password.len() <= MAX_PASSWORD
        {
            begun = Some(t.begin(t.attempt(&parts, &username)).await?);
        }
        let mut verdict = None;
        let mut result = self
            .login_begun(&parts, raw, proof, &mut begun, &mut verdict)
            .await;
        // Every begun attempt is settled: a failure counts, a success resets,
        // anything else (overload, bad input, an outage) is taken back.
        if let (Some(t), Some(begun)) = (&self.throttling, begun) {
            let outcome = match (verdict, &result) {
                (Some(false), _) => Outcome::Failed,
                (Some(true), Ok(_)) => Outcome::Succeeded,
                _ => Outcome::Abandoned,
            };
            if let (Some(device), Ok(res)) = (begun.settle(outcome, t).await, &mut result) {
                res.headers_mut().append(SET_COOKIE, device);
            }
        }
        result
    }

    /// A login from its body on, its throttle attempt begun (or begun here,
    /// into `begun`, when only the full parse finds the username);
    /// `verdict` says whether the password was right, once it is known.
    async fn login_begun(
        &self,
        parts: &http::request::Parts,
        raw: Vec<u8>,
        proof: Option<DpopProof>,
        begun: &mut Option<Begun>,
        verdict: &mut Option<bool>,
    ) -> Result<Response, ApiError> {
        // In line before anything costly: parsing, hashing, the store.
        let _turn = self.gate.enter().await.map_err(|_| {
            tracing::warn!("login refused: too many logins waiting");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                OVERLOADED,
                "too many logins are waiting; retry shortly",
            )
            .retry_after(1)
        })?;
        let LoginBody {
            username,
            password,
            cookie_only,
            extra,
        } = parse_json(&raw)?;
        drop(raw);
        if cookie_only && !self.cookie.is_enabled() {
            return Err(ApiError::bad_request(
                "cookieOnly needs the refresh cookie, which this server does not use",
            ));
        }
        if username.is_empty() || username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!(
                    "username must be 1 to {MAX_USERNAME} bytes, password at most {MAX_PASSWORD} bytes"
                ),
            ));
        }
        if let Some(t) = &self.throttling {
            match begun.as_ref().and_then(Begun::attempt) {
                // The full parse must name the account the throttle counted.
                Some(attempt) if attempt.account() != username => {
                    return Err(ApiError::bad_request("the username is ambiguous"));
                }
                Some(_) => {}
                None => *begun = Some(t.begin(t.attempt(parts, &username)).await?),
            }
        }
        let verified = match self
            .verifier
            .verify(Credentials {
                username,
                password,
                extra,
            })
            .await
        {
            Ok(v) => v,
            Err(LoginError::InvalidCredentials) => {
                tracing::info!("login refused: invalid credentials");
                *verdict = Some(false);
                return Err(ApiError::invalid_credentials());
            }
            Err(LoginError::Refused(why)) => {
                tracing::info!(reason = %why, "login refused");
                *verdict = Some(false);
                return Err(ApiError::invalid_credentials());
            }
            Err(LoginError::Unavailable(why)) => {
                tracing::warn!(error = %why, "login failed: credential backend unavailable");
                return Err(ApiError::unavailable(
                    "the credential backend is unavailable",
                ));
            }
        };
        let mut meta = SessionMeta::default();
        if let Some(agent) = parts.headers.get(USER_AGENT) {
            meta = meta.device(&String::from_utf8_lossy(agent.as_bytes()));
        }
        // The proof is recorded once the password proved right: a flood
        // of proofs with bad credentials fills no replay cache.
        if let Some(proof) = proof {
            self.record_proof(&proof, "login").await?;
            meta = meta.bound_to(proof.jkt);
        }
        let pair = self
            .authority
            .issue_with(&verified.subject, &verified.claims, meta)
            .await?;
        tracing::info!(sid = %pair.session_id, cookie_only, "login");
        let delivery = if cookie_only {
            Delivery::CookieOnly
        } else {
            Delivery::BodyAndCookie
        };
        let res = self.tokens(&pair, delivery)?;
        *verdict = Some(true);
        Ok(res)
    }
}
