//! Where the access token is read from: the `Authorization: Bearer` header
//! (RFC 6750 §2.1), and, opted into, a named cookie, a query parameter, or a
//! function of the application's.
//!
//! ```
//! use auth_tower::TokenSource;
//!
//! let request = http::Request::get("/events?access_token=abc.def.ghi")
//!     .header("x-api-token", "jkl.mno.pqr")
//!     .body(())
//!     .unwrap();
//! let (parts, _body) = request.into_parts();
//!
//! let query = TokenSource::Query("access_token".into());
//! assert_eq!(query.read_parts(&parts).unwrap(), Some("abc.def.ghi"));
//!
//! let header = TokenSource::custom(|parts| {
//!     match parts.headers.get("x-api-token").map(|v| v.to_str()) {
//!         None => Ok(None),
//!         Some(Ok(token)) => Ok(Some(token)),
//!         Some(Err(_)) => Err("X-Api-Token is not visible ASCII"),
//!     }
//! });
//! assert_eq!(header.read_parts(&parts).unwrap(), Some("jkl.mno.pqr"));
//! assert_eq!(TokenSource::Bearer.read_parts(&parts).unwrap(), None);
//! ```

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;

use crate::rejection::Rejection;

mod query;
use query::query;

/// A place a request may carry its access token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`; the scheme is case-insensitive, and
    /// exactly one token follows one space.
    Bearer,
    /// A cookie of this name. The same name sent twice with different values
    /// is refused (400): a sibling domain may have planted one of them.
    Cookie(String),
    /// The query parameter of this name (`?access_token=...`, RFC 6750 §2.3),
    /// for the clients that cannot set a header: a browser's `EventSource`
    /// and WebSocket handshake. Never a default: opt in with
    /// [`AuthLayer::query`](crate::AuthLayer::query), on those routes only.
    ///
    /// **A token in a URL leaks.** URLs are written to access logs (the
    /// server's, every proxy's and load balancer's, and a `TraceLayer` that
    /// records the URI), kept in browser history, and may reach other sites
    /// in the `Referer` header. So: give this source its own `AuthLayer` on
    /// the GET-only handshake routes (`/events`, `/ws`), never on the whole
    /// app; have clients use short-lived tokens there (or a one-use ticket
    /// minted for the connection); send `Referrer-Policy: no-referrer` and
    /// `Cache-Control: no-store` on those routes; log URIs without their query.
    ///
    /// Rules: the parameter sent more than once is refused (400
    /// `invalid_request`), even with equal values, so no other parser of the
    /// query can see a different token than the layer did; its name matches
    /// percent-encoded as well (`access%5Ftoken`) for the same reason. The
    /// value is taken as it is and must be one URL-safe token
    /// (`A-Z a-z 0-9 - . _ ~`, which every JWT is): percent-encoding is not
    /// decoded but refused with 400, so a token has one spelling. An empty
    /// value is no token. The validator's `max_token_bytes` holds as for any
    /// source (400 beyond it).
    Query(String),
    /// A function of the application's; see [`TokenSource::custom`].
    Custom(CustomSource),
}

/// The function of a [`TokenSource::Custom`]; see [`TokenSource::custom`].
#[derive(Clone)]
pub struct CustomSource(Arc<CustomFn>);

type CustomFn = dyn for<'a> Fn(&'a Parts) -> Result<Option<&'a str>, &'static str> + Send + Sync;

impl fmt::Debug for CustomSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomSource(..)")
    }
}

