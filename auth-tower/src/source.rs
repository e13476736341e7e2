//! Where the access token is read from: the `Authorization: Bearer` header
//! (RFC 6750 §2.1) and, optionally, a named cookie.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

use crate::rejection::Rejection;

/// A place a request may carry its access token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`; the scheme is case-insensitive, and
    /// exactly one token follows one space.
    Bearer,
    /// A cookie of this name.
    Cookie(String),
}

/// Why a request's token could not be read: the request is malformed
/// (RFC 6750 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl TokenSource {
    /// The token this source finds in `headers`: `Ok(None)` when the source is
    /// simply absent, `Err` when it is present but malformed.
    pub(crate) fn find<'h>(&self, headers: &'h HeaderMap) -> Result<Option<&'h str>, Malformed> {
        match self {
            TokenSource::Bearer => bearer(headers),
            TokenSource::Cookie(name) => cookie(headers, name),
        }
    }

    /// Reads this source's token from `headers`, with the layer's rules:
    /// `Ok(None)` when the source is absent, [`Rejection::InvalidRequest`]
    /// when it is present but malformed (two `Authorization` headers, a
    /// `Bearer` scheme without exactly one token, a cookie sent twice with
    /// different values). The token itself is not validated.
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
        self.find(headers)
            .map_err(|Malformed(why)| Rejection::InvalidRequest(why))
    }
}

/// Reads the first source that carries a token, in order.
pub(crate) fn find_token<'h>(
    sources: &[TokenSource],
    headers: &'h HeaderMap,
) -> Result<Option<&'h str>, Malformed> {
    for source in sources {
        if let Some(token) = source.find(headers)? {
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
    if !is_b64token(token) {
        return Err(Malformed("the Bearer credentials are not one token"));
    }
    Ok(Some(token))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
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
