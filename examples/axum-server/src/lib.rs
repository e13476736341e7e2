//! The example server: an axum app with login, refresh, logout and protected
//! routes, built from the `auth-*` crates. `main.rs` parses the flags and
//! calls [`run`]; the contract tests call the same functions in-process.
//!
//! Routes: `GET /` (the demo page, with `/app.js` and `/auth-client.js`),
//! `POST /auth/login`, `POST /auth/refresh`, `POST /auth/logout`,
//! `POST /auth/logout-all`, `GET /profile`, `GET /admin` (role `admin`),
//! `GET /auth/sessions`, `DELETE /auth/sessions/{id}`,
//! `GET /.well-known/jwks.json` (asymmetric algorithms),
//! `POST /admin/keys/rotate` and `POST /admin/keys/withdraw` (role
//! `admin`), `GET /healthz`,
//! `GET /.well-known/openid-configuration` when `--issuer` is an http(s)
//! URL, and with `--metrics` `GET /metrics`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::ApiError;
use auth_axum_extras::password::hash_password;
use auth_axum_extras::{Auth, AuthRoutes, InMemoryUsers, RefreshCookie, RequireRole, Role};
use auth_core::store::{RedisStore, Store};
use auth_core::{Algorithm, Key, KeyError, KeySet, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

/// The environment variable holding the HMAC secret.
pub const SECRET_ENV: &str = "AUTH_JWT_SECRET";

pub mod stall;
pub mod throttle;

/// Example JWT auth server: login, refresh (rotating, with reuse detection),
/// logout, and protected routes.
///
/// Demo users: alice / alice-password (roles: user) and root / root-password
/// (roles: user, admin). With --alg HS256 the secret comes from the
/// AUTH_JWT_SECRET environment variable (at least 32 bytes); without it a
/// random one is generated and tokens do not survive a restart.
#[derive(Debug, Clone, Parser)]
#[command(name = "example-axum-server", version)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Access token lifetime (humantime: 30s, 15m, 1h).
    #[arg(long, default_value = "15m", value_parser = duration)]
    pub access_ttl: Duration,
    /// Refresh token lifetime (humantime: 14d, 12h).
    #[arg(long, default_value = "14d", value_parser = duration)]
    pub refresh_ttl: Duration,
    /// Clock skew tolerated on exp/nbf (0s allowed).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub leeway: Duration,
    /// Signing algorithm.
    #[arg(long, value_enum, default_value = "HS256", ignore_case = true)]
    pub alg: Alg,
    /// PEM private key for ES256, EdDSA or RS256 (PKCS#8 or SEC1/PKCS#1);
    /// generated at start when absent.
    #[arg(long, value_name = "PATH")]
    pub key_pem: Option<PathBuf>,
    /// Redis URL (redis://host:port/db): share revocations and sessions
    /// between instances instead of keeping them in memory.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// The --redis-url is a seed node of a Redis Cluster: the other nodes are
    /// discovered from it.
    #[arg(long, requires = "redis_url")]
    pub redis_cluster: bool,
    /// Acknowledge a login, refresh or logout only once this many replicas
    /// of its Redis primary have it (WAIT), so a failover cannot lose it.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "redis_url")]
    pub redis_wait_replicas: u32,
    /// `iss` set on issued tokens and required on validated ones. Set it (and
    /// --audience) per deployment: services sharing a key must not accept
    /// each other's tokens.
    #[arg(long, default_value = DEFAULT_ISSUER)]
    pub issuer: String,
    /// `aud` set on issued tokens and required on validated ones.
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    pub audience: String,
    /// PEM certificate chain: serve HTTPS (with --tls-key), and send
    /// Strict-Transport-Security.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long a rotated signing key (POST /admin/keys/rotate) is published
    /// in the JWKS before it signs, so resource servers have it first
    /// (humantime; 0s signs at once). HS256 keys are never published and
    /// always sign at once.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub key_publication_delay: Duration,
    /// The most connections served at once; past it, new connections wait
    /// in the kernel's accept backlog.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Serve the auth metrics in the Prometheus text format at GET /metrics.
    /// Off by default: they describe the traffic, so let only your scraper
    /// reach them.
    #[arg(long)]
    pub metrics: bool,
    /// The login throttle.
    #[command(flatten)]
    pub throttle: throttle::ThrottleArgs,
}

