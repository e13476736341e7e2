//! One issuer and a resource server as real processes on loopback, sharing
//! a real `redis-server`: the issuer (`example-axum-server --alg ES256
//! --redis-url ...`) logs users in and publishes its JWKS; the resource
//! server (`example-resource-server`) only verifies. Checked: a login's
//! token works on the resource server; a logout at the issuer is refused
//! there within 100 ms; a resource server started before its issuer answers
//! 503, then serves without a restart; a key rotation is followed at once,
//! older tokens included; unknown `kid`s cost at most one JWKS fetch per
//! interval (counted by a proxy); HS256 tokens, another issuer's and another
//! audience's are refused; OpenID discovery.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use auth_core::testing::redis_server::RedisServer;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contract_tests::{Client, Reply};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const HS_SECRET: &str = "a-secret-of-at-least-32-bytes-for-the-hs256-issuer";

/// A process of one of the examples, killed when dropped.
struct Proc {
    client: Client,
    _child: Child,
}

impl std::ops::Deref for Proc {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// The issuer's binary, next to this package's (built by `cargo test
/// --workspace`; built here when this package's tests run alone).
fn issuer_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let ours = PathBuf::from(env!("CARGO_BIN_EXE_example-resource-server"));
            let theirs = ours.with_file_name("example-axum-server");
            if !theirs.exists() {
                let manifest =
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../axum-server/Cargo.toml");
                let status = std::process::Command::new(env!("CARGO"))
                    .args(["build", "-p", "example-axum-server", "--manifest-path"])
                    .arg(manifest)
                    .status()
                    .expect("cargo runs");
                assert!(status.success(), "building example-axum-server failed");
            }
            theirs
        })
        .clone()
}

/// Starts `binary` on `addr` with `args`; returns once it accepts
/// connections.
async fn start(binary: PathBuf, addr: SocketAddr, args: &[String], env: &[(&str, &str)]) -> Proc {
    let child = Command::new(binary)
        .arg("--addr")
        .arg(addr.to_string())
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Proc {
        client: Client::new(addr),
        _child: child,
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The issuer with ES256 on `redis` (and more flags).
async fn issuer_at(addr: SocketAddr, redis: &RedisServer, more: &[&str]) -> Proc {
    let mut args = strings(&["--alg", "ES256", "--redis-url"]);
    args.push(redis.url());
    args.extend(strings(more));
    start(issuer_binary(), addr, &args, &[]).await
}

/// A resource server verifying with the JWKS at `jwks_url` (or other key
/// flags in `more`), checking revocations on `redis`.
async fn resource_server(redis: &RedisServer, more: &[&str]) -> Proc {
    let mut args = strings(&["--redis-url"]);
    args.push(redis.url());
    args.extend(strings(more));
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_example-resource-server"));
    start(binary, free_addr(), &args, &[]).await
}

fn jwks_url(issuer: &Client) -> String {
    format!("http://{}/.well-known/jwks.json", issuer.addr)
}

async fn login(issuer: &Client, user: &str) -> Reply {
    let r = issuer.login(user, &format!("{user}-password")).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r
}

async fn whoami(rs: &Client, token: &str) -> Reply {
    rs.get("/whoami", Some(token)).await
}

/// `whoami` until it answers `status`, for at most `limit`; how long it took.
async fn until_status(rs: &Client, token: &str, status: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let r = whoami(rs, token).await;
        if r.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still {} ({}) after {limit:?}",
            r.status,
            r.json
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().expect("a header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON");
    header["kid"].as_str().expect("a kid").to_owned()
}

/// A well-formed ES256 access token naming `kid`, with a garbage signature.
fn forged(kid: &str) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid })),
        part(json!({ "sub": "mallory", "exp": 4_000_000_000u64 })),
        URL_SAFE_NO_PAD.encode([7u8; 64])
    )
}

