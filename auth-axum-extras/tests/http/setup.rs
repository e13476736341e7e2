//! The routes' setup: cross-origin refusals, the extractors' answers,
//! JWKS, disabled cookies, bad configurations, a custom prefix.

use super::*;

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

/// The OpenAPI description follows the configuration: the prefix, the
/// cookie, the throttle, the optional routes.
#[cfg(feature = "openapi")]
#[test]
fn the_openapi_description_follows_the_configuration() {
    let authority =
        TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap())
            .build()
            .unwrap();
    let routes = AuthRoutes::new(authority, users())
        .prefix("/api/auth")
        .cookie(RefreshCookie::disabled())
        .without_throttle();
    let doc: Value = serde_json::from_str(&routes.openapi().unwrap().to_json().unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/api/auth/jwks",
            "/api/auth/login",
            "/api/auth/logout",
            "/api/auth/logout-all",
            "/api/auth/refresh",
            "/api/auth/sessions",
            "/api/auth/sessions/{id}",
        ]
    );
    assert!(
        doc["components"]["securitySchemes"]
            .get("refreshCookie")
            .is_none()
    );
    assert!(
        doc["paths"]["/api/auth/login"]["post"]["responses"]
            .get("429")
            .is_none()
    );
    assert!(
        doc["paths"]["/api/auth/login"]["post"]["responses"]["200"]
            .get("headers")
            .is_none()
    );
}
