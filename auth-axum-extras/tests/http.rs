//! End-to-end tests of the extractors and the auth routes, over a real socket
//! with a real HTTP client.

use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::password::hash_password;
use auth_axum_extras::{
    Auth, AuthRoutes, CrossOriginProtection, InMemoryUsers, MaybeAuth, RefreshCookie, RequireRole,
    RequireScope, Role, Scope,
};
use auth_core::store::MemoryStore;
use auth_core::{Algorithm, Key, KeySet, ManualClock, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use contract_tests::{Client, Reply};
use http::StatusCode;
use serde_json::{Value, json};

struct Admin;
impl Role for Admin {
    const NAME: &'static str = "admin";
}

struct Audit;
impl Scope for Audit {
    const NAME: &'static str = "audit:read";
}

/// A test server: the app on loopback, its authority and clock, and a client
/// of it (dereferences to [`Client`]).
struct Server {
    authority: TokenAuthority,
    clock: Arc<ManualClock>,
    client: Client,
}

impl std::ops::Deref for Server {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

fn users() -> InMemoryUsers<RoleClaims> {
    static HASHES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (alice, root) = HASHES.get_or_init(|| {
        (
            hash_password("alice-password").unwrap(),
            hash_password("root-password").unwrap(),
        )
    });
    InMemoryUsers::new()
        .user("alice", alice.clone(), RoleClaims::with_roles(["user"]))
        .user(
            "root",
            root.clone(),
            RoleClaims::with_roles(["user", "admin"]),
        )
}

async fn profile(Auth(c): Auth<RoleClaims>) -> axum::Json<Value> {
    axum::Json(json!({ "sub": c.sub, "roles": c.extra.roles }))
}

async fn server() -> Server {
    server_with(Algorithm::EdDSA, |r| r).await
}

async fn server_with(
    alg: Algorithm,
    configure: impl FnOnce(
        AuthRoutes<InMemoryUsers<RoleClaims>>,
    ) -> AuthRoutes<InMemoryUsers<RoleClaims>>,
) -> Server {
    let clock = Arc::new(ManualClock::starting_now());
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let key = match alg {
        Algorithm::HS256 => {
            Key::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").unwrap()
        }
        alg => Key::generate(alg).unwrap(),
    };
    let authority = TokenAuthority::builder(KeySet::new(key).unwrap())
        .store(Arc::new(store))
        .clock(clock.clone())
        .build()
        .unwrap();
    let protected = Router::new()
        .route("/profile", get(profile))
        .route(
            "/admin",
            get(|admin: RequireRole<Admin, RoleClaims>| async move { admin.sub.clone() }),
        )
        .route(
            "/audit",
            get(|a: RequireScope<Audit, RoleClaims>| async move { a.sub.clone() }),
        )
        .route(
            "/dynamic",
            get(|auth: Auth<RoleClaims>| async move {
                auth.require_role("admin").map(|()| auth.sub.clone())
            }),
        )
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
    let optional = Router::new()
        .route(
            "/hello",
            get(|MaybeAuth(c): MaybeAuth<RoleClaims>| async move {
                c.map_or("hello stranger".to_owned(), |c| format!("hello {}", c.sub))
            }),
        )
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()).optional());
    // A route the layer does not cover: the extractor alone must refuse.
    let unguarded = Router::new().route("/unguarded", get(profile));
    let routes = configure(AuthRoutes::new(authority.clone(), users()));
    let app = Router::new()
        .merge(protected)
        .merge(optional)
        .merge(unguarded)
        .merge(routes.into_router().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        authority,
        clock,
        client: Client::new(addr),
    }
}

impl Server {
    async fn login_ok(&self, user: &str) -> Reply {
        let r = self.login(user, &format!("{user}-password")).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r
    }

