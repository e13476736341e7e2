//! Claims: a mismatched or missing layer, claims reloaded from the
//! directory, extra login fields.

use super::*;

#[tokio::test]
async fn a_claims_type_mismatch_or_a_missing_layer_is_a_500_never_no_token() {
    let s = app().await;
    let token = s.login_as("alice", None).await.field("accessToken");

    assert_eq!(s.get("/roles", Some(&token)).await.status, 200);
    // A valid token, read with the wrong type: 500, whatever the extractor.
    assert_server_error(&s.get("/wrong-type", Some(&token)).await);
    assert_server_error(&s.get("/wrong-type-maybe", Some(&token)).await);
    assert_server_error(&s.get("/wrong-type-option", Some(&token)).await);
    // Behind an optional layer, with and without a token.
    assert_server_error(&s.get("/optional/wrong-type", Some(&token)).await);
    assert_server_error(&s.get("/optional/wrong-type", None).await);
    // No layer at all: 500 too, with or without a token.
    assert_server_error(&s.get("/no-layer", Some(&token)).await);
    assert_server_error(&s.get("/no-layer", None).await);
    // Each is logged as an error naming the type asked for and the layer's.
    let logs = logs();
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.iter().any(|l| l.contains("misconfigured")
            && l.contains("AccessClaims<auth_core::claims::RoleClaims>")
            && l.contains("AccessClaims<auth_core::claims::NoClaims>")),
        "{logs}"
    );
    assert!(
        errors.iter().any(|l| l.contains("no AuthLayer ran")),
        "{logs}"
    );

    // The right type behind an optional layer: no token is "anonymous" for
    // the optional extractors and 401 missing_token for Auth.
    assert_eq!(s.get("/optional/maybe", None).await.json, "anonymous");
    assert_eq!(s.get("/optional/option", None).await.json, "anonymous");
    assert_eq!(s.get("/optional/maybe", Some(&token)).await.json, "alice");
    assert_eq!(s.get("/optional/option", Some(&token)).await.json, "alice");
    let r = s.get("/optional/auth", None).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("missing_token"))
    );
    assert_eq!(s.get("/optional/auth", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn refresh_reloads_claims_from_the_directory_and_a_disabled_user_is_out() {
    let s = app().await;
    let login = s.login_as("alice", None).await;
    let r = s.get("/roles", Some(&login.field("accessToken"))).await;
    assert_eq!(r.json["roles"], json!(["user", "admin"]));

    // Demoted while logged in: the next access token says so.
    s.directory.edit("alice", |e| e.roles = vec!["user"]);
    let pair = s.refresh(&login.field("refreshToken")).await;
    assert_eq!(pair.status, 200, "{}", pair.json);
    let r = s.get("/roles", Some(&pair.field("accessToken"))).await;
    assert_eq!(r.json["roles"], json!(["user"]));

    // The directory is down: 503, and the same refresh token works later.
    *s.directory.down.lock().unwrap() = true;
    let r = s.refresh(&pair.field("refreshToken")).await;
    assert_eq!(r.status, 503, "{}", r.json);
    assert_eq!(r.json["error"], "temporarily_unavailable");
    *s.directory.down.lock().unwrap() = false;
    let pair = s.refresh(&pair.field("refreshToken")).await;
    assert_eq!(pair.status, 200, "{}", pair.json);

    // Disabled: the refresh is refused and the whole session is gone.
    s.directory.edit("alice", |e| e.enabled = false);
    let r = s.refresh(&pair.field("refreshToken")).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let access = pair.field("accessToken");
    assert_eq!(s.get("/roles", Some(&access)).await.status, 401);
    assert_eq!(s.sessions(&access).await.status, 401);
    // Re-enabled, the old session stays dead: only a new login helps.
    s.directory.edit("alice", |e| e.enabled = true);
    assert_eq!(s.refresh(&pair.field("refreshToken")).await.status, 401);
    s.login_as("alice", None).await;
}

#[tokio::test]
async fn the_verifier_sees_extra_login_fields_but_never_logs_their_values() {
    let s = app().await;
    let body = |tenant: &str, otp: u32| {
        json!({ "username": "bob", "password": "bob-password", "tenant": tenant, "otp": otp })
            .to_string()
    };
    let r = s
        .post("/api/auth/login", &[], Some(&body("acme", 123456)))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let seen = s.directory.last_seen.lock().unwrap().clone();
    assert!(seen.contains("tenant") && seen.contains("otp"), "{seen}");
    assert!(
        !seen.contains("123456") && !seen.contains("bob-password"),
        "{seen}"
    );

    let r = s
        .post("/api/auth/login", &[], Some(&body("globex", 123456)))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let r = s
        .post("/api/auth/login", &[], Some(&body("acme", 111111)))
        .await;
    assert_eq!(r.status, 401);
    // The body cap covers the extra fields: 413, not an allocation.
    let huge =
        json!({ "username": "bob", "password": "bob-password", "tenant": "x".repeat(20_000) })
            .to_string();
    assert_eq!(
        s.post("/api/auth/login", &[], Some(&huge)).await.status,
        413
    );
}
