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
//! `admin` and a login within `--step-up-max-age`),
//! `GET /healthz`,
//! `GET /.well-known/openid-configuration` (and RFC 8414's
//! `/.well-known/oauth-authorization-server`), `POST /auth/introspect` with
//! `--introspection-client`, `GET /openapi.json` (OpenAPI 3.1), and with
//! `--metrics` `GET /metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::password::hash_password;
use auth_axum_extras::{Auth, AuthRoutes, InMemoryUsers, RefreshCookie};
use auth_core::dpop::{
    DpopNonces, DpopVerifier, MIN_NONCE_SECRET_BYTES, MemoryReplayCache, ReplayCache,
};
use auth_core::introspection::{Introspection, IntrospectionClients};
use auth_core::store::RedisStore;
use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
use auth_tower::RequireLayer;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

mod admin;
mod openapi;
mod page;
mod prometheus;
mod serve;

use admin::{admin, rotate_key, withdraw_key};
pub use page::{PAGE_CSP, page};
pub use prometheus::{install_metrics, with_metrics};
pub use serve::{
    HSTS, Limits, SHUTDOWN_GRACE, serve, serve_tls, serve_with, shutdown_signal, tls_config,
    with_hsts,
};

/// The environment variable holding the HMAC secret.
pub const SECRET_ENV: &str = "AUTH_JWT_SECRET";
/// The environment variable holding the key of the DPoP nonces
/// (`--dpop-nonces`), at least 32 bytes; see [`dpop_nonces`].
pub const DPOP_NONCE_SECRET_ENV: &str = "AUTH_DPOP_NONCE_SECRET";

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
    /// The key ring's file (a private JWKS, written with mode 0600): read
    /// at start when it exists (its keys then replace --alg, --key-pem and
    /// AUTH_JWT_SECRET), else made from them and written; written again
    /// after every key rotation or withdrawal, so keys and rotations
    /// survive restarts. It holds private keys: keep it like one.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
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
    /// A client of `POST /auth/introspect` (RFC 7662), as ID:SECRET (the
    /// secret at least 16 bytes); repeatable. Without one the route is off.
    /// Callers authenticate with HTTP Basic and learn, for a live access
    /// token, its registered claims and `roles`.
    #[arg(long = "introspection-client", value_name = "ID:SECRET", value_parser = client_pair)]
    pub introspection_client: Vec<(String, String)>,
    /// The URL clients reach this server's root at, named by the discovery
    /// document (GET /.well-known/openid-configuration) for its endpoints;
    /// default: --issuer when it is an http(s) URL without a path, else this
    /// server's own address (`localhost` when listening on every
    /// interface). The document's `issuer` is always --issuer, what tokens
    /// carry: a verifier that starts from a URL (`Jwks::discover`) needs
    /// the two to be the same URL.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// How recent a login `POST /admin/keys/rotate` and
    /// `POST /admin/keys/withdraw` need (humantime,
    /// whole seconds): an older one is answered 401
    /// `insufficient_user_authentication` with `max_age` in the challenge
    /// (RFC 9470 step-up), and the admin signs in again. A refresh keeps
    /// the login's time.
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub step_up_max_age: Duration,
    /// The most connections served at once; past it, new connections wait
    /// in the kernel's accept backlog.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Refuse logins without a DPoP proof (RFC 9449): every session is
    /// bound to its client's key. Without it, DPoP is taken but not
    /// required: a login with a proof is bound, one without is Bearer.
    #[arg(long)]
    pub require_dpop: bool,
    /// Require server nonces in DPoP proofs (RFC 9449 §8): a proof without
    /// the current one is answered `use_dpop_nonce` with the nonce in a
    /// `DPoP-Nonce` header, so a proof cannot be signed ahead of time. The
    /// nonces' key is `AUTH_DPOP_NONCE_SECRET` (at least 32 bytes), else it
    /// derives from `AUTH_JWT_SECRET` or the `--key-pem` file (instances
    /// that share it accept each other's nonces), else it is random (with
    /// `--key-file` alone too: set the variable).
    #[arg(long)]
    pub dpop_nonces: bool,
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

