//! DPoP (RFC 9449) over a real server: a login with a proof binds the
//! session to the client's key; a bound access token needs `DPoP` and a
//! proof of that key at every request; a bound refresh token needs one at
//! every refresh, and a refusal neither rotates nor revokes anything.

use std::sync::Arc;

use auth_axum_extras::{Auth, AuthRoutes, InMemoryUsers, password::hash_password};
use auth_core::dpop::{DpopVerifier, MemoryReplayCache};
use auth_core::testing::DpopKey;
use auth_core::{Algorithm, Key, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use base64::Engine;
use contract_tests::{Client, Reply};
use serde_json::{Value, json};

pub(super) struct Server {
    pub(super) client: Client,
    base: String,
}

async fn serve(require: bool) -> Server {
    serve_with(
        require,
        TokenAuthority::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap(),
        DpopVerifier::new(Arc::new(MemoryReplayCache::default())),
    )
    .await
}

/// alice's routes with `verifier` (refusing logins without a proof when
/// `require`), `GET /me` behind their layer, and `GET /plain` behind a
/// layer that takes no DPoP.
pub(super) async fn serve_with(
    require: bool,
    authority: TokenAuthority,
    verifier: DpopVerifier,
) -> Server {
    let users = InMemoryUsers::new().user(
        "alice",
        hash_password("alice-password").unwrap(),
        RoleClaims::with_roles(["user"]),
    );
    let mut routes = AuthRoutes::new(authority.clone(), users).dpop(verifier);
    if require {
        routes = routes.require_dpop();
    }
    // A second layer that takes no DPoP: bound tokens never pass it.
    let plain = Router::new()
        .route(
            "/plain",
            get(|Auth(me): Auth<RoleClaims>| async move { me.sub.clone() }),
        )
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
    let app = Router::new()
        .route(
            "/me",
            get(|Auth(me): Auth<RoleClaims>| async move { me.sub.clone() }),
        )
        .layer(routes.layer())
        .merge(plain)
        .merge(routes.into_router().unwrap());
    let client = crate::serve(app).await;
    Server {
        base: format!("http://{}", client.addr),
        client,
    }
}

impl Server {
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self, key: Option<&DpopKey>) -> Reply {
        let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
        let proof = key.map(|k| k.proof("POST", &self.url("/auth/login"), None));
        let headers: Vec<(&str, &str)> = proof.iter().map(|p| ("dpop", p.as_str())).collect();
        self.client.post("/auth/login", &headers, Some(&body)).await
    }

    async fn refresh(&self, token: &str, key: Option<&DpopKey>) -> Reply {
        let body = json!({ "refreshToken": token }).to_string();
        let proof = key.map(|k| k.proof("POST", &self.url("/auth/refresh"), None));
        let headers: Vec<(&str, &str)> = proof.iter().map(|p| ("dpop", p.as_str())).collect();
        self.client
            .post("/auth/refresh", &headers, Some(&body))
            .await
    }

    /// `GET path` with `Authorization: <scheme> <token>` and `proof`.
    async fn get(&self, path: &str, scheme: &str, token: &str, proof: Option<&str>) -> Reply {
        let auth = format!("{scheme} {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(p) = proof {
            headers.push(("dpop", p));
        }
        self.client
            .send(http::Method::GET, path, &headers, None)
            .await
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn assert_dpop_refusal(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.json);
    assert_eq!(r.json["error"], "invalid_dpop_proof", "{what}: {}", r.json);
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
    assert!(
        challenge.contains(r#"error="invalid_dpop_proof""#),
        "{what}: {challenge}"
    );
    assert!(challenge.contains("algs=\"ES256"), "{what}: {challenge}");
}

#[tokio::test]
async fn a_login_with_a_proof_binds_both_tokens_to_the_key() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let login = s.login(Some(&key)).await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.json["tokenType"], "DPoP");
    let access = login.field("accessToken");
    assert_eq!(claims_of(&access)["cnf"], json!({ "jkt": key.jkt() }));
    assert_eq!(
        claims_of(&login.field("refreshToken"))["cnf"],
        json!({ "jkt": key.jkt() })
    );

    // Without a proof: a Bearer pair, as before.
    let bearer = s.login(None).await;
    assert_eq!(bearer.json["tokenType"], "Bearer");
    assert!(claims_of(&bearer.field("accessToken")).get("cnf").is_none());
    // A proof that does not verify is refused, even where none is required.
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let wrong_url = key.proof("POST", &s.url("/elsewhere"), None);
    let r = s
        .client
        .post("/auth/login", &[("dpop", &wrong_url)], Some(&body))
        .await;
    assert_dpop_refusal(&r, "login with a proof for another URL");
}

