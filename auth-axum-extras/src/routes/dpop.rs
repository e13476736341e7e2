//! DPoP at the login and refresh routes (RFC 9449 §5): the proof a login
//! binds its session to, and the proof a bound session's refresh needs.

use auth_core::dpop::{DpopError, DpopNonces, DpopProof, DpopVerifier, ProofRequest};
use auth_core::{AccessClaims, AuthError, NoClaims};
use auth_tower::{DEFAULT_REALM, DPOP_NONCE, Rejection, TokenSource};
use axum::extract::{OriginalUri, State};
use axum_core::response::Response;
use http::header::HOST;
use http::request::Parts;
use http::uri::Authority;
use http::{HeaderValue, StatusCode};

use crate::credentials::CredentialVerifier;
use crate::error::ApiError;

use super::Shared;

/// The routes' DPoP settings ([`AuthRoutes::dpop`](super::AuthRoutes::dpop)).
#[derive(Debug, Clone)]
pub(super) struct RoutesDpop {
    pub(super) verifier: DpopVerifier,
    pub(super) required: bool,
    pub(super) origin: Option<String>,
}

impl RoutesDpop {
    /// `WWW-Authenticate` of a refusal: the DPoP scheme and its `algs`.
    fn challenge(&self, e: &DpopError) -> Option<HeaderValue> {
        let algs: Vec<String> = self
            .verifier
            .accepted_algorithms()
            .iter()
            .map(ToString::to_string)
            .collect();
        let error = match e {
            DpopError::Unavailable(_) => return None,
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        };
        HeaderValue::from_str(&format!(
            "DPoP error=\"{error}\", algs=\"{}\"",
            algs.join(" ")
        ))
        .ok()
    }
}

impl<V: CredentialVerifier> Shared<V> {
    /// The request's DPoP proof, verified for this request: `None` when the
    /// routes take no DPoP, or none came and none is required (`at` is
    /// `login` or `refresh`). Any proof that came is checked, required or
    /// not: an invalid one is 401 `invalid_dpop_proof`.
    pub(super) async fn dpop_proof(
        &self,
        parts: &Parts,
        at: &'static str,
    ) -> Result<Option<DpopProof>, ApiError> {
        self.dpop_proof_for(parts, at, None).await
    }

    /// [`dpop_proof`](Self::dpop_proof) for a request that presents
    /// `access_token` with the `DPoP` scheme: the proof carries its `ath`.
    pub(super) async fn dpop_proof_for(
        &self,
        parts: &Parts,
        at: &'static str,
        access_token: Option<&str>,
    ) -> Result<Option<DpopProof>, ApiError> {
        let Some(d) = &self.dpop else {
            return Ok(None);
        };
        let mut values = parts.headers.get_all("dpop").iter();
        let proof = match (values.next(), values.next()) {
            (None, _) if d.required && at == "login" => {
                return Err(self.dpop_refusal(d, DpopError::Missing, at));
            }
            (None, _) => return Ok(None),
            (Some(_), Some(_)) => return Err(self.dpop_refusal(d, DpopError::Repeated, at)),
            (Some(v), None) => match v.to_str() {
                Ok(p) => p,
                Err(_) => {
                    let e = DpopError::Malformed("the DPoP header is not visible ASCII");
                    return Err(self.dpop_refusal(d, e, at));
                }
            },
        };
        let Some(url) = request_url(parts, d.origin.as_deref()) else {
            return Err(self.dpop_refusal(d, DpopError::Url, at));
        };
        let mut request = ProofRequest::new(parts.method.as_str(), &url);
        request.access_token = access_token;
        match d.verifier.check(proof, &request) {
            Ok(proof) => Ok(Some(proof)),
            // RFC 9449: 400 from the token routes (§8), 401 where an
            // access token is presented (§9). The answer's `DPoP-Nonce`
            // header (added to every answer of the routes) has the nonce.
            Err(DpopError::UseNonce) if access_token.is_none() => Err(self
                .dpop_refusal(d, DpopError::UseNonce, at)
                .with_status(StatusCode::BAD_REQUEST)),
            Err(e) => Err(self.dpop_refusal(d, e, at)),
        }
    }

    /// Records a checked proof as used, once its request proved what it
    /// must (a login's password, a refresh token, a bound token's key): a
    /// request that proves nothing fills no replay cache. 401 for a
    /// replay, 503 when the cache cannot take it.
    pub(super) async fn record_proof(
        &self,
        proof: &DpopProof,
        at: &'static str,
    ) -> Result<(), ApiError> {
        let Some(d) = &self.dpop else {
            return Ok(());
        };
        d.verifier
            .record(proof)
            .await
            .map_err(|e| self.dpop_refusal(d, e, at))
    }

