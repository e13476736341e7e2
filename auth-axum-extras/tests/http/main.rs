//! End-to-end tests of the extractors and the auth routes, over a real socket
//! with a real HTTP client.

use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::password::hash_password;
use auth_axum_extras::{
    Auth, AuthRoutes, CrossOriginProtection, InMemoryUsers, MaybeAuth, RefreshCookie, RequireRole,
    RequireScope, Role, Scope,
};
use auth_core::store::MemoryStore;
use auth_core::{Algorithm, Key, KeySet, ManualClock, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use contract_tests::{Client, Reply};
use http::StatusCode;
use serde_json::{Value, json};

mod introspect;
mod introspection_client;
mod login;
mod logout;
mod metadata;
mod refresh;
mod setup;

struct Admin;
impl Role for Admin {
    const NAME: &'static str = "admin";
}

struct Audit;
impl Scope for Audit {
    const NAME: &'static str = "audit:read";
}

/// A test server: the app on loopback, its authority and clock, and a client
/// of it (dereferences to [`Client`]).
struct Server {
    authority: TokenAuthority,
    clock: Arc<ManualClock>,
    client: Client,
}

impl std::ops::Deref for Server {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

fn users() -> InMemoryUsers<RoleClaims> {
    static HASHES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (alice, root) = HASHES.get_or_init(|| {
        (
            hash_password("alice-password").unwrap(),
            hash_password("root-password").unwrap(),
        )
    });
    InMemoryUsers::new()
        .user("alice", alice.clone(), RoleClaims::with_roles(["user"]))
        .user(
            "root",
            root.clone(),
            RoleClaims::with_roles(["user", "admin"]),
        )
}

async fn profile(Auth(c): Auth<RoleClaims>) -> axum::Json<Value> {
    axum::Json(json!({ "sub": c.sub, "roles": c.extra.roles }))
}

async fn server() -> Server {
    server_with(Algorithm::EdDSA, |r| r).await
}

async fn server_with(
    alg: Algorithm,
    configure: impl FnOnce(
        AuthRoutes<InMemoryUsers<RoleClaims>>,
    ) -> AuthRoutes<InMemoryUsers<RoleClaims>>,
) -> Server {
    let clock = Arc::new(ManualClock::starting_now());
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let key = match alg {
        Algorithm::HS256 => {
            Key::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").unwrap()
        }
        alg => Key::generate(alg).unwrap(),
    };
    let authority = TokenAuthority::builder(KeySet::new(key).unwrap())
        .store(Arc::new(store))
        .clock(clock.clone())
        .build()
        .unwrap();
    let protected = Router::new()
        .route("/profile", get(profile))
        .route(
            "/admin",
            get(|admin: RequireRole<Admin, RoleClaims>| async move { admin.sub.clone() }),
        )
        .route(
            "/audit",
            get(|a: RequireScope<Audit, RoleClaims>| async move { a.sub.clone() }),
        )
        .route(
            "/dynamic",
            get(|auth: Auth<RoleClaims>| async move {
                auth.require_role("admin").map(|()| auth.sub.clone())
            }),
        )
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
    let optional = Router::new()
        .route(
            "/hello",
            get(|MaybeAuth(c): MaybeAuth<RoleClaims>| async move {
                c.map_or("hello stranger".to_owned(), |c| format!("hello {}", c.sub))
            }),
        )
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()).optional());
    // A route the layer does not cover: the extractor alone must refuse.
    let unguarded = Router::new().route("/unguarded", get(profile));
    let routes = configure(AuthRoutes::new(authority.clone(), users()));
    let app = Router::new()
        .merge(protected)
        .merge(optional)
        .merge(unguarded)
        .merge(routes.into_router().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        authority,
        clock,
        client: Client::new(addr),
    }
}

impl Server {
    async fn login_ok(&self, user: &str) -> Reply {
        let r = self.login(user, &format!("{user}-password")).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r
    }

    /// Two sessions, and one `Cookie` header carrying both refresh tokens
    /// under our name: root's (as if planted from a sibling domain) before
    /// alice's. Returns alice's login, root's, and the header.
    async fn planted_beside_mine(&self) -> (Reply, Reply, String) {
        let mine = self.login_ok("alice").await;
        let planted = self.login_ok("root").await;
        let header = format!(
            "refresh_token={}; refresh_token={}",
            planted.field("refreshToken"),
            mine.field("refreshToken")
        );
        (mine, planted, header)
    }

    /// Neither the refresh token nor the access token of `pair` works.
    async fn assert_session_dead(&self, pair: &Reply) {
        let refresh = self.refresh_body(&pair.field("refreshToken")).await;
        assert_eq!(refresh.status, 401, "{}", refresh.json);
        let access = self.get("/profile", Some(&pair.field("accessToken"))).await;
        assert_eq!(access.status, 401, "{}", access.json);
    }

    async fn refresh_cookie(&self, token: &str) -> Reply {
        let cookie = format!("refresh_token={token}");
        self.post("/auth/refresh", &[("cookie", &cookie)], None)
            .await
    }
}