#[tokio::test]
async fn a_logout_at_the_issuer_is_refused_by_the_resource_server_within_100ms() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = issuer_at(free_addr(), &redis, &[]).await;
    let rs = resource_server(&redis, &["--jwks-url", &jwks_url(&issuer)]).await;
    let pair = login(&issuer, "alice").await;
    let access = pair.field("accessToken");
    until_status(&rs, &access, 200, Duration::from_secs(10)).await;
    let me = whoami(&rs, &access).await;
    assert_eq!(me.json, json!({ "sub": "alice", "roles": ["user"] }));

    let body = json!({ "refreshToken": pair.field("refreshToken") }).to_string();
    let auth = format!("Bearer {access}");
    let out = issuer
        .send(
            Method::POST,
            "/auth/logout",
            &[("authorization", &auth)],
            Some(&body),
        )
        .await;
    assert_eq!(out.status, 204);
    let took = until_status(&rs, &access, 401, Duration::from_millis(100)).await;
    eprintln!("the resource server refused the logged-out token after {took:?}");
    let refused = whoami(&rs, &access).await;
    assert_eq!(refused.json["error"], "invalid_token");
    assert!(refused.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_resource_server_started_before_its_issuer_fails_closed_then_serves() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer_addr = free_addr();
    let url = format!("http://{issuer_addr}/.well-known/jwks.json");
    let rs = resource_server(&redis, &["--jwks-url", &url]).await;
    let early = whoami(&rs, &forged("any")).await;
    assert_eq!(early.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(early.json["error"], "temporarily_unavailable");
    let health = rs.get("/healthz", None).await;
    assert_eq!(health.json["keysLoaded"], false);

    let issuer = issuer_at(issuer_addr, &redis, &[]).await;
    let access = login(&issuer, "alice").await.field("accessToken");
    let took = until_status(&rs, &access, 200, Duration::from_secs(15)).await;
    eprintln!("served {took:?} after the issuer came up, without a restart");
    assert_eq!(rs.get("/healthz", None).await.json["keysLoaded"], true);
}

#[tokio::test]
async fn a_key_rotation_is_followed_at_once_and_older_tokens_still_work() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // The new key is published for 2 s before it signs.
    let issuer = issuer_at(free_addr(), &redis, &["--key-publication-delay", "2s"]).await;
    let rs = resource_server(&redis, &["--jwks-url", &jwks_url(&issuer)]).await;
    let before = login(&issuer, "alice").await.field("accessToken");
    until_status(&rs, &before, 200, Duration::from_secs(10)).await;

    // Only an admin rotates.
    let alice = issuer
        .bearer(Method::POST, "/admin/keys/rotate", &before)
        .await;
    assert_eq!(alice.status, 403);
    let root = login(&issuer, "root").await.field("accessToken");
    let rotated = issuer
        .bearer(Method::POST, "/admin/keys/rotate", &root)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    assert_eq!(rotated.json["alg"], "ES256");
    let new_kid = rotated.field("kid");
    assert_ne!(new_kid, kid(&before));
    let jwks = issuer.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.json["keys"].as_array().expect("keys").len(), 2);

    // Published first, signing once the delay has passed.
    let waiting = login(&issuer, "alice").await.field("accessToken");
    assert_eq!(kid(&waiting), kid(&before));
    let start = std::time::Instant::now();
    let after = loop {
        let token = login(&issuer, "alice").await.field("accessToken");
        if kid(&token) == new_kid {
            break token;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The first request with the new key is accepted: no retry.
    let first = whoami(&rs, &after).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(whoami(&rs, &before).await.status, 200);
    assert_eq!(whoami(&rs, &root).await.status, 200);
}

/// Counts the JWKS requests it forwards to the issuer.
#[derive(Clone)]
struct Proxy {
    upstream: String,
    fetches: Arc<AtomicUsize>,
    client: Client,
}

async fn forward(State(p): State<Proxy>) -> Response {
    p.fetches.fetch_add(1, Ordering::SeqCst);
    let r = p.client.get(&p.upstream, None).await;
    (r.status, r.json.to_string()).into_response()
}

#[tokio::test]
async fn unknown_kids_cost_at_most_one_jwks_fetch_per_interval() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = issuer_at(free_addr(), &redis, &[]).await;
    let proxy = Proxy {
        upstream: "/.well-known/jwks.json".into(),
        fetches: Arc::default(),
        client: Client::new(issuer.addr),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/jwks", get(forward))
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let url = format!("http://{proxy_addr}/jwks");
    let rs = resource_server(
        &redis,
        &["--jwks-url", &url, "--jwks-refetch-interval", "2s"],
    )
    .await;
    let access = login(&issuer, "alice").await.field("accessToken");
    until_status(&rs, &access, 200, Duration::from_secs(10)).await;
    let initial = proxy.fetches.load(Ordering::SeqCst);
    assert_eq!(initial, 1);

    // A burst of 50 concurrent tokens naming made-up kids: one refetch.
    let burst: Vec<_> = (0..50)
        .map(|i| {
            let rs = rs.client.clone();
            tokio::spawn(async move { whoami(&rs, &forged(&format!("burst-{i}"))).await })
        })
        .collect();
    for r in burst {
        let r = r.await.unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.json["error"], "invalid_token");
    }
    let after_burst = proxy.fetches.load(Ordering::SeqCst);
    assert!(
        after_burst <= initial + 1,
        "{after_burst} fetches after a burst"
    );

    // Then a steady stream for five seconds: at most one fetch per interval.
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(5) {
        assert_eq!(
            whoami(&rs, &forged(&format!("steady-{sent}"))).await.status,
            401
        );
        sent += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let fetched = proxy.fetches.load(Ordering::SeqCst) - after_burst;
    let allowed = (elapsed / 2.0).ceil() as usize + 1;
    eprintln!(
        "{sent} unknown kids in {elapsed:.1} s cost {fetched} JWKS fetches (at most {allowed})"
    );
    assert!(fetched <= allowed, "{fetched} fetches in {elapsed:.1} s");
    // The real token was never affected.
    assert_eq!(whoami(&rs, &access).await.status, 200);
}

#[tokio::test]
async fn hs256_tokens_and_other_issuers_and_audiences_are_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = issuer_at(free_addr(), &redis, &[]).await;
    let rs = resource_server(&redis, &["--jwks-url", &jwks_url(&issuer)]).await;
    let good = login(&issuer, "alice").await.field("accessToken");
    until_status(&rs, &good, 200, Duration::from_secs(10)).await;

    // An HS256 issuer (same users, iss and aud): its JWKS is empty, and a
    // resource server never takes an HMAC key.
    let hs = start(
        issuer_binary(),
        free_addr(),
        &strings(&["--alg", "HS256"]),
        &[("AUTH_JWT_SECRET", HS_SECRET)],
    )
    .await;
    let hs_token = login(&hs, "alice").await.field("accessToken");
    let r = whoami(&rs, &hs_token).await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].clone()),
        (401, json!("invalid_token"))
    );

    // Another ES256 issuer: its key is not the issuer's.
    let other = issuer_at(free_addr(), &redis, &["--issuer", "other-issuer"]).await;
    let other_token = login(&other, "alice").await.field("accessToken");
    assert_eq!(whoami(&rs, &other_token).await.status, 401);

    // The issuer's own key, but a resource server for another audience.
    let elsewhere = resource_server(
        &redis,
        &[
            "--jwks-url",
            &jwks_url(&issuer),
            "--audience",
            "billing-api",
        ],
    )
    .await;
    until_status(&elsewhere, &good, 401, Duration::from_secs(10)).await;
    let r = whoami(&elsewhere, &good).await;
    assert_eq!(r.json["error"], "invalid_token");
    // Several audiences: one of them suffices.
    let both = resource_server(
        &redis,
        &[
            "--jwks-url",
            &jwks_url(&issuer),
            "--audience",
            "billing-api",
            "--audience",
            "example-api",
        ],
    )
    .await;
    until_status(&both, &good, 200, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn openid_discovery_from_the_issuer_url() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let addr = free_addr();
    let issuer_url = format!("http://{addr}");
    let issuer = issuer_at(addr, &redis, &["--issuer", &issuer_url]).await;
    let doc = issuer.get("/.well-known/openid-configuration", None).await;
    assert_eq!(doc.json["issuer"], issuer_url);
    assert_eq!(
        doc.json["jwks_uri"],
        format!("{issuer_url}/.well-known/jwks.json")
    );
    let rs = resource_server(&redis, &["--issuer-url", &issuer_url]).await;
    let access = login(&issuer, "alice").await.field("accessToken");
    until_status(&rs, &access, 200, Duration::from_secs(10)).await;

    // A resource server expecting another issuer refuses the same token.
    let strict = resource_server(
        &redis,
        &["--issuer-url", &issuer_url, "--issuer", "someone-else"],
    )
    .await;
    until_status(&strict, &access, 401, Duration::from_secs(10)).await;
}

