//! A service that only verifies tokens: it never logs anyone in, holds no
//! signing key, and learns the issuer's public keys from its JWKS (or its
//! OpenID Connect discovery document), refreshed in the background and
//! refetched when a token names a new key. With `--redis-url` it checks
//! revocations through a read-only store on the issuer's Redis, so a logout
//! at the issuer is refused here too.
//!
//! Routes: `GET /whoami` (`{"sub","roles"}` for a valid access token, the
//! same refusals as the issuer's routes: 401 JSON with `WWW-Authenticate`,
//! 503 while the keys or Redis are unavailable), `GET /healthz`, and
//! `GET /.well-known/oauth-protected-resource` (RFC 9728: `resource`,
//! `authorization_servers`, `jwks_uri`, `bearer_methods_supported`), which
//! every 401 challenge names as `resource_metadata="..."`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::Auth;
use auth_core::dpop::{DpopVerifier, MemoryReplayCache};
use auth_core::store::RedisStore;
use auth_core::{RoleClaims, Validator};
use auth_tower::AuthLayer;
use auth_tower::ResourceMetadata;
use auth_tower::introspection::Introspection;
use auth_tower::jwks::Jwks;
use axum::routing::get;
use axum::{Json, Router};
use clap::{ArgGroup, Parser};
use example_axum_server::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Error};
use serde_json::{Value, json};

/// Example resource server: verifies the access tokens of an issuer (such
/// as example-axum-server) from its JWKS, and answers GET /whoami.
#[derive(Debug, Clone, Parser)]
#[command(name = "example-resource-server", version)]
#[command(group(ArgGroup::new("keys").required(true).args(["jwks_url", "issuer_url"])))]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    pub addr: SocketAddr,
    /// The issuer's JWKS URL (http or https), e.g.
    /// http://127.0.0.1:3000/.well-known/jwks.json.
    #[arg(long, value_name = "URL")]
    pub jwks_url: Option<String>,
    /// The issuer's URL (http or https): its JWKS URL is read from
    /// {URL}/.well-known/openid-configuration, whose `issuer` must be URL.
    #[arg(long, value_name = "URL")]
    pub issuer_url: Option<String>,
    /// The `iss` tokens must carry [default: the --issuer-url, else
    /// example-axum-server].
    #[arg(long)]
    pub issuer: Option<String>,
    /// An accepted `aud`; repeat for several (a token must name one).
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    pub audience: Vec<String>,
    /// The issuer's Redis: revocations (logouts) are checked through a
    /// read-only store. Without it they are not checked, and a token stays
    /// valid until it expires.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// The --redis-url is a seed node of a Redis Cluster: the other nodes are
    /// discovered from it.
    #[arg(long, requires = "redis_url")]
    pub redis_cluster: bool,
    /// At most one JWKS refetch per this interval for tokens naming an
    /// unknown key (humantime: 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub jwks_refetch_interval: Duration,
    /// Fetch keys over plain http from hosts other than this machine, and
    /// follow an https issuer's plain-http jwks_uri: keys then travel in the
    /// clear. For local development only; plain http to 127.0.0.1 or
    /// localhost needs no flag.
    #[arg(long)]
    pub allow_plain_http: bool,
    /// The longest access token lifetime (exp - iat) accepted: at least the
    /// issuer's --access-ttl plus its leeway (humantime: 15m, 1h).
    #[arg(long, default_value = "1h", value_parser = duration)]
    pub max_token_lifetime: Duration,
    /// The issuer's introspection endpoint (RFC 7662), asked whether each
    /// token is still active: revocations are checked without the issuer's
    /// Redis (with --introspection-client).
    #[arg(
        long,
        value_name = "URL",
        requires = "introspection_client",
        conflicts_with = "redis_url"
    )]
    pub introspection_url: Option<String>,
    /// This server's credentials at the introspection endpoint, as
    /// ID:SECRET.
    #[arg(long, value_name = "ID:SECRET", requires = "introspection_url")]
    pub introspection_client: Option<String>,
    /// How long an introspection answer is kept: the longest a token
    /// logged out at the issuer is still accepted here (humantime; 0s asks
    /// on every request).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub introspection_cache: Duration,
    /// This resource server's identifier (RFC 9728 `resource`): the URL
    /// clients reach it at. Its metadata is served at
    /// GET /.well-known/oauth-protected-resource and named in every 401
    /// challenge, and the URL DPoP proofs must name (without it, the
    /// request's host, either scheme) [default: this server's own
    /// address, `localhost` when listening on every interface].
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

impl Args {
    /// The `iss` required of tokens.
    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .or_else(|| self.issuer_url.clone())
            .unwrap_or_else(|| DEFAULT_ISSUER.to_owned())
    }
}

/// The JWKS client the flags describe; its first fetch starts at once.
pub fn jwks(args: &Args) -> Result<Jwks, Error> {
    let builder = match (&args.jwks_url, &args.issuer_url) {
        (Some(url), _) => Jwks::builder(url.as_str()),
        (None, Some(issuer)) => Jwks::discover(issuer.as_str()),
        (None, None) => return Err("give --jwks-url or --issuer-url".into()),
    };
    let builder = builder.refetch_interval(args.jwks_refetch_interval);
    let builder = if args.allow_plain_http {
        builder.allow_plain_http()
    } else {
        builder
    };
    Ok(builder.build()?)
}

