//! The server of the HTTP load benchmark (`bench/http/run.sh`).
//!
//! One route, `GET` answering the token's subject, behind each stack under
//! test, on 127.0.0.1:
//!
//! | port | path | stack |
//! |---|---|---|
//! | `--port` (axum 0.8) | `/bare` | no auth; answers `alice` |
//! | | `/ours/hs256`, `/ours/es256` | `AuthLayer::<RoleClaims>` (default settings: verified-token cache on) + the `Auth<RoleClaims>` extractor |
//! | | `/ours-nocache/hs256`, `/ours-nocache/es256` | the same with `.cache(None)`: every request verifies its signature |
//! | | `/ours-redis/hs256` | `AuthLayer` on `RedisStore` (with `--redis-url` only) |
//! | `--ja-port` (axum 0.7) | `/bare` | no auth; answers `alice` |
//! | | `/jwt-authorizer/hs256`, `/jwt-authorizer/es256` | jwt-authorizer's layer + its `JwtClaims` extractor |
//!
//! Both stacks check the same things of a token: signature with the
//! algorithm pinned, `exp` and `nbf` with 5 s of leeway, `iss` and `aud`.
//! Ours also checks what it always checks (`typ`, `kid`, size, the claims it
//! needs, the revocation store). Both sides verify the same tokens, minted by
//! our `TokenAuthority`; jwt-authorizer gets the same HS256 secret and the
//! ES256 public key as a JWKS document.
//!
//! At startup it writes, into `--tokens-dir`, for each of `hs256`, `es256`
//! and (with Redis) `redis-hs256`: `<name>-reused.txt` (one token, subject
//! `alice`) and `<name>-distinct.txt` (`--distinct` tokens, one per line,
//! subjects `user-0`...). Once every listener is bound and every file
//! written it writes `ports` (`OURS_PORT=`, `JA_PORT=` lines), which is what
//! `run.sh` waits for.
//!
//! ```sh
//! auth-bench-http --tokens-dir /tmp/t [--port 0] [--ja-port 0] [--distinct 10000] [--redis-url redis://127.0.0.1:6379]
//! ```

#![forbid(unsafe_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auth_axum_extras::Auth;
use auth_core::store::{RedisStore, Store};
use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority, Uuid};
use auth_tower::AuthLayer;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use serde::Deserialize;
use tokio::net::TcpListener;

type BoxError = Box<dyn Error + Send + Sync>;

/// Set on every token and required by both stacks.
const ISSUER: &str = "auth-bench";
/// Set on every token and required by both stacks.
const AUDIENCE: &str = "auth-bench-api";
/// Our default leeway, given to jwt-authorizer too (its default is 60 s).
const LEEWAY_SECS: u64 = 5;
/// Long enough for any run (the default 15 min could end inside a long one).
const ACCESS_TTL: Duration = Duration::from_secs(60 * 60);
/// The subject of the reused token and the answer of `/bare`.
const REUSED_SUBJECT: &str = "alice";

struct Args {
    port: u16,
    ja_port: u16,
    tokens_dir: PathBuf,
    distinct: usize,
    redis_url: Option<String>,
}

