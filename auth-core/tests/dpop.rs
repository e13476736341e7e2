//! DPoP proofs (RFC 9449 §4.3) made here with jsonwebtoken and the test
//! keys: each rule of the check refuses the proof that breaks it, and a
//! proof that keeps them all is accepted once.

use std::sync::Arc;
use std::time::Duration;

use auth_core::dpop::{
    DpopError, DpopVerifier, MAX_PROOF_BYTES, MemoryReplayCache, ProofRequest, access_token_hash,
};
use auth_core::{Algorithm, Key, ManualClock};
use jsonwebtoken::{EncodingKey, Header, encode};

use serde_json::{Value, json};

const NOW: u64 = 1_800_000_000;
const URL: &str = "https://api.example/orders";

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A signer: the private key, its public JWK (as JSON), its algorithm.
struct Signer {
    key: EncodingKey,
    jwk: Value,
    alg: Algorithm,
}

fn signer(alg: Algorithm, file: &str) -> Signer {
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem(file)).unwrap(),
        _ => EncodingKey::from_ec_pem(&pem(file)).unwrap(),
    };
    let public = Key::from_pem(alg, &pem(file))
        .unwrap()
        .public_jwk()
        .unwrap();
    let mut jwk = serde_json::to_value(public).unwrap();
    // Only the key members, as a client sends them.
    jwk.as_object_mut()
        .unwrap()
        .retain(|k, _| ["kty", "crv", "x", "y"].contains(&k.as_str()));
    Signer { key, jwk, alg }
}

/// The public JWK of a key nobody signs with here.
fn fresh_es256_jwk() -> Value {
    let jwk = Key::generate(Algorithm::ES256)
        .unwrap()
        .public_jwk()
        .unwrap();
    let mut jwk = serde_json::to_value(jwk).unwrap();
    jwk.as_object_mut()
        .unwrap()
        .retain(|k, _| ["kty", "crv", "x", "y"].contains(&k.as_str()));
    jwk
}

fn es256() -> Signer {
    signer(Algorithm::ES256, "es256.pem")
}

fn claims() -> Value {
    json!({ "jti": uuid::Uuid::new_v4().to_string(), "htm": "GET", "htu": URL, "iat": NOW })
}

/// A compact JWS of exactly `header` and `claims` (no member dropped or
/// added on the way), signed by `s`.
fn sign_with(s: &Signer, header: Value, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", b64(&header), b64(claims));
    let alg = s.alg.to_string().parse().unwrap();
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &s.key, alg).unwrap();
    format!("{message}.{signature}")
}

fn proof(s: &Signer, claims: &Value) -> String {
    sign_with(
        s,
        json!({ "typ": "dpop+jwt", "alg": s.alg.to_string(), "jwk": s.jwk }),
        claims,
    )
}

fn verifier() -> (DpopVerifier, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let cache = MemoryReplayCache::default().clock(clock.clone());
    (
        DpopVerifier::new(Arc::new(cache)).clock(clock.clone()),
        clock,
    )
}

fn get() -> ProofRequest<'static> {
    ProofRequest::new("GET", URL)
}

#[tokio::test]
async fn a_valid_proof_is_accepted_once_with_its_thumbprint() {
    let (v, _) = verifier();
    for s in [
        es256(),
        signer(Algorithm::ES384, "es384.pem"),
        signer(Algorithm::EdDSA, "ed25519.pem"),
    ] {
        let p = proof(&s, &claims());
        let ok = v
            .verify(&p, &get())
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", s.alg));
        // RFC 7638: the same thumbprint jsonwebtoken computes for EC keys
        // (its Ed25519 thumbprint is not implemented).
        if s.alg != Algorithm::EdDSA {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(s.jwk.clone()).unwrap();
            let theirs = jwk
                .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .unwrap();
            assert_eq!(ok.jkt, theirs);
        }
        assert_eq!((ok.iat, ok.alg), (NOW, s.alg));
        assert!(matches!(
            v.verify(&p, &get()).await,
            Err(DpopError::Replayed)
        ));
    }
}