#[tokio::test]
async fn a_bound_access_token_needs_the_dpop_scheme_and_a_proof_of_its_key() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let access = s.login(Some(&key)).await.field("accessToken");
    let me = s.url("/me");

    let ok = s
        .get(
            "/me",
            "DPoP",
            &access,
            Some(&key.proof("GET", &me, Some(&access))),
        )
        .await;
    assert_eq!((ok.status.as_u16(), ok.json.as_str()), (200, Some("alice")));

    let proof = key.proof("GET", &me, Some(&access));
    let first = s.get("/me", "DPoP", &access, Some(&proof)).await;
    assert_eq!(first.status, 200);
    assert_dpop_refusal(
        &s.get("/me", "DPoP", &access, Some(&proof)).await,
        "a replayed proof",
    );
    assert_dpop_refusal(
        &s.get("/me", "Bearer", &access, None).await,
        "a bound token as Bearer",
    );
    assert_dpop_refusal(
        &s.get(
            "/me",
            "Bearer",
            &access,
            Some(&key.proof("GET", &me, Some(&access))),
        )
        .await,
        "a bound token as Bearer, with a proof",
    );
    assert_dpop_refusal(&s.get("/me", "DPoP", &access, None).await, "no proof");
    assert_dpop_refusal(
        &s.get(
            "/me",
            "DPoP",
            &access,
            Some(&other.proof("GET", &me, Some(&access))),
        )
        .await,
        "another key's proof",
    );
    assert_dpop_refusal(
        &s.get(
            "/me",
            "DPoP",
            &access,
            Some(&key.proof("POST", &me, Some(&access))),
        )
        .await,
        "a proof for another method",
    );
    assert_dpop_refusal(
        &s.get(
            "/me",
            "DPoP",
            &access,
            Some(&key.proof("GET", &s.url("/other"), Some(&access))),
        )
        .await,
        "a proof for another URL",
    );
    assert_dpop_refusal(
        &s.get(
            "/me",
            "DPoP",
            &access,
            Some(&key.proof("GET", &me, Some("another-token"))),
        )
        .await,
        "a proof for another token",
    );
    // A layer without DPoP never lets a bound token through.
    let plain = s.url("/plain");
    let r = s.get("/plain", "Bearer", &access, None).await;
    assert_eq!(
        (r.status.as_u16(), &r.json["error"]),
        (401, &json!("invalid_dpop_proof"))
    );
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP ")
    );
    let r = s
        .get(
            "/plain",
            "DPoP",
            &access,
            Some(&key.proof("GET", &plain, Some(&access))),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.json);

    // A Bearer token keeps working as Bearer, and is refused as DPoP.
    let bearer = s.login(None).await.field("accessToken");
    assert_eq!(s.get("/me", "Bearer", &bearer, None).await.status, 200);
    let r = s
        .get(
            "/me",
            "DPoP",
            &bearer,
            Some(&key.proof("GET", &me, Some(&bearer))),
        )
        .await;
    assert_dpop_refusal(&r, "an unbound token as DPoP");
    // Other 401s offer the DPoP scheme beside Bearer.
    let missing = s.client.get("/me", None).await;
    let challenges: Vec<_> = missing.headers.get_all("www-authenticate").iter().collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("Bearer")),
        "{challenges:?}"
    );
    assert!(
        challenges
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("DPoP algs=")),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn a_bound_refresh_needs_its_key_and_a_refusal_changes_nothing() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let other = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let login = s.login(Some(&key)).await;
    let refresh = login.field("refreshToken");
    let cookie = login.set_cookie().unwrap();

    assert_dpop_refusal(&s.refresh(&refresh, None).await, "refresh without a proof");
    assert_dpop_refusal(
        &s.refresh(&refresh, Some(&other)).await,
        "refresh with another key",
    );
    // By cookie alike, and the cookie is not cleared.
    let header = format!("{}={}", cookie.name(), cookie.value());
    let by_cookie = s
        .client
        .post("/auth/refresh", &[("cookie", &header)], None)
        .await;
    assert_dpop_refusal(&by_cookie, "cookie refresh without a proof");
    assert!(
        by_cookie.headers.get("set-cookie").is_none(),
        "the cookie stays"
    );

    // Nothing was rotated nor revoked: the same token refreshes with the key.
    let next = s.refresh(&refresh, Some(&key)).await;
    assert_eq!(next.status, 200, "{}", next.json);
    assert_eq!(next.json["tokenType"], "DPoP");
    let access = next.field("accessToken");
    assert_eq!(claims_of(&access)["cnf"]["jkt"], key.jkt());
    assert_eq!(
        claims_of(&next.field("refreshToken"))["cnf"]["jkt"],
        key.jkt()
    );
    let me = s.url("/me");
    let r = s
        .get(
            "/me",
            "DPoP",
            &access,
            Some(&key.proof("GET", &me, Some(&access))),
        )
        .await;
    assert_eq!(r.status, 200);
    // The cookie refresh works with a proof too.
    let proof = key.proof("POST", &s.url("/auth/refresh"), None);
    let header = format!("{}={}", cookie.name(), next.set_cookie().unwrap().value());
    let by_cookie = s
        .client
        .post(
            "/auth/refresh",
            &[("cookie", &header), ("dpop", &proof)],
            None,
        )
        .await;
    assert_eq!(by_cookie.status, 200, "{}", by_cookie.json);
}

