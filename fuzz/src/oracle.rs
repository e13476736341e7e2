//! What must hold of a token the validator accepted, checked without the
//! validator: jsonwebtoken verifies the signature and decodes the token again,
//! and every claim check is redone on the raw JSON.

use auth_core::{AccessClaims, AuthError, RefreshClaims, RoleClaims, TokenKind};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::fixture::{AUDIENCE, ISSUER, LEEWAY, NOW, fixture};

/// Header parameters the validator must refuse.
const REFUSED: [&str; 6] = ["jku", "x5u", "jwk", "x5c", "crit", "b64"];

/// The registered claims both kinds share, as the validator returned them.
pub(crate) struct Seen<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
    jti: Uuid,
    sid: Uuid,
    iss: Option<&'a str>,
}

impl<'a> From<&'a AccessClaims<RoleClaims>> for Seen<'a> {
    fn from(c: &'a AccessClaims<RoleClaims>) -> Self {
        Seen {
            sub: &c.sub,
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            jti: c.jti,
            sid: c.sid,
            iss: c.iss.as_deref(),
        }
    }
}

impl<'a> From<&'a RefreshClaims> for Seen<'a> {
    fn from(c: &'a RefreshClaims) -> Self {
        Seen {
            sub: &c.sub,
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            jti: c.jti,
            sid: c.sid,
            iss: c.iss.as_deref(),
        }
    }
}

/// Checks an accepted access token.
pub(crate) fn accepted_access(token: &str, claims: &AccessClaims<RoleClaims>) {
    accepted(token, TokenKind::Access, Seen::from(claims));
    let payload_b64 = token.split('.').nth(1).unwrap_or_default();
    let app: AppClaims = typed(payload_b64, "payload");
    assert_eq!(claims.extra.roles, app.roles.unwrap_or_default(), "roles");
    assert_eq!(claims.extra.scope, app.scope, "scope");
}

/// Checks an accepted refresh token.
pub(crate) fn accepted_refresh(token: &str, claims: &RefreshClaims) {
    accepted(token, TokenKind::Refresh, Seen::from(claims));
}

/// The checks both kinds share; returns the payload object.
fn accepted(token: &str, kind: TokenKind, seen: Seen<'_>) {
    let f = fixture();
    let (message, signature) = token.rsplit_once('.').expect("accepted: three parts");
    let (header_b64, payload_b64) = message.split_once('.').expect("accepted: three parts");
    assert!(
        jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &f.decoding,
            jsonwebtoken::Algorithm::HS256
        )
        .unwrap_or(false),
        "accepted token fails jsonwebtoken's HS256 verification"
    );

    let header: Header = typed(header_b64, "header");
    assert_eq!(header.alg, "HS256", "alg");
    assert_eq!(header.kid.as_deref(), Some(f.hs_kid.as_str()), "kid");
    let typ = header.typ.as_deref().expect("typ").to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    assert_eq!(typ, kind.typ(), "typ");
    let header_json = object(header_b64, "header");
    for name in REFUSED {
        let present =
            header.has(name) || header_json.as_ref().is_some_and(|h| h.contains_key(name));
        assert!(!present, "accepted with header `{name}`");
    }
    if let Some(h) = &header_json {
        assert_eq!(h.get("alg"), Some(&Value::from("HS256")), "alg (JSON)");
        assert_eq!(
            h.get("kid"),
            Some(&Value::from(f.hs_kid.as_str())),
            "kid (JSON)"
        );
    }

    let claims: Claims = typed(payload_b64, "payload");
    assert_eq!(claims.sub, seen.sub, "sub");
    assert_eq!(claims.exp, seen.exp, "exp");
    assert_eq!(claims.iat, seen.iat, "iat");
    assert_eq!(claims.nbf, seen.nbf, "nbf");
    assert_eq!(Uuid::try_parse(&claims.jti).ok(), Some(seen.jti), "jti");
    assert_eq!(Uuid::try_parse(&claims.sid).ok(), Some(seen.sid), "sid");
    assert_eq!(claims.iss.as_deref(), seen.iss, "iss");
    assert_eq!(seen.iss, Some(ISSUER), "accepted with another issuer");
    let aud_ok = match &claims.aud {
        Some(Aud::One(a)) => a == AUDIENCE,
        Some(Aud::Many(a)) => a.iter().any(|a| a == AUDIENCE),
        None => false,
    };
    assert!(aud_ok, "accepted without the audience");
    assert!(NOW < seen.exp.saturating_add(LEEWAY), "accepted after exp");
    assert!(!seen.sub.is_empty(), "accepted with an empty sub");
    assert!(
        seen.iat <= NOW.saturating_add(LEEWAY),
        "accepted with an iat in the future"
    );
    let config = f.authority.config();
    let longest = match kind {
        TokenKind::Access => config.max_access_lifetime,
        TokenKind::Refresh => config.max_refresh_lifetime,
    };
    assert!(
        seen.exp.saturating_sub(seen.iat) <= longest.as_secs(),
        "accepted with a lifetime no issuer of ours makes"
    );
    if let Some(nbf) = seen.nbf {
        assert!(NOW.saturating_add(LEEWAY) >= nbf, "accepted before nbf");
    }

    // The same claims read as a plain JSON object (the last of duplicate
    // names wins there), when serde_json can represent every value in it.
    let payload = object(payload_b64, "payload");
    if let Some(p) = &payload {
        let u64_of = |k: &str| p.get(k).and_then(Value::as_u64);
        let str_of = |k: &str| p.get(k).and_then(Value::as_str);
        assert_eq!(str_of("sub"), Some(seen.sub), "sub (JSON)");
        assert_eq!(u64_of("exp"), Some(seen.exp), "exp (JSON)");
        assert_eq!(u64_of("iat"), Some(seen.iat), "iat (JSON)");
        assert_eq!(u64_of("nbf"), seen.nbf, "nbf (JSON)");
        assert_eq!(str_of("jti"), Some(claims.jti.as_str()), "jti (JSON)");
        assert_eq!(str_of("sid"), Some(claims.sid.as_str()), "sid (JSON)");
        assert_eq!(str_of("iss"), seen.iss, "iss (JSON)");
    }

    // jsonwebtoken's full decode, its claim checks off (time, aud and iss are
    // checked above). A header jsonwebtoken cannot type (say `"cty": 1`) is a
    // stricter parser's choice, not a wrong acceptance.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match jsonwebtoken::decode::<Value>(token, &f.decoding, &validation) {
        Ok(data) => {
            let decoded = data.claims.as_object().cloned();
            assert_eq!(decoded, payload, "claims as jsonwebtoken decodes them");
        }
        Err(e) if matches!(e.kind(), ErrorKind::Json(_)) => {}
        Err(e) => panic!("accepted token refused by jsonwebtoken: {e:?}"),
    }
}

