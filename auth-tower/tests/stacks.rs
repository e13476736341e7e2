//! One layer type on three stacks, each served on a real loopback socket and
//! driven by a real client: axum, hyper 1, and tonic.

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use auth_core::store::MemoryStore;
use auth_core::{NoClaims, RoleClaims};
use auth_tower::{AuthLayer, RequireLayer};
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

#[tokio::test]
async fn axum_protected_route_accepts_a_valid_token_and_hands_over_typed_claims() {
    let app = app();
    let addr = serve_protected(&app).await;
    let token = access(&app, &["user"]).await;
    let r = get_bearer(addr, "/profile", &token).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
    let lower = format!("bearer {token}");
    assert_eq!(
        get_with(addr, "/profile", &[("authorization", &lower)])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn axum_refusals_carry_the_exact_status_and_challenge() {
    let app = app();
    let addr = serve_protected(&app).await;
    let invalid = |desc: &str| {
        format!("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{desc}\"")
    };

    let r = get_with(addr, "/profile", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge.as_deref(), Some("Bearer realm=\"api\""));
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "missing_token",
        "no access token",
    );

    let r = get_with(addr, "/profile", &[("authorization", "Bearer garbage")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge, Some(invalid("the token is invalid")));

    let r = get_with(addr, "/profile", &[("authorization", "Bearer a b")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.challenge
            .expect("challenge")
            .contains("error=\"invalid_request\"")
    );

    let expired = app
        .authority
        .test_tokens()
        .expired_access("alice", &RoleClaims::default())
        .expect("mint");
    let r = get_bearer(addr, "/profile", &expired).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge, Some(invalid("the token has expired")));

    let revoked = app
        .authority
        .test_tokens()
        .revoked_access("alice", &RoleClaims::default())
        .await
        .expect("mint");
    let r = get_bearer(addr, "/profile", &revoked).await;
    assert_eq!(
        (r.status, r.challenge),
        (
            StatusCode::UNAUTHORIZED,
            Some(invalid("the token has been revoked"))
        )
    );

    let pair = app
        .authority
        .issue("alice", &RoleClaims::default())
        .await
        .expect("issue");
    let r = get_bearer(addr, "/profile", &pair.refresh_token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge, Some(invalid("the token is of the wrong type")));

    let huge = "a".repeat(9000);
    let r = get_bearer(addr, "/profile", &huge).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn axum_a_token_expires_when_the_clock_moves() {
    let app = app();
    let addr = serve_protected(&app).await;
    let token = access(&app, &[]).await;
    assert_eq!(
        get_bearer(addr, "/profile", &token).await.status,
        StatusCode::OK
    );
    app.clock.advance(std::time::Duration::from_secs(16 * 60));
    assert_eq!(
        get_bearer(addr, "/profile", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn axum_optional_mode_passes_anonymous_requests_but_not_bad_tokens() {
    let app = app();
    let addr = serve_axum(axum_app(
        AuthLayer::new(app.authority.validator().clone()).optional(),
    ))
    .await;
    let r = get_with(addr, "/profile", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "anonymous"));
    let r = get_with(addr, "/profile", &[("authorization", "Bearer garbage")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let token = access(&app, &[]).await;
    let r = get_bearer(addr, "/profile", &token).await;
    assert_eq!(r.body, "alice");
    // The role guard refuses an anonymous request with 401, not 403.
    assert_eq!(
        get_with(addr, "/admin", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn axum_role_guard_answers_403_insufficient_scope() {
    let app = app();
    let addr = serve_protected(&app).await;
    let user = access(&app, &["user"]).await;
    let r = get_bearer(addr, "/admin", &user).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let challenge = r.challenge.expect("challenge");
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"admin\"")
    );
    let admin = access(&app, &["user", "admin"]).await;
    let r = get_bearer(addr, "/admin", &admin).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "admin area"));
}

#[tokio::test]
async fn axum_token_from_a_cookie() {
    let app = app();
    let layer = AuthLayer::new(app.authority.validator().clone()).cookie("access_token");
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &[]).await;
    let cookie = format!("theme=dark; access_token={token}");
    let r = get_with(addr, "/profile", &[("cookie", &cookie)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
}

#[tokio::test]
async fn axum_a_store_that_answers_later_is_awaited_and_one_that_is_down_gives_503() {
    let app = app_with(Some(Arc::new(AsyncCheck(MemoryStore::new(), Backend::Up))));
    let addr = serve_protected(&app).await;
    let token = access(&app, &[]).await;
    let r = get_bearer(addr, "/profile", &token).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
    let revoked = app
        .authority
        .test_tokens()
        .revoked_access("alice", &RoleClaims::default())
        .await
        .expect("mint");
    assert_eq!(
        get_bearer(addr, "/profile", &revoked).await.status,
        StatusCode::UNAUTHORIZED
    );

    let down = app_with(Some(Arc::new(AsyncCheck(
        MemoryStore::new(),
        Backend::Down,
    ))));
    let addr = serve_protected(&down).await;
    let token = access(&down, &[]).await;
    let r = get_bearer(addr, "/profile", &token).await;
    assert_eq!(r.challenge, None);
    // Refused after the wait, in the response future: the same JSON.
    assert_refusal(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the authorization service is temporarily unavailable",
    );
}

/// A store whose check never answers must not hold requests forever: the
/// layer times the check out and refuses with 503 (fail closed).
#[tokio::test]
async fn axum_a_store_check_that_hangs_is_timed_out_with_503() {
    let app = app_with(Some(Arc::new(AsyncCheck(
        MemoryStore::new(),
        Backend::Hung,
    ))));
    let layer = AuthLayer::new(app.authority.validator().clone())
        .check_timeout(Some(std::time::Duration::from_millis(200)));
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &[]).await;
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        get_bearer(addr, "/profile", &token),
    )
    .await
    .expect("the layer answers instead of waiting for the store forever");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    // The default applies without any setting.
    let addr = serve_protected(&app).await;
    let r = tokio::time::timeout(
        auth_tower::DEFAULT_CHECK_TIMEOUT * 5,
        get_bearer(addr, "/profile", &token),
    )
    .await
    .expect("the default timeout applies");
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn hyper_service_fn_behind_the_same_layer() {
    let app = app();
    let layer = AuthLayer::<NoClaims>::new(app.authority.validator().clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(
                |req: Request<Incoming>| async move {
                    let sub = auth_tower::claims::<NoClaims>(req.extensions())
                        .ok()
                        .flatten()
                        .map(|c| c.sub.clone());
                    Ok::<_, Infallible>(http::Response::new(Full::<Bytes>::from(
                        sub.unwrap_or_default(),
                    )))
                },
            );
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(svc),
            ));
        }
    });
    let r = get_with(addr, "/", &[]).await;
    assert_eq!(
        (r.status, r.challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("Bearer realm=\"api\""))
    );
    let token = access(&app, &[]).await;
    let r = get_bearer(addr, "/", &token).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "alice"));
    let r = get_with(addr, "/", &[("authorization", "Bearer x.y.z")]).await;
    assert_refusal(
        &r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the token is invalid",
    );
}

