//! The JSON error every handler and extractor of this crate answers with.

use std::borrow::Cow;

use auth_core::{AuthError, ErrorClass};
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use serde::Serialize;

/// An error response: a status, a stable machine-readable `error` code, and a
/// client-safe `error_description`, sent as
/// `{"error":"...","error_description":"..."}` (the OAuth 2.0 shape).
///
/// Token failures keep the RFC 6750 `WWW-Authenticate` challenge as well.
/// The extractors' refusals are written as the `AuthLayer` that ran writes
/// its own (its realm and `on_rejection` hook), so the status may be the
/// hook's.
///
/// A handler's own errors can take the same shape:
///
/// ```
/// use auth_axum_extras::ApiError;
/// use axum::response::IntoResponse;
/// use http::StatusCode;
/// use http_body_util::BodyExt;
///
/// async fn archive(order: u64) -> Result<String, ApiError> {
///     if order == 0 {
///         return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such order"));
///     }
///     Ok(format!("order {order} archived"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let response = archive(0).await.into_response();
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// let body = response.into_body().collect().await?.to_bytes();
/// assert_eq!(body, r#"{"error":"not_found","error_description":"no such order"}"#);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    challenge: Option<HeaderValue>,
    /// Seconds to send as `Retry-After`.
    retry_after: Option<u64>,
    /// The answer as the layer wrote it, when it did (boxed: most errors
    /// have none, and results carrying an `ApiError` stay small).
    written: Option<Box<Written>>,
}

/// A response written by the layer's responder, kept cloneable.
#[derive(Debug, Clone)]
struct Written {
    status: StatusCode,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
}

#[derive(Serialize)]
struct Body_<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    /// An error with this status, code and description.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            challenge: None,
            retry_after: None,
            written: None,
        }
    }

    /// The same error, telling the client to retry after `seconds` (at
    /// least 1) in a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.written.as_ref().map_or(self.status, |w| w.status)
    }

    /// The machine-readable code (`invalid_token`, `invalid_credentials`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// 401 `invalid_credentials`: the one answer for an unknown user and a
    /// wrong password.
    pub(crate) fn invalid_credentials() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the username or password is wrong",
        )
    }

    /// 503: a dependency (store, credential backend) is down; retry later.
    pub(crate) fn unavailable(what: &'static str) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            what,
        )
    }

    /// The same error with this `WWW-Authenticate` challenge.
    pub(crate) fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// The same error with another status.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 400 `invalid_request`.
    pub(crate) fn bad_request(description: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// A refusal of a token (or of a missing one) by the layer's rules, with
    /// its `WWW-Authenticate` challenge.
    /// A refusal of a request an `AuthLayer` let through, answered as that
    /// layer answers (realm, `on_rejection` hook); logged and counted there.
    pub(crate) fn refusal_in(
        rejection: auth_tower::Rejection,
        parts: &http::request::Parts,
    ) -> Self {
        let mut err = ApiError::new(
            rejection.status(),
            rejection.code(),
            rejection.description(),
        );
        let (head, body) = rejection.response_for(parts).into_parts();
        err.written = Some(Box::new(Written {
            status: head.status,
            headers: head.headers,
            body,
        }));
        err
    }

    pub(crate) fn from_rejection(rejection: auth_tower::Rejection, realm: &str) -> Self {
        #[cfg(feature = "metrics")]
        metrics::counter!(auth_core::metrics::REFUSALS, "class" => rejection.code()).increment(1);
        // The layer's own status, code and challenge: one error shape.
        let mut err = ApiError::new(
            rejection.status(),
            rejection.code(),
            rejection.description(),
        );
        err.challenge = rejection.challenge(realm);
        err
    }
}

/// The `error` code for a class: RFC 6750's where it has one.
fn code_of(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Unavailable => "temporarily_unavailable",
        ErrorClass::Internal => "server_error",
        other => other.rfc6750_code().unwrap_or("server_error"),
    }
}

impl From<AuthError> for ApiError {
    /// A token error outside the bearer flow (a refresh token): same status
    /// mapping as the layer, JSON body, no challenge.
    fn from(e: AuthError) -> Self {
        let class = e.class();
        let status =
            StatusCode::from_u16(class.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match class {
            ErrorClass::Unavailable => tracing::warn!(error = %e, "auth store unavailable"),
            ErrorClass::Internal => tracing::error!(error = %e, "token issuing failed"),
            _ => tracing::info!(reason = %e, "token refused"),
        }
        ApiError::new(status, code_of(class), e.description())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(w) = self.written {
            let w = *w;
            let mut res = Response::new(Body::from(w.body));
            *res.status_mut() = w.status;
            *res.headers_mut() = w.headers;
            return res;
        }
        let body = serde_json::to_vec(&Body_ {
            error: self.code,
            error_description: &self.description,
        })
        .unwrap_or_default();
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = self.status;
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            h.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        res
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.description)
    }
}

impl std::error::Error for ApiError {}