/// The default `--issuer`.
pub const DEFAULT_ISSUER: &str = "example-axum-server";
/// The default `--audience`.
pub const DEFAULT_AUDIENCE: &str = "example-api";

/// The limits [`serve`] puts on connections and requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open: a slowloris client holding
    /// connections with a trickle of bytes is cut off after this. Default
    /// 10 s.
    pub header_read_timeout: Duration,
    /// How long one request may take, body and handler included (408
    /// after). Default 30 s.
    pub request_timeout: Duration,
    /// The most bytes of request line and headers read before answering
    /// 431: room for an 8 KiB token several times over. Default 64 KiB.
    pub max_header_bytes: usize,
    /// The most connections served at once. Past it, new connections wait
    /// in the kernel's accept backlog, taking no memory nor descriptor of
    /// this process. Default 1024: with a 16 KiB body cap and hyper's
    /// buffers, tens of MiB at most.
    pub max_connections: usize,
    /// How long a connection may go without a byte read or written before
    /// it is closed: a client that stops reading its responses (blocking
    /// the server's writes) holds its slot no longer. Default 30 s, the
    /// request time limit.
    pub stall_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The algorithms the example offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Alg {
    /// HMAC-SHA256 with a shared secret.
    #[value(name = "HS256")]
    Hs256,
    /// ECDSA P-256.
    #[value(name = "ES256")]
    Es256,
    /// Ed25519.
    #[value(name = "EdDSA")]
    EdDsa,
    /// RSA PKCS#1 v1.5 with SHA-256 (2048-bit keys when generated).
    #[value(name = "RS256")]
    Rs256,
}

impl From<Alg> for Algorithm {
    fn from(a: Alg) -> Algorithm {
        match a {
            Alg::Hs256 => Algorithm::HS256,
            Alg::Es256 => Algorithm::ES256,
            Alg::EdDsa => Algorithm::EdDSA,
            Alg::Rs256 => Algorithm::RS256,
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30s, 15m, 14d)"))
}

/// A startup failure, with a message meant for the operator.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

struct AdminRole;
impl Role for AdminRole {
    const NAME: &'static str = "admin";
}

/// The signing key from the flags and the environment; `secret` is the
/// value of [`SECRET_ENV`], if set.
pub fn signing_key(args: &Args, secret: Option<String>) -> Result<Key, Error> {
    let alg = Algorithm::from(args.alg);
    if args.alg == Alg::Hs256 {
        if args.key_pem.is_some() {
            return Err(
                "--key-pem is for ES256, EdDSA and RS256; HS256 reads AUTH_JWT_SECRET".into(),
            );
        }
        return match secret {
            Some(secret) => Key::hmac(alg, secret.as_bytes()).map_err(|e| {
                format!("{SECRET_ENV} is not usable: {e} (use at least 32 random bytes, e.g. `openssl rand -base64 48`)").into()
            }),
            None => {
                tracing::warn!(
                    "{SECRET_ENV} is not set: using a random secret; tokens will not survive a restart"
                );
                Ok(Key::generate(alg)?)
            }
        };
    }
    match &args.key_pem {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read --key-pem {}: {e}", path.display()))?;
            Key::from_pem(alg, &pem)
                .map_err(|e| format!("--key-pem {}: {e}", path.display()).into())
        }
        None => {
            tracing::warn!(
                alg = alg.as_str(),
                "no --key-pem: generated a key; tokens will not survive a restart"
            );
            Ok(Key::generate(alg)?)
        }
    }
}

/// The demo users, with argon2id hashes made at start (the plain passwords
/// are never stored).
pub fn demo_users() -> Result<InMemoryUsers<RoleClaims>, Error> {
    Ok(InMemoryUsers::new()
        .user(
            "alice",
            hash_password("alice-password")?,
            RoleClaims::with_roles(["user"]),
        )
        .user(
            "root",
            hash_password("root-password")?,
            RoleClaims::with_roles(["user", "admin"]),
        ))
}