#[tokio::test]
async fn each_broken_rule_refuses_the_proof() {
    let (v, _) = verifier();
    let s = es256();
    let other = signer(Algorithm::ES384, "es384.pem");
    let c = claims();
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let mut private_jwk = s.jwk.clone();
    private_jwk["d"] = json!("AAAA");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "typ",
            sign_with(
                &s,
                json!({ "typ": "JWT", "alg": "ES256", "jwk": s.jwk }),
                &c,
            ),
            "typ",
        ),
        (
            "no typ",
            sign_with(&s, json!({ "alg": "ES256", "jwk": s.jwk }), &c),
            "typ",
        ),
        (
            "no jwk",
            sign_with(&s, json!({ "typ": "dpop+jwt", "alg": "ES256" }), &c),
            "jwk",
        ),
        (
            "private jwk",
            sign_with(
                &s,
                json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": private_jwk }),
                &c,
            ),
            "jwk",
        ),
        (
            "another key's jwk",
            sign_with(
                &s,
                json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": fresh_es256_jwk() }),
                &c,
            ),
            "signature",
        ),
        (
            "a P-384 jwk for ES256",
            sign_with(
                &s,
                json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": other.jwk }),
                &c,
            ),
            "jwk",
        ),
        ("htm", proof(&s, &with("htm", json!("POST"))), "htm"),
        (
            "htu",
            proof(&s, &with("htu", json!("https://api.example/other"))),
            "htu",
        ),
        (
            "htu host",
            proof(&s, &with("htu", json!("https://evil.example/orders"))),
            "htu",
        ),
        (
            "htu scheme",
            proof(&s, &with("htu", json!("http://api.example/orders"))),
            "htu",
        ),
        ("no htu", proof(&s, &without("htu")), "htu"),
        ("no jti", proof(&s, &without("jti")), "malformed"),
        (
            "long jti",
            proof(&s, &with("jti", json!("j".repeat(257)))),
            "malformed",
        ),
        ("old iat", proof(&s, &with("iat", json!(NOW - 66))), "iat"),
        ("future iat", proof(&s, &with("iat", json!(NOW + 6))), "iat"),
        (
            "iat as text",
            proof(&s, &with("iat", json!(NOW.to_string()))),
            "malformed",
        ),
        ("garbage", "a.b.c".to_owned(), "malformed"),
        ("two parts", "a.b".to_owned(), "malformed"),
        ("huge", "a".repeat(MAX_PROOF_BYTES + 1), "malformed"),
    ];
    for (name, p, reason) in cases {
        let refused = v.verify(&p, &get()).await.expect_err(name);
        assert_eq!(refused.reason(), reason, "{name}: {refused}");
    }
    // Within the window (past) or the leeway (future): accepted.
    for iat in [NOW - 65, NOW + 5] {
        v.verify(&proof(&s, &with("iat", json!(iat))), &get())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn none_and_hmac_proofs_are_refused_even_when_configured() {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let (v, _) = verifier();
    let v = v.algorithms([Algorithm::HS256, Algorithm::ES256]);
    assert_eq!(v.accepted_algorithms(), [Algorithm::ES256]);
    let c = claims();
    let none = format!(
        "{}.{}.",
        b64(&json!({ "typ": "dpop+jwt", "alg": "none", "jwk": es256().jwk })),
        b64(&c)
    );
    assert_eq!(v.verify(&none, &get()).await.unwrap_err().reason(), "alg");
    let secret = EncodingKey::from_secret(b"a-shared-secret-of-32-bytes-long!");
    let header = Header {
        typ: Some("dpop+jwt".into()),
        jwk: Some(serde_json::from_value(json!({ "kty": "oct", "k": "YS1zaGFyZWQ" })).unwrap()),
        ..Header::new(jsonwebtoken::Algorithm::HS256)
    };
    let hmac = encode(&header, &c, &secret).unwrap();
    assert_eq!(v.verify(&hmac, &get()).await.unwrap_err().reason(), "alg");
}

#[tokio::test]
async fn ath_binds_the_proof_to_its_access_token() {
    let (v, _) = verifier();
    let s = es256();
    let mut c = claims();
    c["ath"] = access_token_hash("the-token").into();
    let p = proof(&s, &c);
    let other = get().with_access_token("another-token");
    assert_eq!(v.verify(&p, &other).await.unwrap_err().reason(), "ath");
    v.verify(&p, &get().with_access_token("the-token"))
        .await
        .unwrap();
    // No `ath` while a token comes along: refused.
    let bare = proof(&s, &claims());
    assert_eq!(v.verify(&bare, &other).await.unwrap_err().reason(), "ath");
}

#[tokio::test]
async fn a_replay_is_refused_until_the_proof_could_no_longer_pass() {
    let (v, clock) = verifier();
    let s = es256();
    let p = proof(&s, &claims());
    v.verify(&p, &get()).await.unwrap();
    clock.advance(Duration::from_secs(65));
    assert_eq!(v.verify(&p, &get()).await.unwrap_err().reason(), "replay");
    clock.advance(Duration::from_secs(1));
    // Now too old anyway: the cache may forget it.
    assert_eq!(v.verify(&p, &get()).await.unwrap_err().reason(), "iat");
}

/// RFC 9449's own proofs: Figure 2 (a token request) and Figure 13 (a
/// protected resource request with `ath`), checked at their `iat`, with
/// the thumbprint of §6.1 and the `ath` of Figure 13.
#[tokio::test]
async fn the_rfc_9449_examples_verify() {
    const FIGURE_2: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
    const FIGURE_13: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
    const ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    assert_eq!(
        access_token_hash(ACCESS_TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );

    let clock = Arc::new(ManualClock::new(1_562_262_616));
    let cache = MemoryReplayCache::default().clock(clock.clone());
    let v = DpopVerifier::new(Arc::new(cache)).clock(clock.clone());
    let token_request = ProofRequest::new("POST", "https://server.example.com/token");
    let proof = v.verify(FIGURE_2, &token_request).await.unwrap();
    assert_eq!(
        (proof.jkt.as_str(), proof.jti.as_str()),
        (JKT, "-BwC3ESc6acc2lTc")
    );

    clock.advance(Duration::from_secs(2));
    let resource = ProofRequest::new("GET", "https://resource.example.org/protectedresource")
        .with_access_token(ACCESS_TOKEN);
    let proof = v.verify(FIGURE_13, &resource).await.unwrap();
    assert_eq!(
        (proof.jkt.as_str(), proof.jti.as_str()),
        (JKT, "e1j3V_bKic8-LAEB")
    );
    // Any other token: the `ath` does not match.
    let other = ProofRequest::new("GET", "https://resource.example.org/protectedresource")
        .with_access_token("another");
    assert_eq!(
        v.verify(FIGURE_13, &other).await.unwrap_err().reason(),
        "ath"
    );
}

/// Keys no honest client has are refused before any signature check: an
/// Ed25519 point of small order (with which a signature anyone can make
/// verifies), a non-canonical one, an RSA modulus past 4096 bits.
#[tokio::test]
async fn weak_and_oversized_keys_are_refused() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let (v, _) = verifier();
    let s = es256();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut p_plus_1 = [0xffu8; 32];
    p_plus_1[0] = 0xee;
    p_plus_1[31] = 0x7f;
    let mut signed_identity = identity;
    signed_identity[31] |= 0x80;
    for x in [identity, [0u8; 32], p_plus_1, signed_identity] {
        let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&x) });
        // The identity point verifies the signature (identity, 0) for any message.
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let header = json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk });
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        let forged = format!("{message}.{}", b64(&signature));
        let refused = v.verify(&forged, &get()).await.unwrap_err();
        assert_eq!(refused.reason(), "jwk", "{x:?}: {refused}");
    }
    let short = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&[9u8; 31]) });
    let header = json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": short });
    assert_eq!(
        v.verify(&sign_with(&s, header, &claims()), &get())
            .await
            .unwrap_err()
            .reason(),
        "jwk"
    );
    let huge = json!({ "kty": "RSA", "n": b64(&[0xff; 513]), "e": "AQAB" });
    let header = json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": huge });
    assert_eq!(
        v.verify(&sign_with(&s, header, &claims()), &get())
            .await
            .unwrap_err()
            .reason(),
        "jwk"
    );
}