    /// Two sessions, and one `Cookie` header carrying both refresh tokens
    /// under our name: root's (as if planted from a sibling domain) before
    /// alice's. Returns alice's login, root's, and the header.
    async fn planted_beside_mine(&self) -> (Reply, Reply, String) {
        let mine = self.login_ok("alice").await;
        let planted = self.login_ok("root").await;
        let header = format!(
            "refresh_token={}; refresh_token={}",
            planted.field("refreshToken"),
            mine.field("refreshToken")
        );
        (mine, planted, header)
    }

    /// Neither the refresh token nor the access token of `pair` works.
    async fn assert_session_dead(&self, pair: &Reply) {
        let refresh = self.refresh_body(&pair.field("refreshToken")).await;
        assert_eq!(refresh.status, 401, "{}", refresh.json);
        let access = self.get("/profile", Some(&pair.field("accessToken"))).await;
        assert_eq!(access.status, 401, "{}", access.json);
    }

    async fn refresh_cookie(&self, token: &str) -> Reply {
        let cookie = format!("refresh_token={token}");
        self.post("/auth/refresh", &[("cookie", &cookie)], None)
            .await
    }
}

#[tokio::test]
async fn login_returns_the_pair_and_a_strict_http_only_cookie() {
    let s = server().await;
    let r = s.login_ok("alice").await;
    let obj = r.json.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["accessToken", "expiresIn", "refreshToken", "tokenType"]
    );
    assert_eq!(r.json["tokenType"], "Bearer");
    assert_eq!(r.json["expiresIn"], 900);
    assert_eq!(r.headers["cache-control"], "no-store");

    let c = r.set_cookie().expect("a refresh cookie");
    assert!(c.name().contains("refresh"));
    assert_eq!(c.value(), r.field("refreshToken"));
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(c.secure(), Some(true));
    assert_eq!(c.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(c.path(), Some("/auth"));
    assert_eq!(c.domain(), None);
    assert_eq!(
        c.max_age(),
        Some(cookie::time::Duration::seconds(14 * 24 * 3600))
    );

    let p = s.get("/profile", Some(&r.field("accessToken"))).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.json, json!({ "sub": "alice", "roles": ["user"] }));
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let s = server().await;
    let wrong = s.login("alice", "not-her-password").await;
    let unknown = s.login("mallory", "alice-password").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, 401);
        assert_eq!(r.json["error"], "invalid_credentials");
        assert!(r.set_cookie().is_none());
        assert!(r.json.get("accessToken").is_none());
    }
    assert_eq!(wrong.json, unknown.json);
}