/// The revocation store the flags ask for: Redis with `--redis-url` (a
/// cluster's seed node with `--redis-cluster`), else `None` (the authority's
/// in-memory default).
pub async fn store(args: &Args) -> Result<Option<Arc<dyn Store>>, Error> {
    let Some(url) = &args.redis_url else {
        return Ok(None);
    };
    let mut builder = RedisStore::builder(url.as_str()).wait_for_replicas(args.redis_wait_replicas);
    if args.redis_cluster {
        builder = builder.cluster();
    }
    let store = builder
        .build()
        .await
        // The store's errors name the URL with its password masked.
        .map_err(|e| format!("--redis-url: {e}"))?;
    Ok(Some(Arc::new(store)))
}

/// The token authority the flags describe.
pub async fn authority(args: &Args, secret: Option<String>) -> Result<TokenAuthority, Error> {
    let key = signing_key(args, secret)?;
    let mut builder = TokenAuthority::builder(KeySet::new(key)?)
        .access_ttl(args.access_ttl)
        .refresh_ttl(args.refresh_ttl)
        // A session may last as long as its refresh tokens, at least 30 days.
        .session_lifetime(args.refresh_ttl.max(Duration::from_secs(30 * 24 * 3600)))
        .leeway(args.leeway)
        .issuer(args.issuer.as_str())
        .audience(args.audience.as_str())
        .key_publication_delay(args.key_publication_delay);
    if let Some(store) = store(args).await? {
        builder = builder.store(store);
    }
    Ok(builder.build()?)
}

async fn profile(Auth(claims): Auth<RoleClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.sub, "roles": claims.extra.roles }))
}

async fn admin(admin: RequireRole<AdminRole, RoleClaims>) -> Json<Value> {
    Json(json!({ "sub": admin.sub, "admin": true }))
}

/// A key-management failure the client cannot fix: logged, answered 500.
fn key_failure(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "key management failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the keys could not be changed",
    )
}

/// A fresh key of the algorithm the authority signs with, made off the
/// async workers (RSA key generation takes a while).
async fn fresh_key(authority: &TokenAuthority) -> Result<Key, ApiError> {
    let alg = authority
        .keys()
        .signing_key()
        .map(Key::algorithm)
        .ok_or_else(|| key_failure(&"no signing key"))?;
    tokio::task::spawn_blocking(move || Key::generate(alg))
        .await
        .map_err(|e| key_failure(&e))?
        .map_err(|e| key_failure(&e))
}

/// `POST /admin/keys/rotate` (role `admin`): publishes a new key of the same
/// algorithm in the JWKS at once; it signs every token from `signsFrom`
/// (Unix seconds: after `--key-publication-delay`, at once for HS256), and
/// the previous key verifies until `previousRetiresAt`. Answers
/// `{"kid","alg","signsFrom","previousRetiresAt"}`, or 409 `too_many_keys`
/// once [`auth_core::MAX_RING_KEYS`] keys wait for their tokens to expire
/// (a rotation still waiting to sign is replaced, never added to). Each
/// instance rotates its own key ring: with several instances, roll keys as
/// the README's "Several services" shows.
async fn rotate_key(
    admin: RequireRole<AdminRole, RoleClaims>,
    State(authority): State<TokenAuthority>,
) -> Result<Json<Value>, ApiError> {
    let key = fresh_key(&authority).await?;
    let alg = key.algorithm();
    let rotation = authority.rotate_signing_key(key).map_err(|e| match e {
        KeyError::TooManyKeys(_) => ApiError::new(
            StatusCode::CONFLICT,
            "too_many_keys",
            "too many keys are still waiting for their tokens to expire",
        ),
        e => key_failure(&e),
    })?;
    tracing::info!(by = %admin.sub, kid = rotation.kid, alg = alg.as_str(), signs_from = rotation.signs_from, "rotated the signing key");
    Ok(Json(json!({
        "kid": rotation.kid,
        "alg": alg.as_str(),
        "signsFrom": rotation.signs_from,
        "previousRetiresAt": rotation.previous_retires_at,
    })))
}

