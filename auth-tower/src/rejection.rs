//! How a refused request is answered: RFC 6750 §3 with a JSON body for
//! HTTP, a trailers-only response for gRPC. This is the one place where
//! errors meet the wire.

use auth_core::{AuthError, ErrorClass};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;

/// Why a request was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// No token at all: 401 with a bare `WWW-Authenticate: Bearer realm=...`.
    Missing,
    /// The request itself is malformed: 400 `invalid_request`.
    InvalidRequest(&'static str),
    /// The token was refused (or the store is down); see [`AuthError::class`].
    Token(AuthError),
    /// The service stack is wired wrongly (no `AuthLayer` before a reader of
    /// claims, or one with another claims type): 500, logged as an error.
    Misconfigured(ClaimsError),
}

/// The JSON body of an HTTP refusal (the OAuth 2.0 error shape).
#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl Rejection {
    /// The class that decides status and codes; `None` for [`Rejection::Missing`].
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            Rejection::Missing => None,
            Rejection::InvalidRequest(_) => Some(ErrorClass::InvalidRequest),
            Rejection::Token(e) => Some(e.class()),
            Rejection::Misconfigured(_) => Some(ErrorClass::Internal),
        }
    }

    /// A fixed, human-readable reason, safe to show to clients (it never
    /// contains token contents).
    pub fn description(&self) -> &'static str {
        match self {
            Rejection::Missing => "no access token",
            Rejection::InvalidRequest(why) => why,
            Rejection::Token(e) => e.description(),
            Rejection::Misconfigured(_) => "the server is misconfigured",
        }
    }

    /// The machine-readable `error` code of the JSON body: the RFC 6750 code
    /// (`invalid_request`, `invalid_token`, `insufficient_scope`) where there
    /// is one, `missing_token` when no token came (RFC 6750 §3.1 puts no
    /// code in that challenge), `temporarily_unavailable` when the store is
    /// down and `server_error` for a fault of the server (the OAuth 2.0
    /// codes for those two).
    ///
    /// ```
    /// use auth_core::AuthError;
    /// use auth_tower::Rejection;
    ///
    /// assert_eq!(Rejection::Missing.code(), "missing_token");
    /// assert_eq!(Rejection::Token(AuthError::Expired).code(), "invalid_token");
    /// ```
    pub fn code(&self) -> &'static str {
        match self.class() {
            None => "missing_token",
            Some(ErrorClass::Unavailable) => "temporarily_unavailable",
            Some(ErrorClass::Internal) => "server_error",
            Some(class) => class.rfc6750_code().unwrap_or("server_error"),
        }
    }

    /// The HTTP status: 401 without a token, otherwise the class's
    /// (400, 401, 403, 503, 500).
    pub fn status(&self) -> StatusCode {
        self.class().map_or(StatusCode::UNAUTHORIZED, |c| {
            StatusCode::from_u16(c.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }

    /// The `WWW-Authenticate` challenge: `Bearer realm="..."`, then
    /// `error`, `error_description` (and `scope` for `insufficient_scope`,
    /// `max_age` and `acr_values` for RFC 9470's
    /// `insufficient_user_authentication`) when there is an error code. `None` for a store outage or a server
    /// fault, which are no matter of credentials. Quotes, backslashes and
    /// control characters are dropped from `realm`.
    pub fn challenge(&self, realm: &str) -> Option<HeaderValue> {
        // RFC 9449 §7.1: a DPoP refusal is challenged with the DPoP scheme.
        let scheme = match self.class() {
            Some(ErrorClass::InvalidDpopProof | ErrorClass::UseDpopNonce) => "DPoP",
            _ => "Bearer",
        };
        let mut v = format!("{scheme} realm=\"{}\"", quoted(realm));
        if let Some(class) = self.class() {
            let code = class.rfc6750_code()?;
            // RFC 6750 §3: the description is printable ASCII without `"` or `\`.
            let description: String = self
                .description()
                .chars()
                .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
                .collect();
            v.push_str(&format!(
                ", error=\"{code}\", error_description=\"{description}\""
            ));
            match self {
                Rejection::Token(AuthError::InsufficientScope { required }) => {
                    v.push_str(&format!(", scope=\"{}\"", quoted(required)));
                }
                // RFC 9470 §3: how recent a login the operation needs.
                Rejection::Token(AuthError::LoginTooOld {
                    max_age,
                    acr_values,
                }) => {
                    v.push_str(&format!(", max_age={max_age}"));
                    if let Some(acr) = acr_values {
                        v.push_str(&format!(", acr_values=\"{}\"", quoted(acr)));
                    }
                }
                _ => {}
            }
        }
        HeaderValue::from_str(&v).ok()
    }

    /// The answer the layer sends by default.
    ///
    /// HTTP (`grpc` false): [`status`](Self::status), the
    /// [`challenge`](Self::challenge), `content-type: application/json`,
    /// `cache-control: no-store`, and the body
    /// `{"error":"<code>","error_description":"<description>"}` (see
    /// [`code`](Self::code) and [`description`](Self::description)).
    ///
    /// gRPC (`grpc` true): a trailers-only answer, HTTP 200 with
    /// `content-type: application/grpc`, `grpc-status` (16 UNAUTHENTICATED,
    /// 7 PERMISSION_DENIED, 14 UNAVAILABLE or 13 INTERNAL) and
    /// `grpc-message`, and no body.
    ///
    /// ```
    /// use auth_core::AuthError;
    /// use auth_tower::Rejection;
    ///
    /// let res = Rejection::Token(AuthError::Expired).to_response("api", false);
    /// assert_eq!(res.status(), 401);
    /// assert_eq!(res.headers()["content-type"], "application/json");
    /// assert_eq!(
    ///     res.body().as_ref(),
    ///     br#"{"error":"invalid_token","error_description":"the token has expired"}"#
    /// );
    /// ```
    pub fn to_response(&self, realm: &str, grpc: bool) -> Response<Bytes> {
        if grpc {
            return self.grpc_response();
        }
        let json = serde_json::to_vec(&ErrorJson {
            error: self.code(),
            error_description: self.description(),
        })
        .unwrap_or_default();
        let mut res = Response::new(Bytes::from(json));
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge(realm) {
            h.insert(WWW_AUTHENTICATE, challenge);
        }
        res
    }

    /// The status and headers of the answer over an empty `B::default()`
    /// body: the JSON body is missing.
    #[deprecated(
        since = "0.2.0",
        note = "use `to_response`, which carries the JSON body, or `status`, `code` and `challenge`"
    )]
    pub fn into_response<B: Default>(self, realm: &str, grpc: bool) -> Response<B> {
        if grpc {
            return self.grpc_response().map(|_| B::default());
        }
        let mut res = Response::new(B::default());
        *res.status_mut() = self.status();
        if let Some(challenge) = self.challenge(realm) {
            res.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        res
    }

    /// The gRPC status code: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED,
    /// 14 UNAVAILABLE, 13 INTERNAL.
    pub(crate) fn grpc_code(&self) -> i32 {
        match self.class() {
            None
            | Some(
                ErrorClass::InvalidRequest
                | ErrorClass::InvalidToken
                | ErrorClass::InsufficientUserAuthentication
                | ErrorClass::InvalidDpopProof
                | ErrorClass::UseDpopNonce,
            ) => 16,
            Some(ErrorClass::InsufficientScope) => 7,
            Some(ErrorClass::Unavailable) => 14,
            Some(_) => 13,
        }
    }

    fn grpc_response(&self) -> Response<Bytes> {
        // Trailers-only: HTTP 200, the status in the headers, no body.
        let mut res = Response::new(Bytes::new());
        let h: &mut HeaderMap = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        // Any client can send a gRPC content type to a plain HTTP route: no
        // cache may keep this 200 for others.
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert("grpc-status", HeaderValue::from(self.grpc_code()));
        if let Ok(msg) = HeaderValue::from_str(&percent_encode(self.description())) {
            h.insert("grpc-message", msg);
        }
        res
    }
}

/// Whether a request is gRPC (`content-type: application/grpc*`).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Makes a string safe inside a quoted-string: drops quotes, backslashes and
/// control characters.
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

/// gRPC's `grpc-message` encoding: printable ASCII but `%` as is, the rest
/// percent-encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why claims could not be read: the service stack is wired wrongly. This is
/// a bug in the application, never the client's fault: answer 500 and log it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimsError {
    /// No `AuthLayer` ran on this request (the route is outside the layer,
    /// or the layer sits below the reader).
    #[error(
        "no AuthLayer ran on this request, so there are no AccessClaims<{expected}> (is the route inside the layer?)"
    )]
    NoLayer {
        /// The claims type the reader asked for.
        expected: &'static str,
    },
    /// An `AuthLayer` ran, but with another claims type.
    #[error(
        "the AuthLayer stores AccessClaims<{stored}>, but AccessClaims<{expected}> was asked for (use the layer's claims type)"
    )]
    Mismatch {
        /// The claims type the reader asked for.
        expected: &'static str,
        /// The claims type of the layer that ran.
        stored: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750() {
        let r = Rejection::Missing.to_response("api", false);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        let r = Rejection::Token(AuthError::Expired).to_response("api", false);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let r = Rejection::InvalidRequest("x").to_response("a\"b", false);
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"ab\", error=\"invalid_request\", error_description=\"x\""
        );
        let r = Rejection::Token(AuthError::InsufficientScope {
            required: "admin".into(),
        })
        .to_response("api", false);
        assert_eq!(r.status(), 403);
        assert!(
            r.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .ends_with("scope=\"admin\"")
        );
    }

    #[test]
    fn codes_follow_the_class() {
        use auth_core::StoreError;
        let code = |r: Rejection| (r.code(), r.status().as_u16());
        assert_eq!(code(Rejection::Missing), ("missing_token", 401));
        assert_eq!(
            code(Rejection::InvalidRequest("x")),
            ("invalid_request", 400)
        );
        assert_eq!(
            code(Rejection::Token(AuthError::Expired)),
            ("invalid_token", 401)
        );
        let scope = AuthError::InsufficientScope {
            required: "a".into(),
        };
        assert_eq!(code(Rejection::Token(scope)), ("insufficient_scope", 403));
        let down = AuthError::Store(StoreError::Unavailable("x".into()));
        assert_eq!(
            code(Rejection::Token(down)),
            ("temporarily_unavailable", 503)
        );
        let bug = ClaimsError::NoLayer { expected: "E" };
        assert_eq!(code(Rejection::Misconfigured(bug)), ("server_error", 500));
    }

    #[test]
    fn a_description_with_quotes_stays_valid_json_and_a_valid_challenge() {
        let r = Rejection::InvalidRequest("a \"quoted\" \\ é reason").to_response("api", false);
        let json: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(json["error_description"], "a \"quoted\" \\ é reason");
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_request\", error_description=\"a quoted   reason\""
        );
    }

    #[test]
    fn grpc_rejections_are_trailers_only() {
        let r = Rejection::Missing.to_response("api", true);
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty());
        assert_eq!(r.headers()["grpc-status"], "16");
        assert_eq!(r.headers()["grpc-message"], "no access token");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(percent_encode("50% é"), "50%25 %C3%A9");
    }
}
