//! Keys: every algorithm round-trips, algorithms are pinned, kids are stable,
//! weak keys are refused, and JWKS export/import works.
//!
//! The PEM files under `tests/keys/` are throwaway keys made for these tests
//! with `openssl genpkey` (the `.sec1.pem` ones with `openssl ecparam
//! -genkey`); they protect nothing.

mod common;

use auth_core::jwk::JwkSet;
use auth_core::{Algorithm, AuthError, Key, KeyError, KeySet, NoClaims, TokenAuthority};
use common::*;

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

#[tokio::test]
async fn every_algorithm_round_trips() {
    for alg in Algorithm::ALL {
        let key = Key::generate(alg).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(key.algorithm(), alg);
        let f = fixture_with(key, |b| b);
        let pair = f
            .authority
            .issue("alice", &roles(&["user"]))
            .await
            .expect("issue");
        let (header, _, _) = parts(&pair.access_token);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["typ"], "at+jwt");
        let claims = f
            .authority
            .validator()
            .validate_access::<Roles>(&pair.access_token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.extra, roles(&["user"]));
        let next = f
            .authority
            .refresh(&pair.refresh_token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(next.session_id, pair.session_id);
    }
}

#[test]
fn hmac_secrets_shorter_than_the_hash_are_refused() {
    for (alg, min) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let err = Key::hmac(alg, vec![7u8; min - 1]).unwrap_err();
        assert!(
            matches!(err, KeyError::SecretTooShort { len, .. } if len == min - 1),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("at least {min} bytes")));
        Key::hmac(alg, vec![7u8; min]).expect("long enough");
    }
    assert!(matches!(
        Key::hmac(Algorithm::ES256, SECRET),
        Err(KeyError::WrongAlgorithm { .. })
    ));
}

#[test]
fn kid_is_derived_from_the_key_and_stable_across_loads() {
    let a = Key::from_pem(Algorithm::ES256, &pem("es256.pem")).expect("load");
    let b = Key::from_pem(Algorithm::ES256, &pem("es256.pem")).expect("load again");
    assert_eq!(a.kid(), b.kid());
    let public = Key::public_from_pem(Algorithm::ES256, &pem("es256.pub.pem")).expect("public");
    assert_eq!(
        public.kid(),
        a.kid(),
        "private and public halves share the thumbprint kid"
    );
    assert!(!public.can_sign());
    assert_eq!(hs256().kid(), hs256().kid());
    assert_ne!(
        hs256().kid(),
        Key::generate(Algorithm::HS256).expect("gen").kid()
    );
    // RFC 7638 thumbprints are 43 base64url characters (SHA-256).
    assert_eq!(a.kid().len(), 43);
}

/// The `kid` of an HMAC key was the SHA-256 thumbprint of its `oct` JWK, a
/// plain hash of the secret: matchable against precomputed digests of
/// common secrets. It is now a keyed function of the secret.
#[test]
fn an_hmac_kid_is_keyed_not_a_plain_hash_of_the_secret() {
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    let key = hs256();
    let encoding = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let jwk = Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::HS256).unwrap();
    assert_ne!(key.kid(), jwk.thumbprint(ThumbprintHash::SHA256).unwrap());
    // Stable across loads, 128 bits, and distinct per algorithm and secret.
    assert_eq!(key.kid(), hs256().kid());
    assert_eq!(key.kid().len(), 22);
    let long = [SECRET, SECRET].concat();
    assert_ne!(
        Key::hmac(Algorithm::HS512, &long).unwrap().kid(),
        Key::hmac(Algorithm::HS256, &long).unwrap().kid()
    );
}

/// A modulus of 2041 to 2047 bits is 256 bytes long: counting bytes let it
/// pass the 2048-bit minimum.
#[test]
fn rsa_moduli_are_measured_to_the_bit() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = |top: u8| {
        let mut n = vec![0xffu8; 256];
        n[0] = top;
        serde_json::from_value::<auth_core::jwk::Jwk>(serde_json::json!({
            "kty": "RSA", "alg": "RS256", "n": b64(&n), "e": "AQAB"
        }))
        .unwrap()
    };
    for (top, bits) in [(0x01, 2041), (0x7f, 2047)] {
        let err = Key::from_jwk(&jwk(top)).unwrap_err();
        assert!(err.to_string().contains(&format!("has {bits}")), "{err}");
    }
    assert!(Key::from_jwk(&jwk(0x80)).is_ok(), "2048 bits is enough");
}