#[tokio::test]
async fn require_dpop_refuses_logins_without_a_proof() {
    let s = serve(true).await;
    assert_dpop_refusal(&s.login(None).await, "a login without a proof");
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    assert_eq!(s.login(Some(&key)).await.status, 200);
}

/// The session routes take a bound token only as DPoP with a proof of its
/// key, and logout ignores bound tokens without one: a stolen bound token
/// can neither list, end nor log out its owner's sessions.
#[tokio::test]
async fn session_routes_and_logout_need_the_key_of_a_bound_token() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let login = s.login(Some(&key)).await;
    let access = login.field("accessToken");
    let refresh = login.field("refreshToken");
    let sessions = s.url("/auth/sessions");

    assert_dpop_refusal(
        &s.get("/auth/sessions", "Bearer", &access, None).await,
        "sessions as Bearer",
    );
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let r = s
        .get(
            "/auth/sessions",
            "DPoP",
            &access,
            Some(&other.proof("GET", &sessions, Some(&access))),
        )
        .await;
    assert_dpop_refusal(&r, "sessions with another key");
    let r = s
        .get(
            "/auth/sessions",
            "DPoP",
            &access,
            Some(&key.proof("GET", &sessions, Some(&access))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["sessions"].as_array().unwrap().len(), 1);

    // logout-all as Bearer: refused, nothing revoked.
    let bearer = format!("Bearer {access}");
    let r = s
        .client
        .post("/auth/logout-all", &[("authorization", &bearer)], None)
        .await;
    assert_dpop_refusal(&r, "logout-all as Bearer");

    // A thief's logout with the bound tokens and no proof: 204, and nothing ends.
    let body = json!({ "refreshToken": refresh }).to_string();
    let out = s
        .client
        .post("/auth/logout", &[("authorization", &bearer)], Some(&body))
        .await;
    assert_eq!(out.status, 204);
    let next = s.refresh(&refresh, Some(&key)).await;
    assert_eq!(next.status, 200, "the session lives: {}", next.json);
    let (access, refresh) = (next.field("accessToken"), next.field("refreshToken"));

    // The owner's logout, with a proof of the key: the session ends.
    let proof = key.proof("POST", &s.url("/auth/logout"), Some(&access));
    let dpop_auth = format!("DPoP {access}");
    let body = json!({ "refreshToken": refresh }).to_string();
    let out = s
        .client
        .post(
            "/auth/logout",
            &[("authorization", &dpop_auth), ("dpop", &proof)],
            Some(&body),
        )
        .await;
    assert_eq!(out.status, 204);
    let gone = s.refresh(&refresh, Some(&key)).await;
    assert_eq!(
        (gone.status.as_u16(), &gone.json["error"]),
        (401, &json!("invalid_token"))
    );
    let me = s.url("/me");
    let r = s
        .get(
            "/me",
            "DPoP",
            &access,
            Some(&key.proof("GET", &me, Some(&access))),
        )
        .await;
    assert_eq!(r.status, 401);
}