/// `ID:SECRET` of `--introspection-client`.
fn client_pair(s: &str) -> Result<(String, String), String> {
    let (id, secret) = s
        .split_once(':')
        .ok_or("expected ID:SECRET (a client id, a colon, its secret)")?;
    // Checked as the route will check it, so a bad one stops the start.
    IntrospectionClients::new()
        .client(id, secret)
        .map_err(|e| e.to_string())?;
    Ok((id.to_owned(), secret.to_owned()))
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30s, 15m, 14d)"))
}

/// A startup failure, with a message meant for the operator.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

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
/// in-memory default). [`run`] also keeps DPoP proofs in it.
pub async fn store(args: &Args) -> Result<Option<RedisStore>, Error> {
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
    Ok(Some(store))
}

/// The token authority the flags describe.
pub async fn authority(args: &Args, secret: Option<String>) -> Result<TokenAuthority, Error> {
    authority_on(args, secret, store(args).await?)
}

/// The token authority the flags describe, on `store` (from [`store`]).
pub fn authority_on(
    args: &Args,
    secret: Option<String>,
    store: Option<RedisStore>,
) -> Result<TokenAuthority, Error> {
    let saved = match &args.key_file {
        Some(path) if path.exists() => Some(KeySet::load(path)?),
        _ => None,
    };
    let keys = match saved {
        Some(keys) => keys,
        None => KeySet::new(signing_key(args, secret)?)?,
    };
    let mut builder = TokenAuthority::builder(keys)
        .access_ttl(args.access_ttl)
        .refresh_ttl(args.refresh_ttl)
        // A session may last as long as its refresh tokens, at least 30 days.
        .session_lifetime(args.refresh_ttl.max(Duration::from_secs(30 * 24 * 3600)))
        .leeway(args.leeway)
        .issuer(args.issuer.as_str())
        .audience(args.audience.as_str())
        .key_publication_delay(args.key_publication_delay);
    if let Some(store) = store {
        builder = builder.store(Arc::new(store));
    }
    let authority = builder.build()?;
    if let Some(path) = &args.key_file {
        authority.key_ring().save(path)?;
    }
    Ok(authority)
}

async fn profile(Auth(claims): Auth<RoleClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.sub, "roles": claims.extra.roles }))
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
    app_with(authority, users, cookie, Options::default())
}

/// What [`run`] configures beyond the authority, the users and the cookie:
/// the login throttle, step-up, introspection and discovery.
#[derive(Debug, Default)]
pub struct Options {
    /// `None`: the throttle's defaults over the authority's store.
    /// `Some(None)`: no throttle. `Some(Some(t))`: `t`.
    pub throttle: Option<Option<auth_core::throttle::LoginThrottle>>,
    /// Where the client address comes from (default: the TCP peer).
    pub client_address: auth_axum_extras::throttle::ClientAddress,
    /// How recent a login key rotation needs; `None`:
    /// [`DEFAULT_STEP_UP_MAX_AGE`].
    pub step_up_max_age: Option<Duration>,
    /// The clients of `POST /auth/introspect` (`--introspection-client`);
    /// none: the route is off.
    pub introspection_clients: Vec<(String, String)>,
    /// The URL clients reach the server at, for the discovery document;
    /// `None`: `--issuer` when it is an http(s) URL, else no document.
    pub public_url: Option<String>,
    /// Refuse logins without a DPoP proof (`--require-dpop`).
    pub require_dpop: bool,
    /// The public origin DPoP proofs name (`--public-url` when given);
    /// `None`: the request's `Host`, either scheme.
    pub dpop_origin: Option<String>,
    /// Where proofs' `jti`s are kept; `None`: this process's memory.
    pub dpop_replay: Option<Arc<dyn ReplayCache>>,
    /// The server nonces proofs must carry (`--dpop-nonces`); `None`: no
    /// nonce is asked for.
    pub dpop_nonces: Option<DpopNonces>,
    /// The key ring's file (`--key-file`), written after every key
    /// rotation or withdrawal.
    pub key_file: Option<PathBuf>,
}