/// The body of `POST /admin/keys/withdraw`: the key, named once (a
/// duplicate or unknown field is refused, never resolved).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Withdrawal {
    kid: String,
}

/// `POST /admin/keys/withdraw` (role `admin`) with `{"kid"}`: the answer to
/// a leaked key. Tokens that key signed are refused from now on, here at
/// once and at resource servers at their next JWKS refresh; sessions whose
/// refresh token it signed end (log in again). A verification key (or a
/// rotated key still waiting to sign) is withdrawn: 204. The signing key is
/// replaced by a fresh key that signs at once: 200 `{"kid","alg"}` of the
/// new key. Never refused for the number of keys. 404 `not_found` for a
/// `kid` the ring does not hold.
async fn withdraw_key(
    admin: RequireRole<AdminRole, RoleClaims>,
    State(authority): State<TokenAuthority>,
    body: Result<Json<Withdrawal>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Json(Withdrawal { kid }) = body.map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the body must be JSON {\"kid\": \"...\"}, naming the key once",
        )
    })?;
    let signing = authority.keys().signing_key().map(|k| k.kid().to_owned());
    if signing.as_deref() == Some(kid.as_str()) {
        let key = fresh_key(&authority).await?;
        let (new_kid, alg) = (key.kid().to_owned(), key.algorithm());
        authority
            .replace_signing_key(key)
            .map_err(|e| key_failure(&e))?;
        tracing::warn!(by = %admin.sub, withdrawn = %kid, kid = %new_kid, "signing key withdrawn and replaced");
        return Ok(Json(json!({ "kid": new_kid, "alg": alg.as_str() })).into_response());
    }
    match authority.withdraw_key(&kid) {
        Ok(true) => {
            tracing::warn!(by = %admin.sub, withdrawn = %kid, "key withdrawn");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Ok(false) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no key with this kid",
        )),
        Err(e) => Err(key_failure(&e)),
    }
}

/// The OpenID Connect discovery document of an issuer named by an http(s)
/// URL: its `issuer` and `jwks_uri`, so verifiers can start from the issuer
/// alone.
fn discovery(issuer: &str) -> Option<Value> {
    let url = issuer.trim_end_matches('/');
    (url.starts_with("http://") || url.starts_with("https://")).then(|| {
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{url}/.well-known/jwks.json"),
        })
    })
}

/// The Content-Security-Policy of the demo page: its own scripts only, no
/// inline script, no plugins, no framing, forms posted to itself.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// A static file of the demo page, with the page's security headers.
fn page_file(content_type: &'static str, body: &'static str) -> axum::response::Response {
    use axum::http::header;
    let mut res = axum::response::IntoResponse::into_response(body);
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        h.insert(name, axum::http::HeaderValue::from_static(value));
    }
    res
}