impl PartialEq for CustomSource {
    /// The same function: clones of one [`TokenSource::custom`].
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CustomSource {}

/// Why a request's token could not be read: the request is malformed
/// (RFC 6750 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl TokenSource {
    /// A source that is a function of the request's head: `Ok(Some(token))`
    /// when it finds a token, `Ok(None)` when the request carries none for
    /// it (the next source is asked), `Err(reason)` when the request is
    /// malformed, refused with 400 `invalid_request` and `reason` as the
    /// `error_description` (clients see it: keep it fixed and free of
    /// request data). The token is then validated like any other.
    ///
    /// ```
    /// use auth_tower::TokenSource;
    ///
    /// // A WebSocket client that can only set subprotocols sends
    /// // `Sec-WebSocket-Protocol: bearer, <token>`.
    /// let source = TokenSource::custom(|parts| {
    ///     let Some(value) = parts.headers.get("sec-websocket-protocol") else {
    ///         return Ok(None);
    ///     };
    ///     let value = value.to_str().map_err(|_| "bad Sec-WebSocket-Protocol")?;
    ///     match value.split_once(',') {
    ///         Some(("bearer", token)) => Ok(Some(token.trim())),
    ///         _ => Ok(None),
    ///     }
    /// });
    /// let req = http::Request::get("/ws")
    ///     .header("sec-websocket-protocol", "bearer, abc.def.ghi")
    ///     .body(())
    ///     .unwrap();
    /// let (parts, _) = req.into_parts();
    /// assert_eq!(source.read_parts(&parts).unwrap(), Some("abc.def.ghi"));
    /// ```
    pub fn custom<F>(find: F) -> Self
    where
        F: for<'a> Fn(&'a Parts) -> Result<Option<&'a str>, &'static str> + Send + Sync + 'static,
    {
        TokenSource::Custom(CustomSource(Arc::new(find)))
    }

    /// The token this source finds in the request: `Ok(None)` when the
    /// source is simply absent, `Err` when it is present but malformed.
    pub(crate) fn find<'r>(&self, parts: &'r Parts) -> Result<Option<&'r str>, Malformed> {
        match self {
            TokenSource::Query(name) => query(&parts.uri, name),
            TokenSource::Custom(f) => (f.0)(parts).map_err(Malformed),
            _ => self.find_in_headers(&parts.headers),
        }
    }

    fn find_in_headers<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>, Malformed> {
        match self {
            TokenSource::Bearer => bearer(headers),
            TokenSource::Cookie(name) => cookie(headers, name),
            TokenSource::Query(_) | TokenSource::Custom(_) => Ok(None),
        }
    }

    /// Reads this source's token from a request's head, with the layer's
    /// rules: `Ok(None)` when the source is absent,
    /// [`Rejection::InvalidRequest`] when it is present but malformed (two
    /// `Authorization` headers, a `Bearer` scheme without exactly one token,
    /// a cookie sent twice with different values, a query parameter sent
    /// twice or percent-encoded, a custom source's `Err`). The token itself
    /// is not validated.
    pub fn read_parts<'r>(&self, parts: &'r Parts) -> Result<Option<&'r str>, Rejection> {
        self.find(parts)
            .map_err(|Malformed(why)| Rejection::InvalidRequest(why))
    }

    /// [`read_parts`](Self::read_parts) for the sources that live in
    /// headers ([`Bearer`](Self::Bearer), [`Cookie`](Self::Cookie)).
    /// [`Query`](Self::Query) and [`Custom`](Self::Custom) sources need the
    /// whole head and find nothing here (`Ok(None)`): use `read_parts` for
    /// them.
    ///
    /// ```
    /// use auth_tower::TokenSource;
    /// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc.def.ghi"));
    /// assert_eq!(TokenSource::Bearer.read(&headers).unwrap(), Some("abc.def.ghi"));
    /// assert_eq!(TokenSource::Cookie("at".into()).read(&headers).unwrap(), None);
    /// ```
    pub fn read<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>, Rejection> {
        self.find_in_headers(headers)
            .map_err(|Malformed(why)| Rejection::InvalidRequest(why))
    }
}

/// Reads the first source that carries a token, in order.
pub(crate) fn find_token<'r>(
    sources: &[TokenSource],
    parts: &'r Parts,
) -> Result<Option<&'r str>, Malformed> {
    for source in sources {
        if let Some(token) = source.find(parts)? {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Malformed("more than one Authorization header"));
    }
    // The common case, `Bearer <b64token>`, in one pass over the bytes (a
    // b64token is visible ASCII). Anything else takes the path below, which
    // also says what is wrong.
    let bytes = value.as_bytes();
    if let Some(token) = bytes
        .get(..7)
        .filter(|scheme| scheme[..6].eq_ignore_ascii_case(b"bearer") && scheme[6] == b' ')
        .map(|_| &bytes[7..])
        .filter(|token| is_b64token(token))
        && let Ok(token) = std::str::from_utf8(token)
    {
        return Ok(Some(token));
    }
    let value = value
        .to_str()
        .map_err(|_| Malformed("Authorization header is not visible ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...) carries no bearer token.
        return Ok(None);
    }
    if token.is_empty() {
        return Err(Malformed("Bearer scheme without a token"));
    }
    if !is_b64token(token.as_bytes()) {
        return Err(Malformed("the Bearer credentials are not one token"));
    }
    Ok(Some(token))
}

