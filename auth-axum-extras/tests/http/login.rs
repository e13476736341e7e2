//! Login: the pair and the cookie, one answer for unknown users and wrong
//! passwords, bad bodies, cookie-only delivery.

use super::*;

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
