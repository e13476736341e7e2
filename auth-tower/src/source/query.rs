//! The query-parameter source: `?access_token=...` (RFC 6750 §2.3), with
//! the rules of [`TokenSource::Query`](crate::TokenSource::Query).

use http::Uri;

use super::Malformed;

/// The query parameter `name`; see [`TokenSource::Query`] for the rules.
pub(super) fn query<'u>(uri: &'u Uri, name: &str) -> Result<Option<&'u str>, Malformed> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !key_is(key, name) {
            continue;
        }
        if found.is_some() {
            return Err(Malformed(
                "the token query parameter is sent more than once",
            ));
        }
        found = Some(value);
    }
    match found {
        None | Some("") => Ok(None),
        Some(token) if is_url_safe_token(token) => Ok(Some(token)),
        Some(_) => Err(Malformed(
            "the token query parameter is not one URL-safe token (percent-encoding is not decoded)",
        )),
    }
}

/// Whether a raw query key is `name`, as it is or form-decoded (`%XX`,
/// `+` for a space), as other parsers of the query would read it.
fn key_is(raw: &str, name: &str) -> bool {
    if raw == name {
        return true;
    }
    if !raw.contains(['%', '+']) {
        return false;
    }
    let raw = raw.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = match (b, raw.get(i + 1..i + 3)) {
            (b'%', Some(&[hi, lo])) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match (b, escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                i += 1;
            }
            (b, None) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    decoded == name.as_bytes()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" )`: the RFC 3986 unreserved
/// characters, which need no percent-encoding in a query.
fn is_url_safe_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(uri: &str, name: &str) -> Result<Option<String>, Malformed> {
        let uri: Uri = uri.parse().unwrap();
        query(&uri, name).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn query_token_is_read_by_exact_name() {
        let got = |uri| query_of(uri, "access_token");
        assert_eq!(
            got("/ws?access_token=a.b-c_d~"),
            Ok(Some("a.b-c_d~".into()))
        );
        assert_eq!(got("/ws?x=1&access_token=tok&y=2"), Ok(Some("tok".into())));
        assert_eq!(got("/ws?x=access_token=tok"), Ok(None));
        assert_eq!(got("/ws?access_tokens=tok"), Ok(None));
        assert_eq!(got("/ws?access_token="), Ok(None));
        assert_eq!(got("/ws?access_token"), Ok(None));
        assert_eq!(got("/ws"), Ok(None));
    }

    #[test]
    fn query_token_twice_or_encoded_is_malformed() {
        let got = |uri| query_of(uri, "access_token");
        assert!(got("/ws?access_token=a&access_token=b").is_err());
        assert!(got("/ws?access_token=a&access_token=a").is_err());
        assert!(got("/ws?access_token=a&access%5Ftoken=b").is_err());
        assert!(got("/ws?access_token=a&access%5ftoken").is_err());
        assert_eq!(got("/ws?access%5Ftoken=a"), Ok(Some("a".into())));
        assert!(got("/ws?access_token=a%2Eb").is_err());
        assert!(got("/ws?access_token=a+b").is_err());
        assert!(got("/ws?access_token=a=").is_err());
        assert_eq!(query_of("/ws?my+token=t", "my token"), Ok(Some("t".into())));
        assert!(!key_is("access%5", "access_token") && !key_is("%zz", "access_token"));
    }
}