    /// A refused proof: counted, logged, and answered 401
    /// `invalid_dpop_proof` with a DPoP challenge (503 when the replay
    /// cache is down).
    fn dpop_refusal(&self, d: &RoutesDpop, e: DpopError, at: &'static str) -> ApiError {
        auth_core::metrics::dpop_refused(e.reason(), at);
        tracing::info!(reason = e.reason(), at, "DPoP proof refused");
        let challenge = d.challenge(&e);
        let unavailable = matches!(e, DpopError::Unavailable(_));
        let err = ApiError::from(AuthError::Dpop(e));
        match challenge {
            Some(c) => err.with_challenge(c),
            None if unavailable => err.retry_after(1),
            None => err,
        }
    }

    /// The caller of the session routes: a valid access token (revocation
    /// checked), as `Bearer`, or as `DPoP` with a proof of its key; a bound
    /// token needs the latter, as at the layer.
    pub(super) async fn caller(
        &self,
        parts: &Parts,
        what: &'static str,
    ) -> Result<AccessClaims<NoClaims>, ApiError> {
        let (token, scheme) = match presented_access_token(&parts.headers, self.dpop.is_some()) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(ApiError::from_rejection(Rejection::Missing, DEFAULT_REALM)),
            Err(rejection) => return Err(ApiError::from_rejection(rejection, DEFAULT_REALM)),
        };
        let claims = self
            .authority
            .validator()
            .validate_access::<NoClaims>(token)
            .await
            .map_err(|e| {
                tracing::info!(reason = %e, endpoint = what, "request refused");
                ApiError::from_rejection(Rejection::Token(e), DEFAULT_REALM)
            })?;
        if !scheme && claims.cnf.is_none() {
            return Ok(claims);
        }
        let refuse = |e: DpopError| match &self.dpop {
            Some(d) => self.dpop_refusal(d, e, what),
            None => ApiError::from(AuthError::Dpop(e)),
        };
        let Some(cnf) = &claims.cnf else {
            return Err(refuse(DpopError::Unbound));
        };
        if !scheme {
            return Err(refuse(DpopError::Missing));
        }
        let Some(proof) = self.dpop_proof_for(parts, what, Some(token)).await? else {
            return Err(refuse(DpopError::Missing));
        };
        if !cnf.is_key(&proof.jkt) {
            return Err(refuse(DpopError::KeyMismatch));
        }
        self.record_proof(&proof, what).await?;
        Ok(claims)
    }

    /// The challenge of a refresh refused for its binding.
    pub(super) fn dpop_challenge(&self, e: &DpopError) -> Option<HeaderValue> {
        self.dpop.as_ref().and_then(|d| d.challenge(e))
    }
}

/// Adds the current server nonce to an answer of the routes (RFC 9449
/// §8.2: any answer may carry a fresh one), unless it has one.
pub(super) async fn with_nonce(State(nonces): State<DpopNonces>, mut res: Response) -> Response {
    if let Ok(nonce) = HeaderValue::from_str(&nonces.current()) {
        res.headers_mut().entry(DPOP_NONCE).or_insert(nonce);
    }
    res
}

/// The access token of `Authorization`: `Bearer <token>`, or, where the
/// routes take DPoP, `DPoP <token>` (then `true`).
pub(super) fn presented_access_token(
    headers: &http::HeaderMap,
    dpop: bool,
) -> Result<Option<(&str, bool)>, Rejection> {
    if dpop
        && let Some(value) = headers.get(http::header::AUTHORIZATION)
        && let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' '))
        && scheme.eq_ignore_ascii_case("dpop")
    {
        if headers.get_all(http::header::AUTHORIZATION).iter().count() > 1 {
            return Err(Rejection::InvalidRequest(
                "more than one Authorization header",
            ));
        }
        let token = token.trim();
        if token.is_empty() || token.contains(' ') {
            return Err(Rejection::InvalidRequest(
                "the DPoP credentials are not one token",
            ));
        }
        return Ok(Some((token, true)));
    }
    Ok(TokenSource::Bearer.read(headers)?.map(|t| (t, false)))
}

/// The URL the client sent this request to: the configured origin and the
/// path it was reached by (a nesting router's mount included), or the
/// `Host` and path with either scheme (`//host/path`).
fn request_url(parts: &Parts, origin: Option<&str>) -> Option<String> {
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |o| o.path());
    if let Some(origin) = origin {
        return Some(format!("{}{path}", origin.trim_end_matches('/')));
    }
    let host = match parts.uri.authority() {
        Some(a) => a.clone(),
        // A host and port only: a `Host` carrying a path, query or user
        // info would let the client choose the URL its proof must name.
        None => parts
            .headers
            .get(HOST)?
            .to_str()
            .ok()?
            .parse::<Authority>()
            .ok()?,
    };
    if host.as_str().contains('@') {
        return None;
    }
    Some(format!("//{host}{path}"))
}
