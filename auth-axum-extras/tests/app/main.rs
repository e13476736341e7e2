//! What a real application wires up, end to end over a real socket: claims
//! types that must match the layer's, claims reloaded at refresh from the
//! application's own user directory, the session endpoints, and extra login
//! fields for the verifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use auth_axum_extras::{
    Auth, AuthRoutes, CredentialVerifier, Credentials, LoginError, MaybeAuth, RequireRole, Role,
    Verified,
};
use auth_core::{Algorithm, Key, KeySet, NoClaims, Reload, RoleClaims, Session, TokenAuthority};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use contract_tests::{Client, Reply};
use http::Method;
use serde_json::{Value, json};

mod claims;
mod dpop;
mod dpop_nonce;
mod refusals;
mod step_up;
mod wiring;

struct AdminRole;
impl Role for AdminRole {
    const NAME: &'static str = "admin";
}

/// The application's user directory: it can change while sessions live.
#[derive(Clone, Default)]
struct Directory {
    users: Arc<Mutex<HashMap<String, Entry>>>,
    down: Arc<Mutex<bool>>,
    /// The `Debug` output of the last credentials seen.
    last_seen: Arc<Mutex<String>>,
}

#[derive(Clone)]
struct Entry {
    password: String,
    tenant: String,
    roles: Vec<&'static str>,
    enabled: bool,
}

impl Directory {
    fn add(&self, name: &str, tenant: &str, roles: &[&'static str]) {
        self.users.lock().unwrap().insert(
            name.to_owned(),
            Entry {
                password: format!("{name}-password"),
                tenant: tenant.to_owned(),
                roles: roles.to_vec(),
                enabled: true,
            },
        );
    }

    fn edit(&self, name: &str, f: impl FnOnce(&mut Entry)) {
        f(self.users.lock().unwrap().get_mut(name).unwrap());
    }
}

impl CredentialVerifier for Directory {
    type Claims = RoleClaims;

    async fn verify(&self, c: Credentials) -> Result<Verified<RoleClaims>, LoginError> {
        *self.last_seen.lock().unwrap() = format!("{c:?}");
        let users = self.users.lock().unwrap();
        let entry = users
            .get(&c.username)
            .filter(|e| e.password == c.password && e.enabled)
            .ok_or(LoginError::InvalidCredentials)?;
        // The tenant and the one-time code are the app's own login fields.
        if c.field::<String>("tenant").as_deref() != Some(entry.tenant.as_str())
            || c.field::<u32>("otp") != Some(123_456)
        {
            return Err(LoginError::InvalidCredentials);
        }
        Ok(Verified {
            subject: c.username.clone(),
            claims: RoleClaims::with_roles(entry.roles.iter().copied()),
        })
    }

    async fn reload(&self, session: Session<RoleClaims>) -> Reload<RoleClaims> {
        if *self.down.lock().unwrap() {
            return Reload::Unavailable("directory down".into());
        }
        match self.users.lock().unwrap().get(&session.subject) {
            Some(e) if e.enabled => {
                Reload::Replace(RoleClaims::with_roles(e.roles.iter().copied()))
            }
            _ => Reload::Refuse("user disabled or deleted".into()),
        }
    }
}

struct App {
    client: Client,
    directory: Directory,
}

impl std::ops::Deref for App {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Serves `app` on a loopback port (with the peer address the throttle
/// reads) and answers a client of it.
async fn serve(app: Router) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Client::new(addr)
}

async fn roles(Auth(c): Auth<RoleClaims>) -> axum::Json<Value> {
    axum::Json(json!({ "sub": c.sub, "roles": c.extra.roles }))
}

/// Everything this test binary logs, from the first [`app`] on.
fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn app() -> App {
    log_buffer();
    let authority =
        TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap())
            .build()
            .unwrap();
    let directory = Directory::default();
    directory.add("alice", "acme", &["user", "admin"]);
    directory.add("bob", "acme", &["user"]);
    let layer = AuthLayer::<RoleClaims>::new(authority.validator().clone());
    let required = Router::new()
        .route("/roles", get(roles))
        // The wrong claims type behind this layer: a server bug, never "no token".
        .route(
            "/wrong-type",
            get(|_: Auth<NoClaims>| async { "unreachable" }),
        )
        .route(
            "/wrong-type-maybe",
            get(|_: MaybeAuth<NoClaims>| async { "unreachable" }),
        )
        .route(
            "/wrong-type-option",
            get(|_: Option<Auth<NoClaims>>| async { "unreachable" }),
        )
        .layer(layer.clone());
    let optional = Router::new()
        .route(
            "/optional/maybe",
            get(|MaybeAuth(c): MaybeAuth<RoleClaims>| async move {
                c.map_or("anonymous".to_owned(), |c| c.sub.clone())
            }),
        )
        .route(
            "/optional/option",
            get(|c: Option<Auth<RoleClaims>>| async move {
                c.map_or("anonymous".to_owned(), |c| c.0.sub.clone())
            }),
        )
        .route("/optional/auth", get(roles))
        .route(
            "/optional/wrong-type",
            get(|_: MaybeAuth<NoClaims>| async { "unreachable" }),
        )
        .layer(layer.optional());
    // A layer with its own realm and refusal shape: the extractors behind it
    // answer the same way.
    let shop = Router::new()
        .route("/shop/maybe-auth", get(roles))
        .route(
            "/shop/admin",
            get(|a: RequireRole<AdminRole, RoleClaims>| async move { a.sub.clone() }),
        )
        .layer(
            AuthLayer::<RoleClaims>::new(authority.validator().clone())
                .optional()
                .realm("shop")
                .on_rejection(|req| {
                    let mut res = req.default_response();
                    *res.body_mut() =
                        format!(r#"{{"problem":"{}"}}"#, req.rejection().code()).into();
                    let len = res.body().len();
                    res.headers_mut().insert("content-length", len.into());
                    res
                }),
        );
    // No layer at all.
    let bare = Router::new().route("/no-layer", get(roles));
    let routes = AuthRoutes::new(authority, directory.clone())
        .prefix("/api/auth")
        .into_router()
        .unwrap();
    let app = Router::new()
        .merge(required)
        .merge(optional)
        .merge(shop)
        .merge(bare)
        .merge(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    App {
        client: Client::new(addr),
        directory,
    }
}

impl App {
    async fn login_as(&self, user: &str, agent: Option<&str>) -> Reply {
        let body = json!({
            "username": user,
            "password": format!("{user}-password"),
            "tenant": "acme",
            "otp": 123456,
        })
        .to_string();
        let headers: Vec<(&str, &str)> = agent.iter().map(|a| ("user-agent", *a)).collect();
        let r = self.post("/api/auth/login", &headers, Some(&body)).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r
    }

    async fn refresh(&self, token: &str) -> Reply {
        let body = json!({ "refreshToken": token }).to_string();
        self.post("/api/auth/refresh", &[], Some(&body)).await
    }

    async fn sessions(&self, token: &str) -> Reply {
        self.bearer(Method::GET, "/api/auth/sessions", token).await
    }
}

fn assert_server_error(r: &Reply) {
    assert_eq!(r.status, 500, "{}", r.json);
    assert_eq!(r.json["error"], "server_error");
    assert!(r.headers.get("www-authenticate").is_none());
}
