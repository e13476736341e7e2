//! The layer's side of DPoP (RFC 9449 §7): the `DPoP` scheme, the proof
//! header, the URL a proof must name, and the binding of a validated token
//! to its proof's key.

use auth_core::AccessClaims;
use auth_core::dpop::{DpopError, DpopVerifier, ProofRequest};
use http::header::{AUTHORIZATION, HOST};
use http::request::Parts;
use http::uri::Authority;
use http::{HeaderMap, HeaderName};

use crate::source::{Malformed, is_b64token};

/// The `DPoP-Nonce` response header (RFC 9449 §8.1): the server nonce the
/// client's next proofs must carry, where the server
/// [requires nonces](auth_core::dpop::DpopVerifier::nonces). A browser
/// client of another origin reads it (and the `WWW-Authenticate` that says
/// `use_dpop_nonce`) only when the CORS answers name them in
/// `Access-Control-Expose-Headers`.
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The token of `Authorization: DPoP <token>`: `Ok(None)` for another
/// scheme or none.
pub(crate) fn scheme_token(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Ok(None);
    }
    if values.next().is_some() {
        return Err(Malformed("more than one Authorization header"));
    }
    if !is_b64token(token.as_bytes()) {
        return Err(Malformed("the DPoP credentials are not one token"));
    }
    Ok(Some(token))
}

/// What a DPoP check of one request needs, owned (it outlives the head).
pub(crate) struct Presented {
    /// Whether the token came with the `DPoP` scheme.
    pub(crate) scheme: bool,
    proof: Result<Option<String>, DpopError>,
    url: Option<String>,
    method: String,
    token: String,
}

impl Presented {
    pub(crate) fn of(parts: &Parts, token: &str, scheme: bool, origin: Option<&str>) -> Self {
        let mut proofs = parts.headers.get_all("dpop").iter();
        let proof = match (proofs.next(), proofs.next()) {
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(DpopError::Repeated),
            (Some(v), None) => v
                .to_str()
                .map(|p| Some(p.to_owned()))
                .map_err(|_| DpopError::Malformed("the DPoP header is not visible ASCII")),
        };
        Presented {
            scheme,
            proof,
            url: request_url(parts, origin),
            method: parts.method.as_str().to_owned(),
            token: token.to_owned(),
        }
    }
}

/// The URL a proof for this request names: `origin` and the path, or,
/// without an origin, the request's host and path with either scheme
/// (`//host/path`, which the verifier reads so).
fn request_url(parts: &Parts, origin: Option<&str>) -> Option<String> {
    let path = parts.uri.path();
    if let Some(origin) = origin {
        return Some(format!("{origin}{path}"));
    }
    let host = match parts.uri.authority() {
        Some(authority) => authority.clone(),
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

/// The part of the decision that needs no proof: a token without `cnf`
/// presented as `Bearer` passes (`Ok(false)`); one that needs its proof
/// checked is `Ok(true)`; the rest is refused.
pub(crate) fn needs_proof<E>(
    claims: &AccessClaims<E>,
    scheme: bool,
    verifier: Option<&DpopVerifier>,
) -> Result<bool, DpopError> {
    match (&claims.cnf, scheme, verifier) {
        (None, false, _) => Ok(false),
        (None, true, _) => Err(DpopError::Unbound),
        // A layer that cannot check the key never lets a bound token pass.
        (Some(_), _, None) => Err(DpopError::Missing),
        (Some(_), false, Some(_)) => Err(DpopError::Missing),
        (Some(_), true, Some(_)) => Ok(true),
    }
}

/// Verifies the request's proof, and that its key is the token's.
pub(crate) async fn verify<E>(
    claims: &AccessClaims<E>,
    presented: &Presented,
    verifier: &DpopVerifier,
) -> Result<(), DpopError> {
    let cnf = claims.cnf.as_ref().ok_or(DpopError::Unbound)?;
    let proof = match &presented.proof {
        Ok(Some(proof)) => proof,
        Ok(None) => return Err(DpopError::Missing),
        Err(e) => return Err(clone_error(e)),
    };
    let url = presented.url.as_deref().ok_or(DpopError::Url)?;
    let request = ProofRequest {
        method: &presented.method,
        url,
        access_token: Some(&presented.token),
    };
    let checked = verifier.check(proof, &request)?;
    if !cnf.is_key(&checked.jkt) {
        return Err(DpopError::KeyMismatch);
    }
    // Recorded only now: a proof of another key than the token's fills
    // nothing.
    verifier.record(&checked).await
}

fn clone_error(e: &DpopError) -> DpopError {
    match e {
        DpopError::Repeated => DpopError::Repeated,
        _ => DpopError::Malformed("the DPoP header is not visible ASCII"),
    }
}

/// Counts a refusal (feature `metrics` of auth-core) and logs it.
pub(crate) fn refused(e: DpopError) -> auth_core::AuthError {
    auth_core::metrics::dpop_refused(e.reason(), "request");
    auth_core::AuthError::Dpop(e)
}