/// `check` has no side effect; only `record` spends a proof.
#[tokio::test]
async fn a_checked_proof_is_spent_only_when_recorded() {
    let (v, _) = verifier();
    let p = proof(&es256(), &claims());
    let checked = v.check(&p, &get()).unwrap();
    assert_eq!(v.check(&p, &get()).unwrap(), checked);
    v.record(&checked).await.unwrap();
    assert_eq!(v.record(&checked).await.unwrap_err().reason(), "replay");
    assert_eq!(v.verify(&p, &get()).await.unwrap_err().reason(), "replay");
}

/// With server nonces, a proof passes only with the current (or previous)
/// nonce; a refusal for the nonce records nothing; the nonce is checked
/// after every other rule.
#[tokio::test]
async fn server_nonces_are_required_once_configured() {
    use auth_core::dpop::DpopNonces;
    let (v, clock) = verifier();
    let nonces = DpopNonces::new([5u8; 32])
        .unwrap()
        .lifetime(Duration::from_secs(60))
        .clock(clock.clone());
    let v = v.nonces(nonces.clone());
    let s = es256();

    let without = proof(&s, &claims());
    assert!(matches!(
        v.verify(&without, &get()).await,
        Err(DpopError::UseNonce)
    ));
    assert_eq!(DpopError::UseNonce.reason(), "nonce");
    let mut c = claims();
    c["nonce"] = "a nonce of no server".into();
    assert!(matches!(
        v.verify(&proof(&s, &c), &get()).await,
        Err(DpopError::UseNonce)
    ));
    // Another rule broken too: that rule is the answer.
    let mut c = claims();
    c["htm"] = "POST".into();
    assert!(matches!(
        v.verify(&proof(&s, &c), &get()).await,
        Err(DpopError::Method)
    ));

    let mut c = claims();
    c["nonce"] = nonces.current().into();
    let with = proof(&s, &c);
    // Refused for its nonce, the proof was not spent.
    let mut refused = c.clone();
    refused["nonce"] = "stale".into();
    assert!(v.verify(&proof(&s, &refused), &get()).await.is_err());
    v.verify(&with, &get()).await.unwrap();
    assert!(matches!(
        v.verify(&with, &get()).await,
        Err(DpopError::Replayed)
    ));
    // Two slots on, the nonce is stale even in a fresh proof.
    clock.advance(Duration::from_secs(120));
    let mut c = claims();
    c["iat"] = (NOW + 120).into();
    c["nonce"] = with_nonce_of(&with);
    assert!(matches!(
        v.verify(&proof(&s, &c), &get()).await,
        Err(DpopError::UseNonce)
    ));
    c["nonce"] = nonces.current().into();
    v.verify(&proof(&s, &c), &get()).await.unwrap();
}

/// The `nonce` claim of a compact proof.
fn with_nonce_of(proof: &str) -> Value {
    use base64::Engine;
    let claims = proof.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["nonce"].clone()
}
