//! Keys: every algorithm round-trips, algorithms are pinned, kids are stable,
//! weak keys are refused, and JWKS export/import works.
//!
//! The PEM files under `tests/keys/` are throwaway keys made for these tests
//! with `openssl genpkey` (the `.sec1.pem` ones with `openssl ecparam
//! -genkey`), and the other forms of them `openssl pkcs8`, `openssl ec`,
//! `openssl rsa` and `openssl req -x509` write (encrypted with the
//! passphrase `fixture`); they protect nothing.

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
            Err(KeyError::Mismatch {
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

/// The DER inside a PEM fixture.
fn der(name: &str) -> Vec<u8> {
    use base64::Engine;
    let text = String::from_utf8(pem(name)).expect("utf8");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

fn pem_of(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n").into_bytes()
}

fn message(result: Result<Key, KeyError>) -> String {
    result.expect_err("refused").to_string()
}

/// Every private form of one key (PKCS#8, SEC1, PKCS#1; PEM and DER)
/// and every public form (SPKI, PKCS#1) loads as the same key.
#[test]
fn every_form_of_a_key_loads_as_the_same_key() {
    let cases: [(Algorithm, &[&str], &[&str]); 3] = [
        (
            Algorithm::ES256,
            &["es256.sec1.pem", "es256.sec1.pkcs8.pem"],
            &["es256.sec1.pub.pem"],
        ),
        (
            Algorithm::PS256,
            &["rsa2048.pem", "rsa2048.pkcs1.pem"],
            &["rsa2048.pub.pem", "rsa2048.pkcs1.pub.pem"],
        ),
        (Algorithm::EdDSA, &["ed25519.pem"], &["ed25519.pub.pem"]),
    ];
    for (alg, private, public) in cases {
        let kid = Key::from_pem(alg, &pem(private[0]))
            .expect("pem")
            .kid()
            .to_owned();
        for file in private {
            let from_pem = Key::from_pem(alg, &pem(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let from_der = Key::from_der(alg, &der(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(from_pem.can_sign() && from_der.can_sign(), "{file}");
            assert_eq!(
                (from_pem.kid(), from_der.kid()),
                (kid.as_str(), kid.as_str()),
                "{file}"
            );
        }
        for file in public {
            let from_pem =
                Key::public_from_pem(alg, &pem(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let from_der =
                Key::public_from_der(alg, &der(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!from_pem.can_sign(), "{file}");
            assert_eq!(
                (from_pem.kid(), from_der.kid()),
                (kid.as_str(), kid.as_str()),
                "{file}"
            );
        }
    }
}

/// What `openssl ecparam -genkey` writes without `-noout` (the curve's
/// parameters, then the key), and a certificate and its key in one file,
/// read as the key they hold.
#[test]
fn parameters_and_certificates_next_to_the_key_are_skipped() {
    let key = Key::from_pem(Algorithm::ES256, &pem("es256.params.sec1.pem")).expect("params");
    assert!(key.can_sign());
    let combined = [pem("es256.cert.pem"), pem("es256.pem")].concat();
    let key = Key::from_pem(Algorithm::ES256, &combined).expect("cert + key");
    let alone = Key::from_pem(Algorithm::ES256, &pem("es256.pem")).expect("key");
    assert_eq!(key.kid(), alone.kid());
}

/// PKCS#8 v2 (RFC 5958: the public key stored with the private one), as
/// ring and Go write Ed25519 keys; jsonwebtoken reads only v1. A stored
/// public key that is not the key's own is refused.
#[test]
fn ed25519_pkcs8_v2_loads_and_its_stored_public_key_is_checked() {
    let seed = &der("ed25519.pem")[16..48];
    let public = der("ed25519.pub.pem");
    let public = &public[public.len() - 32..];
    let v2 = |public: &[u8]| {
        let mut d = vec![
            0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
        ];
        d.extend([0x04, 0x22, 0x04, 0x20]);
        d.extend(seed);
        d.extend([0x81, 0x21, 0x00]);
        d.extend(public);
        d
    };
    let key = Key::from_pem(Algorithm::EdDSA, &pem_of("PRIVATE KEY", &v2(public))).expect("v2");
    let v1 = Key::from_pem(Algorithm::EdDSA, &pem("ed25519.pem")).expect("v1");
    assert_eq!(key.kid(), v1.kid());
    let mut other = public.to_vec();
    other[0] ^= 1;
    assert_eq!(
        message(Key::from_der(Algorithm::EdDSA, &v2(&other))),
        "invalid key for EdDSA: the public key stored with the private key is not its public \
         key (a damaged or altered file)"
    );
}

/// EC and Ed25519 keys name their algorithm; RSA keys do not.
#[test]
fn the_algorithm_is_inferred_where_the_key_names_it() {
    for (file, alg) in [
        ("es256.sec1.pem", Algorithm::ES256),
        ("es256.pem", Algorithm::ES256),
        ("es384.pem", Algorithm::ES384),
        ("es384.sec1.pem", Algorithm::ES384),
        ("ed25519.pem", Algorithm::EdDSA),
    ] {
        let key = Key::from_pem_auto(&pem(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.algorithm(), alg, "{file}");
        assert_eq!(key.kid(), Key::from_pem(alg, &pem(file)).unwrap().kid());
    }
    for file in ["rsa2048.pem", "rsa2048.pkcs1.pem"] {
        assert_eq!(
            message(Key::from_pem_auto(&pem(file))),
            "an RSA key does not say which algorithm it signs with: choose one of RS256, \
             RS384, RS512, PS256, PS384 or PS512 explicitly"
        );
    }
}

/// Each way a document can be wrong is named in plain words, with what
/// was found and what was expected; no name of the signing library's
/// internals reaches the message.
#[test]
fn what_is_wrong_with_a_key_is_said_in_plain_words() {
    const ENCRYPTED: &str = "an encrypted private key: decrypt it first (`openssl pkey -in \
        key.pem -out plain.pem`, then keep plain.pem readable by the service only)";
    const NOT_PEM: &str = "not a PEM file: no `-----BEGIN` line";
    use Algorithm::*;
    let cases: Vec<(Result<Key, KeyError>, String)> =
        vec![
        (Key::from_pem(ES256, b"hello"), NOT_PEM.into()),
        (Key::from_pem(ES256, b"  \n"), "the PEM is empty".into()),
        (
            Key::from_pem(ES256, &der("es256.pem")),
            format!("{NOT_PEM} (it looks like DER: read it with Key::from_der)"),
        ),
        (
            Key::public_from_pem(ES256, &der("es256.pub.pem")),
            format!("{NOT_PEM} (it looks like DER: read it with Key::public_from_der)"),
        ),
        (
            Key::from_pem(ES256, br#"{"kty":"EC"}"#),
            format!("{NOT_PEM} (it looks like JSON: a JWK is read by Key::from_jwk)"),
        ),
        (Key::from_pem(ES256, &pem("es256.encrypted.pem")), ENCRYPTED.into()),
        (Key::from_pem(ES256, &pem("es256.sec1.encrypted.pem")), ENCRYPTED.into()),
        (Key::from_der(ES256, &der("es256.encrypted.pem")), ENCRYPTED.into()),
        (
            Key::from_pem(ES256, &pem("es256.pub.pem")),
            "a public key cannot sign: pass the private key (a key that only verifies is read \
             by Key::public_from_pem)"
                .into(),
        ),
        (
            Key::from_der(RS256, &der("rsa2048.pkcs1.pub.pem")),
            "a public key cannot sign: pass the private key (a key that only verifies is read \
             by Key::public_from_pem)"
                .into(),
        ),
        (
            Key::public_from_pem(ES256, &pem("es256.pem")),
            "a private key where a public key is expected: pass its public key (`openssl pkey \
             -in key.pem -pubout -out public.pem`), or read the private key with Key::from_pem"
                .into(),
        ),
        (
            Key::from_pem(ES256, &pem("es256.cert.pem")),
            "a certificate, not a key: pass the private key the certificate was issued for".into(),
        ),
        (
            Key::public_from_pem(ES256, &pem("es256.cert.pem")),
            "a certificate, not a key: take out its public key (`openssl x509 -in cert.pem \
             -pubkey -noout > public.pem`)"
                .into(),
        ),
        (
            Key::public_from_der(ES256, &der("es256.cert.pem")),
            "a certificate, not a key: take out its public key (`openssl x509 -in cert.pem \
             -pubkey -noout > public.pem`)"
                .into(),
        ),
        (
            Key::from_pem(ES256, &pem("es384.pem")),
            "the key is a P-384 EC key, but ES256 needs a P-256 EC key".into(),
        ),
        (
            Key::from_pem(ES384, &pem("es256.sec1.pem")),
            "the key is a P-256 EC key, but ES384 needs a P-384 EC key".into(),
        ),
        (
            Key::from_pem(RS256, &pem("es256.pem")),
            "the key is a P-256 EC key, but RS256 needs an RSA key".into(),
        ),
        (
            Key::from_pem(EdDSA, &pem("rsa2048.pem")),
            "the key is a 2048-bit RSA key, but EdDSA needs an Ed25519 key".into(),
        ),
        (
            Key::public_from_pem(ES256, &pem("ed25519.pub.pem")),
            "the key is an Ed25519 key, but ES256 needs a P-256 EC key".into(),
        ),
        (
            Key::from_pem(RS256, &pem("rsa1024.pem")),
            "invalid key for RS256: RSA keys must have at least 2048 bits, this one has 1024"
                .into(),
        ),
        (
            Key::from_pem(ES256, &pem("secp256k1.pem")),
            "the key is an EC key on secp256k1 (ES256K), which no supported algorithm uses: \
             ES256 needs P-256, ES384 needs P-384"
                .into(),
        ),
        (
            Key::from_pem(EdDSA, &pem("ed448.pem")),
            "the key is an Ed448 key: EdDSA here means Ed25519 (`openssl genpkey -algorithm \
             ed25519`)"
                .into(),
        ),
        (
            Key::from_pem(PS256, &pem("rsa-pss.pem")),
            "the key is an RSA-PSS key (`-algorithm RSA-PSS`), which is not supported: use a \
             plain RSA key (`openssl genpkey -algorithm RSA`), which PS256, PS384 and PS512 \
             sign with"
                .into(),
        ),
        (
            Key::from_pem(ES256, &pem("es256.explicit.sec1.pem")),
            "the EC key spells out its curve's parameters instead of naming the curve: write \
             it with the name (`openssl ec -in key.pem -param_enc named_curve -out named.pem`)"
                .into(),
        ),
        (
            Key::public_from_pem(ES256, &pem("es256.compressed.pub.pem")),
            "the EC public key is compressed: write it uncompressed (`openssl ec -pubin -in \
             public.pem -pubout -conv_form uncompressed -out plain.pem`)"
                .into(),
        ),
        (
            Key::from_pem(ES256, &[pem("es256.pem"), pem("es256.sec1.pem")].concat()),
            "the PEM holds 2 private keys: put one key in each file".into(),
        ),
        (
            Key::from_pem(
                ES256,
                b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
            ),
            "the PEM holds only EC PARAMETERS, no key: expected PRIVATE KEY, EC PRIVATE KEY or \
             RSA PRIVATE KEY (`openssl ecparam -genkey` writes the key after the parameters)"
                .into(),
        ),
        (
            Key::from_pem(ES256, b"-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n"),
            "the `PRIVATE KEY` block has no `-----END PRIVATE KEY-----` line".into(),
        ),
        (
            Key::from_pem(
                ES256,
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            ),
            "an OpenSSH private key: write it as PKCS#8 (`ssh-keygen -p -N '' -m PKCS8 -f <a \
             copy of the key>`)"
                .into(),
        ),
        (
            Key::from_pem(ES256, b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"),
            "the PEM holds a `X509 CRL` block, not a key: expected PRIVATE KEY, EC PRIVATE KEY \
             or RSA PRIVATE KEY"
                .into(),
        ),
        (
            Key::from_pem(ES256, &pem_of("PRIVATE KEY", b"\x30\x03\x02\x01\x00")),
            "the key is not a well-formed PKCS#8 private key".into(),
        ),
        (
            Key::from_der(EdDSA, b"\x30\x00"),
            "not a DER private key: expected PKCS#8, SEC1 or PKCS#1".into(),
        ),
    ];
    for (result, expected) in cases {
        let err = result.expect_err(&expected);
        assert_eq!(err.to_string(), expected);
        for internal in [
            "Invalid",
            "Ecdsa",
            "Eddsa",
            "KeyFormat",
            "RSA key invalid",
            "Error",
        ] {
            assert!(!format!("{err}").contains(internal), "{err}");
        }
    }
}

/// A key whose numbers are not a key (an EC scalar of zero) is refused
/// by the backend, and said so without the backend's names.
#[test]
fn a_damaged_key_is_refused_in_plain_words() {
    let mut sec1 = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    sec1.extend([0u8; 32]);
    sec1.extend([
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    assert_eq!(
        message(Key::from_pem(
            Algorithm::ES256,
            &pem_of("EC PRIVATE KEY", &sec1)
        )),
        "invalid key for ES256: the private key's numbers do not form a valid key (a damaged \
         file?)"
    );
}

/// The file helper names the file in every error, takes the algorithm or
/// infers it, and refuses files too large to be a key unread.
#[test]
fn key_files_are_read_and_named_in_errors() {
    let dir = format!("{}/tests/keys", env!("CARGO_MANIFEST_DIR"));
    let key = Key::from_pem_file(Algorithm::ES256, format!("{dir}/es256.sec1.pem")).expect("file");
    let inferred = Key::from_pem_file(None, format!("{dir}/es256.sec1.pem")).expect("inferred");
    assert_eq!(key.kid(), inferred.kid());
    assert_eq!(inferred.algorithm(), Algorithm::ES256);

    let path = format!("{dir}/es384.pem");
    let err = Key::from_pem_file(Algorithm::ES256, &path).unwrap_err();
    assert!(
        matches!(&err, KeyError::File { error, .. } if matches!(**error, KeyError::Mismatch { .. }))
    );
    assert_eq!(
        err.to_string(),
        format!("{path}: the key is a P-384 EC key, but ES256 needs a P-256 EC key")
    );
    let path = format!("{dir}/rsa2048.pem");
    assert!(
        Key::from_pem_file(None, &path)
            .unwrap_err()
            .to_string()
            .starts_with(&format!("{path}: an RSA key does not say"))
    );
    let missing = format!("{dir}/missing.pem");
    let err = Key::from_pem_file(Algorithm::ES256, &missing).unwrap_err();
    assert!(
        matches!(&err, KeyError::Read { path, error } if path.to_str() == Some(missing.as_str())
            && error.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {missing}: "))
    );

    let big = std::env::temp_dir().join(format!("auth-core-big-{}.pem", std::process::id()));
    std::fs::write(&big, vec![b'A'; 1024 * 1024 + 1]).expect("write");
    let err = Key::from_pem_file(Algorithm::ES256, &big).unwrap_err();
    std::fs::remove_file(&big).expect("remove");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the file is over 1024 KiB: not a key file",
            big.display()
        )
    );
}