/// A proof is spent only once its request proved something else: a login
/// with a wrong password (or a refresh with a dead token) fills no replay
/// cache, so nobody can fill it without credentials.
#[tokio::test]
async fn a_proof_is_spent_only_by_a_request_that_proved_something() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = key.proof("POST", &s.url("/auth/login"), None);
    let wrong = json!({ "username": "alice", "password": "wrong" }).to_string();
    let r = s
        .client
        .post("/auth/login", &[("dpop", &proof)], Some(&wrong))
        .await;
    assert_eq!(r.json["error"], "invalid_credentials");
    let r = s
        .client
        .post("/auth/login", &[("dpop", &proof)], Some(&wrong))
        .await;
    assert_eq!(
        r.json["error"], "invalid_credentials",
        "not spent by a failed login"
    );
    let right = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let r = s
        .client
        .post("/auth/login", &[("dpop", &proof)], Some(&right))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = s
        .client
        .post("/auth/login", &[("dpop", &proof)], Some(&right))
        .await;
    assert_dpop_refusal(&r, "spent by the login it proved");

    let refresh_proof = key.proof("POST", &s.url("/auth/refresh"), None);
    let dead = json!({ "refreshToken": "not.a.token" }).to_string();
    let r = s
        .client
        .post("/auth/refresh", &[("dpop", &refresh_proof)], Some(&dead))
        .await;
    assert_eq!(r.json["error"], "invalid_token");
    let good = json!({ "refreshToken": r_field(&s, &key).await }).to_string();
    let r = s
        .client
        .post("/auth/refresh", &[("dpop", &refresh_proof)], Some(&good))
        .await;
    assert_eq!(r.status, 200, "not spent by a dead token: {}", r.json);
}

async fn r_field(s: &Server, key: &DpopKey) -> String {
    s.login(Some(key)).await.field("refreshToken")
}

/// Without a configured origin the proof names the request's `Host`, which
/// must be a host and port: a `Host` carrying a path cannot make a proof
/// made for another service's URL match here.
#[tokio::test]
async fn a_host_header_cannot_choose_the_url_a_proof_names() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let access = s.login(Some(&key)).await.field("accessToken");
    let elsewhere = key.proof("GET", "http://rs2.example/orders/42/me", Some(&access));
    let auth = format!("DPoP {access}");
    for host in [
        "rs2.example/orders/42",
        "rs2.example/orders/42/me?",
        "x@rs2.example",
    ] {
        let r = s
            .client
            .send(
                http::Method::GET,
                "/me",
                &[
                    ("authorization", &auth),
                    ("dpop", &elsewhere),
                    ("host", host),
                ],
                None,
            )
            .await;
        assert_ne!(r.status, 200, "Host {host}: {}", r.json);
    }
}

/// A logout whose proof is sent but does not verify ends nothing and
/// clears nothing: 401 `invalid_dpop_proof` (a 204 would say the bound
/// session ended). A proof that named a token of its logout is spent: sent
/// again, to end another session of the same key, it is refused.
#[tokio::test]
async fn a_logout_with_a_bad_or_replayed_proof_ends_nothing() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let url = s.url("/auth/logout");
    let first = s.login(Some(&key)).await.field("refreshToken");
    let second = s.login(Some(&key)).await.field("refreshToken");
    let logout = |token: &str, proof: &str| {
        let body = json!({ "refreshToken": token }).to_string();
        let proof = proof.to_owned();
        let client = &s.client;
        async move {
            client
                .post("/auth/logout", &[("dpop", &proof)], Some(&body))
                .await
        }
    };

    for (what, proof) in [
        (
            "another URL",
            key.proof("POST", &s.url("/auth/logout/"), None),
        ),
        ("another method", key.proof("GET", &url, None)),
    ] {
        let r = logout(&first, &proof).await;
        assert_dpop_refusal(&r, what);
        assert!(r.set_cookie().is_none(), "{what}: the cookie stays");
    }
    let next = s.refresh(&first, Some(&key)).await;
    assert_eq!(next.status, 200, "the session lives: {}", next.json);
    let first = next.field("refreshToken");

    let proof = key.proof("POST", &url, None);
    assert_eq!(logout(&first, &proof).await.status, 204);
    assert_eq!(s.refresh(&first, Some(&key)).await.status, 401);
    // The same proof again, for the other session of the key: refused.
    assert_dpop_refusal(&logout(&second, &proof).await, "a replayed logout proof");
    let alive = s.refresh(&second, Some(&key)).await;
    assert_eq!(alive.status, 200, "the other session lives: {}", alive.json);
}