#[tokio::test]
async fn tokens_survive_a_restart_with_the_same_key() {
    let first = fixture_with(
        Key::from_pem(Algorithm::EdDSA, &pem("ed25519.pem")).expect("load"),
        |b| b,
    );
    let pair = first
        .authority
        .issue("alice", &NoClaims {})
        .await
        .expect("issue");
    let again = TokenAuthority::builder(
        KeySet::new(Key::from_pem(Algorithm::EdDSA, &pem("ed25519.pem")).expect("reload"))
            .expect("set"),
    )
    .build()
    .expect("authority");
    let claims = again
        .validator()
        .decode_access::<NoClaims>(&pair.access_token)
        .expect("still valid");
    assert_eq!(claims.sub, "alice");
}

#[test]
fn pem_and_der_loading_covers_each_family() {
    Key::from_pem(Algorithm::RS256, &pem("rsa2048.pem")).expect("pkcs8 rsa");
    let pkcs1 = Key::from_pem(Algorithm::PS384, &pem("rsa2048.pkcs1.pem")).expect("pkcs1 rsa");
    let public =
        Key::public_from_pem(Algorithm::PS384, &pem("rsa2048.pub.pem")).expect("rsa public");
    assert_eq!(pkcs1.kid(), public.kid());
    Key::from_pem(Algorithm::ES384, &pem("es384.pem")).expect("es384");
    Key::public_from_pem(Algorithm::EdDSA, &pem("ed25519.pub.pem")).expect("ed public");
}

#[test]
fn public_keys_load_from_der_with_the_same_kid_as_from_pem() {
    use base64::Engine;
    for (alg, file) in [
        (Algorithm::ES256, "es256.pub.pem"),
        (Algorithm::EdDSA, "ed25519.pub.pem"),
        (Algorithm::RS256, "rsa2048.pub.pem"),
    ] {
        let text = String::from_utf8(pem(file)).expect("utf8");
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64");
        let from_der = Key::public_from_der(alg, &der).expect("der");
        let from_pem = Key::public_from_pem(alg, &pem(file)).expect("pem");
        assert_eq!(from_der.kid(), from_pem.kid(), "{alg}");
    }
    assert!(Key::public_from_der(Algorithm::ES256, b"\x30\x03\x02\x01\x00").is_err());
}

#[test]
fn a_key_is_refused_for_an_algorithm_it_does_not_fit() {
    // P-384 key as ES256, P-256 key as ES384, Ed25519 as ES256, EC as RSA.
    assert!(Key::from_pem(Algorithm::ES256, &pem("es384.pem")).is_err());
    assert!(Key::from_pem(Algorithm::ES384, &pem("es256.pem")).is_err());
    assert!(Key::from_pem(Algorithm::ES256, &pem("ed25519.pem")).is_err());
    assert!(Key::from_pem(Algorithm::RS256, &pem("es256.pem")).is_err());
    assert!(Key::public_from_pem(Algorithm::ES384, &pem("es256.pub.pem")).is_err());
    assert!(Key::from_pem(Algorithm::HS256, &pem("es256.pem")).is_err());
    assert!(Key::from_pem(Algorithm::ES256, b"not a pem").is_err());
    assert!(Key::from_der(Algorithm::EdDSA, b"\x30\x00").is_err());
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    // Refused by the backend when it parses the key, or by the 2048-bit check.
    let err = Key::from_pem(Algorithm::RS256, &pem("rsa1024.pem")).unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::InvalidKey {
                alg: Algorithm::RS256,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn algorithm_names_parse_and_print() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.as_str().parse::<Algorithm>().expect("parse"), alg);
    }
    assert_eq!(
        "es256".parse::<Algorithm>().expect("case-insensitive"),
        Algorithm::ES256
    );
    assert!("none".parse::<Algorithm>().is_err());
}

#[test]
fn jwks_publishes_public_keys_only_with_kid_alg_and_use() {
    let es = Key::from_pem(Algorithm::ES256, &pem("es256.pem")).expect("es");
    let set = KeySet::new(es.clone())
        .expect("set")
        .with_key(hs256())
        .expect("hmac")
        .with_key(Key::public_from_pem(Algorithm::RS256, &pem("rsa2048.pub.pem")).expect("rsa"))
        .expect("rsa");
    let json = serde_json::to_value(set.jwks()).expect("json");
    let keys = json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "the HMAC secret is never published");
    assert_eq!(keys[0]["kid"], es.kid());
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["kty"], "EC");
    assert!(keys[0].get("d").is_none(), "no private parts");
    assert_eq!(keys[1]["kty"], "RSA");
    assert!(!json.to_string().contains(&b64(SECRET)));
}

