//! Validation: every way a token can be wrong fails, with its own error.

mod common;

use std::time::Duration;

use auth_core::{
    AccessClaims, Algorithm, AuthError, ErrorClass, Key, NoClaims, RevokedBy, TokenKind,
};
use common::*;
use serde_json::json;

async fn access(f: &Fixture) -> String {
    f.authority
        .issue("alice", &roles(&["user"]))
        .await
        .expect("issue")
        .access_token
}

fn decode(f: &Fixture, token: &str) -> Result<AccessClaims<Roles>, AuthError> {
    f.authority.validator().decode_access::<Roles>(token)
}

#[tokio::test]
async fn a_fresh_access_token_validates_into_typed_claims() {
    let f = fixture();
    let pair = f
        .authority
        .issue("alice", &roles(&["user", "admin"]))
        .await
        .expect("issue");
    let c = f
        .authority
        .validator()
        .validate_access::<Roles>(&pair.access_token)
        .await
        .expect("valid");
    assert_eq!(c.sub, "alice");
    assert_eq!(c.extra, roles(&["user", "admin"]));
    assert_eq!(c.sid, pair.session_id);
    assert_eq!(c.exp - c.iat, 15 * 60);
    assert_eq!(pair.expires_in, 15 * 60);
    assert_eq!(pair.token_type, "Bearer");
    let json = serde_json::to_value(&pair).expect("json");
    assert_eq!(json.as_object().map(|o| o.len()), Some(4));
    assert_eq!(json["tokenType"], "Bearer");
    assert!(
        !format!("{pair:?}").contains(&pair.access_token),
        "Debug redacts tokens"
    );
}

#[tokio::test]
async fn refresh_token_rejected_as_access_token_and_the_reverse() {
    let f = fixture();
    let pair = f.login("alice").await;
    let v = f.authority.validator();
    assert!(matches!(
        v.validate_access::<NoClaims>(&pair.refresh_token).await,
        Err(AuthError::WrongTokenType {
            expected: TokenKind::Access
        })
    ));
    assert!(matches!(
        v.validate_refresh(&pair.access_token).await,
        Err(AuthError::WrongTokenType {
            expected: TokenKind::Refresh
        })
    ));
    assert!(matches!(
        f.authority.refresh(&pair.access_token).await,
        Err(AuthError::WrongTokenType { .. })
    ));
}

#[tokio::test]
async fn a_token_without_typ_or_with_plain_jwt_typ_is_refused() {
    let f = fixture();
    let token = access(&f).await;
    let (mut header, payload, _) = parts(&token);
    header["typ"] = json!("JWT");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &payload, SECRET)),
        Err(AuthError::WrongTokenType { .. })
    ));
    header.as_object_mut().expect("object").remove("typ");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &payload, SECRET)),
        Err(AuthError::WrongTokenType { .. })
    ));
    header["typ"] = json!("application/AT+JWT");
    decode(&f, &forge_hs256(&header, &payload, SECRET)).expect("media type form is the same typ");
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let f = fixture();
    let token = access(&f).await;
    let (header, payload, _) = parts(&token);
    let forged = forge_hs256(&header, &payload, b"another-secret-that-is-32-bytes!");
    assert!(matches!(
        decode(&f, &forged),
        Err(AuthError::InvalidSignature)
    ));
    // Same claims, another authority's key: its kid is unknown here.
    let other = fixture_with(Key::generate(Algorithm::HS256).expect("gen"), |b| b);
    let theirs = other.login("alice").await.access_token;
    assert!(matches!(decode(&f, &theirs), Err(AuthError::UnknownKey)));
}

#[tokio::test]
async fn alg_none_and_alg_confusion_are_refused() {
    let f = fixture();
    let token = access(&f).await;
    let (mut header, payload, _) = parts(&token);
    header["alg"] = json!("none");
    let none = format!(
        "{}.{}.",
        b64(&serde_json::to_vec(&header).expect("json")),
        b64(&serde_json::to_vec(&payload).expect("json"))
    );
    assert!(matches!(
        decode(&f, &none),
        Err(AuthError::AlgorithmMismatch)
    ));
    header["alg"] = json!("HS512");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &payload, SECRET)),
        Err(AuthError::AlgorithmMismatch)
    ));

    // The classic: an RS256 server handed an HS256 token "signed" with its
    // public key. The key is pinned to RS256, so the HMAC path is never taken.
    let rsa = fixture_with(Key::generate(Algorithm::RS256).expect("rsa"), |b| b);
    let real = rsa.login("alice").await.access_token;
    let (mut h, p, _) = parts(&real);
    h["alg"] = json!("HS256");
    let public = serde_json::to_vec(&rsa.authority.keys().jwks()).expect("jwks");
    let confused = forge_hs256(&h, &p, &public);
    assert!(matches!(
        rsa.authority
            .validator()
            .decode_access::<NoClaims>(&confused),
        Err(AuthError::AlgorithmMismatch)
    ));
}