/// A logout proof is spent when it names a token of its logout, expired
/// or not, as the logout reads them: replayed with an expired access token
/// of another session of the key (as Bearer, which has no `ath`), it ends
/// nothing.
#[tokio::test]
async fn a_logout_proof_replayed_with_an_expired_token_ends_nothing() {
    let clock = Arc::new(auth_core::ManualClock::new(auth_core::Clock::now(
        &auth_core::SystemClock,
    )));
    let keys = auth_core::KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap();
    let authority = TokenAuthority::builder(keys)
        .clock(clock.clone())
        .build()
        .unwrap();
    let s = serve_with(
        false,
        authority,
        DpopVerifier::new(Arc::new(MemoryReplayCache::default())),
    )
    .await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let a = s.login(Some(&key)).await;
    let b = s.login(Some(&key)).await;
    // Both access tokens expire; the refresh tokens live on.
    clock.advance(std::time::Duration::from_secs(3600));

    let proof = key.proof("POST", &s.url("/auth/logout"), None);
    let body = json!({ "refreshToken": a.field("refreshToken") }).to_string();
    let r = s
        .client
        .post("/auth/logout", &[("dpop", &proof)], Some(&body))
        .await;
    assert_eq!(r.status, 204);
    let bearer = format!("Bearer {}", b.field("accessToken"));
    let r = s
        .client
        .post(
            "/auth/logout",
            &[("authorization", &bearer), ("dpop", &proof)],
            None,
        )
        .await;
    assert_dpop_refusal(&r, "a replayed proof with an expired token");
    let alive = s.refresh(&b.field("refreshToken"), Some(&key)).await;
    assert_eq!(alive.status, 200, "B lives: {}", alive.json);
}

/// Each rule of RFC 9449 §4.3 that a proof can break on its own, over the
/// real server: a bound call with such a proof is 401
/// `invalid_dpop_proof` with the `DPoP` challenge and its `algs`, and the
/// same call with a good proof then passes (nothing was spent).
#[tokio::test]
async fn each_rule_of_a_proof_is_enforced_over_http() {
    let s = serve(false).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let access = s.login(Some(&key)).await.field("accessToken");
    let me = s.url("/me");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = || {
        json!({
            "jti": auth_core::Uuid::new_v4().to_string(),
            "htm": "GET",
            "htu": me,
            "iat": now,
            "ath": auth_core::dpop::access_token_hash(&access),
        })
    };
    let header = || json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk() });
    let with = |mut v: Value, name: &str, value: Value| {
        v[name] = value;
        v
    };
    let without = |mut v: Value, name: &str| {
        v.as_object_mut().unwrap().remove(name);
        v
    };
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut private_jwk = key.jwk().clone();
    private_jwk["d"] = json!("AAAA");
    let good = key.sign(&header(), &claims());
    let (signed, _) = good.rsplit_once('.').unwrap();
    let other_signature = other.sign(&header(), &claims());
    let cases = [
        (
            "typ jwt",
            key.sign(&with(header(), "typ", json!("jwt")), &claims()),
        ),
        ("no typ", key.sign(&without(header(), "typ"), &claims())),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&with(header(), "alg", json!("none"))),
                b64(&claims())
            ),
        ),
        (
            "alg HS256",
            key.sign(&with(header(), "alg", json!("HS256")), &claims()),
        ),
        ("no jwk", key.sign(&without(header(), "jwk"), &claims())),
        (
            "a private jwk",
            key.sign(&with(header(), "jwk", private_jwk), &claims()),
        ),
        (
            "another key's signature",
            format!("{signed}.{}", other_signature.rsplit_once('.').unwrap().1),
        ),
        ("no jti", key.sign(&header(), &without(claims(), "jti"))),
        ("no htm", key.sign(&header(), &without(claims(), "htm"))),
        ("no htu", key.sign(&header(), &without(claims(), "htu"))),
        (
            "another host in htu",
            key.sign(
                &header(),
                &with(
                    claims(),
                    "htu",
                    json!(me.replacen("127.0.0.1", "localhost", 1)),
                ),
            ),
        ),
        (
            "iat 2 min old",
            key.sign(&header(), &with(claims(), "iat", json!(now - 120))),
        ),
        (
            "iat 1 min ahead",
            key.sign(&header(), &with(claims(), "iat", json!(now + 60))),
        ),
        ("no ath", key.sign(&header(), &without(claims(), "ath"))),
    ];
    for (what, proof) in &cases {
        assert_dpop_refusal(&s.get("/me", "DPoP", &access, Some(proof)).await, what);
    }
    let r = s.get("/me", "DPoP", &access, Some(&good)).await;
    assert_eq!(r.status, 200, "{}", r.json);
}
