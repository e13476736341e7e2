//! Server nonces (RFC 9449 §8, §9) over a real server: where the verifier
//! requires them, a proof without the current nonce is refused with
//! `use_dpop_nonce` and a fresh nonce in `DPoP-Nonce` (400 at login and
//! refresh, 401 with a `DPoP` challenge where an access token is
//! presented), the retry with that nonce passes, and a refusal spends
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use auth_core::dpop::{DpopNonces, DpopVerifier, MemoryReplayCache};
use auth_core::testing::DpopKey;
use auth_core::{Algorithm, Clock, Key, ManualClock, SystemClock, TokenAuthority};
use contract_tests::Reply;
use serde_json::json;

const SECRET: &[u8] = b"the nonce secret of these tests, 32+ bytes";

/// The DPoP tests' server ([`super::dpop::serve_with`]) whose proofs need
/// nonces, and the nonces' clock, so a test can make one stale.
struct Server {
    app: super::dpop::Server,
    clock: Arc<ManualClock>,
}

impl std::ops::Deref for Server {
    type Target = super::dpop::Server;
    fn deref(&self) -> &super::dpop::Server {
        &self.app
    }
}

async fn serve() -> Server {
    let authority = TokenAuthority::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let nonces = DpopNonces::new(SECRET)
        .unwrap()
        .lifetime(Duration::from_secs(60))
        .clock(clock.clone());
    let verifier = DpopVerifier::new(Arc::new(MemoryReplayCache::default())).nonces(nonces);
    Server {
        app: super::dpop::serve_with(false, authority, verifier).await,
        clock,
    }
}

impl Server {
    async fn login(&self, key: &DpopKey, nonce: Option<&str>) -> Reply {
        let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
        let proof = key.proof_with_nonce("POST", &self.url("/auth/login"), None, nonce);
        self.client
            .post("/auth/login", &[("dpop", &proof)], Some(&body))
            .await
    }

    async fn refresh(&self, token: &str, key: &DpopKey, nonce: Option<&str>) -> Reply {
        let body = json!({ "refreshToken": token }).to_string();
        let proof = key.proof_with_nonce("POST", &self.url("/auth/refresh"), None, nonce);
        self.client
            .post("/auth/refresh", &[("dpop", &proof)], Some(&body))
            .await
    }

    async fn get(&self, path: &str, token: &str, key: &DpopKey, nonce: Option<&str>) -> Reply {
        let proof = key.proof_with_nonce("GET", &self.url(path), Some(token), nonce);
        let auth = format!("DPoP {token}");
        self.client
            .send(
                http::Method::GET,
                path,
                &[("authorization", &auth), ("dpop", &proof)],
                None,
            )
            .await
    }
}

/// The `DPoP-Nonce` of `r`: present, and of a nonce's shape.
fn nonce_of(r: &Reply) -> String {
    let nonce = r
        .headers
        .get("dpop-nonce")
        .unwrap_or_else(|| panic!("no DPoP-Nonce in {} {}", r.status, r.json))
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(nonce.len(), auth_core::dpop::NONCE_LEN, "{nonce}");
    nonce
}

/// A `use_dpop_nonce` refusal with `status`, and the nonce it hands out.
fn asked_for_nonce(r: &Reply, status: u16, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.json);
    assert_eq!(r.json["error"], "use_dpop_nonce", "{what}: {}", r.json);
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{what}: {challenge}"
    );
    assert!(challenge.contains("algs=\"ES256"), "{what}: {challenge}");
    nonce_of(r)
}

#[tokio::test]
async fn a_login_without_the_nonce_is_asked_for_it_and_the_retry_binds() {
    let s = serve().await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let nonce = asked_for_nonce(&s.login(&key, None).await, 400, "login without a nonce");
    let r = s.login(&key, Some("AAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(
        asked_for_nonce(&r, 400, "login with a made-up nonce"),
        nonce
    );

    let login = s.login(&key, Some(&nonce)).await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.json["tokenType"], "DPoP");
    assert_eq!(nonce_of(&login), nonce, "every answer carries the nonce");

    // A nonce made under another secret is not this server's.
    let foreign = DpopNonces::new([9u8; 32]).unwrap().current();
    let r = s.login(&key, Some(&foreign)).await;
    asked_for_nonce(&r, 400, "login with another server's nonce");

    // A login without a proof is Bearer, as ever: nonces concern proofs.
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let bearer = s.client.post("/auth/login", &[], Some(&body)).await;
    assert_eq!(bearer.status, 200, "{}", bearer.json);
    assert_eq!(bearer.json["tokenType"], "Bearer");
}

#[tokio::test]
async fn a_refresh_without_the_nonce_rotates_nothing() {
    let s = serve().await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let nonce = nonce_of(&s.login(&key, None).await);
    let refresh = s.login(&key, Some(&nonce)).await.field("refreshToken");

    let r = s.refresh(&refresh, &key, None).await;
    asked_for_nonce(&r, 400, "refresh without a nonce");
    // The same refresh token still rotates: the refusal spent nothing.
    let next = s.refresh(&refresh, &key, Some(&nonce)).await;
    assert_eq!(next.status, 200, "{}", next.json);
    assert_eq!(next.json["tokenType"], "DPoP");
    nonce_of(&next);
}

