//! `POST {prefix}/introspect`: RFC 7662 token introspection for registered
//! clients (HTTP Basic), answered from the verified-token cache and the
//! revocation store.

use std::sync::Arc;

use auth_core::cache::TokenCache;
use auth_core::introspection::Introspection;
use auth_core::{AuthError, ErrorClass, Validator};
use axum::extract::{Request, State};
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::body::read_limited;
use crate::csrf::CrossOriginProtection;
use crate::error::ApiError;

/// The claims as introspection reads them: every application claim, as JSON.
type AnyClaims = Map<String, Value>;

/// What the introspection route holds.
pub(super) struct Introspector {
    pub(super) settings: Introspection,
    pub(super) validator: Validator,
    pub(super) cache: TokenCache<AnyClaims>,
    pub(super) csrf: CrossOriginProtection,
    pub(super) max_body: usize,
}

pub(super) async fn introspect(State(s): State<Arc<Introspector>>, req: Request) -> Response {
    s.answer(req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

impl Introspector {
    async fn answer(&self, req: Request) -> Result<Response, ApiError> {
        self.csrf
            .check(req.headers(), req.uri().authority())
            .map_err(|why| {
                ApiError::new(StatusCode::FORBIDDEN, "cross_origin_request", why.reason())
            })?;
        // The caller first: an unknown one gets nothing read or decoded.
        let client = self.client(req.headers())?;
        let (parts, body) = req.into_parts();
        if !is_form(&parts.headers) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = read_limited(&parts.headers, body, self.max_body).await?;
        let token = token_parameter(&bytes)?;
        let answer = match self.validate(&token).await {
            Ok(answer) => answer,
            Err(e) if e.class() == ErrorClass::Unavailable => {
                tracing::warn!(error = %e, "introspection: the store is unavailable");
                return Err(ApiError::unavailable(
                    "the authorization service is temporarily unavailable",
                ));
            }
            Err(e) => {
                tracing::debug!(client, reason = %e, "introspection: inactive token");
                Introspection::inactive()
            }
        };
        Ok(json_response(&answer))
    }

    /// The authenticated client's id, or 401 `invalid_client` with a
    /// `Basic` challenge.
    fn client(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let refused = |why: &'static str| {
            tracing::info!(reason = why, "introspection: client refused");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
            .with_challenge(HeaderValue::from_static(
                "Basic realm=\"introspection\", charset=\"UTF-8\"",
            ))
        };
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(refused("not one Authorization header"));
        };
        let (id, secret) =
            basic_credentials(value).ok_or_else(|| refused("not Basic credentials"))?;
        let clients = self.settings.clients();
        // RFC 6749 §2.3.1 form-urlencodes both before Basic; many clients
        // (curl -u, Python's requests) send them as they are. Either form
        // must hold the whole secret.
        if clients.authenticate(&id, &secret) {
            return Ok(id);
        }
        match (form_decode(&id), form_decode(&secret)) {
            (Some(id), Some(secret)) if clients.authenticate(&id, &secret) => Ok(id),
            _ => Err(refused("unknown client or wrong secret")),
        }
    }

    /// The answer for a live access token, or why it is not one. The store
    /// is asked every time, cache hit or not.
    async fn validate(&self, token: &str) -> Result<Value, AuthError> {
        let claims = self.cache.decode_access(token)?;
        let check = self.validator.check_token(&claims.token_ref(), token);
        let verdict = tokio::time::timeout(auth_tower::DEFAULT_CHECK_TIMEOUT, check)
            .await
            .map_err(|_| {
                AuthError::Store(auth_core::StoreError::Unavailable(
                    "the revocation check timed out".into(),
                ))
            })??;
        match verdict {
            auth_core::store::Verdict::Allowed => Ok(self.settings.active(&claims)),
            auth_core::store::Verdict::Revoked(by) => Err(AuthError::Revoked(by)),
        }
    }
}

/// `id` and `secret` of `Basic base64(id ":" secret)`, as sent (RFC 6749
/// §2.3.1 form-urlencodes each; see [`form_decode`]); `None` for anything
/// else.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// One `application/x-www-form-urlencoded` component: `+` is a space,
/// `%XX` a byte; `None` when the bytes are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The one `token` parameter of the form, or 400 `invalid_request`.
/// `token_type_hint` and unknown parameters are ignored (RFC 7662 §2.1).
fn token_parameter(body: &[u8]) -> Result<String, ApiError> {
    let mut token = None;
    for (name, value) in form_urlencoded::parse(body) {
        if name == "token" {
            if token.is_some() {
                return Err(ApiError::bad_request("the token parameter is repeated"));
            }
            token = Some(value.into_owned());
        }
    }
    match token {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(ApiError::bad_request("the token parameter is missing")),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn json_response(answer: &Value) -> Response {
    let mut res = Response::new(Body::from(answer.to_string()));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