#[tokio::test]
async fn tampering_with_any_part_breaks_the_signature() {
    let f = fixture();
    let token = access(&f).await;
    let (header, mut payload, sig) = parts(&token);
    let segs: Vec<&str> = token.split('.').collect();

    payload["roles"] = json!(["admin"]);
    let tampered_payload = format!(
        "{}.{}.{}",
        segs[0],
        b64(&serde_json::to_vec(&payload).expect("j")),
        sig
    );
    assert!(matches!(
        decode(&f, &tampered_payload),
        Err(AuthError::InvalidSignature)
    ));

    let mut h2 = header.clone();
    h2["x-extra"] = json!(1);
    let tampered_header = format!(
        "{}.{}.{}",
        b64(&serde_json::to_vec(&h2).expect("j")),
        segs[1],
        sig
    );
    assert!(matches!(
        decode(&f, &tampered_header),
        Err(AuthError::InvalidSignature)
    ));

    let mut raw_sig = unb64(&sig);
    raw_sig[0] ^= 1;
    let tampered_sig = format!("{}.{}.{}", segs[0], segs[1], b64(&raw_sig));
    assert!(matches!(
        decode(&f, &tampered_sig),
        Err(AuthError::InvalidSignature)
    ));
    let no_sig = format!("{}.{}.", segs[0], segs[1]);
    assert!(matches!(
        decode(&f, &no_sig),
        Err(AuthError::InvalidSignature)
    ));
}

#[tokio::test]
async fn truncated_and_malformed_tokens_are_refused_without_panicking() {
    let f = fixture();
    let token = access(&f).await;
    for cut in [0, 1, 10, token.len() / 2, token.len() - 1] {
        assert!(decode(&f, &token[..cut]).is_err(), "cut at {cut}");
    }
    for garbage in [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "a.b",
        "e30.e30.e30.e30",
        "!!!.e30.x",
        "e30.e30.",
        "\u{0}.\u{1}.\u{2}",
    ] {
        let err = decode(&f, garbage).expect_err(garbage);
        assert_eq!(err.class(), ErrorClass::InvalidToken, "{garbage}: {err}");
    }
    // Header that is JSON but not an object, and one with a duplicate alg.
    let dup = format!(
        "{}.e30.x",
        b64(br#"{"alg":"HS256","alg":"none","typ":"at+jwt"}"#)
    );
    assert!(matches!(decode(&f, &dup), Err(AuthError::Malformed(_))));
    let arr = format!("{}.e30.x", b64(b"[1,2]"));
    assert!(matches!(decode(&f, &arr), Err(AuthError::Malformed(_))));
}

#[tokio::test]
async fn an_oversized_token_is_refused_before_decoding() {
    let f = fixture();
    let huge = "a".repeat(8 * 1024 + 1);
    assert!(matches!(
        decode(&f, &huge),
        Err(AuthError::TokenTooLarge {
            len: 8193,
            max: 8192
        })
    ));
    assert_eq!(
        decode(&f, &huge).unwrap_err().class(),
        ErrorClass::InvalidRequest
    );
    // And the authority never issues a token it would refuse.
    let big = roles(&[&"r".repeat(9000)]);
    assert!(matches!(
        f.authority.issue("alice", &big).await,
        Err(AuthError::Claims(_))
    ));
    assert!(f.store.is_empty(), "no session left behind");
}

#[tokio::test]
async fn missing_required_claims_are_named() {
    let f = fixture();
    let token = access(&f).await;
    let (header, payload, _) = parts(&token);
    for claim in ["sub", "exp", "iat", "jti", "sid"] {
        let mut p = payload.clone();
        p.as_object_mut().expect("object").remove(claim);
        let err = decode(&f, &forge_hs256(&header, &p, SECRET)).expect_err(claim);
        assert!(
            matches!(&err, AuthError::InvalidClaims(m) if m.contains(claim)),
            "{claim}: {err}"
        );
    }
    let mut p = payload.clone();
    p["jti"] = json!("not-a-uuid");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &p, SECRET)),
        Err(AuthError::InvalidClaims(_))
    ));
    let mut p = payload;
    p["exp"] = json!("tomorrow");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &p, SECRET)),
        Err(AuthError::InvalidClaims(_))
    ));
}

#[tokio::test]
async fn expiry_is_enforced_at_the_leeway_boundary() {
    let f = fixture(); // 15 min access, 5 s leeway
    let token = access(&f).await;
    f.clock.advance(Duration::from_secs(15 * 60 + 4));
    decode(&f, &token).expect("within leeway: exp + 4 s");
    f.clock.advance(Duration::from_secs(1));
    assert!(
        matches!(decode(&f, &token), Err(AuthError::Expired)),
        "exp + leeway is expired"
    );
}

