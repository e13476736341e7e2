//! Interoperability with PyJWT, the most used JWT library outside Rust.
//!
//! - Tokens PyJWT signs (HS256, ES256, EdDSA, RS256) with our keys validate
//!   here when they carry our required claims and `typ: at+jwt`, and come
//!   back as the same claims; without a required claim they are refused.
//! - Tokens we issue (RS256, PS256, ES256, ES384, EdDSA) verify in PyJWT with
//!   the key taken from our JWKS (`jwt.PyJWK`), with audience and issuer
//!   checked, and PyJWT refuses them when tampered or for another audience.
//!
//! Needs `python3` with `pip install pyjwt cryptography`. Without them the
//! tests print a SKIPPED banner and pass, unless `CI` is set: then they fail.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use auth_core::{AccessClaims, Algorithm, AuthError, Key, KeySet, RoleClaims, TokenAuthority};
use serde_json::{Value, json};

const ISS: &str = "https://issuer.interop.test";
const AUD: &str = "interop-api";
const HS_SECRET: &str = "an-interop-hmac-secret-of-at-least-32-bytes";

/// Whether python3 with PyJWT and cryptography can run; prints the banner
/// (or panics under CI) when not.
fn python_ready() -> bool {
    static READY: OnceLock<Result<String, String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import jwt, cryptography; print(jwt.__version__, cryptography.__version__)",
            ])
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().into()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => Err(format!("python3: {e}")),
        }
    });
    match ready {
        Ok(versions) => {
            println!("PyJWT / cryptography: {versions}");
            true
        }
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set and PyJWT is not usable ({why}); run `python3 -m pip install pyjwt cryptography`"
                );
            }
            eprintln!(
                "\n{bar}\n!! SKIPPED: PyJWT interop tests need python3 with pyjwt and cryptography\n\
                 !! ({why})\n!! install them with: python3 -m pip install pyjwt cryptography\n{bar}\n",
                bar = "!".repeat(78)
            );
            false
        }
    }
}

