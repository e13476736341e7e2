//! Reading small JSON bodies from untrusted clients: a size cap, the media
//! type, and serde errors mapped to 400/413/415/422 (never 500).

use axum_core::body::Body;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads the body as a JSON object `T`. An empty body is `Ok(None)`.
pub(crate) async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Option<T>, ApiError> {
    match read_object(headers, body, limit).await? {
        Some(bytes) => parse_json(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Reads the body (at most `limit` bytes) of a request that must carry a
/// JSON object: its bytes, checked for the media type and for starting
/// with `{`, but not parsed. An empty body is `Ok(None)`.
pub(crate) async fn read_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Option<Vec<u8>>, ApiError> {
    let bytes = read_limited(headers, body, limit).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the request body must be application/json",
        ));
    }
    // serde would also read a struct from an array; only objects are meant.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    "the JSON body must be an object",
                )
            } else {
                ApiError::bad_request("the request body is not valid JSON")
            },
        );
    }
    Ok(Some(bytes))
}

/// Reads at most `limit` bytes of `body`, copying each frame into one
/// buffer as it arrives. A frame is a slice of the connection's read
/// buffer: keeping frames (as `collect` does) would keep those buffers
/// alive, so a body sent a byte at a time, or in one-byte chunks, would cost
/// kilobytes of memory per byte received. Here a body costs its own length,
/// whatever its framing. A `Content-Length` over the limit is refused
/// unread.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let capacity = announced.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut out = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - out.len() {
                return Err(too_large());
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Parses a JSON object read by [`read_object`] into `T`.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                describe(&e),
            ),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("the request body is not valid JSON")
            }
        }
    })
}

/// What is wrong with a well-formed body, in words that never repeat what
/// the client sent (serde's "invalid type: string \"...\"" would echo a
/// password sent with the wrong type): only our own field names and types.
fn describe(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or_default();
    let at = format!("line {}, column {}", e.line(), e.column());
    if let Some(ours) = message.strip_prefix(OWN_MESSAGE) {
        // Written by this crate's own deserializers, in its own words.
        ours.to_owned()
    } else if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        // The field name is one of ours: a sent one would be ignored.
        format!("the JSON body does not have the expected fields: {message}")
    } else if let Some((_, expected)) = message.split_once(", expected ") {
        format!("a field of the JSON body has the wrong type: expected {expected} ({at})")
    } else {
        format!("the JSON body does not have the expected fields ({at})")
    }
}

/// Marks a deserialization error whose message this crate wrote (never
/// quoting the client): [`describe`] passes it on as it is, without the
/// marker.
pub(crate) const OWN_MESSAGE: &str = "\u{1}auth:";

/// `application/json`, or any `application/*+json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub.as_bytes()[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn errors_name_our_fields_and_types_never_the_values_sent() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Login {
            username: String,
            password: String,
            #[serde(default, rename = "cookieOnly")]
            cookie_only: bool,
        }
        let error = |json: &str| describe(&serde_json::from_str::<Login>(json).unwrap_err());
        let e = error(r#"{"username":"alice","password":1234567890}"#);
        assert!(
            e.contains("expected a string") && !e.contains("1234567890"),
            "{e}"
        );
        let e = error(r#"{"username":"a","password":"p","cookieOnly":"<script>SECRET</script>"}"#);
        assert!(
            e.contains("expected a boolean") && !e.contains("SECRET"),
            "{e}"
        );
        let e = error(r#"{"username":"alice"}"#);
        assert_eq!(
            e,
            "the JSON body does not have the expected fields: missing field `password`"
        );
        let e = error(r#"{"username":"a","username":"b","password":"p"}"#);
        assert!(e.contains("duplicate field `username`"), "{e}");
    }

    #[test]
    fn json_media_types() {
        let ct = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            is_json(&h)
        };
        assert!(ct("application/json"));
        assert!(ct("Application/JSON; charset=utf-8"));
        assert!(ct("application/vnd.api+json"));
        assert!(!ct("text/plain"));
        assert!(!ct("application/x-www-form-urlencoded"));
        assert!(!ct("application/+json"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