#[tokio::test]
async fn zero_leeway_expires_exactly_at_exp() {
    let f = fixture_with(hs256(), |b| b.leeway(Duration::ZERO));
    let token = access(&f).await;
    f.clock.advance(Duration::from_secs(15 * 60 - 1));
    decode(&f, &token).expect("one second before exp");
    f.clock.advance(Duration::from_secs(1));
    assert!(matches!(decode(&f, &token), Err(AuthError::Expired)));
}

#[tokio::test]
async fn not_before_is_enforced_at_the_leeway_boundary() {
    let f = fixture();
    let now = f.clock.now();
    let tokens = f.authority.test_tokens();
    let at = |nbf| {
        tokens
            .access_at("alice", &roles(&[]), nbf, nbf + 600)
            .expect("mint")
    };
    decode(&f, &at(now + 5)).expect("nbf within leeway");
    assert!(matches!(
        decode(&f, &at(now + 6)),
        Err(AuthError::NotYetValid)
    ));
    assert!(matches!(
        decode(
            &f,
            &tokens
                .not_yet_valid_access("alice", &roles(&[]))
                .expect("mint")
        ),
        Err(AuthError::NotYetValid)
    ));
    assert!(matches!(
        decode(
            &f,
            &tokens.expired_access("alice", &roles(&[])).expect("mint")
        ),
        Err(AuthError::Expired)
    ));
}

#[tokio::test]
async fn issuer_and_audience_are_set_and_required_when_configured() {
    let f = fixture_with(hs256(), |b| {
        b.issuer("https://auth.example").audience("api")
    });
    let token = access(&f).await;
    let c = decode(&f, &token).expect("valid");
    assert_eq!(c.iss.as_deref(), Some("https://auth.example"));
    assert!(c.aud.contains("api"));

    let (header, payload, _) = parts(&token);
    let mut p = payload.clone();
    p["iss"] = json!("https://evil.example");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &p, SECRET)),
        Err(AuthError::InvalidIssuer)
    ));
    p.as_object_mut().expect("o").remove("iss");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &p, SECRET)),
        Err(AuthError::InvalidIssuer)
    ));
    let mut p = payload.clone();
    p["aud"] = json!(["other", "api"]);
    decode(&f, &forge_hs256(&header, &p, SECRET)).expect("aud array containing ours");
    p["aud"] = json!("other");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &p, SECRET)),
        Err(AuthError::InvalidAudience)
    ));
    let mut p = payload;
    p.as_object_mut().expect("o").remove("aud");
    assert!(matches!(
        decode(&f, &forge_hs256(&header, &p, SECRET)),
        Err(AuthError::InvalidAudience)
    ));
}

#[tokio::test]
async fn key_indirection_headers_are_refused() {
    let f = fixture();
    let token = access(&f).await;
    let (header, payload, _) = parts(&token);
    for (name, value) in [
        ("jku", json!("https://evil.example/jwks")),
        ("x5u", json!("https://evil.example/cert")),
        ("jwk", json!({"kty": "oct", "k": "AAAA"})),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
    ] {
        let mut h = header.clone();
        h[name] = value;
        assert!(
            matches!(decode(&f, &forge_hs256(&h, &payload, SECRET)), Err(AuthError::UnsupportedHeader(n)) if n == name),
            "{name}"
        );
    }
}

#[tokio::test]
async fn revoked_jti_sid_and_subject_are_refused_by_the_store_check() {
    let f = fixture();
    let v = f.authority.validator();
    let t = f.authority.test_tokens();
    let revoked = t.revoked_access("alice", &roles(&[])).await.expect("mint");
    assert!(matches!(
        v.validate_access::<Roles>(&revoked).await,
        Err(AuthError::Revoked(RevokedBy::Token))
    ));

    let pair = f.login("alice").await;
    assert!(
        f.authority
            .revoke_session("alice", pair.session_id)
            .await
            .expect("revoke")
    );
    assert!(matches!(
        v.validate_access::<Roles>(&pair.access_token).await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));

    // Tokens of sessions the store never indexed: the cut-off sits one
    // leeway (5 s) before the logout-all, so clock skew between instances
    // never catches a login made right after it.
    let t0 = f.clock.now();
    let stray = t.access_at("bob", &roles(&[]), t0, t0 + 600).expect("mint");
    let recent = t
        .access_at("bob", &roles(&[]), t0 + 1, t0 + 600)
        .expect("mint");
    f.clock.advance(Duration::from_secs(6));
    f.authority.logout_all("bob").await.expect("logout-all");
    assert!(matches!(
        v.validate_access::<Roles>(&stray).await,
        Err(AuthError::Revoked(RevokedBy::Subject))
    ));
    v.validate_access::<Roles>(&recent)
        .await
        .expect("within the leeway of the cut-off: left to its session");
    // decode alone does not consult the store.
    decode(&f, &stray).expect("crypto and claims are fine");
}

