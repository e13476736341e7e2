//! What the integration tests share: an authority on a manual clock, real
//! servers on loopback, a real HTTP client, and a store whose checks wait.
#![allow(dead_code)] // Each test file uses its own part of these.

use std::net::SocketAddr;
use std::sync::Arc;

use auth_core::store::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, Store,
};
use auth_core::{
    AccessClaims, Algorithm, Key, KeySet, ManualClock, RoleClaims, StoreError, TokenAuthority,
    TokenRef,
};
use auth_tower::{AuthLayer, RequireLayer};
use axum::{Extension, Router, routing::get};
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

pub struct App {
    pub authority: TokenAuthority,
    pub clock: Arc<ManualClock>,
}

pub fn app_with(store: Option<Arc<dyn Store>>) -> App {
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

pub fn app() -> App {
    app_with(None)
}

/// An access token for `alice` with `roles`.
pub async fn access(app: &App, roles: &[&str]) -> String {
    app.authority
        .issue("alice", &RoleClaims::with_roles(roles.iter().copied()))
        .await
        .expect("issue")
        .access_token
}

pub async fn serve_axum(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// `/profile` (the subject, or `anonymous`) and `/admin` (role `admin`)
/// behind `layer`.
pub fn axum_app(layer: AuthLayer<RoleClaims>) -> Router {
    Router::new()
        .route(
            "/profile",
            get(
                |claims: Option<Extension<Arc<AccessClaims<RoleClaims>>>>| async move {
                    claims.map_or("anonymous".to_owned(), |Extension(c)| c.sub.clone())
                },
            ),
        )
        .route(
            "/admin",
            get(|| async { "admin area" }).layer(RequireLayer::<_, RoleClaims>::role("admin")),
        )
        .layer(layer)
}

/// The axum app behind a default `AuthLayer` of `app`'s authority.
pub async fn serve_protected(app: &App) -> SocketAddr {
    serve_axum(axum_app(AuthLayer::new(app.authority.validator().clone()))).await
}

pub struct Reply {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
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
    let headers = res.headers().clone();
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        challenge,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET path` with `Authorization: Bearer <token>`.
pub async fn get_bearer(addr: SocketAddr, path: &str, token: &str) -> Reply {
    get_with(addr, path, &[("authorization", &bearer(token))]).await
}

/// The JSON body the extractors of `auth-axum-extras` answer with:
/// `{"error":"<code>","error_description":"<description>"}`, exactly.
pub fn error_json(code: &str, description: &str) -> String {
    format!(r#"{{"error":"{code}","error_description":"{description}"}}"#)
}

/// Asserts that `r` is the layer's HTTP refusal: `status`, the JSON error
/// body, `application/json`, `no-store`.
#[track_caller]
pub fn assert_refusal(r: &Reply, status: StatusCode, code: &str, description: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body, error_json(code, description));
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        r.headers[header::CONTENT_LENGTH],
        r.body.len().to_string().as_str()
    );
}

/// Wraps the memory store but answers checks through a future, as a store
/// that does I/O would: exercises the layer's awaiting path.
#[derive(Debug)]
pub struct AsyncCheck(pub MemoryStore, pub Backend);

/// How the remote side of [`AsyncCheck`] behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
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
    fn revoke_session<'a>(
        &'a self,
        sid: uuid::Uuid,
        sub: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.0.revoke_session(sid, sub, until)
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
