//! Logout and logout-all: what they revoke and clear, whatever the body
//! or the cookies say.

use super::*;

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