/// The default `--step-up-max-age`: five minutes.
pub const DEFAULT_STEP_UP_MAX_AGE: Duration = Duration::from_secs(300);

/// The application router with its refresh cookie and `options`.
pub fn app_with(
    authority: TokenAuthority,
    users: InMemoryUsers<RoleClaims>,
    cookie: RefreshCookie,
    options: Options,
) -> Result<Router, Error> {
    // The key operations change what every session rests on: an admin who
    // signed in recently, checked after the role (so only an admin learns
    // that a newer login is due).
    let recent_admin = tower::ServiceBuilder::new()
        .layer(RequireLayer::<_, RoleClaims>::role("admin"))
        .layer(RequireLayer::<_, RoleClaims>::login_within(
            options.step_up_max_age.unwrap_or(DEFAULT_STEP_UP_MAX_AGE),
        ));
    let public_url = options
        .public_url
        .or_else(|| authority.config().issuer.as_deref().and_then(root_url));
    let replay = options
        .dpop_replay
        .unwrap_or_else(|| Arc::new(MemoryReplayCache::default()));
    let mut auth = AuthRoutes::new(authority.clone(), users)
        .cookie(cookie)
        .client_address(options.client_address)
        .jwks_path("/.well-known/jwks.json")
        // DPoP (RFC 9449): a login with a proof binds its session to the
        // client's key.
        .dpop(match options.dpop_nonces {
            Some(nonces) => DpopVerifier::new(replay).nonces(nonces),
            None => DpopVerifier::new(replay),
        });
    if options.require_dpop {
        auth = auth.require_dpop();
    }
    if let Some(origin) = options.dpop_origin {
        auth = auth.dpop_origin(origin);
    }
    let protected = Router::new()
        .route("/profile", get(profile))
        .route("/admin", get(admin))
        .route(
            "/admin/keys/rotate",
            post(rotate_key).layer(recent_admin.clone()),
        )
        .route(
            "/admin/keys/withdraw",
            post(withdraw_key).layer(recent_admin),
        )
        .layer(auth.layer())
        .layer(axum::Extension(admin::KeyFile(
            options.key_file.map(Arc::new),
        )))
        .with_state(authority);
    auth = match options.throttle {
        None => auth,
        Some(None) => auth.without_throttle(),
        Some(Some(throttle)) => auth.throttle(throttle),
    };
    if !options.introspection_clients.is_empty() {
        let mut clients = IntrospectionClients::new();
        for (id, secret) in &options.introspection_clients {
            clients = clients.client(id, secret)?;
        }
        auth = auth.introspection(Introspection::new(clients).claims(["roles"])?);
    }
    if let Some(url) = public_url {
        auth = auth.discovery(url);
    }
    let openapi = openapi::document(auth.openapi()?)?;
    let auth = auth.into_router()?;
    let app = Router::new()
        .merge(protected)
        .merge(auth)
        .merge(page())
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/openapi.json",
            get(move || std::future::ready(openapi::serve(&openapi))),
        );
    Ok(app)
}

