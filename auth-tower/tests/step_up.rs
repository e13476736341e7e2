//! RFC 9470 step-up: `RequireLayer::login_within` over a real server, for
//! HTTP and gRPC callers.

mod common;

use std::time::Duration;

use auth_core::{AuthError, RoleClaims};
use auth_tower::{AuthLayer, Rejection, RequireLayer};
use axum::{Router, routing::get};
use common::*;
use http::StatusCode;

const CHALLENGE: &str = "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
     error_description=\"a more recent sign-in is required for this operation\", max_age=300";

#[tokio::test]
async fn an_old_login_is_asked_to_sign_in_again_and_a_refresh_is_no_sign_in() {
    let app = app();
    let recent = RequireLayer::<_, RoleClaims>::login_within(Duration::from_secs(300))
        .clock(app.clock.clone());
    let router = Router::new()
        .route("/rotate", get(|| async { "rotated" }).layer(recent))
        .route("/profile", get(|| async { "profile" }))
        .layer(AuthLayer::<RoleClaims>::new(
            app.authority.validator().clone(),
        ));
    let addr = serve_axum(router).await;
    let login = app
        .authority
        .issue("alice", &RoleClaims::with_roles(["admin"]))
        .await
        .expect("login");

    let r = get_bearer(addr, "/rotate", &login.access_token).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "rotated"));
    // max_age is inclusive: a login exactly 300 s old passes.
    app.clock.advance(Duration::from_secs(300));
    let r = get_bearer(addr, "/rotate", &login.access_token).await;
    assert_eq!(r.status, StatusCode::OK);

    app.clock.advance(Duration::from_secs(1));
    let r = get_bearer(addr, "/rotate", &login.access_token).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "insufficient_user_authentication",
        "a more recent sign-in is required for this operation",
    );
    assert_eq!(r.challenge.as_deref(), Some(CHALLENGE));
    // The token itself is fine elsewhere.
    let r = get_bearer(addr, "/profile", &login.access_token).await;
    assert_eq!(r.status, StatusCode::OK);

    // A refresh keeps the login's time: its token is refused the same way.
    let refreshed = app
        .authority
        .refresh(&login.refresh_token)
        .await
        .expect("refresh");
    let r = get_bearer(addr, "/rotate", &refreshed.access_token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some(CHALLENGE));

    // Signing in again passes.
    let again = app
        .authority
        .issue("alice", &RoleClaims::with_roles(["admin"]))
        .await
        .expect("login");
    let r = get_bearer(addr, "/rotate", &again.access_token).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_challenge_names_the_acr_values_and_grpc_callers_are_unauthenticated() {
    let app = app();
    let recent = RequireLayer::<_, RoleClaims>::login_within(Duration::from_secs(60))
        .acr_values("urn:example:mfa \"x\"")
        .clock(app.clock.clone());
    let router = Router::new()
        .route("/delete-account", get(|| async { "deleted" }).layer(recent))
        .layer(AuthLayer::<RoleClaims>::new(
            app.authority.validator().clone(),
        ));
    let addr = serve_axum(router).await;
    let token = access(&app, &[]).await;
    app.clock.advance(Duration::from_secs(61));
    let r = get_bearer(addr, "/delete-account", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.challenge.expect("a challenge");
    assert!(
        challenge.ends_with(", max_age=60, acr_values=\"urn:example:mfa x\""),
        "quotes dropped from the quoted string: {challenge}"
    );

    let grpc = get_with(
        addr,
        "/delete-account",
        &[
            ("authorization", &bearer(&token)),
            ("content-type", "application/grpc"),
        ],
    )
    .await;
    assert_eq!(grpc.status, StatusCode::OK, "trailers-only");
    assert_eq!(grpc.headers["grpc-status"], "16", "UNAUTHENTICATED");

    let rejection = Rejection::Token(AuthError::LoginTooOld {
        max_age: 60,
        acr_values: None,
    });
    assert_eq!(rejection.code(), "insufficient_user_authentication");
    assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
}