/// Runs `tests/interop/<script>` with `input` as JSON on stdin; returns its
/// JSON stdout.
fn python(script: &str, input: &Value) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("script prints JSON")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn key_pem(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../auth-core/tests/keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn uuid4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// (name, algorithm, the key PyJWT signs with, our key).
fn pyjwt_signers() -> Vec<(&'static str, Algorithm, String, Key)> {
    let pem = |alg, file: &str| {
        let text = key_pem(file);
        let key = Key::from_pem(alg, text.as_bytes()).expect("pem key");
        (text, key)
    };
    let (es, es_key) = pem(Algorithm::ES256, "es256.pem");
    let (ed, ed_key) = pem(Algorithm::EdDSA, "ed25519.pem");
    let (rs, rs_key) = pem(Algorithm::RS256, "rsa2048.pem");
    vec![
        (
            "HS256",
            Algorithm::HS256,
            HS_SECRET.to_owned(),
            Key::hmac(Algorithm::HS256, HS_SECRET).expect("hmac"),
        ),
        ("ES256", Algorithm::ES256, es, es_key),
        ("EdDSA", Algorithm::EdDSA, ed, ed_key),
        ("RS256", Algorithm::RS256, rs, rs_key),
    ]
}

/// The claims our validator requires, as PyJWT is given them.
fn full_claims(sub: &str) -> Value {
    let t = now();
    json!({
        "iss": ISS,
        "sub": sub,
        "aud": AUD,
        "exp": t + 600,
        "iat": t,
        "nbf": t,
        "jti": uuid4(),
        "sid": uuid4(),
        "roles": ["user", "pyjwt"],
        "scope": "read write",
    })
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    v.as_object_mut().expect("object").remove(key);
    v
}

fn with(v: &Value, key: &str, value: Value) -> Value {
    let mut v = v.clone();
    v[key] = value;
    v
}

#[tokio::test]
async fn pyjwt_tokens_with_our_claims_validate_here() {
    if !python_ready() {
        return;
    }
    let started = std::time::Instant::now();
    let signers = pyjwt_signers();

    // Per algorithm: one good token, then one per way of being wrong.
    type Case = (String, Value, Value, Option<fn(&AuthError) -> bool>);
    let mut jobs = Vec::new();
    let mut cases: Vec<(usize, Case)> = Vec::new();
    for (i, (name, _, _, ours)) in signers.iter().enumerate() {
        let header = json!({ "kid": ours.kid(), "typ": "at+jwt" });
        let good = full_claims(&format!("py-{name}"));
        let mut add = |what: &str, h: Value, c: Value, refused: Option<fn(&AuthError) -> bool>| {
            cases.push((i, (format!("{name}: {what}"), h, c, refused)));
        };
        add("all required claims", header.clone(), good.clone(), None);
        for claim in ["sub", "exp", "iat", "jti", "sid"] {
            add(
                &format!("without {claim}"),
                header.clone(),
                without(&good, claim),
                Some(
                    |e| matches!(e, AuthError::InvalidClaims(m) if m.starts_with("missing claim")),
                ),
            );
        }
        add(
            "without iss",
            header.clone(),
            without(&good, "iss"),
            Some(|e| matches!(e, AuthError::InvalidIssuer)),
        );
        add(
            "without aud",
            header.clone(),
            without(&good, "aud"),
            Some(|e| matches!(e, AuthError::InvalidAudience)),
        );
        add(
            "jti not a UUID",
            header.clone(),
            with(&good, "jti", json!("not-a-uuid")),
            Some(|e| matches!(e, AuthError::InvalidClaims(_))),
        );
        add(
            "expired",
            header.clone(),
            with(&good, "exp", json!(now() - 3600)),
            Some(|e| matches!(e, AuthError::Expired)),
        );
        add(
            "PyJWT's default typ JWT",
            json!({ "kid": ours.kid() }),
            good.clone(),
            Some(|e| matches!(e, AuthError::WrongTokenType { .. })),
        );
        add(
            "no kid",
            json!({ "typ": "at+jwt" }),
            good.clone(),
            Some(|e| matches!(e, AuthError::UnknownKey)),
        );
    }
    for (i, (_, h, c, _)) in &cases {
        let (_, alg, key, _) = &signers[*i];
        jobs.push(json!({ "alg": alg.as_str(), "key": key, "headers": h, "claims": c }));
    }
    let tokens = python("sign.py", &Value::Array(jobs));
    let tokens = tokens.as_array().expect("list");
    assert_eq!(tokens.len(), cases.len());

    let authorities: Vec<TokenAuthority> = signers
        .iter()
        .map(|(_, _, _, key)| {
            TokenAuthority::builder(KeySet::new(key.clone()).expect("keys"))
                .issuer(ISS)
                .audience(AUD)
                .build()
                .expect("authority")
        })
        .collect();
    let mut failures = Vec::new();
    for ((i, (what, _, claims, refused)), token) in cases.iter().zip(tokens) {
        let token = token.as_str().expect("token");
        let got = authorities[*i]
            .validator()
            .validate_access::<RoleClaims>(token)
            .await;
        match (refused, got) {
            (None, Ok(c)) => {
                let want = expected_claims(claims);
                if c != want {
                    failures.push(format!("{what}: claims differ\n got {c:?}\nwant {want:?}"));
                }
            }
            (None, Err(e)) => failures.push(format!("{what}: refused: {e:?}")),
            (Some(_), Ok(_)) => failures.push(format!("{what}: accepted")),
            (Some(is_expected), Err(e)) => {
                if !is_expected(&e) {
                    failures.push(format!("{what}: refused with the wrong error {e:?}"));
                }
            }
        }
    }
    println!(
        "{} PyJWT tokens checked in {:?}",
        cases.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Our typed view of the claims PyJWT was given.
fn expected_claims(c: &Value) -> AccessClaims<RoleClaims> {
    serde_json::from_value(c.clone()).expect("claims parse")
}

#[tokio::test]
async fn our_tokens_verify_in_pyjwt_with_our_jwks() {
    if !python_ready() {
        return;
    }
    let started = std::time::Instant::now();
    let mut jobs = Vec::new();
    // (what, expected outcome: Ok(our claims) or Err(PyJWT exception name))
    let mut expect: Vec<(String, Result<Value, &str>)> = Vec::new();
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let key = Key::generate(alg).expect("key");
        let authority = TokenAuthority::builder(KeySet::new(key).expect("keys"))
            .issuer(ISS)
            .audience(AUD)
            .build()
            .expect("authority");
        let claims = RoleClaims {
            roles: vec!["user".into(), "admin".into()],
            scope: Some("read".into()),
        };
        let pair = authority
            .issue(&format!("rust-{alg}"), &claims)
            .await
            .expect("issue");
        let ours = authority
            .validator()
            .validate_access::<RoleClaims>(&pair.access_token)
            .await
            .expect("valid here");
        let jwks = serde_json::to_value(authority.keys().jwks()).expect("jwks json");
        let ours = serde_json::to_value(&ours).expect("claims json");
        let job = |token: &str, algs: &[&str], aud: &str, iss: &str| {
            json!({ "token": token, "jwks": jwks, "algorithms": algs,
                    "audience": aud, "issuer": iss })
        };
        let tok = &pair.access_token;
        let name = alg.as_str();
        let mut add = |what: &str, job: Value, outcome: Result<Value, &'static str>| {
            jobs.push(job);
            expect.push((format!("{name}: {what}"), outcome));
        };
        add("valid", job(tok, &[name], AUD, ISS), Ok(ours.clone()));
        add(
            "another audience",
            job(tok, &[name], "someone-else", ISS),
            Err("InvalidAudienceError"),
        );
        add(
            "another issuer",
            job(tok, &[name], AUD, "https://evil.test"),
            Err("InvalidIssuerError"),
        );
        add(
            "algorithm not allowed",
            job(tok, &["HS256"], AUD, ISS),
            Err("InvalidAlgorithmError"),
        );
        // Tampered payload: alice's token claims to be root.
        let (h, rest) = tok.split_once('.').expect("jws");
        let (_, sig) = rest.split_once('.').expect("jws");
        let forged_payload = with(&ours, "sub", json!("root")).to_string();
        let forged = format!("{h}.{}.{sig}", b64(forged_payload.as_bytes()));
        add(
            "payload tampered",
            job(&forged, &[name], AUD, ISS),
            Err("InvalidSignatureError"),
        );
        add(
            "refresh token (typ refresh+jwt) is not an access token",
            job(&pair.refresh_token, &[name], AUD, ISS),
            Err("typ"),
        );
    }
    let results = python("verify.py", &Value::Array(jobs));
    let results = results.as_array().expect("list");
    assert_eq!(results.len(), expect.len());
    let mut failures = Vec::new();
    for ((what, want), got) in expect.iter().zip(results) {
        let ok = got["ok"] == true;
        match want {
            Ok(claims) => {
                if !ok {
                    failures.push(format!("{what}: PyJWT refused: {got}"));
                } else if &got["claims"] != claims {
                    failures.push(format!(
                        "{what}: claims differ: {} vs ours {claims}",
                        got["claims"]
                    ));
                } else if got["header"]["typ"] != "at+jwt" {
                    failures.push(format!("{what}: header {}", got["header"]));
                }
            }
            // PyJWT does not check typ: the check is ours to make on its
            // verified header, and a refresh token must be told apart.
            Err("typ") => {
                if !ok || got["header"]["typ"] != "refresh+jwt" {
                    failures.push(format!("{what}: {got}"));
                }
            }
            Err(error) => {
                if ok || got["error"] != *error {
                    failures.push(format!("{what}: want {error}, got {got}"));
                }
            }
        }
    }
    println!(
        "{} verifications in PyJWT in {:?}",
        expect.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// DPoP proofs PyJWT signs with fresh keys (ES256, ES384, EdDSA, PS256,
/// RS256) are accepted, answer the thumbprint Python computes from the JWK
/// (RFC 7638), and are refused when replayed, for another method or URL,
/// or without the access token hash they must carry.
#[tokio::test]
async fn pyjwt_dpop_proofs_are_accepted_with_their_thumbprint() {
    use auth_core::dpop::{DpopError, DpopVerifier, MemoryReplayCache, ProofRequest};
    if !python_ready() {
        return;
    }
    let url = "https://api.interop.test/orders";
    let token = "an-access-token";
    let algs = ["ES256", "ES384", "EdDSA", "PS256", "RS256"];
    let claims = |ath: bool| {
        let mut c = json!({ "jti": uuid4(), "htm": "GET", "htu": url, "iat": now() });
        if ath {
            c["ath"] = auth_core::dpop::access_token_hash(token).into();
        }
        c
    };
    let jobs: Vec<Value> = algs
        .iter()
        .flat_map(|alg| {
            [
                json!({ "alg": alg, "claims": claims(true) }),
                json!({ "alg": alg, "claims": claims(false) }),
            ]
        })
        .collect();
    let made = python("dpop.py", &json!(jobs));
    let verifier = DpopVerifier::new(std::sync::Arc::new(MemoryReplayCache::default()));
    for (i, alg) in algs.iter().enumerate() {
        let (with_ath, without_ath) = (&made[2 * i], &made[2 * i + 1]);
        let proof = with_ath["proof"].as_str().expect("proof");
        let request = ProofRequest::new("GET", url).with_access_token(token);
        // Another method or URL: refused, and not spent.
        let post = ProofRequest::new("POST", url).with_access_token(token);
        assert!(
            matches!(verifier.verify(proof, &post).await, Err(DpopError::Method)),
            "{alg}"
        );
        let elsewhere =
            ProofRequest::new("GET", "https://api.interop.test/admin").with_access_token(token);
        assert!(
            matches!(
                verifier.verify(proof, &elsewhere).await,
                Err(DpopError::Url)
            ),
            "{alg}"
        );
        let other_token = ProofRequest::new("GET", url).with_access_token("another-token");
        assert!(
            matches!(
                verifier.verify(proof, &other_token).await,
                Err(DpopError::AccessTokenHash)
            ),
            "{alg}"
        );
        let accepted = verifier
            .verify(proof, &request)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(
            accepted.jkt,
            with_ath["jkt"].as_str().expect("jkt"),
            "{alg}"
        );
        assert_eq!(accepted.alg.to_string(), *alg);
        assert!(
            matches!(
                verifier.verify(proof, &request).await,
                Err(DpopError::Replayed)
            ),
            "{alg}"
        );
        // Without `ath`: fine where no access token comes along, refused where one does.
        let bare = without_ath["proof"].as_str().expect("proof");
        assert!(
            matches!(
                verifier.verify(bare, &request).await,
                Err(DpopError::AccessTokenHash)
            ),
            "{alg}"
        );
        let login = ProofRequest::new("GET", "HTTPS://API.interop.test:443/orders?page=2");
        assert!(verifier.verify(bare, &login).await.is_ok(), "{alg}");
    }
}

/// A PyJWT proof carrying the server's nonce passes a verifier that
/// requires nonces; the same claims without it are refused with
/// `use_dpop_nonce`.
#[tokio::test]
async fn pyjwt_dpop_proofs_with_the_server_nonce_pass() {
    use auth_core::dpop::{DpopError, DpopNonces, DpopVerifier, MemoryReplayCache, ProofRequest};
    if !python_ready() {
        return;
    }
    let url = "https://api.interop.test/auth/login";
    let nonces = DpopNonces::new(b"interop nonce secret of 32 bytes or more").expect("nonces");
    let verifier =
        DpopVerifier::new(std::sync::Arc::new(MemoryReplayCache::default())).nonces(nonces.clone());
    let claims = |nonce: Option<String>| {
        let mut c = json!({ "jti": uuid4(), "htm": "POST", "htu": url, "iat": now() });
        if let Some(n) = nonce {
            c["nonce"] = n.into();
        }
        json!({ "alg": "ES256", "claims": c })
    };
    let made = python(
        "dpop.py",
        &json!([claims(None), claims(Some(nonces.current()))]),
    );
    let request = ProofRequest::new("POST", url);
    let without = made[0]["proof"].as_str().expect("proof");
    assert!(matches!(
        verifier.verify(without, &request).await,
        Err(DpopError::UseNonce)
    ));
    let with = made[1]["proof"].as_str().expect("proof");
    let accepted = verifier.verify(with, &request).await.expect("accepted");
    assert_eq!(accepted.jkt, made[1]["jkt"].as_str().expect("jkt"));
}

/// Our DPoP proofs (`testing::DpopKey`, ES256 and EdDSA) pass PyJWT's
/// checks with the key of their own header; tampered ones do not.
#[tokio::test]
async fn our_dpop_proofs_pass_pyjwt() {
    use auth_core::testing::DpopKey;
    if !python_ready() {
        return;
    }
    let url = "https://api.interop.test/orders";
    let mut jobs = Vec::new();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = DpopKey::generate(alg).expect("key");
        let proof = key.proof("GET", url, Some("an-access-token"));
        let mut tampered = proof.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        jobs.push(json!({ "proof": proof, "htm": "GET", "htu": url }));
        jobs.push(json!({ "proof": tampered, "htm": "GET", "htu": url }));
    }
    let checked = python("dpop_verify.py", &json!(jobs));
    for (i, answer) in checked.as_array().expect("list").iter().enumerate() {
        let ours = i % 2 == 0;
        assert_eq!(answer["ok"], json!(ours), "{i}: {answer}");
        if ours {
            assert_eq!(
                answer["claims"]["ath"],
                auth_core::dpop::access_token_hash("an-access-token")
            );
        }
    }
}