#[tokio::test]
async fn application_claims_may_not_shadow_registered_ones() {
    let f = fixture();
    for bad in [
        json!({"exp": 1}),
        json!({"sid": "x"}),
        json!({"sub": "root"}),
        json!({"auth_time": 1}),
    ] {
        assert!(
            matches!(
                f.authority.issue("alice", &bad).await,
                Err(AuthError::Claims(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        f.authority.issue("alice", &json!([1, 2])).await,
        Err(AuthError::Claims(_))
    ));
    assert!(matches!(
        f.authority.issue("", &NoClaims {}).await,
        Err(AuthError::Claims(_))
    ));
    f.authority
        .issue("alice", &())
        .await
        .expect("unit claims are none");
    assert_eq!(
        AuthError::Claims(String::new()).class(),
        ErrorClass::Internal,
        "an application bug is not the client's fault"
    );
}

/// A token dated ahead of the clock (beyond the leeway) was not made by an
/// honest issuer: refused, even with a valid signature and no `nbf`.
#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let f = fixture(); // 5 s leeway
    let now = f.clock.now();
    let (header, payload, _) = parts(&access(&f).await);
    let at = |iat: u64| {
        let mut p = payload.clone();
        p["iat"] = json!(iat);
        p["exp"] = json!(iat + 600);
        p.as_object_mut().expect("object").remove("nbf");
        forge_hs256(&header, &p, SECRET)
    };
    decode(&f, &at(now + 5)).expect("iat within the leeway");
    assert!(matches!(
        decode(&f, &at(now + 6)),
        Err(AuthError::IssuedInFuture)
    ));
    assert!(matches!(
        decode(&f, &at(now + 86_400)),
        Err(AuthError::IssuedInFuture)
    ));
}

/// `sub` names the user: an empty one names nobody and is refused.
#[tokio::test]
async fn a_token_with_an_empty_subject_is_refused() {
    let f = fixture();
    let (header, mut payload, _) = parts(&access(&f).await);
    payload["sub"] = json!("");
    match decode(&f, &forge_hs256(&header, &payload, SECRET)) {
        Err(AuthError::InvalidClaims(why)) => assert!(why.contains("sub"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// An authority's validator accepts its own access lifetime (plus the
/// leeway) and no more: a validly signed 30-day access token is refused.
#[tokio::test]
async fn an_access_token_living_longer_than_the_issuer_makes_them_is_refused() {
    let f = fixture(); // 15 min access, 5 s leeway
    let now = f.clock.now();
    let tokens = f.authority.test_tokens();
    let lasting = |secs: u64| {
        tokens
            .access_at("alice", &roles(&[]), now, now + secs)
            .expect("mint")
    };
    decode(&f, &lasting(15 * 60 + 5)).expect("the access lifetime plus the leeway");
    assert!(matches!(
        decode(&f, &lasting(15 * 60 + 6)),
        Err(AuthError::LifetimeTooLong {
            lifetime: 906,
            max: 905
        })
    ));
    let month = lasting(30 * 24 * 3600);
    let refused = decode(&f, &month).unwrap_err();
    assert!(matches!(refused, AuthError::LifetimeTooLong { .. }));
    assert_eq!(refused.class(), ErrorClass::InvalidToken);
}

/// `auth_time` says when the login behind the session happened: a token
/// claiming a login after its own issue was not made by us.
#[tokio::test]
async fn a_login_after_the_token_was_issued_is_refused() {
    let f = fixture();
    let (header, payload, _) = parts(&access(&f).await);
    let iat = payload["iat"].as_u64().expect("iat");
    assert_eq!(payload["auth_time"], json!(iat), "a login's token: now");
    let with_auth_time = |t: serde_json::Value| {
        let mut p = payload.clone();
        p["auth_time"] = t;
        forge_hs256(&header, &p, SECRET)
    };
    let claims = decode(&f, &with_auth_time(json!(iat - 3600))).expect("an older login");
    assert_eq!(claims.auth_time, Some(iat - 3600));
    match decode(&f, &with_auth_time(json!(iat + 1))) {
        Err(AuthError::InvalidClaims(why)) => assert!(why.contains("auth_time"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decode(&f, &with_auth_time(json!("yesterday"))),
        Err(AuthError::InvalidClaims(_))
    ));
    let mut without = payload.clone();
    without.as_object_mut().expect("object").remove("auth_time");
    let claims = decode(&f, &forge_hs256(&header, &without, SECRET)).expect("another issuer's");
    assert_eq!(claims.auth_time, None);
}