async fn serve_tonic(app: &App, admin_only: bool) -> String {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let auth = AuthLayer::<RoleClaims>::new(app.authority.validator().clone());
    if admin_only {
        let router = tonic::transport::Server::builder()
            .layer(auth)
            .layer(RequireLayer::<_, RoleClaims>::role("admin"))
            .add_service(health);
        tokio::spawn(router.serve_with_incoming(incoming));
    } else {
        let router = tonic::transport::Server::builder()
            .layer(auth)
            .add_service(health);
        tokio::spawn(router.serve_with_incoming(incoming));
    }
    format!("http://{addr}")
}

async fn health_check(url: String, token: Option<&str>) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", bearer(t).parse().expect("metadata"));
    }
    client.check(req).await.map(|_| ())
}

#[tokio::test]
async fn tonic_calls_need_authorization_metadata() {
    let app = app();
    let url = serve_tonic(&app, false).await;
    let err = health_check(url.clone(), None).await.expect_err("no token");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.message(), "no access token");
    let token = access(&app, &[]).await;
    health_check(url.clone(), Some(&token))
        .await
        .expect("authorized call");
    let expired = app
        .authority
        .test_tokens()
        .expired_access("alice", &RoleClaims::default())
        .expect("mint");
    let err = health_check(url, Some(&expired))
        .await
        .expect_err("expired");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.message(), "the token has expired");
}

#[tokio::test]
async fn tonic_missing_role_is_permission_denied_and_store_outage_unavailable() {
    let app = app();
    let url = serve_tonic(&app, true).await;
    let user = access(&app, &["user"]).await;
    assert_eq!(
        health_check(url.clone(), Some(&user))
            .await
            .expect_err("user")
            .code(),
        tonic::Code::PermissionDenied
    );
    let admin = access(&app, &["admin"]).await;
    health_check(url, Some(&admin)).await.expect("admin passes");

    let down = app_with(Some(Arc::new(AsyncCheck(
        MemoryStore::new(),
        Backend::Down,
    ))));
    let url = serve_tonic(&down, false).await;
    let token = access(&down, &[]).await;
    assert_eq!(
        health_check(url, Some(&token))
            .await
            .expect_err("down")
            .code(),
        tonic::Code::Unavailable
    );
}