/// The demo page (`GET /`) and its two scripts: `app.js`, the page, and
/// `auth-client.js`, the copyable client module (access token in memory,
/// refresh token in the HttpOnly cookie, shared refreshes across calls and
/// tabs).
pub fn page() -> Router {
    const JS: &str = "text/javascript; charset=utf-8";
    Router::new()
        .route(
            "/",
            get(|| async {
                page_file(
                    "text/html; charset=utf-8",
                    include_str!("../web/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async { page_file(JS, include_str!("../web/app.js")) }),
        )
        .route(
            "/auth-client.js",
            get(|| async { page_file(JS, include_str!("../web/auth-client.js")) }),
        )
}

/// The application router, with the default refresh cookie
/// (`refresh_token`); see [`app_with_cookie`].
pub fn app(authority: TokenAuthority, users: InMemoryUsers<RoleClaims>) -> Result<Router, Error> {
    app_with_cookie(authority, users, RefreshCookie::default())
}

/// The application router, its refresh cookie written as `cookie` says:
/// [`RefreshCookie::secure_prefixed`] (`__Secure-refresh_token`) over HTTPS,
/// which [`run`] picks with `--tls-cert`.
pub fn app_with_cookie(
    authority: TokenAuthority,
    users: InMemoryUsers<RoleClaims>,
    cookie: RefreshCookie,
) -> Result<Router, Error> {
    app_with(authority, users, cookie, Logins::default())
}

/// How the auth routes throttle logins.
#[derive(Debug, Default)]
pub struct Logins {
    /// `None`: the throttle's defaults over the authority's store.
    /// `Some(None)`: no throttle. `Some(Some(t))`: `t`.
    pub throttle: Option<Option<auth_core::throttle::LoginThrottle>>,
    /// Where the client address comes from (default: the TCP peer).
    pub client_address: auth_axum_extras::throttle::ClientAddress,
}

/// The application router with its refresh cookie and login throttling.
pub fn app_with(
    authority: TokenAuthority,
    users: InMemoryUsers<RoleClaims>,
    cookie: RefreshCookie,
    logins: Logins,
) -> Result<Router, Error> {
    let protected = Router::new()
        .route("/profile", get(profile))
        .route("/admin", get(admin))
        .route("/admin/keys/rotate", post(rotate_key))
        .route("/admin/keys/withdraw", post(withdraw_key))
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()))
        .with_state(authority.clone());
    let discovery = authority.config().issuer.as_deref().and_then(discovery);
    let mut auth = AuthRoutes::new(authority, users)
        .cookie(cookie)
        .client_address(logins.client_address)
        .jwks_path("/.well-known/jwks.json");
    auth = match logins.throttle {
        None => auth,
        Some(None) => auth.without_throttle(),
        Some(Some(throttle)) => auth.throttle(throttle),
    };
    let auth = auth.into_router()?;
    let mut app = Router::new()
        .merge(protected)
        .merge(auth)
        .merge(page())
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        );
    if let Some(doc) = discovery {
        app = app.route(
            "/.well-known/openid-configuration",
            get(move || std::future::ready(Json(doc))),
        );
    }
    Ok(app)
}

/// Installs the process-wide recorder of the `metrics` facade (Prometheus
/// text format) on first use, and returns its handle. Install it before
/// building the store, so that what the store records at start (the Redis
/// feed gauge) is kept.
pub fn install_metrics() -> Result<metrics_exporter_prometheus::PrometheusHandle, Error> {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        // Store calls take microseconds (memory) to milliseconds (Redis).
        .set_buckets(&[
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
            0.25, 0.5, 1.0,
        ])?
        // Throttle waits double from 1 s to 15 min.
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(auth_core::metrics::LOGIN_WAIT.to_owned()),
            &[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 900.0,
            ],
        )?
        .install_recorder()
        .map_err(|e| format!("--metrics: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Adds `GET /metrics` (Prometheus text format) to `app`, installing the
/// recorder if [`install_metrics`] was not called yet. The names are listed
/// in [`auth_core::metrics`].
pub fn with_metrics(app: Router) -> Result<Router, Error> {
    let handle = install_metrics()?;
    Ok(app.route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    ))
}

/// The TLS settings of `--tls-cert` and `--tls-key` (rustls on aws-lc-rs,
/// TLS 1.2 and 1.3, HTTP/1.1).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no certificate in it", cert.display()).into());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("--tls-cert and --tls-key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The `Strict-Transport-Security` sent over HTTPS: one year, so browsers
/// never try this host over plain HTTP again.
pub const HSTS: &str = "max-age=31536000";

/// Adds [`HSTS`] to every response of `app`, its fallbacks (404, 405)
/// included. [`serve_tls`] applies it with TLS, outside every other layer
/// (the 408 of the request time limit included).
pub fn with_hsts(app: Router) -> Router {
    app.layer(axum::middleware::map_response(
        |mut res: axum::response::Response| async move {
            res.headers_mut().insert(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static(HSTS),
            );
            res
        },
    ))
}

/// Serves `app` on `listener` with the default [`Limits`]; see
/// [`serve_with`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_with(listener, app, shutdown, Limits::default()).await
}

/// Serves `app` on `listener` (HTTP/1.1) until `shutdown` completes, then
/// drains in-flight requests for at most [`SHUTDOWN_GRACE`].
///
/// Unlike a bare `axum::serve`, connections have [`Limits`]: headers must
/// arrive within `header_read_timeout` (also the keep-alive idle limit) and
/// fit in `max_header_bytes` (else 431), a request gets `request_timeout` in
/// all (else 408), at most `max_connections` are served at once, and one on
/// which nothing moves for `stall_timeout` is closed.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> Result<(), Error> {
    serve_tls(listener, app, shutdown, limits, None).await
}