/// The DPoP nonces of `--dpop-nonces` (`None` without the flag), keyed by
/// `nonce_secret` (the value of [`DPOP_NONCE_SECRET_ENV`]) when given; else
/// by what the instances share to sign, the HMAC `secret` or the
/// `--key-pem` file (with a label that keeps the key apart from the signing
/// key it derives from); else by a random key of this process, which other
/// instances do not share. A `--key-file` ring rotates, so it keys no
/// nonces: set the variable.
pub fn dpop_nonces(
    args: &Args,
    secret: Option<&str>,
    nonce_secret: Option<&str>,
) -> Result<Option<DpopNonces>, Error> {
    if !args.dpop_nonces {
        return Ok(None);
    }
    if let Some(nonce_secret) = nonce_secret {
        return DpopNonces::new(nonce_secret).map(Some).map_err(|_| {
            format!(
                "{DPOP_NONCE_SECRET_ENV} must hold at least {MIN_NONCE_SECRET_BYTES} bytes, got {} (use random bytes, e.g. `openssl rand -base64 48`)",
                nonce_secret.len()
            )
            .into()
        });
    }
    Ok(Some(
        match throttle::shared_material(secret, args.key_pem.as_deref())? {
            Some(material) => {
                let mut seed = b"auth-dpop-nonce\0".to_vec();
                seed.extend_from_slice(&material);
                DpopNonces::new(seed)?
            }
            None => {
                tracing::warn!(
                    "DPoP nonces are keyed at random: other instances do not accept them (set {DPOP_NONCE_SECRET_ENV}, {SECRET_ENV} or --key-pem)"
                );
                DpopNonces::random()?
            }
        },
    ))
}

/// The environment variable `name`: `None` when unset, an error when it is
/// set but not UTF-8 (rather than start as if it were unset).
fn env_var(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8").into()),
    }
}

/// `issuer` when it is the URL of a server's root: `http(s)://host[:port]`
/// without a path (the routes are served at the root, so a path would
/// name endpoints that do not exist).
fn root_url(issuer: &str) -> Option<String> {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.trim_end_matches('/').contains('/'))
        .then(|| issuer.to_owned())
}

/// `scheme://host:port` of a listening address, `localhost` for an
/// unspecified IP (`0.0.0.0`, `[::]`).
pub fn own_url(scheme: &str, addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}", addr.port())
}

/// Builds everything from `args`, binds, logs and serves until Ctrl-C or
/// SIGTERM.
pub async fn run(args: Args) -> Result<(), Error> {
    if args.metrics {
        install_metrics()?;
    }
    let secret = env_var(SECRET_ENV)?;
    let redis = store(&args).await?;
    let authority = authority_on(&args, secret.clone(), redis.clone())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let public_url = args.public_url.clone().or_else(|| {
        // The issuer when it names this server's root; else this server's
        // own address.
        root_url(&args.issuer).or_else(|| {
            let addr = listener.local_addr().ok()?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            Some(own_url(scheme, addr))
        })
    });
    let options = Options {
        throttle: Some(args.throttle.throttle(
            &authority,
            secret.as_deref(),
            args.key_pem.as_deref(),
        )?),
        client_address: args.throttle.client_address(),
        step_up_max_age: Some(args.step_up_max_age),
        introspection_clients: args.introspection_client.clone(),
        public_url,
        require_dpop: args.require_dpop,
        dpop_origin: args.public_url.clone(),
        // With Redis, a proof accepted by one instance is refused by all.
        dpop_replay: redis.map(|r| Arc::new(r) as Arc<dyn ReplayCache>),
        dpop_nonces: dpop_nonces(
            &args,
            secret.as_deref(),
            env_var(DPOP_NONCE_SECRET_ENV)?.as_deref(),
        )?,
        key_file: args.key_file.clone(),
    };
    let users = tokio::task::spawn_blocking(demo_users).await??;
    // Over HTTPS the cookie takes the `__Secure-` name, which browsers accept
    // only from a secure origin, so no plain-HTTP answer can plant or
    // overwrite it. `serve_tls` adds HSTS to every answer.
    let cookie = if tls.is_some() {
        RefreshCookie::secure_prefixed()
    } else {
        RefreshCookie::default()
    };
    let mut app = app_with(authority, users, cookie, options)?;
    if args.metrics {
        app = with_metrics(app)?;
    }
    if tls.is_none() {
        tracing::warn!(
            "serving plain HTTP: the refresh cookie is Secure, so browsers send it only over HTTPS or to localhost; give --tls-cert and --tls-key to serve HTTPS"
        );
    }
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