/// RFC 9728: the resource server describes itself, and every 401 names
/// that description; a client learns the issuer from it.
#[tokio::test]
async fn the_protected_resource_metadata_is_served_and_named_in_challenges() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let addr = free_addr();
    let issuer_url = format!("http://{addr}");
    let issuer = issuer_at(addr, &redis, &["--issuer", &issuer_url]).await;
    let rs = resource_server(&redis, &["--issuer-url", &issuer_url]).await;
    let own = format!("http://{}", rs.addr);
    let r = rs.get("/.well-known/oauth-protected-resource", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json,
        serde_json::json!({
            "resource": own,
            "authorization_servers": [issuer_url],
            "bearer_methods_supported": ["header"],
        })
    );
    let metadata_url = format!("{own}/.well-known/oauth-protected-resource");
    for token in [None, Some("not.a.token")] {
        let r = rs.get("/whoami", token).await;
        assert_eq!(r.status, 401);
        let challenge = r.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.ends_with(&format!(", resource_metadata=\"{metadata_url}\"")),
            "{challenge}"
        );
    }
    // From the challenge to the issuer to a token that works here.
    let access = login(&issuer, "alice").await.field("accessToken");
    until_status(&rs, &access, 200, Duration::from_secs(10)).await;

    // Named by --resource, with the JWKS it verifies with.
    let jwks = jwks_url(&issuer);
    let named = resource_server(
        &redis,
        &[
            "--jwks-url",
            &jwks,
            "--resource",
            "https://api.example.com/orders",
        ],
    )
    .await;
    let r = named
        .get("/.well-known/oauth-protected-resource/orders", None)
        .await;
    assert_eq!(r.json["resource"], "https://api.example.com/orders");
    assert_eq!(r.json["jwks_uri"], jwks);
    assert_eq!(
        r.json.get("authorization_servers"),
        None,
        "the issuer is no URL"
    );
    let challenge = named.get("/whoami", None).await.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.ends_with(
            ", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/orders\""
        ),
        "{challenge}"
    );
}

