//! Refresh: rotation by body and by cookie, bad and reused tokens,
//! concurrent refreshes, duplicate cookies.

use super::*;

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
