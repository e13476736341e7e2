//! How a refused request is answered: RFC 6750 §3 for HTTP, a trailers-only
//! response for gRPC. This is the one place where errors meet the wire.

use auth_core::{AuthError, ErrorClass};

use crate::ClaimsError;
use http::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Response, StatusCode};

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

impl Rejection {
    /// The class that decides status and codes.
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

    /// Builds the response: gRPC when `grpc` is set, HTTP otherwise.
    pub fn into_response<B: Default>(self, realm: &str, grpc: bool) -> Response<B> {
        if grpc {
            return self.into_grpc_response();
        }
        let class = self.class();
        let status = class.map_or(StatusCode::UNAUTHORIZED, |c| {
            StatusCode::from_u16(c.http_status()).unwrap_or(StatusCode::UNAUTHORIZED)
        });
        let mut res = Response::new(B::default());
        *res.status_mut() = status;
        if let Some(challenge) = self.challenge(realm) {
            res.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        res
    }

    /// `Bearer realm="...", error="...", error_description="..."`; none for a
    /// store outage, which is not a matter of credentials.
    fn challenge(&self, realm: &str) -> Option<HeaderValue> {
        let mut v = format!("Bearer realm=\"{}\"", quoted(realm));
        match self.class() {
            None => {}
            Some(class) => {
                let code = class.rfc6750_code()?;
                v.push_str(&format!(
                    ", error=\"{code}\", error_description=\"{}\"",
                    self.description()
                ));
                if let Rejection::Token(AuthError::InsufficientScope { required }) = self {
                    v.push_str(&format!(", scope=\"{}\"", quoted(required)));
                }
            }
        }
        HeaderValue::from_str(&v).ok()
    }

    fn into_grpc_response<B: Default>(self) -> Response<B> {
        // Trailers-only: HTTP 200, the status in the headers, no body.
        let code = match self.class() {
            None | Some(ErrorClass::InvalidRequest | ErrorClass::InvalidToken) => 16, // UNAUTHENTICATED
            Some(ErrorClass::InsufficientScope) => 7, // PERMISSION_DENIED
            Some(ErrorClass::Unavailable) => 14,      // UNAVAILABLE
            Some(_) => 13,                            // INTERNAL
        };
        let mut res = Response::new(B::default());
        let h: &mut HeaderMap = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        h.insert("grpc-status", HeaderValue::from(code));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750() {
        let r: Response<()> = Rejection::Missing.into_response("api", false);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        let r: Response<()> = Rejection::Token(AuthError::Expired).into_response("api", false);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let r: Response<()> = Rejection::InvalidRequest("x").into_response("a\"b", false);
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"ab\", error=\"invalid_request\", error_description=\"x\""
        );
        let r: Response<()> = Rejection::Token(AuthError::InsufficientScope {
            required: "admin".into(),
        })
        .into_response("api", false);
        assert_eq!(r.status(), 403);
        assert!(
            r.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .ends_with("scope=\"admin\"")
        );
    }

    #[test]
    fn grpc_rejections_are_trailers_only() {
        let r: Response<()> = Rejection::Missing.into_response("api", true);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "16");
        assert_eq!(r.headers()["grpc-message"], "no access token");
        assert_eq!(percent_encode("50% é"), "50%25 %C3%A9");
    }
}