/// Without the issuer's Redis, revocations are checked by introspection:
/// a logout at the issuer is refused here once the answer kept runs out.
#[tokio::test]
async fn a_logout_is_seen_through_introspection_without_redis() {
    let addr = free_addr();
    let client = "whoami-service:whoami-secret-0123456";
    let issuer = start(
        issuer_binary(),
        addr,
        &strings(&["--alg", "ES256", "--introspection-client", client]),
        &[],
    )
    .await;
    let rs = start(
        PathBuf::from(env!("CARGO_BIN_EXE_example-resource-server")),
        free_addr(),
        &strings(&[
            "--jwks-url",
            &jwks_url(&issuer),
            "--introspection-url",
            &format!("http://{addr}/auth/introspect"),
            "--introspection-client",
            client,
            "--introspection-cache",
            "0s",
        ]),
        &[],
    )
    .await;
    let access = login(&issuer, "alice").await.field("accessToken");
    until_status(&rs, &access, 200, Duration::from_secs(10)).await;
    let r = issuer
        .bearer(http::Method::POST, "/auth/logout", &access)
        .await;
    assert_eq!(r.status, 204);
    let r = whoami(&rs, &access).await;
    assert_eq!(r.status, 401, "{}", r.json);
}

/// A DPoP-bound login at the issuer (RFC 9449) is taken by the resource
/// server with `Authorization: DPoP` and a proof of the client's key for
/// the resource server's own URL; as Bearer, or with a proof for the
/// issuer's URL, it is refused with `invalid_dpop_proof`.
#[tokio::test]
async fn a_dpop_bound_token_works_at_the_resource_server_with_its_key_only() {
    use auth_core::testing::DpopKey;
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = issuer_at(free_addr(), &redis, &[]).await;
    let rs = resource_server(&redis, &["--jwks-url", &jwks_url(&issuer)]).await;
    let key = DpopKey::generate(auth_core::Algorithm::ES256).unwrap();
    let login_url = format!("http://{}/auth/login", issuer.addr);
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let proof = key.proof("POST", &login_url, None);
    let login = issuer
        .post("/auth/login", &[("dpop", &proof)], Some(&body))
        .await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.json["tokenType"], "DPoP");
    let access = login.field("accessToken");
    let whoami_url = format!("http://{}/whoami", rs.addr);
    let call = |proof: Option<String>, scheme: &'static str| {
        let auth = format!("{scheme} {access}");
        let rs = &rs;
        async move {
            let mut headers = vec![("authorization", auth.as_str())];
            if let Some(p) = &proof {
                headers.push(("dpop", p.as_str()));
            }
            rs.send(Method::GET, "/whoami", &headers, None).await
        }
    };
    // The resource server may still be fetching the issuer's keys.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ok = loop {
        let r = call(Some(key.proof("GET", &whoami_url, Some(&access))), "DPoP").await;
        if r.status == 200 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(ok.json["sub"], "alice");
    let as_bearer = call(None, "Bearer").await;
    assert_eq!(
        (as_bearer.status.as_u16(), &as_bearer.json["error"]),
        (401, &json!("invalid_dpop_proof"))
    );
    let challenge = as_bearer.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("algs="),
        "{challenge}"
    );
    let issuer_url = format!("http://{}/whoami", issuer.addr);
    let elsewhere = call(Some(key.proof("GET", &issuer_url, Some(&access))), "DPoP").await;
    assert_eq!(elsewhere.json["error"], "invalid_dpop_proof");
    let other = DpopKey::generate(auth_core::Algorithm::ES256).unwrap();
    let stolen = call(Some(other.proof("GET", &whoami_url, Some(&access))), "DPoP").await;
    assert_eq!(stolen.json["error"], "invalid_dpop_proof");
}
