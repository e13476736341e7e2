//! Refusals and sessions: refused refreshes clear the cookie, users end
//! their own sessions, the layer and the extractors answer alike.

use super::*;

/// A refresh by cookie that the server refuses for good (a disabled user
/// here) clears the cookie, so the browser stops sending a dead token; one
/// refused for a while (the directory down: 503) keeps it for the retry.
#[tokio::test]
async fn a_refresh_refused_for_good_clears_the_cookie() {
    let s = app().await;
    let login = s.login_as("alice", None).await;
    let cookie = login.set_cookie().expect("the refresh cookie");
    let header = format!("{}={}", cookie.name(), cookie.value());
    let refresh = [("cookie", header.as_str())];
    *s.directory.down.lock().unwrap() = true;
    let r = s.post("/api/auth/refresh", &refresh, None).await;
    assert_eq!(r.status, 503, "{}", r.json);
    assert!(r.set_cookie().is_none(), "kept for the retry");
    *s.directory.down.lock().unwrap() = false;

    s.directory.edit("alice", |e| e.enabled = false);
    let r = s.post("/api/auth/refresh", &refresh, None).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let cleared = r.set_cookie().expect("the cookie is cleared");
    assert_eq!(cleared.name(), cookie.name());
    assert_eq!(cleared.value(), "");
    assert_eq!(cleared.max_age(), Some(cookie::time::Duration::ZERO));

    // A body token that is not the cookie's clears nothing.
    s.directory.edit("alice", |e| e.enabled = true);
    let other = s.login_as("alice", None).await;
    let header = format!("{}={}", cookie.name(), other.set_cookie().unwrap().value());
    let body = json!({ "refreshToken": "not-a-token" }).to_string();
    let r = s
        .post("/api/auth/refresh", &[("cookie", &header)], Some(&body))
        .await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert!(r.set_cookie().is_none());
}