/// [`serve_with`], over TLS when `tls` is given: the handshake must end
/// within the header read timeout, and every answer of `app` carries
/// [`HSTS`] (see [`with_hsts`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), Error> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let timeout = limits.request_timeout;
    let mut app = app.layer(axum::middleware::from_fn(move |req, next| {
        request_timeout(timeout, req, next)
    }));
    if tls.is_some() {
        // Outermost: the 408 above gets it too.
        app = with_hsts(app);
    }
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper's read buffer grows to ~400 KiB by default: a client
        // pipelining requests it never reads the answers to would make every
        // connection hold that much. Headers and a little more.
        .max_buf_size(limits.max_header_bytes + 16 * 1024);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let stall_limit = limits.stall_timeout;
    tokio::pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap, new connections stay
        // in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(|e| e.to_string())?,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a reset before accept: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        // The peer address, for the login throttle (what axum::serve's
        // `into_make_service_with_connect_info` would insert).
        let service = TowerToHyperService::new(tower::util::MapRequest::new(
            app.clone(),
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let (http, watcher) = (http.clone(), graceful.watcher());
        let tls = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let handshake_limit = limits.header_read_timeout;
        let progress = stall::Progress::new();
        let stream = stall::Watched::new(stream, progress.clone());
        let serve = async move {
            let served =
                match tls {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(handshake_limit, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                () = serve => {}
                () = stall::stalled(&progress, stall_limit) => {
                    tracing::debug!("connection closed: nothing moved for {stall_limit:?}");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

/// 408 for a request that takes longer than `limit`.
async fn request_timeout(
    limit: Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => (
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Json(json!({
                "error": "request_timeout",
                "error_description": "the request took too long",
            })),
        )
            .into_response(),
    }
}

/// Builds everything from `args`, binds, logs and serves until Ctrl-C or
/// SIGTERM.
pub async fn run(args: Args) -> Result<(), Error> {
    if args.metrics {
        install_metrics()?;
    }
    let secret = std::env::var(SECRET_ENV).ok();
    let authority = authority(&args, secret.clone()).await?;
    let logins = Logins {
        throttle: Some(args.throttle.throttle(
            &authority,
            secret.as_deref(),
            args.key_pem.as_deref(),
        )?),
        client_address: args.throttle.client_address(),
    };
    let users = tokio::task::spawn_blocking(demo_users).await??;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    // Over HTTPS the cookie takes the `__Secure-` name, which browsers accept
    // only from a secure origin, so no plain-HTTP answer can plant or
    // overwrite it. `serve_tls` adds HSTS to every answer.
    let cookie = if tls.is_some() {
        RefreshCookie::secure_prefixed()
    } else {
        RefreshCookie::default()
    };
    let mut app = app_with(authority, users, cookie, logins)?;
    if args.metrics {
        app = with_metrics(app)?;
    }
    if tls.is_none() {
        tracing::warn!(
            "serving plain HTTP: the refresh cookie is Secure, so browsers send it only over HTTPS or to localhost; give --tls-cert and --tls-key to serve HTTPS"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        scheme = if tls.is_some() { "https" } else { "http" },
        alg = Algorithm::from(args.alg).as_str(),
        store = match (&args.redis_url, args.redis_cluster) {
            (Some(_), true) => "redis cluster",
            (Some(_), false) => "redis",
            (None, _) => "memory",
        },
        access_ttl = %humantime::format_duration(args.access_ttl),
        refresh_ttl = %humantime::format_duration(args.refresh_ttl),
        metrics = args.metrics,
        "listening"
    );
    let limits = Limits {
        max_connections: args.max_connections,
        ..Limits::default()
    };
    serve_tls(listener, app, shutdown_signal(), limits, tls).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
