//! One error shape: the layers' HTTP refusals carry the JSON body of the
//! extractors, a mistake in the stack is a 500 with that body, and an
//! `on_rejection` hook writes the answer when the application wants its own.

mod common;

use std::sync::Arc;

use auth_core::store::MemoryStore;
use auth_core::{NoClaims, RoleClaims};
use auth_tower::{AuthLayer, Rejection, RequireLayer};
use axum::{Router, routing::get};
use bytes::Bytes;
use common::*;
use http::{HeaderValue, Response, StatusCode, header};

#[tokio::test]
async fn every_http_refusal_of_the_layer_is_the_extractors_json() {
    let app = app();
    let addr = serve_protected(&app).await;

    let r = get_with(addr, "/profile", &[]).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "missing_token",
        "no access token",
    );
    assert_eq!(r.challenge.as_deref(), Some("Bearer realm=\"api\""));
    assert_eq!(
        r.body,
        r#"{"error":"missing_token","error_description":"no access token"}"#
    );

    let r = get_with(addr, "/profile", &[("authorization", "Bearer a b")]).await;
    assert_refusal(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the Bearer credentials are not one token",
    );

    let expired = app
        .authority
        .test_tokens()
        .expired_access("alice", &RoleClaims::default())
        .expect("mint");
    let r = get_bearer(addr, "/profile", &expired).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the token has expired",
    );
    assert!(r.challenge.expect("challenge").contains("invalid_token"));

    let user = access(&app, &["user"]).await;
    let r = get_bearer(addr, "/admin", &user).await;
    assert_refusal(
        &r,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        "the token lacks the required privileges",
    );
    assert!(r.challenge.expect("challenge").ends_with("scope=\"admin\""));

    let huge = "a".repeat(9000);
    let r = get_bearer(addr, "/profile", &huge).await;
    assert_refusal(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the token is too large",
    );
}

/// The body is exactly what `Rejection::to_response` writes, so an extractor
/// that answers with it matches the layer byte for byte.
#[tokio::test]
async fn the_layer_answers_exactly_rejection_to_response() {
    let app = app();
    let addr = serve_protected(&app).await;
    let expected = Rejection::Missing.to_response("api", false);
    let r = get_with(addr, "/profile", &[]).await;
    assert_eq!(r.status, expected.status());
    assert_eq!(r.body.as_bytes(), expected.body().as_ref());
    for (name, value) in expected.headers() {
        assert_eq!(r.headers.get(name), Some(value), "{name}");
    }
}

/// A `RequireLayer` of one claims type under an `AuthLayer` of another (or
/// under none) is a bug in the app: 500 with the JSON body, never "no token".
#[tokio::test]
async fn require_layer_without_a_matching_auth_layer_is_a_500_with_json() {
    let app = app();
    let token = access(&app, &["admin"]).await;
    let require = || RequireLayer::<_, RoleClaims>::role("admin");
    let mismatch = Router::new()
        .route("/mismatch", get(|| async { "never" }).layer(require()))
        .layer(AuthLayer::<NoClaims>::new(
            app.authority.validator().clone(),
        ));
    let outside = Router::new()
        .route("/outside", get(|| async { "never" }))
        .route_layer(require());
    let addr = serve_axum(mismatch.merge(outside)).await;
    for path in ["/mismatch", "/outside"] {
        let r = get_bearer(addr, path, &token).await;
        assert_refusal(
            &r,
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server is misconfigured",
        );
        assert_eq!(r.challenge, None, "{path}");
    }
}

#[tokio::test]
async fn on_rejection_writes_the_answer_of_each_layer() {
    let app = app();
    let hook = |req: &auth_tower::RejectedRequest<'_>| {
        let mut res = Response::new(Bytes::from(format!(
            "{} {} refused: {}",
            req.method(),
            req.uri().path(),
            req.rejection().code()
        )));
        *res.status_mut() = req.rejection().status();
        res.headers_mut().insert(
            "x-realm",
            HeaderValue::from_str(req.realm()).expect("ascii"),
        );
        res
    };
    let router = Router::new()
        .route(
            "/admin",
            get(|| async { "admin area" }).layer(
                RequireLayer::<_, RoleClaims>::role("admin")
                    .realm("shop")
                    .on_rejection(hook),
            ),
        )
        .route("/profile", get(|| async { "profile" }))
        .layer(
            AuthLayer::<RoleClaims>::new(app.authority.validator().clone())
                .realm("shop")
                .on_rejection(hook),
        );
    let addr = serve_axum(router).await;

    let r = get_with(addr, "/profile", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, "GET /profile refused: missing_token");
    assert_eq!(r.headers["x-realm"], "shop");
    assert_eq!(r.challenge, None);

    let user = access(&app, &["user"]).await;
    let r = get_bearer(addr, "/admin", &user).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, "GET /admin refused: insufficient_scope");

    let admin = access(&app, &["admin"]).await;
    assert_eq!(get_bearer(addr, "/admin", &admin).await.body, "admin area");
}

/// A refusal decided after waiting for the store goes through the hook too.
#[tokio::test]
async fn on_rejection_answers_a_refusal_after_a_store_wait() {
    let down = app_with(Some(Arc::new(AsyncCheck(
        MemoryStore::new(),
        Backend::Down,
    ))));
    let layer = AuthLayer::new(down.authority.validator().clone()).on_rejection(|req| {
        let mut res = req.default_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        res
    });
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&down, &[]).await;
    let r = get_bearer(addr, "/profile", &token).await;
    assert_refusal(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the authorization service is temporarily unavailable",
    );
    assert_eq!(r.headers[header::RETRY_AFTER], "5");
}