#[test]
fn duplicate_kids_and_verification_only_signers_are_refused() {
    assert!(matches!(
        KeySet::new(hs256()).expect("set").with_key(hs256()),
        Err(KeyError::DuplicateKid(_))
    ));
    let public = Key::public_from_pem(Algorithm::ES256, &pem("es256.pub.pem")).expect("public");
    assert!(matches!(KeySet::new(public), Err(KeyError::NotASigningKey)));
}

#[tokio::test]
async fn another_instance_verifies_through_the_published_jwks() {
    let issuer = fixture_with(Key::generate(Algorithm::ES256).expect("gen"), |b| b);
    let pair = issuer
        .authority
        .issue("alice", &NoClaims {})
        .await
        .expect("issue");
    let jwks: JwkSet =
        serde_json::from_str(&serde_json::to_string(&issuer.authority.keys().jwks()).expect("ser"))
            .expect("de");
    let mut set: Option<KeySet> = None;
    let own = Key::generate(Algorithm::HS256).expect("own");
    for jwk in &jwks.keys {
        let key = Key::from_jwk(jwk).expect("from jwk");
        assert_eq!(
            key.kid(),
            issuer.authority.keys().signing_key().unwrap().kid()
        );
        set = Some(
            set.unwrap_or_else(|| KeySet::new(own.clone()).expect("set"))
                .with_key(key)
                .expect("add"),
        );
    }
    let verifier = TokenAuthority::builder(set.expect("one key"))
        .build()
        .expect("authority");
    verifier
        .validator()
        .decode_access::<NoClaims>(&pair.access_token)
        .expect("verifies");
    // Rotation: the old key verifies, a new one signs, nobody is logged out.
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    let old = Key::generate(Algorithm::EdDSA).expect("old");
    let before = fixture_with(old.clone(), |b| b);
    let pair = before
        .authority
        .issue("alice", &NoClaims {})
        .await
        .expect("issue");
    let rotated = TokenAuthority::builder(
        KeySet::new(Key::generate(Algorithm::ES256).expect("new"))
            .expect("set")
            .with_key(old)
            .expect("old"),
    )
    .build()
    .expect("authority");
    rotated
        .validator()
        .decode_access::<NoClaims>(&pair.access_token)
        .expect("old token still valid");
    let fresh = rotated.issue("bob", &NoClaims {}).await.expect("issue");
    let (header, _, _) = parts(&fresh.access_token);
    assert_eq!(header["alg"], "ES256");
    // A key set without the old key refuses its tokens.
    let without = TokenAuthority::builder(
        KeySet::new(Key::generate(Algorithm::ES256).expect("k")).expect("set"),
    )
    .build()
    .expect("authority");
    assert!(matches!(
        without
            .validator()
            .decode_access::<NoClaims>(&pair.access_token),
        Err(AuthError::UnknownKey)
    ));
}

/// SEC1 EC keys (`EC PRIVATE KEY`, what `openssl ecparam -genkey` writes)
/// load and sign; one of another curve is refused by name.
#[tokio::test]
async fn sec1_ec_private_keys_load_and_sign() {
    for (alg, file) in [
        (Algorithm::ES256, "es256.sec1.pem"),
        (Algorithm::ES384, "es384.sec1.pem"),
    ] {
        let key = Key::from_pem(alg, &pem(file)).unwrap_or_else(|e| panic!("{alg}: {e}"));
        let f = fixture_with(key, |b| b);
        let pair = f
            .authority
            .issue("alice", &roles(&["user"]))
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let (header, _, _) = parts(&pair.access_token);
        assert_eq!(header["alg"], alg.as_str());
        f.authority
            .validator()
            .validate_access::<Roles>(&pair.access_token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
    let wrong = Key::from_pem(Algorithm::ES256, &pem("es384.sec1.pem"));
    assert!(
        matches!(
            wrong,
            Err(KeyError::InvalidKey {
                alg: Algorithm::ES256,
                ..
            })
        ),
        "a P-384 key for ES256: {wrong:?}"
    );
    let broken = Key::from_pem(
        Algorithm::ES256,
        b"-----BEGIN EC PRIVATE KEY-----\n!!!\n-----END EC PRIVATE KEY-----\n",
    );
    assert!(
        broken.is_err_and(|e| e.to_string().contains("base64")),
        "a SEC1 block that is not base64"
    );
}