/// Whether `b` may appear in a b64token before its `=` padding.
#[inline]
// Written with `&` and `|` rather than `contains` and `||` on purpose.
#[allow(clippy::manual_range_contains)]
fn b64token_byte(b: u8) -> bool {
    // Letters of either case land in a..=z once the 0x20 bit is set; no
    // other byte does. Non-short-circuit operators keep the loop below
    // branch-free, so it is vectorized.
    let lower = b | 0x20;
    (lower >= b'a') & (lower <= b'z')
        | (b >= b'0') & (b <= b'9')
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`,
/// in one branch-free pass.
pub(crate) fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|b| **b == b'=').count();
    let body = &token[..token.len() - padding];
    !body.is_empty() && body.iter().fold(true, |ok, b| ok & b64token_byte(*b))
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Malformed> {
    let mut found: Option<&str> = None;
    for v in cookie_values(headers, name) {
        match found {
            Some(prev) if prev != v => return Err(Malformed("the token cookie is sent twice")),
            _ => found = Some(v),
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

/// Every value of the cookie `name` in `headers`, in order, duplicates
/// included (a browser sends one per matching `Domain`/`Path`, so a cookie
/// planted from a sibling domain appears beside the real one). Surrounding
/// double quotes are removed. Headers are read as bytes: a cookie of another
/// name with bytes that are not ASCII (which a sibling domain can plant)
/// does not hide this one; a value of this name that is not UTF-8 is
/// skipped.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::COOKIE};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(COOKIE, HeaderValue::from_static("a=1; rt=x; rt=\"y\""));
/// let values: Vec<_> = auth_tower::cookie_values(&headers, "rt").collect();
/// assert_eq!(values, ["x", "y"]);
/// ```
pub fn cookie_values<'h, 'n>(
    headers: &'h HeaderMap,
    name: &'n str,
) -> impl Iterator<Item = &'h str> + use<'h, 'n> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            let (k, v) = (&pair[..eq], &pair[eq + 1..]);
            if k != name.as_bytes() {
                return None;
            }
            std::str::from_utf8(v).ok().map(|v| v.trim_matches('"'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_byte_test_agrees_with_the_b64token_grammar() {
        // The grammar, written plainly: the reference for the fast test.
        fn grammar(token: &str) -> bool {
            let body = token.trim_end_matches('=');
            !body.is_empty()
                && body.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
                })
        }
        let mut cases: Vec<String> = [
            "a",
            "a=",
            "a==",
            "=",
            "==",
            "",
            "a.b-c_d~e+f/g",
            "a=b",
            "a b",
            "a\tb",
            "é",
            "a\u{7f}",
            "Zz09",
            "abc.def.ghi",
            "=a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.extend((0u8..=127).map(|b| format!("x{}y", b as char)));
        cases.extend((0u8..=127).map(|b| format!("xy{}", b as char)));
        for case in &cases {
            assert_eq!(grammar(case), is_b64token(case.as_bytes()), "{case:?}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_takes_exactly_one_token() {
        assert_eq!(
            bearer(&headers(&[(&AUTHORIZATION, "Bearer abc.def")])),
            Ok(Some("abc.def"))
        );
        assert_eq!(
            bearer(&headers(&[(&AUTHORIZATION, "bEaReR abc")])),
            Ok(Some("abc"))
        );
        assert!(bearer(&headers(&[(&AUTHORIZATION, "Bearer a b")])).is_err());
        assert!(bearer(&headers(&[(&AUTHORIZATION, "Bearer  abc")])).is_err());
        assert!(bearer(&headers(&[(&AUTHORIZATION, "Bearer")])).is_err());
        assert!(bearer(&headers(&[(&AUTHORIZATION, "Bearer ")])).is_err());
        assert_eq!(
            bearer(&headers(&[(&AUTHORIZATION, "Basic dXNlcjpw")])),
            Ok(None)
        );
        assert_eq!(bearer(&HeaderMap::new()), Ok(None));
        assert!(
            bearer(&headers(&[
                (&AUTHORIZATION, "Bearer a"),
                (&AUTHORIZATION, "Bearer b")
            ]))
            .is_err()
        );
    }

    #[test]
    fn cookie_is_found_by_exact_name_and_duplicates_are_refused() {
        let h = headers(&[(&COOKIE, "a=1; access_token=tok; b=2")]);
        assert_eq!(cookie(&h, "access_token"), Ok(Some("tok")));
        assert_eq!(cookie(&h, "access"), Ok(None));
        let twice = headers(&[(&COOKIE, "t=1"), (&COOKIE, "t=2")]);
        assert!(cookie(&twice, "t").is_err());
        assert_eq!(cookie(&headers(&[(&COOKIE, "t=")]), "t"), Ok(None));
    }

    /// A sibling domain can plant a cookie whose bytes are not ASCII; the
    /// whole header used to be skipped, hiding the real cookie beside it.
    #[test]
    fn a_non_ascii_cookie_of_another_name_does_not_hide_ours() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_bytes("x=\u{e9}t\u{e9}; t=tok; y=\u{fc}".as_bytes()).unwrap(),
        );
        assert_eq!(cookie(&h, "t"), Ok(Some("tok")));
        let mut bad = HeaderMap::new();
        bad.append(
            COOKIE,
            HeaderValue::from_bytes(b"t=\xff\xfe; t=tok").unwrap(),
        );
        assert_eq!(cookie_values(&bad, "t").collect::<Vec<_>>(), ["tok"]);
    }
}
