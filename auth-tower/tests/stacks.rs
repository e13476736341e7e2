//! One layer type on three stacks, each served on a real loopback socket and
//! driven by a real client: axum, hyper 1, and tonic.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use auth_core::store::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, Store,
};
use auth_core::{
    AccessClaims, Algorithm, Key, KeySet, ManualClock, NoClaims, RoleClaims, StoreError,
    TokenAuthority, TokenRef,
};
use auth_tower::{AuthLayer, RequireLayer};
use axum::{Extension, Router, routing::get};
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

struct App {
    authority: TokenAuthority,
    clock: Arc<ManualClock>,
}

fn app_with(store: Option<Arc<dyn Store>>) -> App {
    let clock = Arc::new(ManualClock::starting_now());
    let keys = KeySet::new(Key::generate(Algorithm::HS256).expect("key")).expect("set");
    let mut b = TokenAuthority::builder(keys).clock(clock.clone());
    if let Some(store) = store {
        b = b.store(store);
    }
    App {
        authority: b.build().expect("authority"),
        clock,
    }
}

fn app() -> App {
    app_with(None)
}

async fn access(app: &App, roles: &[&str]) -> String {
    app.authority
        .issue("alice", &RoleClaims::with_roles(roles.iter().copied()))
        .await
        .expect("issue")
        .access_token
}

async fn serve_axum(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn axum_app(layer: AuthLayer<RoleClaims>) -> Router {
    Router::new()
        .route(
            "/profile",
            get(
                |claims: Option<Extension<AccessClaims<RoleClaims>>>| async move {
                    claims.map_or("anonymous".to_owned(), |Extension(c)| c.sub)
                },
            ),
        )
        .route(
            "/admin",
            get(|| async { "admin area" }).layer(RequireLayer::<RoleClaims, _>::role("admin")),
        )
        .layer(layer)
}

/// The axum app behind a default `AuthLayer` of `app`'s authority.
async fn serve_protected(app: &App) -> SocketAddr {
    serve_axum(axum_app(AuthLayer::new(app.authority.validator().clone()))).await
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Full::default()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let challenge = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        challenge,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET path` with `Authorization: Bearer <token>`.
async fn get_bearer(addr: SocketAddr, path: &str, token: &str) -> Reply {
    get_with(addr, path, &[("authorization", &bearer(token))]).await
}

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
    assert!(r.body.is_empty());

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

/// Wraps the memory store but answers checks through a future, as a store
/// that does I/O would: exercises the layer's awaiting path.
#[derive(Debug)]
struct AsyncCheck(MemoryStore, Backend);

/// How the remote side of [`AsyncCheck`] behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Up,
    Down,
    /// Never answers.
    Hung,
}

impl Store for AsyncCheck {
    fn check(&self, token: &TokenRef<'_>) -> Check {
        let answer = self.0.check(token).now();
        let backend = self.1;
        Check::pending(async move {
            tokio::task::yield_now().await;
            match backend {
                Backend::Up => {}
                Backend::Down => return Err(StoreError::Unavailable("backend down".into())),
                Backend::Hung => std::future::pending::<()>().await,
            }
            match answer {
                Ok(v) => v,
                Err(_) => Err(StoreError::Unavailable(
                    "memory store must answer at once".into(),
                )),
            }
        })
    }
    fn create_session(&self, s: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        self.0.create_session(s)
    }
    fn rotate(&self, r: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        self.0.rotate(r)
    }
    fn revoke_token(&self, jti: uuid::Uuid, until: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.0.revoke_token(jti, until)
    }
    fn revoke_session(
        &self,
        sid: uuid::Uuid,
        until: u64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.0.revoke_session(sid, until)
    }
    fn revoke_subject<'a>(
        &'a self,
        s: &'a str,
        c: u64,
        u: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.0.revoke_subject(s, c, u)
    }
    fn sessions<'a>(&'a self, s: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        self.0.sessions(s)
    }
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
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.challenge, None);
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
                    let sub = req
                        .extensions()
                        .get::<AccessClaims<NoClaims>>()
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
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
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
            .layer(RequireLayer::<RoleClaims, _>::role("admin"))
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