#[tokio::test]
async fn a_bound_call_without_the_nonce_gets_a_challenge_and_a_fresh_one() {
    let s = serve().await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let nonce = nonce_of(&s.login(&key, None).await);
    let access = s.login(&key, Some(&nonce)).await.field("accessToken");

    let r = s.get("/me", &access, &key, None).await;
    assert_eq!(asked_for_nonce(&r, 401, "a call without a nonce"), nonce);
    let r = s.get("/me", &access, &key, Some(&nonce)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(nonce_of(&r), nonce, "the answer carries the current nonce");

    // The session routes judge an access token as the layer does: 401.
    let r = s.get("/auth/sessions", &access, &key, None).await;
    asked_for_nonce(&r, 401, "sessions without a nonce");
    let r = s.get("/auth/sessions", &access, &key, Some(&nonce)).await;
    assert_eq!(r.status, 200, "{}", r.json);

    // A slot later the old nonce still passes, and answers carry the new one.
    s.clock.advance(Duration::from_secs(60));
    let r = s.get("/me", &access, &key, Some(&nonce)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let newer = nonce_of(&r);
    assert_ne!(newer, nonce);
    // Two slots later it is stale: asked for the new one, which passes.
    s.clock.advance(Duration::from_secs(60));
    let r = s.get("/me", &access, &key, Some(&nonce)).await;
    let newest = asked_for_nonce(&r, 401, "a call with a stale nonce");
    assert_ne!(newest, nonce);
    let r = s.get("/me", &access, &key, Some(&newest)).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

/// The nonce is checked last: a proof wrong in another way is refused for
/// that (`invalid_dpop_proof`), so a client asked for a nonce knows that
/// its proof passes with it.
#[tokio::test]
async fn a_proof_wrong_otherwise_is_refused_for_that_first() {
    let s = serve().await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let elsewhere = key.proof_with_nonce("POST", &s.url("/elsewhere"), None, None);
    let r = s
        .client
        .post("/auth/login", &[("dpop", &elsewhere)], Some(&body))
        .await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(r.json["error"], "invalid_dpop_proof");
}

/// A logout whose proof lacks the current nonce ends nothing and clears
/// nothing: it is asked for the nonce (a 204 would tell the client its
/// bound session ended while it lives on). Signed again with the nonce,
/// it ends the session.
#[tokio::test]
async fn a_logout_without_the_nonce_is_asked_for_it_and_ends_nothing() {
    let s = serve().await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let nonce = nonce_of(&s.login(&key, None).await);
    let login = s.login(&key, Some(&nonce)).await;
    let (access, refresh) = (login.field("accessToken"), login.field("refreshToken"));
    let body = json!({ "refreshToken": refresh }).to_string();
    let url = s.url("/auth/logout");

    // The refresh token alone, with a proof without the nonce: 400.
    let proof = key.proof_with_nonce("POST", &url, None, None);
    let r = s
        .client
        .post("/auth/logout", &[("dpop", &proof)], Some(&body))
        .await;
    asked_for_nonce(&r, 400, "logout without a nonce");
    assert!(r.set_cookie().is_none(), "the cookie stays");
    // With the bound access token as DPoP and a stale nonce: 401.
    s.clock.advance(Duration::from_secs(120));
    let auth = format!("DPoP {access}");
    let proof = key.proof_with_nonce("POST", &url, Some(&access), Some(&nonce));
    let r = s
        .client
        .post(
            "/auth/logout",
            &[("authorization", &auth), ("dpop", &proof)],
            Some(&body),
        )
        .await;
    let fresh = asked_for_nonce(&r, 401, "logout with a stale nonce");
    // The session lives: it still refreshes.
    let next = s.refresh(&refresh, &key, Some(&fresh)).await;
    assert_eq!(next.status, 200, "the session lives: {}", next.json);
    let refresh = next.field("refreshToken");

    let body = json!({ "refreshToken": refresh }).to_string();
    let proof = key.proof_with_nonce("POST", &url, None, Some(&fresh));
    let r = s
        .client
        .post("/auth/logout", &[("dpop", &proof)], Some(&body))
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    let gone = s.refresh(&refresh, &key, Some(&fresh)).await;
    assert_eq!(gone.status, 401, "{}", gone.json);
}

/// The nonce goes on the answers of the routes that take proofs, not on
/// the JWKS, which shared caches may keep, nor on a 404.
#[tokio::test]
async fn the_jwks_and_unknown_paths_carry_no_nonce() {
    let s = serve().await;
    let jwks = s.client.get("/auth/jwks", None).await;
    assert_eq!(jwks.status, 200, "{}", jwks.json);
    assert!(jwks.headers.get("dpop-nonce").is_none());
    let missing = s.client.get("/auth/nothing-here", None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.headers.get("dpop-nonce").is_none());
    let sessions = s.client.get("/auth/sessions", None).await;
    assert_eq!(sessions.status, 401);
    nonce_of(&sessions);
}