#[tokio::test]
async fn bad_login_bodies_get_json_errors_never_500() {
    let s = server().await;
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Headers, Option<&str>, u16)] = &[
        (&[], Some("{not json"), 400),
        (&[], Some(""), 400),
        (&[], None, 400),
        (&[], Some(r#"{"username":"alice"}"#), 422),
        (&[], Some(r#"{"username":1,"password":"x"}"#), 422),
        (&[], Some(r#"["alice","alice-password"]"#), 422),
        (
            &[("content-type", "text/plain")],
            Some(r#"{"username":"alice","password":"alice-password"}"#),
            415,
        ),
        (
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("username=alice&password=alice-password"),
            415,
        ),
    ];
    for (headers, body, status) in cases {
        let r = s.post("/auth/login", headers, *body).await;
        assert_eq!(r.status, *status, "{body:?}: {}", r.json);
        assert!(r.json["error"].is_string(), "{body:?}: {}", r.json);
    }
    let long_name = json!({ "username": "a".repeat(300), "password": "x" }).to_string();
    assert_eq!(
        s.post("/auth/login", &[], Some(&long_name)).await.status,
        422
    );
    let huge = json!({ "username": "alice", "password": "x".repeat(20_000) }).to_string();
    let r = s.post("/auth/login", &[], Some(&huge)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json["error"], "invalid_request");
    // A wrongly typed value, a password say, is never repeated in the answer.
    for body in [
        r#"{"username":"alice","password":918273645}"#,
        r#"{"username":"alice","password":"p","cookieOnly":"<b>918273645</b>"}"#,
    ] {
        let r = s.post("/auth/login", &[], Some(body)).await;
        assert_eq!(r.status, 422, "{}", r.json);
        assert!(!r.json.to_string().contains("918273645"), "{}", r.json);
    }
    let r = s
        .post("/auth/refresh", &[], Some(r#"{"refreshToken":918273645}"#))
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert!(!r.json.to_string().contains("918273645"), "{}", r.json);
}

#[tokio::test]
async fn refresh_rotates_by_body_and_by_cookie_alone() {
    let s = server().await;
    let first = s.login_ok("alice").await;

    let second = s.refresh_body(&first.field("refreshToken")).await;
    assert_eq!(second.status, 200, "{}", second.json);
    assert_ne!(second.field("refreshToken"), first.field("refreshToken"));
    let c = second.set_cookie().expect("a new cookie");
    assert_eq!(c.value(), second.field("refreshToken"));
    assert_eq!(c.path(), Some("/auth"));

    // The cookie alone, no body at all.
    let third = s.refresh_cookie(c.value()).await;
    assert_eq!(third.status, 200, "{}", third.json);
    let p = s.get("/profile", Some(&third.field("accessToken"))).await;
    assert_eq!(p.json["sub"], "alice");
    // The new refresh token went into the cookie, and works from there.
    let fourth = s.refresh_cookie(third.set_cookie().unwrap().value()).await;
    assert_eq!(fourth.status, 200, "{}", fourth.json);
}

/// A refresh authenticated by the HttpOnly cookie must not hand the refresh
/// token to scripts: a page script (XSS) calling `/auth/refresh` would turn
/// the cookie into a 14-day credential it can read.
#[tokio::test]
async fn a_cookie_refresh_never_puts_the_refresh_token_in_the_body() {
    let s = server().await;
    let login = s.login_ok("alice").await;
    let cookie = login.set_cookie().unwrap();
    let r = s.refresh_cookie(cookie.value()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refreshToken").is_none(), "body: {}", r.json);
    assert!(!r.json.to_string().contains(cookie.value()));
    let next = r.set_cookie().expect("the new token is in the cookie");
    assert_ne!(next.value(), cookie.value());
    assert!(!r.json.to_string().contains(next.value()));
    assert_eq!(r.json["tokenType"], "Bearer");
    assert!(r.json["expiresIn"].as_u64().unwrap() > 0);
    // A body that is present but names no token is the cookie flow too.
    let r = s
        .post(
            "/auth/refresh",
            &[("cookie", &format!("refresh_token={}", next.value()))],
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refreshToken").is_none(), "body: {}", r.json);
}

/// A browser asks at login for cookie-only delivery: no response body it
/// ever receives carries its refresh token.
#[tokio::test]
async fn cookie_only_login_keeps_the_refresh_token_out_of_every_body() {
    let s = server().await;
    let body = json!({ "username": "alice", "password": "alice-password", "cookieOnly": true })
        .to_string();
    let login = s.post("/auth/login", &[], Some(&body)).await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert!(login.json.get("refreshToken").is_none(), "{}", login.json);
    let cookie = login.set_cookie().expect("the refresh cookie");
    assert!(cookie.http_only().unwrap_or(false));
    let p = s.get("/profile", Some(&login.field("accessToken"))).await;
    assert_eq!(p.status, 200);
    let r = s.refresh_cookie(cookie.value()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("refreshToken").is_none(), "{}", r.json);
    // Not a boolean: a clear 422, not a silent body delivery.
    let bad = json!({ "username": "alice", "password": "alice-password", "cookieOnly": "yes" })
        .to_string();
    assert_eq!(s.post("/auth/login", &[], Some(&bad)).await.status, 422);
    // An API client that does not ask keeps getting the token in the body.
    assert!(s.login_ok("alice").await.json.get("refreshToken").is_some());
}

#[tokio::test]
async fn cookie_only_login_without_a_cookie_is_refused() {
    let s = server_with(Algorithm::HS256, |r| r.cookie(RefreshCookie::disabled())).await;
    let body = json!({ "username": "alice", "password": "alice-password", "cookieOnly": true })
        .to_string();
    let r = s.post("/auth/login", &[], Some(&body)).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.json["error"], "invalid_request");
    assert!(s.authority.sessions("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_secure_prefixed_cookie_name_is_offered() {
    let s = server_with(Algorithm::HS256, |r| {
        r.cookie(RefreshCookie::secure_prefixed())
    })
    .await;
    let login = s.login_ok("alice").await;
    let c = login.set_cookie().unwrap();
    assert_eq!(c.name(), "__Secure-refresh_token");
    assert_eq!(c.secure(), Some(true));
    let header = format!("__Secure-refresh_token={}", c.value());
    let r = s.post("/auth/refresh", &[("cookie", &header)], None).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn bad_refresh_tokens_get_401() {
    let s = server().await;
    let pair = s.login_ok("alice").await;

    let none = s.post("/auth/refresh", &[], None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json["error"], "invalid_token");
    assert_eq!(s.refresh_body("garbage").await.status, 401);
    // An access token is not a refresh token.
    assert_eq!(s.refresh_body(&pair.field("accessToken")).await.status, 401);
    // Expired: past the refresh lifetime (and the leeway).
    s.clock.advance(Duration::from_secs(14 * 24 * 3600 + 10));
    let expired = s.refresh_body(&pair.field("refreshToken")).await;
    assert_eq!(expired.status, 401);
    assert!(
        expired.set_cookie().is_none(),
        "a refusal does not touch the cookie"
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_session() {
    let s = server().await;
    let first = s.login_ok("alice").await;
    let second = s.refresh_body(&first.field("refreshToken")).await;
    assert_eq!(second.status, 200);

    s.clock.advance(Duration::from_secs(3)); // past the reuse grace
    let replay = s.refresh_body(&first.field("refreshToken")).await;
    assert_eq!(replay.status, 401);

    // The whole session is dead: the current refresh and access tokens too.
    assert_eq!(
        s.refresh_body(&second.field("refreshToken")).await.status,
        401
    );
    assert_eq!(
        s.get("/profile", Some(&second.field("accessToken")))
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_refreshes_have_one_winner_and_no_fork() {
    let s = Arc::new(server().await);
    let pair = s.login_ok("alice").await;
    let token = pair.field("refreshToken");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, token) = (s.clone(), token.clone());
            tokio::spawn(async move { s.refresh_body(&token).await })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            200 => winners.push(r),
            401 => {
                // Lost the race within the grace: its own code, retry once.
                assert_eq!(r.json["error"], "refresh_superseded", "{}", r.json);
                assert!(r.set_cookie().is_none(), "a loser gets no cookie");
                assert!(
                    r.json.get("accessToken").is_none(),
                    "a loser gets no tokens"
                );
            }
            other => panic!("unexpected {other}: {}", r.json),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    let winner = &winners[0];
    // The winner's pair lives on; the session did not fork.
    assert_eq!(
        s.get("/profile", Some(&winner.field("accessToken")))
            .await
            .status,
        200
    );
    let next = s.refresh_body(&winner.field("refreshToken")).await;
    assert_eq!(next.status, 200, "{}", next.json);
    assert_eq!(s.authority.sessions("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn logout_revokes_both_tokens_clears_the_cookie_and_is_idempotent() {
    let s = server().await;
    let pair = s.login_ok("alice").await;
    let (access, refresh) = (pair.field("accessToken"), pair.field("refreshToken"));
    let bearer = format!("Bearer {access}");
    let cookie = format!("refresh_token={refresh}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("cookie", cookie.as_str()),
    ];

    let r = s.post("/auth/logout", &headers, None).await;
    assert_eq!(r.status, 204);
    let cleared = r.set_cookie().expect("the cookie is cleared");
    assert_eq!(cleared.name(), "refresh_token");
    assert_eq!(cleared.value(), "");
    assert_eq!(cleared.max_age(), Some(cookie::time::Duration::ZERO));
    assert_eq!(cleared.path(), Some("/auth"));

    assert_eq!(s.refresh_cookie(&refresh).await.status, 401);
    assert_eq!(s.get("/profile", Some(&access)).await.status, 401);

    // Again, with garbage, with nothing: still 204, never an oracle.
    assert_eq!(s.post("/auth/logout", &headers, None).await.status, 204);
    let garbage = json!({ "refreshToken": "garbage" }).to_string();
    assert_eq!(
        s.post("/auth/logout", &[], Some(&garbage)).await.status,
        204
    );
    assert_eq!(
        s.post("/auth/logout", &[("authorization", "Bearer x y")], None)
            .await
            .status,
        204
    );
    assert_eq!(s.post("/auth/logout", &[], None).await.status, 204);
}

#[tokio::test]
async fn logout_by_body_leaves_other_sessions_alone() {
    let s = server().await;
    let a = s.login_ok("alice").await;
    let b = s.login_ok("alice").await;
    let body = json!({ "refreshToken": a.field("refreshToken") }).to_string();
    assert_eq!(s.post("/auth/logout", &[], Some(&body)).await.status, 204);
    assert_eq!(s.refresh_body(&a.field("refreshToken")).await.status, 401);
    assert_eq!(s.refresh_body(&b.field("refreshToken")).await.status, 200);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let s = server().await;
    let a = s.login_ok("alice").await;
    let b = s.login_ok("alice").await;
    let root = s.login_ok("root").await;

    let none = s.post("/auth/logout-all", &[], None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.headers["www-authenticate"], "Bearer realm=\"api\"");
    let bad = s
        .post(
            "/auth/logout-all",
            &[("authorization", "Bearer nope")],
            None,
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json["error"], "invalid_token");

    let bearer = format!("Bearer {}", a.field("accessToken"));
    let r = s
        .post("/auth/logout-all", &[("authorization", &bearer)], None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.set_cookie().unwrap().max_age(),
        Some(cookie::time::Duration::ZERO)
    );
    for pair in [&a, &b] {
        s.assert_session_dead(pair).await;
    }
    // Another user is untouched, and alice can log in again.
    assert_eq!(
        s.get("/profile", Some(&root.field("accessToken")))
            .await
            .status,
        200
    );
    let again = s.login_ok("alice").await;
    assert_eq!(
        s.get("/profile", Some(&again.field("accessToken")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn cross_origin_browser_requests_are_refused() {
    let s = server_with(Algorithm::EdDSA, |r| {
        r.cross_origin(CrossOriginProtection::new().allow_origin("https://app.example"))
    })
    .await;
    let own_origin = format!("http://{}", s.addr);
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Headers, u16)] = &[
        (&[("origin", "https://evil.example")], 403),
        (&[("origin", "null")], 403),
        (&[("sec-fetch-site", "cross-site")], 403),
        (&[("sec-fetch-site", "same-site")], 403),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
            403,
        ),
        (&[("sec-fetch-site", "same-origin")], 200),
        (&[("sec-fetch-site", "none")], 200),
        (&[("origin", own_origin.as_str())], 200),
        (&[("origin", "https://app.example")], 200),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example"),
            ],
            200,
        ),
        (&[], 200),
    ];
    for (extra, status) in cases {
        let pair = s.login_ok("alice").await;
        let cookie = format!("refresh_token={}", pair.field("refreshToken"));
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        let r = s.post("/auth/refresh", &headers, None).await;
        assert_eq!(r.status, *status, "{extra:?}: {}", r.json);
        if *status == 403 {
            assert_eq!(r.json["error"], "cross_origin_request");
            // Refused before anything happened: the token still works.
            assert_eq!(
                s.refresh_cookie(&pair.field("refreshToken")).await.status,
                200
            );
        }
    }
    // Logout and login are guarded too.
    let evil = [("origin", "https://evil.example")];
    assert_eq!(s.post("/auth/logout", &evil, None).await.status, 403);
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    assert_eq!(s.post("/auth/login", &evil, Some(&body)).await.status, 403);
}

#[tokio::test]
async fn extractors_answer_401_and_403_in_the_rfc6750_shape() {
    let s = server().await;
    let alice = s.login_ok("alice").await;
    let root = s.login_ok("root").await;

    // No layer on this route: a wiring bug, which the extractor reports as
    // such (500), never as a missing token.
    let r = s.get("/unguarded", Some(&alice.field("accessToken"))).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json["error"], "server_error");

    let r = s.get("/admin", Some(&alice.field("accessToken"))).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json["error"], "insufficient_scope");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    let r = s.get("/admin", Some(&root.field("accessToken"))).await;
    assert_eq!((r.status, r.json.as_str()), (StatusCode::OK, Some("root")));

    assert_eq!(s.get("/hello", None).await.json, "hello stranger");
    assert_eq!(
        s.get("/hello", Some(&alice.field("accessToken")))
            .await
            .json,
        "hello alice"
    );
    assert_eq!(s.get("/hello", Some("garbage")).await.status, 401);

    // Scope guard and run-time checks.
    let r = s.get("/audit", Some(&root.field("accessToken"))).await;
    assert_eq!(r.status, 403);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"audit:read\"")
    );
    let scoped = s
        .authority
        .issue(
            "auditor",
            &RoleClaims {
                roles: vec![],
                scope: Some("profile audit:read".into()),
            },
        )
        .await
        .unwrap();
    let r = s.get("/audit", Some(&scoped.access_token)).await;
    assert_eq!(
        (r.status, r.json.as_str()),
        (StatusCode::OK, Some("auditor"))
    );
    assert_eq!(
        s.get("/dynamic", Some(&alice.field("accessToken")))
            .await
            .status,
        403
    );
    assert_eq!(
        s.get("/dynamic", Some(&root.field("accessToken")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn jwks_is_served_for_asymmetric_keys_only() {
    let s = server().await;
    let r = s.get("/auth/jwks", None).await;
    assert_eq!(r.status, 200);
    let keys = r.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert!(keys[0].get("d").is_none(), "no private part");

    let hs = server_with(Algorithm::HS256, |r| r.jwks_path("/.well-known/jwks.json")).await;
    let r = hs.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["error"], "not_found");
}

#[tokio::test]
async fn the_jwks_follows_key_rotations() {
    let s = server().await;
    let kids = |r: &Reply| -> Vec<String> {
        r.json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = kids(&s.get("/auth/jwks", None).await);
    let next = Key::generate(Algorithm::EdDSA).unwrap();
    s.authority.rotate_signing_key(next.clone()).unwrap();
    // Published at once, before it signs.
    let during = kids(&s.get("/auth/jwks", None).await);
    assert_eq!(during, [before[0].clone(), next.kid().to_owned()]);
    let c = s.authority.config().clone();
    s.clock.advance(c.key_publication_delay);
    let signing = kids(&s.get("/auth/jwks", None).await);
    assert_eq!(signing, [next.kid().to_owned(), before[0].clone()]);
    // The old key leaves once every token it signed has expired.
    s.clock.advance(c.refresh_ttl + c.leeway);
    assert_eq!(kids(&s.get("/auth/jwks", None).await), [next.kid()]);
}

#[tokio::test]
async fn a_disabled_cookie_is_neither_set_nor_read() {
    let s = server_with(Algorithm::EdDSA, |r| r.cookie(RefreshCookie::disabled())).await;
    let pair = s.login_ok("alice").await;
    assert!(pair.set_cookie().is_none());
    assert_eq!(
        s.refresh_cookie(&pair.field("refreshToken")).await.status,
        401
    );
    assert_eq!(
        s.refresh_body(&pair.field("refreshToken")).await.status,
        200
    );
}

#[test]
fn bad_configurations_are_errors_not_panics() {
    let authority =
        TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap())
            .build()
            .unwrap();
    let build = |r: AuthRoutes<InMemoryUsers<RoleClaims>>| r.into_router::<()>().is_err();
    let routes = || AuthRoutes::new(authority.clone(), InMemoryUsers::new());
    assert!(build(routes().prefix("auth")));
    assert!(build(routes().cookie(RefreshCookie::new().name("a;b"))));
    assert!(build(
        routes().cookie(RefreshCookie::new().name("__Secure-rt").secure(false))
    ));
    assert!(build(
        routes().cookie(RefreshCookie::new().name("__Host-rt"))
    ));
    assert!(!build(
        routes().cookie(RefreshCookie::new().name("__Host-rt").path("/"))
    ));
    assert!(build(
        routes().cookie(RefreshCookie::new().path("/a;Domain=evil"))
    ));
    assert!(build(routes().cookie(RefreshCookie::new().domain("a b"))));
    // Route patterns axum would panic on, or capture with.
    assert!(build(routes().prefix("/a{b")));
    assert!(build(routes().prefix("/auth/{id}")));
    assert!(build(routes().jwks_path("/.well-known/*jwks")));
    assert!(!build(routes().prefix("/api/auth/")));
    assert!(!build(routes().prefix("")));
}

#[tokio::test]
async fn a_refresh_cookie_sent_twice_with_different_values_is_refused() {
    let s = server().await;
    let (mine, planted, header) = s.planted_beside_mine().await;
    let r = s.post("/auth/refresh", &[("cookie", &header)], None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"], "invalid_request");
    // Both tokens are untouched.
    assert_eq!(
        s.refresh_body(&mine.field("refreshToken")).await.status,
        200
    );
    assert_eq!(
        s.refresh_body(&planted.field("refreshToken")).await.status,
        200
    );
}

/// Two cookies of our name (one planted from a sibling subdomain) made
/// logout answer 400 without revoking or clearing anything.
#[tokio::test]
async fn logout_with_duplicate_refresh_cookies_ends_every_session_shown() {
    let s = server().await;
    let (mine, planted, header) = s.planted_beside_mine().await;
    let r = s.post("/auth/logout", &[("cookie", &header)], None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    let cleared = r.set_cookie().expect("the cookie is cleared");
    assert_eq!(cleared.name(), "refresh_token");
    assert_eq!(cleared.max_age(), Some(cookie::time::Duration::ZERO));
    for pair in [&mine, &planted] {
        s.assert_session_dead(pair).await;
    }
    // Garbage beside a real cookie does not shield it either.
    let real = s.login_ok("alice").await;
    let header = format!(
        "refresh_token=garbage; refresh_token={}",
        real.field("refreshToken")
    );
    assert_eq!(
        s.post("/auth/logout", &[("cookie", &header)], None)
            .await
            .status,
        204
    );
    assert_eq!(
        s.refresh_body(&real.field("refreshToken")).await.status,
        401
    );
}

/// A logout whose body cannot be read (a beacon's text, a form, bad JSON,
/// too large) answered 415/422/413 and left the cookie's session alive.
#[tokio::test]
async fn logout_ends_the_cookie_session_whatever_the_body() {
    let s = server().await;
    let big = format!("{{\"refreshToken\":\"{}\"}}", "a".repeat(17 * 1024));
    let bodies: [(&str, &str); 4] = [
        ("text/plain", "bye"),
        ("application/x-www-form-urlencoded", "logout=1"),
        ("application/json", r#"{"refreshToken":5}"#),
        ("application/json", &big),
    ];
    for (content_type, body) in bodies {
        let pair = s.login_ok("alice").await;
        let cookie = format!("refresh_token={}", pair.field("refreshToken"));
        let r = s
            .post(
                "/auth/logout",
                &[("cookie", &cookie), ("content-type", content_type)],
                Some(body),
            )
            .await;
        assert_eq!(r.status, 204, "{content_type}: {}", r.json);
        assert!(
            r.set_cookie().is_some(),
            "{content_type}: the cookie is cleared"
        );
        s.assert_session_dead(&pair).await;
    }
}

/// Cookies a sibling domain plants must not hide the real one from logout:
/// neither one with bytes that are not ASCII (which made the whole Cookie
/// header unreadable) nor many decoys ahead of it.
#[tokio::test]
async fn planted_cookies_do_not_hide_the_real_one_from_logout() {
    let s = server().await;
    let pair = s.login_ok("alice").await;
    let header = format!(
        "x=\u{e9}t\u{e9}; refresh_token={}",
        pair.field("refreshToken")
    );
    let r = s.post("/auth/logout", &[("cookie", &header)], None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    s.assert_session_dead(&pair).await;

    let pair = s.login_ok("alice").await;
    let decoys: String = (0..40)
        .map(|i| format!("refresh_token=decoy{i}; "))
        .collect();
    let header = format!("{decoys}refresh_token={}", pair.field("refreshToken"));
    let r = s.post("/auth/logout", &[("cookie", &header)], None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    s.assert_session_dead(&pair).await;

    // Refresh reads past a foreign non-ASCII cookie too.
    let pair = s.login_ok("alice").await;
    let header = format!("x=\u{e9}; refresh_token={}", pair.field("refreshToken"));
    let r = s.post("/auth/refresh", &[("cookie", &header)], None).await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn logout_ends_the_cookie_session_even_when_the_body_names_another() {
    let s = server().await;
    let a = s.login_ok("alice").await;
    let b = s.login_ok("alice").await;
    let cookie = format!("refresh_token={}", b.field("refreshToken"));
    let body = json!({ "refreshToken": a.field("refreshToken") }).to_string();
    let r = s
        .post("/auth/logout", &[("cookie", &cookie)], Some(&body))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.refresh_body(&a.field("refreshToken")).await.status, 401);
    assert_eq!(s.refresh_body(&b.field("refreshToken")).await.status, 401);
}

#[tokio::test]
async fn logout_with_expired_tokens_still_ends_the_session() {
    let s = server().await;
    let pair = s.login_ok("alice").await;
    let sid_count = || async { s.authority.sessions("alice").await.unwrap().len() };
    assert_eq!(sid_count().await, 1);
    s.clock.advance(Duration::from_secs(3600)); // the access token is expired
    let bearer = format!("Bearer {}", pair.field("accessToken"));
    assert_eq!(
        s.post("/auth/logout", &[("authorization", &bearer)], None)
            .await
            .status,
        204
    );
    assert_eq!(sid_count().await, 0);
    assert_eq!(
        s.refresh_body(&pair.field("refreshToken")).await.status,
        401
    );
}

#[tokio::test]
async fn a_custom_prefix_moves_routes_and_cookie_path() {
    let s = server_with(Algorithm::EdDSA, |r| r.prefix("/api/session")).await;
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    assert_eq!(s.post("/auth/login", &[], Some(&body)).await.status, 404);
    let r = s.post("/api/session/login", &[], Some(&body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.set_cookie().unwrap().path(), Some("/api/session"));
    let huge = json!({ "refreshToken": "x".repeat(20_000) }).to_string();
    assert_eq!(
        s.post("/api/session/refresh", &[], Some(&huge))
            .await
            .status,
        413
    );
    let big = json!({ "refreshToken": "x".repeat(9_000) }).to_string();
    assert_eq!(
        s.post("/api/session/refresh", &[], Some(&big)).await.status,
        401
    );
}