const USAGE: &str = "usage: auth-bench-http --tokens-dir DIR [--port N] [--ja-port N] \
                     [--distinct N] [--redis-url URL]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        ja_port: 0,
        tokens_dir: PathBuf::new(),
        distinct: 10_000,
        redis_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let bad = |e: std::num::ParseIntError| format!("{flag}: {e}\n{USAGE}");
        match flag.as_str() {
            "--port" => args.port = value()?.parse().map_err(bad)?,
            "--ja-port" => args.ja_port = value()?.parse().map_err(bad)?,
            "--distinct" => args.distinct = value()?.parse().map_err(bad)?,
            "--tokens-dir" => args.tokens_dir = value()?.into(),
            "--redis-url" => args.redis_url = Some(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.tokens_dir.as_os_str().is_empty() {
        return Err(USAGE.to_owned());
    }
    if args.distinct == 0 {
        return Err(format!("--distinct must be at least 1\n{USAGE}"));
    }
    Ok(args)
}

/// The claims jwt-authorizer decodes: the subject and the same application
/// claims `RoleClaims` carries.
#[derive(Clone, Deserialize)]
struct JaClaims {
    sub: String,
    #[serde(default)]
    #[allow(dead_code)] // decoded like RoleClaims decodes it; not read
    roles: Vec<String>,
}

async fn bare() -> String {
    REUSED_SUBJECT.to_owned()
}

async fn ours(Auth(claims): Auth<RoleClaims>) -> String {
    claims.sub.clone()
}

async fn jwt_authorizer(JwtClaims(claims): JwtClaims<JaClaims>) -> String {
    claims.sub
}

fn authority(key: Key, store: Option<Arc<dyn Store>>) -> Result<TokenAuthority, BoxError> {
    let mut builder = TokenAuthority::builder(KeySet::new(key)?)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .access_ttl(ACCESS_TTL);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    Ok(builder.build()?)
}

/// jwt-authorizer's checks, matched to ours: the algorithm pinned, `exp`
/// and `nbf` with our leeway, `iss` and `aud` required.
fn ja_validation(alg: jsonwebtoken9::Algorithm) -> Validation {
    Validation::new()
        .algs(vec![alg])
        .iss(&[ISSUER])
        .aud(&[AUDIENCE])
        .exp(true)
        .nbf(true)
        .leeway(LEEWAY_SECS)
}

/// Mints the reused token and `distinct` others (one subject each, so no
/// subject goes past its session cap) and writes them as
/// `<name>-reused.txt` and `<name>-distinct.txt`.
async fn write_tokens(
    authority: &TokenAuthority,
    name: &str,
    distinct: usize,
    dir: &Path,
) -> Result<(), BoxError> {
    let claims = RoleClaims::with_roles(["user"]);
    let reused = authority.issue(REUSED_SUBJECT, &claims).await?.access_token;
    let mut lines = String::with_capacity(distinct * (reused.len() + 8));
    for i in 0..distinct {
        let pair = authority.issue(&format!("user-{i}"), &claims).await?;
        lines.push_str(&pair.access_token);
        lines.push('\n');
    }
    tokio::fs::write(dir.join(format!("{name}-reused.txt")), reused + "\n").await?;
    tokio::fs::write(dir.join(format!("{name}-distinct.txt")), lines).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    tokio::fs::create_dir_all(&args.tokens_dir).await?;

    // A fresh random HS256 secret per run, as text: jwt-authorizer takes
    // its secret as a string, ours as its bytes; the same 64 bytes for both.
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let hs_key = Key::hmac(Algorithm::HS256, secret.as_bytes())?;
    let hs = authority(hs_key.clone(), None)?;
    let es = authority(Key::generate(Algorithm::ES256)?, None)?;
    let es_jwks = serde_json::to_string(&es.keys().jwks())?;

    let redis = match &args.redis_url {
        Some(url) => {
            // A prefix of its own, so a shared Redis keeps other data apart.
            let prefix = format!("auth-bench-{}:", Uuid::new_v4().simple());
            let store = RedisStore::builder(url.clone())
                .prefix(prefix)
                .build()
                .await?;
            Some(authority(hs_key, Some(Arc::new(store)))?)
        }
        None => None,
    };

    write_tokens(&hs, "hs256", args.distinct, &args.tokens_dir).await?;
    write_tokens(&es, "es256", args.distinct, &args.tokens_dir).await?;
    if let Some(redis) = &redis {
        write_tokens(redis, "redis-hs256", args.distinct, &args.tokens_dir).await?;
    }

    // Ours: axum 0.8, one small router per stack, each with its own layer.
    let ours_route = |path: &str, layer: AuthLayer<RoleClaims>| {
        axum::Router::new()
            .route(path, axum::routing::get(ours))
            .layer(layer)
    };
    let layer = |a: &TokenAuthority| AuthLayer::<RoleClaims>::new(a.validator().clone());
    let mut app = axum::Router::new()
        .route("/bare", axum::routing::get(bare))
        .merge(ours_route("/ours/hs256", layer(&hs)))
        .merge(ours_route("/ours/es256", layer(&es)))
        .merge(ours_route("/ours-nocache/hs256", layer(&hs).cache(None)))
        .merge(ours_route("/ours-nocache/es256", layer(&es).cache(None)));
    if let Some(redis) = &redis {
        app = app.merge(ours_route("/ours-redis/hs256", layer(redis)));
    }

    // jwt-authorizer: axum 0.7, the same shape.
    let ja_hs: Authorizer<JaClaims> = JwtAuthorizer::from_secret(&secret)
        .validation(ja_validation(jsonwebtoken9::Algorithm::HS256))
        .build()
        .await?;
    let ja_es: Authorizer<JaClaims> = JwtAuthorizer::from_jwks_text(&es_jwks)
        .validation(ja_validation(jsonwebtoken9::Algorithm::ES256))
        .build()
        .await?;
    let ja_route = |path: &str, auth: Authorizer<JaClaims>| {
        axum07::Router::new()
            .route(path, axum07::routing::get(jwt_authorizer))
            .layer(auth.into_layer())
    };
    let ja_app = axum07::Router::new()
        .route("/bare", axum07::routing::get(bare))
        .merge(ja_route("/jwt-authorizer/hs256", ja_hs))
        .merge(ja_route("/jwt-authorizer/es256", ja_es));

    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let ja_listener = TcpListener::bind(("127.0.0.1", args.ja_port)).await?;
    let ports = format!(
        "OURS_PORT={}\nJA_PORT={}\n",
        listener.local_addr()?.port(),
        ja_listener.local_addr()?.port()
    );
    // Written whole, then renamed: a reader never sees half of it.
    let tmp = args.tokens_dir.join("ports.tmp");
    tokio::fs::write(&tmp, &ports).await?;
    tokio::fs::rename(&tmp, args.tokens_dir.join("ports")).await?;
    eprint!("listening on 127.0.0.1\n{ports}");

    let ja = tokio::spawn(async move { axum07::serve(ja_listener, ja_app).await });
    tokio::select! {
        r = axum::serve(listener, app) => r?,
        r = ja => r??,
    }
    Ok(())
}