/// The header fields the oracle reads; unknown ones are ignored.
#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    jku: Option<IgnoredAny>,
    x5u: Option<IgnoredAny>,
    jwk: Option<IgnoredAny>,
    x5c: Option<IgnoredAny>,
    crit: Option<IgnoredAny>,
    b64: Option<IgnoredAny>,
}

impl Header {
    fn has(&self, name: &str) -> bool {
        let field = match name {
            "jku" => &self.jku,
            "x5u" => &self.x5u,
            "jwk" => &self.jwk,
            "x5c" => &self.x5c,
            "crit" => &self.crit,
            _ => &self.b64,
        };
        field.is_some()
    }
}

/// The claims the oracle reads; unknown ones are ignored.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
    jti: String,
    sid: String,
    iss: Option<String>,
    aud: Option<Aud>,
}

/// An access token's application claims ([`RoleClaims`]).
#[derive(Deserialize)]
struct AppClaims {
    roles: Option<Vec<String>>,
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

fn decoded(b64: &str, what: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap_or_else(|e| panic!("accepted {what} is not base64url: {e}"))
}

fn typed<T: DeserializeOwned>(b64: &str, what: &str) -> T {
    serde_json::from_slice(&decoded(b64, what))
        .unwrap_or_else(|e| panic!("accepted {what} does not parse: {e}"))
}

/// The part as a JSON object, or `None` when it is JSON that serde_json's
/// `Value` cannot hold (a number beyond f64, a lone UTF-16 surrogate): the
/// validator skips such values in fields it ignores (in the header, and in a
/// refresh token's payload), and so does `typed`. Real syntax errors (a
/// `\u` escape without four hex digits) are refused by the validator.
fn object(b64: &str, what: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&decoded(b64, what)) {
        Ok(Value::Object(map)) => Some(map),
        Err(e) if unrepresentable(&e) => None,
        other => panic!("accepted {what} is not a JSON object: {other:?}"),
    }
}

fn unrepresentable(e: &serde_json::Error) -> bool {
    let msg = e.to_string();
    [
        "number out of range",
        "surrogate",
        "invalid unicode code point",
        // a high surrogate not followed by `\u`: `"\ud800x"`
        "unexpected end of hex escape",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

/// Exercises the error's wire mapping (status, challenge, gRPC), which must
/// not panic for any error the validator returns.
pub(crate) fn refused(e: AuthError) {
    let _ = e.to_string();
    let class = e.class();
    let _ = (class.http_status(), class.rfc6750_code(), e.description());
    let rejection = auth_tower::Rejection::Token(e);
    let _ = rejection.description();
    let http = rejection.to_response("api", false);
    assert!(
        matches!(http.status().as_u16(), 400 | 401 | 403 | 503),
        "{http:?}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(http.body()).expect("a refusal body is JSON");
    assert_eq!(body["error"], rejection.code(), "{body}");
}
