//! Targets `bearer` and `cookie`: header values, as a client may send them, to
//! [`TokenSource::read`] and through the whole [`AuthLayer`].
//!
//! Input: lines (`\n`-separated). `bearer`: each line is one `Authorization`
//! header. `cookie`: the first line is the cookie name, each further line one
//! `Cookie` header. A line that is no valid header value is dropped.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use auth_core::RoleClaims;
use auth_tower::{AuthLayer, TokenSource};
use http::header::{AUTHORIZATION, COOKIE, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::fixture::fixture;

/// `Authorization` header values to the Bearer source and the layer.
pub fn bearer(data: &[u8]) {
    let (headers, values) = header_map(AUTHORIZATION, data.split(|&b| b == b'\n'));
    let read = TokenSource::Bearer.read(&headers);
    match values.as_slice() {
        [] => assert!(matches!(read, Ok(None)), "no header, yet {read:?}"),
        [one] => {
            let expected = bearer_spec(one);
            match (&read, expected) {
                (Ok(Some(token)), Ok(Some(want))) => {
                    assert_eq!(*token, want);
                    assert!(
                        is_within(token.as_bytes(), one.as_bytes()),
                        "not in the header"
                    );
                }
                (Ok(None), Ok(None)) | (Err(_), Err(())) => {}
                (got, want) => panic!("Bearer read {got:?}, the grammar says {want:?}"),
            }
        }
        _ => assert!(read.is_err(), "several Authorization headers, yet {read:?}"),
    }
    let expected = read.map_err(drop).map(|t| t.map(str::to_owned));
    through_layer(
        AuthLayer::new(fixture().validator().clone()),
        headers,
        expected,
    );
}

/// `Cookie` header values to the cookie source and the layer.
pub fn cookie(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let name = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (headers, values) = header_map(COOKIE, lines);
    let read = TokenSource::Cookie(name.clone()).read(&headers);
    let want = cookie_spec(&values, &name);
    match (&read, &want) {
        (Ok(got), Ok(want)) => assert_eq!(got.as_deref(), want.as_deref()),
        (Err(_), Err(())) => {}
        (got, want) => panic!("cookie {name:?} read {got:?}, the model says {want:?}"),
    }
    if let Ok(Some(token)) = &read {
        let inside = values
            .iter()
            .any(|v| is_within(token.as_bytes(), v.as_bytes()));
        assert!(inside, "cookie value is not in any Cookie header");
    }
    let layer = AuthLayer::new(fixture().validator().clone()).cookie(name);
    through_layer(layer, headers, want);
}

/// The headers, and the values that made it into them.
fn header_map<'a>(
    name: HeaderName,
    lines: impl Iterator<Item = &'a [u8]>,
) -> (HeaderMap, Vec<HeaderValue>) {
    let mut headers = HeaderMap::new();
    let mut values = Vec::new();
    for line in lines {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(name.clone(), v.clone());
            values.push(v);
        }
    }
    (headers, values)
}

/// RFC 6750 §2.1 as the crate documents it: `Bearer` (any case), one space,
/// one `b64token`. `Ok(None)` for another scheme, `Err` for a malformed one.
fn bearer_spec(value: &HeaderValue) -> Result<Option<&str>, ()> {
    let Ok(value) = value.to_str() else {
        return Err(());
    };
    let scheme_end = value.find(' ').unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = value.get(scheme_end + 1..).unwrap_or("");
    let body_len = token.len() - token.bytes().rev().take_while(|&b| b == b'=').count();
    let body_ok = body_len > 0
        && token.as_bytes()[..body_len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if body_ok { Ok(Some(token)) } else { Err(()) }
}

/// The cookie rules as a plain model: every `name=value` pair in the
/// `Cookie` headers, read as bytes, split on `;`, trimmed of ASCII
/// whitespace; a value that is not UTF-8 is skipped, one that is loses its
/// surrounding double quotes; two differing values are an error; an empty
/// value is no token.
fn cookie_spec(values: &[HeaderValue], name: &str) -> Result<Option<String>, ()> {
    let mut found: Vec<&str> = Vec::new();
    for value in values {
        for pair in value.as_bytes().split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if &pair[..eq] == name.as_bytes()
                && let Ok(v) = std::str::from_utf8(&pair[eq + 1..])
            {
                found.push(v.trim_matches('"'));
            }
        }
    }
    match found.first() {
        Some(first) if found.iter().any(|v| v != first) => Err(()),
        Some(first) if !first.is_empty() => Ok(Some((*first).to_owned())),
        _ => Ok(None),
    }
}

/// Whether `part` is a slice of `whole` (not merely equal to some piece of it).
fn is_within(part: &[u8], whole: &[u8]) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

/// The inner service: 204 with the claims the layer inserted, 418 without.
#[derive(Clone)]
struct Inner;

impl Service<Request<()>> for Inner {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        let status = match auth_tower::claims::<RoleClaims>(req.extensions()) {
            Ok(Some(_)) => StatusCode::NO_CONTENT,
            _ => StatusCode::IM_A_TEAPOT,
        };
        let mut res = Response::new(());
        *res.status_mut() = status;
        ready(Ok(res))
    }
}

/// Sends a request with `headers` through the layer and checks the answer
/// against what the sources found (`expected`) and what the validator says
/// of that token. The memory store answers at once, so one poll finishes.
fn through_layer(
    layer: AuthLayer<RoleClaims>,
    headers: HeaderMap,
    expected: Result<Option<String>, ()>,
) {
    let mut service = layer.layer(Inner);
    let mut req = Request::new(());
    *req.headers_mut() = headers;
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(req));
    let Poll::Ready(Ok(res)) = future.poll(&mut cx) else {
        panic!("the layer did not answer at once");
    };
    let status = res.status().as_u16();
    match expected {
        Err(()) => assert_eq!(status, 400, "malformed credentials"),
        Ok(None) => assert_eq!(status, 401, "no token"),
        Ok(Some(token)) => match fixture().validator().decode_access::<RoleClaims>(&token) {
            Ok(_) => assert_eq!(status, 204, "valid token refused"),
            Err(e) => assert_eq!(status, e.class().http_status(), "{e}"),
        },
    }
}