/// The verify-only validator: the keys of `jwks`, the issuer and audiences
/// of the flags, and revocations checked on the issuer's Redis when
/// `--redis-url` is given (a read-only store).
pub async fn validator(args: &Args, jwks: Jwks) -> Result<Validator, Error> {
    let builder = Validator::builder(jwks)
        .issuer(args.issuer())
        .audiences(args.audience.iter().cloned())
        .max_lifetime(args.max_token_lifetime);
    let builder = match &args.redis_url {
        Some(url) => {
            let mut store = RedisStore::builder(url.as_str()).read_only();
            if args.redis_cluster {
                store = store.cluster();
            }
            let store = store
                .build()
                .await
                .map_err(|e| format!("--redis-url: {e}"))?;
            builder.store(Arc::new(store))
        }
        None => match (&args.introspection_url, &args.introspection_client) {
            (Some(url), Some(client)) => {
                let (id, secret) = client
                    .split_once(':')
                    .ok_or("--introspection-client: expected ID:SECRET")?;
                let introspection = Introspection::builder(url, id, secret)
                    .cache_for(args.introspection_cache)
                    .allow_plain_http_if(args.allow_plain_http)
                    .build()
                    .map_err(|e| format!("--introspection-url: {e}"))?;
                builder.store(Arc::new(introspection))
            }
            _ => {
                tracing::warn!(
                    "no --redis-url nor --introspection-url: revocations are not checked, so a logged-out token is accepted until it expires"
                );
                builder.without_revocation_checks()
            }
        },
    };
    Ok(builder.build()?)
}

async fn whoami(Auth(claims): Auth<RoleClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.sub, "roles": claims.extra.roles }))
}

/// The application router.
pub fn app(validator: Validator, jwks: Jwks) -> Router {
    app_with(validator, jwks, None, None)
}

/// The protected resource metadata (RFC 9728) the flags describe, for a
/// server listening on `addr`: `--resource` (or the server's own URL), the
/// issuer as its authorization server when the issuer is a URL, and the
/// `--jwks-url` when one is given.
pub fn resource_metadata(args: &Args, addr: SocketAddr) -> Result<ResourceMetadata, Error> {
    let resource = args
        .resource
        .clone()
        .unwrap_or_else(|| example_axum_server::own_url("http", addr));
    let mut metadata = ResourceMetadata::new(&resource).map_err(|e| format!("--resource: {e}"))?;
    let issuer = args.issuer();
    if issuer.starts_with("https://") || issuer.starts_with("http://") {
        metadata = metadata.authorization_server(issuer);
    }
    if let Some(jwks) = &args.jwks_url {
        metadata = metadata.jwks_uri(jwks.as_str());
    }
    Ok(metadata)
}

/// The application router; with `metadata`, it serves the protected
/// resource metadata and names it in every challenge. DPoP proofs must
/// name `dpop_origin` (`--resource`), or else the request's host.
pub fn app_with(
    validator: Validator,
    jwks: Jwks,
    metadata: Option<ResourceMetadata>,
    dpop_origin: Option<String>,
) -> Router {
    // DPoP-bound tokens (RFC 9449) with a proof for this server.
    let proofs = DpopVerifier::new(Arc::new(MemoryReplayCache::default()));
    let mut layer = AuthLayer::<RoleClaims>::new(validator).dpop(proofs);
    if let Some(origin) = dpop_origin {
        layer = layer.dpop_origin(origin);
    }
    if let Some(m) = &metadata {
        layer = layer.resource_metadata(m.url());
    }
    let mut router = Router::new().route("/whoami", get(whoami)).layer(layer);
    if let Some(m) = metadata {
        let document = m.document();
        router = router.route(&m.path(), get(move || std::future::ready(Json(document))));
    }
    router.route(
        "/healthz",
        get(move || {
            let keys_loaded = jwks.ready();
            async move { Json(json!({ "status": "ok", "keysLoaded": keys_loaded })) }
        }),
    )
}

/// Builds everything from `args`, binds, logs and serves until Ctrl-C or
/// SIGTERM.
pub async fn run(args: Args) -> Result<(), Error> {
    let jwks = jwks(&args)?;
    let validator = validator(&args, jwks.clone()).await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr()?;
    let metadata = resource_metadata(&args, addr)?;
    // The resource identifier, when given, is this server's public URL.
    let app = app_with(validator, jwks, Some(metadata), args.resource.clone());
    tracing::info!(
        keys = args.jwks_url.as_deref().or(args.issuer_url.as_deref()).unwrap_or_default(),
        issuer = %args.issuer(),
        audiences = ?args.audience,
        revocations = match (&args.redis_url, &args.introspection_url) {
            (Some(_), _) => "redis (read-only)",
            (None, Some(_)) => "introspection",
            (None, None) => "not checked",
        },
        "listening on {addr}"
    );
    example_axum_server::serve(listener, app, example_axum_server::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
