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
use auth_core::{Algorithm, Key, KeySet, NoClaims, Reload, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use contract_tests::{Client, Reply};
use http::Method;
use serde_json::{Value, json};

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

    async fn reload(&self, subject: &str) -> Reload<RoleClaims> {
        if *self.down.lock().unwrap() {
            return Reload::Unavailable("directory down".into());
        }
        match self.users.lock().unwrap().get(subject) {
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
