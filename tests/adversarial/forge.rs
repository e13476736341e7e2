//! Forging tokens: raw header and payload JSON, signed with any secret or
//! not at all, and JSON edits (a member set, removed, or written twice).

use super::*;

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The decoded header and payload of a compact JWS.
pub(crate) fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || {
        let part = URL_SAFE_NO_PAD
            .decode(it.next().expect("part"))
            .expect("base64url");
        serde_json::from_slice::<Value>(&part).expect("json")
    };
    let header = next();
    (header, next())
}

/// A token from raw header and payload JSON text, HS256-signed with `secret`
/// whatever the header says.
pub(crate) fn sign_raw(header: &str, payload: &str, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("hmac");
    format!("{message}.{sig}")
}

/// A token signed with the main instance's secret.
pub(crate) fn forge(header: &Value, payload: &Value) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), SECRET.as_bytes())
}

/// `header.payload.` with no signature at all.
pub(crate) fn unsigned(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

/// A copy of a JSON object with `key` set to `value`.
pub(crate) fn with(obj: &Value, key: &str, value: Value) -> Value {
    let mut o = obj.clone();
    o[key] = value;
    o
}

/// A copy of a JSON object without `key`.
pub(crate) fn without(obj: &Value, key: &str) -> Value {
    let mut o = obj.clone();
    o.as_object_mut().expect("object").remove(key);
    o
}

/// The JSON text of `obj` with `member` (`"k":v`) appended: a duplicate key
/// when `obj` already has `k` (the later one is lexically last).
pub(crate) fn append_member(obj: &Value, member: &str) -> String {
    let text = obj.to_string();
    format!("{},{member}}}", &text[..text.len() - 1])
}

/// The JSON text of `obj` with `member` put first (before an existing `k`).
pub(crate) fn prepend_member(obj: &Value, member: &str) -> String {
    let text = obj.to_string();
    format!("{{{member},{}", &text[1..])
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}
