//! The walkthrough and the sessions: login to logout, logout-all, the
//! session list.

use super::*;

#[tokio::test]
async fn the_walkthrough_login_profile_admin_refresh_logout() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    assert_eq!(s.get("/healthz", None).await.status, 200);

    let login = s.login("alice", "alice-password").await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.json["tokenType"], "Bearer");
    assert_eq!(login.json["expiresIn"], 900);
    let cookie = login.set_cookie().expect("refresh cookie");
    assert!(cookie.name().contains("refresh"));
    assert_eq!(cookie.path(), Some("/auth"));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.value(), login.field("refreshToken"));

    let access = login.field("accessToken");
    let profile = s.get("/profile", Some(&access)).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.json, json!({ "sub": "alice", "roles": ["user"] }));
    assert_eq!(s.get("/profile", None).await.status, 401);
    assert_eq!(s.get("/admin", Some(&access)).await.status, 403);

    let root = s.login("root", "root-password").await;
    let r = s.get("/admin", Some(&root.field("accessToken"))).await;
    assert_eq!(r.status, 200);
    let r = s.get("/profile", Some(&root.field("accessToken"))).await;
    assert_eq!(r.json, json!({ "sub": "root", "roles": ["user", "admin"] }));

    // Cookie-only refresh: no body at all.
    let refreshed = s.refresh_by_cookie(&cookie).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    let new_cookie = refreshed.set_cookie().expect("new cookie");
    assert_ne!(new_cookie.value(), cookie.value());
    assert_eq!(new_cookie.path(), Some("/auth"));

    let bearer = format!("Bearer {}", refreshed.field("accessToken"));
    let cookie_header = format!("{}={}", new_cookie.name(), new_cookie.value());
    let out = s
        .send(
            Method::POST,
            "/auth/logout",
            &[("authorization", &bearer), ("cookie", &cookie_header)],
            None,
        )
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(
        out.set_cookie().unwrap().max_age(),
        Some(cookie::time::Duration::ZERO)
    );
    assert_eq!(s.refresh_by_cookie(&new_cookie).await.status, 401);
    assert_eq!(
        s.get("/profile", Some(&refreshed.field("accessToken")))
            .await
            .status,
        401
    );

    let wrong = s.login("alice", "nope").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["error"], "invalid_credentials");
}

#[tokio::test]
async fn logout_all_ends_both_sessions() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    let a = s.login("alice", "alice-password").await;
    let b = s.login("alice", "alice-password").await;
    let r = s
        .bearer(Method::POST, "/auth/logout-all", &b.field("accessToken"))
        .await;
    assert_eq!(r.status, 204);
    for pair in [&a, &b] {
        assert_eq!(
            s.get("/profile", Some(&pair.field("accessToken")))
                .await
                .status,
            401
        );
        assert_eq!(
            s.refresh_by_cookie(&pair.set_cookie().unwrap())
                .await
                .status,
            401
        );
    }
}

#[tokio::test]
async fn sessions_are_listed_and_ended_by_their_user() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    let login = |agent: &'static str| {
        let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
        let client = &s.client;
        async move {
            client
                .post("/auth/login", &[("user-agent", agent)], Some(&body))
                .await
        }
    };
    let phone = login("Phone/1.0").await;
    let laptop = login("Laptop/2.0").await;
    let bearer = laptop.field("accessToken");
    let r = s.bearer(Method::GET, "/auth/sessions", &bearer).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let list = r.json["sessions"].as_array().unwrap();
    let summary: Vec<(&str, bool)> = list
        .iter()
        .map(|e| {
            (
                e["device"].as_str().unwrap(),
                e["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [("Phone/1.0", false), ("Laptop/2.0", true)]);
    for field in [
        "id",
        "createdAt",
        "lastRefreshedAt",
        "expiresAt",
        "absoluteExpiresAt",
    ] {
        assert!(!list[0][field].is_null(), "{field} missing: {}", list[0]);
    }
    let phone_id = list[0]["id"].as_str().unwrap();

    let r = s
        .bearer(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            &bearer,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        s.get("/profile", Some(&phone.field("accessToken")))
            .await
            .status,
        401
    );
    assert_eq!(
        s.refresh_body(&phone.field("refreshToken")).await.status,
        401
    );
    let r = s
        .bearer(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            &bearer,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(
        s.get("/profile", Some(&laptop.field("accessToken")))
            .await
            .status,
        200
    );
}