#[tokio::test]
async fn users_list_and_end_their_own_sessions() {
    let s = app().await;
    let long_agent = format!("Mozilla/5.0 {}", "x".repeat(300));
    let phone = s.login_as("alice", Some("Phone/1.0")).await;
    let laptop = s.login_as("alice", Some(&long_agent)).await;
    let bare = s.login_as("alice", None).await;
    let bob = s.login_as("bob", Some("Bob/1.0")).await;

    // Without a valid bearer token: 401.
    let r = s.get("/api/auth/sessions", None).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("missing_token"))
    );
    assert_eq!(s.sessions("garbage").await.status, 401);

    let r = s.sessions(&laptop.field("accessToken")).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    let list = r.json["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "{list:?}");
    for entry in &list {
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "absoluteExpiresAt",
                "createdAt",
                "current",
                "device",
                "expiresAt",
                "id",
                "lastRefreshedAt"
            ]
        );
        assert!(entry["createdAt"].as_u64().unwrap() <= entry["lastRefreshedAt"].as_u64().unwrap());
        assert!(
            entry["expiresAt"].as_u64().unwrap() <= entry["absoluteExpiresAt"].as_u64().unwrap()
        );
    }
    let devices: Vec<&Value> = list.iter().map(|e| &e["device"]).collect();
    assert_eq!(devices[0], "Phone/1.0");
    let cut = devices[1].as_str().unwrap();
    assert!(cut.len() == 128 && long_agent.starts_with(cut), "{cut}");
    assert_eq!(devices[2], &Value::Null);
    let current: Vec<bool> = list
        .iter()
        .map(|e| e["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current, [false, true, false]);
    let phone_id = list[0]["id"].as_str().unwrap().to_owned();
    let laptop_id = list[1]["id"].as_str().unwrap().to_owned();

    // Bob's list holds only Bob's session; Alice cannot end it.
    let r = s.sessions(&bob.field("accessToken")).await;
    let bob_list = r.json["sessions"].as_array().unwrap().clone();
    assert_eq!(bob_list.len(), 1);
    let bob_id = bob_list[0]["id"].as_str().unwrap();
    let laptop_token = laptop.field("accessToken");
    for id in [
        bob_id,
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "%FF%FE",
    ] {
        let r = s
            .bearer(
                Method::DELETE,
                &format!("/api/auth/sessions/{id}"),
                &laptop_token,
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.json["error"].as_str()),
            (404, Some("not_found")),
            "{id}"
        );
    }
    assert_eq!(s.sessions(&bob.field("accessToken")).await.status, 200);
    assert_eq!(s.refresh(&bob.field("refreshToken")).await.status, 200);
    // Without a bearer token even a malformed id is a 401 first.
    let r = s
        .send(Method::DELETE, "/api/auth/sessions/%FF", &[], None)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("missing_token"))
    );
    // No bearer token: 401, nothing revoked.
    let r = s
        .send(
            Method::DELETE,
            &format!("/api/auth/sessions/{phone_id}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 401);

    // Ending the phone's session from the laptop: its tokens are refused.
    let r = s
        .bearer(
            Method::DELETE,
            &format!("/api/auth/sessions/{phone_id}"),
            &laptop_token,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert!(
        r.set_cookie().is_none(),
        "another session's end leaves my cookie alone"
    );
    assert_eq!(s.refresh(&phone.field("refreshToken")).await.status, 401);
    assert_eq!(
        s.get("/roles", Some(&phone.field("accessToken")))
            .await
            .status,
        401
    );
    let r = s
        .bearer(
            Method::DELETE,
            &format!("/api/auth/sessions/{phone_id}"),
            &laptop_token,
        )
        .await;
    assert_eq!(r.status, 404, "already ended");
    let ids: Vec<String> = s.sessions(&laptop_token).await.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&phone_id));

    // Ending one's own session is a logout: cookie cleared, tokens dead.
    let r = s
        .bearer(
            Method::DELETE,
            &format!("/api/auth/sessions/{laptop_id}"),
            &laptop_token,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.set_cookie().unwrap().value(), "");
    assert_eq!(s.get("/roles", Some(&laptop_token)).await.status, 401);
    assert_eq!(s.refresh(&laptop.field("refreshToken")).await.status, 401);
    // The third session lives on.
    assert_eq!(
        s.get("/roles", Some(&bare.field("accessToken")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_layer_and_the_extractors_refuse_with_the_same_bytes() {
    let s = app().await;
    // The layer's 401 (required layer, no token) and the extractor's
    // (optional layer let the request through, `Auth` finds no token).
    let from_layer = s.get("/roles", None).await;
    let from_extractor = s.get("/optional/auth", None).await;
    assert_eq!(from_layer.status, 401);
    assert_eq!(from_layer.status, from_extractor.status);
    assert_eq!(from_layer.json, from_extractor.json);
    assert_eq!(
        from_layer.json.to_string(),
        r#"{"error":"missing_token","error_description":"no access token"}"#
    );
    for header in [
        "content-type",
        "cache-control",
        "www-authenticate",
        "content-length",
    ] {
        assert_eq!(
            from_layer.headers.get(header),
            from_extractor.headers.get(header),
            "{header}"
        );
    }
}

#[tokio::test]
async fn extractors_answer_with_the_layers_realm_and_hook() {
    let s = app().await;
    let bob = s.login_as("bob", None).await.field("accessToken");
    // The extractor's 401 (optional layer, no token) and the guard's 403.
    let r = s.get("/shop/maybe-auth", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json, json!({ "problem": "missing_token" }));
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"shop\"");
    let r = s.get("/shop/admin", Some(&bob)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json, json!({ "problem": "insufficient_scope" }));
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"shop\", error=\"insufficient_scope\"")
    );
    // The layer's own refusal looks the same.
    let r = s.get("/shop/admin", Some("garbage")).await;
    assert_eq!(
        (r.status.as_u16(), r.json.clone()),
        (401, json!({ "problem": "invalid_token" }))
    );
}
