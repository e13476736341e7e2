//! The example server's contract (as the README states it): flags, demo users,
//! routes and their JSON shapes, the refresh cookie, secrets and restarts,
//! checked over real HTTP on loopback.

use std::time::Duration;

use clap::{CommandFactory, Parser};
use contract_tests::Client;
use example_axum_server::{Alg, Args};
use http::Method;
use serde_json::json;

/// A server started in this process, stopped when dropped. Dereferences to
/// a [`Client`] of it.
struct Instance {
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::ops::Deref for Instance {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Parses flags as the binary would (`--addr` defaults to a free port here).
fn args(flags: &[&str]) -> Result<Args, clap::Error> {
    let mut argv = vec!["example-axum-server", "--addr", "127.0.0.1:0"];
    argv.extend_from_slice(flags);
    Args::try_parse_from(argv)
}

impl Instance {
    /// Starts the example server with these flags and `AUTH_JWT_SECRET`.
    async fn start(flags: &[&str], secret: Option<&str>) -> Result<Instance, String> {
        let args = args(flags).map_err(|e| e.to_string())?;
        let authority = example_axum_server::authority(&args, secret.map(str::to_owned))
            .await
            .map_err(|e| e.to_string())?;
        let users = example_axum_server::demo_users().map_err(|e| e.to_string())?;
        let app = example_axum_server::app(authority, users).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(example_axum_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Ok(Instance {
            client: Client::new(addr),
            stop: Some(stop),
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";

#[test]
fn flags_have_the_documented_defaults_and_help() {
    let a = example_axum_server::Args::try_parse_from(["example-axum-server"]).unwrap();
    assert_eq!(a.addr.to_string(), "127.0.0.1:3000");
    assert_eq!(a.access_ttl, Duration::from_secs(15 * 60));
    assert_eq!(a.refresh_ttl, Duration::from_secs(14 * 24 * 3600));
    assert_eq!(a.leeway, Duration::from_secs(5));
    assert_eq!(a.alg, Alg::Hs256);
    assert_eq!(a.redis_url, None);
    // Services sharing a key must not accept each other's tokens: iss and
    // aud are set by default.
    assert_eq!(a.issuer, example_axum_server::DEFAULT_ISSUER);
    assert_eq!(a.audience, example_axum_server::DEFAULT_AUDIENCE);

    let a = args(&[
        "--access-ttl",
        "2s",
        "--refresh-ttl",
        "1h",
        "--leeway",
        "0s",
        "--alg",
        "EdDSA",
    ])
    .unwrap();
    assert_eq!(a.access_ttl, Duration::from_secs(2));
    assert_eq!(a.refresh_ttl, Duration::from_secs(3600));
    assert_eq!(a.leeway, Duration::ZERO);
    assert_eq!(a.alg, Alg::EdDsa);
    assert_eq!(args(&["--alg", "rs256"]).unwrap().alg, Alg::Rs256);

    let help = example_axum_server::Args::command()
        .render_long_help()
        .to_string();
    for flag in [
        "--addr",
        "--access-ttl",
        "--refresh-ttl",
        "--leeway",
        "--alg",
        "--redis-url",
        "--redis-cluster",
        "--redis-wait-replicas",
        "--issuer",
        "--audience",
        "AUTH_JWT_SECRET",
        "alice",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    for bad in [
        &["--access-ttl", "soon"][..],
        &["--alg", "HS999"],
        &["--alg", "none"],
        &["--addr", "localhost"],
        // Cluster settings say nothing without a Redis.
        &["--redis-cluster"],
        &["--redis-wait-replicas", "1"],
        &[
            "--redis-url",
            "redis://127.0.0.1:1",
            "--redis-wait-replicas",
            "-1",
        ],
    ] {
        assert!(args(bad).is_err(), "{bad:?} accepted");
    }
}

#[tokio::test]
async fn the_walkthrough_login_profile_admin_refresh_logout() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    assert_eq!(s.get("/healthz", None).await.status, 200);

    let login = s.login("alice", "alice-password").await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.json["tokenType"], "Bearer");
    assert_eq!(login.json["expiresIn"], 900);
    let cookie = login.set_cookie().expect("refresh cookie");
    assert!(cookie.name().contains("refresh"));
    assert_eq!(cookie.path(), Some("/auth"));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.value(), login.field("refreshToken"));

    let access = login.field("accessToken");
    let profile = s.get("/profile", Some(&access)).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.json, json!({ "sub": "alice", "roles": ["user"] }));
    assert_eq!(s.get("/profile", None).await.status, 401);
    assert_eq!(s.get("/admin", Some(&access)).await.status, 403);

    let root = s.login("root", "root-password").await;
    let r = s.get("/admin", Some(&root.field("accessToken"))).await;
    assert_eq!(r.status, 200);
    let r = s.get("/profile", Some(&root.field("accessToken"))).await;
    assert_eq!(r.json, json!({ "sub": "root", "roles": ["user", "admin"] }));

    // Cookie-only refresh: no body at all.
    let refreshed = s.refresh_by_cookie(&cookie).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.json);
    let new_cookie = refreshed.set_cookie().expect("new cookie");
    assert_ne!(new_cookie.value(), cookie.value());
    assert_eq!(new_cookie.path(), Some("/auth"));

    let bearer = format!("Bearer {}", refreshed.field("accessToken"));
    let cookie_header = format!("{}={}", new_cookie.name(), new_cookie.value());
    let out = s
        .send(
            Method::POST,
            "/auth/logout",
            &[("authorization", &bearer), ("cookie", &cookie_header)],
            None,
        )
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(
        out.set_cookie().unwrap().max_age(),
        Some(cookie::time::Duration::ZERO)
    );
    assert_eq!(s.refresh_by_cookie(&new_cookie).await.status, 401);
    assert_eq!(
        s.get("/profile", Some(&refreshed.field("accessToken")))
            .await
            .status,
        401
    );

    let wrong = s.login("alice", "nope").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["error"], "invalid_credentials");
}

#[tokio::test]
async fn logout_all_ends_both_sessions() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    let a = s.login("alice", "alice-password").await;
    let b = s.login("alice", "alice-password").await;
    let r = s
        .bearer(Method::POST, "/auth/logout-all", &b.field("accessToken"))
        .await;
    assert_eq!(r.status, 204);
    for pair in [&a, &b] {
        assert_eq!(
            s.get("/profile", Some(&pair.field("accessToken")))
                .await
                .status,
            401
        );
        assert_eq!(
            s.refresh_by_cookie(&pair.set_cookie().unwrap())
                .await
                .status,
            401
        );
    }
}

#[tokio::test]
async fn sessions_are_listed_and_ended_by_their_user() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    let login = |agent: &'static str| {
        let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
        let client = &s.client;
        async move {
            client
                .post("/auth/login", &[("user-agent", agent)], Some(&body))
                .await
        }
    };
    let phone = login("Phone/1.0").await;
    let laptop = login("Laptop/2.0").await;
    let bearer = laptop.field("accessToken");
    let r = s.bearer(Method::GET, "/auth/sessions", &bearer).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let list = r.json["sessions"].as_array().unwrap();
    let summary: Vec<(&str, bool)> = list
        .iter()
        .map(|e| {
            (
                e["device"].as_str().unwrap(),
                e["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [("Phone/1.0", false), ("Laptop/2.0", true)]);
    for field in [
        "id",
        "createdAt",
        "lastRefreshedAt",
        "expiresAt",
        "absoluteExpiresAt",
    ] {
        assert!(!list[0][field].is_null(), "{field} missing: {}", list[0]);
    }
    let phone_id = list[0]["id"].as_str().unwrap();

    let r = s
        .bearer(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            &bearer,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        s.get("/profile", Some(&phone.field("accessToken")))
            .await
            .status,
        401
    );
    assert_eq!(
        s.refresh_body(&phone.field("refreshToken")).await.status,
        401
    );
    let r = s
        .bearer(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            &bearer,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(
        s.get("/profile", Some(&laptop.field("accessToken")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn every_algorithm_signs_and_asymmetric_ones_publish_a_jwks() {
    for (alg, kty) in [("ES256", "EC"), ("EdDSA", "OKP"), ("RS256", "RSA")] {
        let s = Instance::start(&["--alg", alg], None).await.unwrap();
        let login = s.login("alice", "alice-password").await;
        assert_eq!(login.status, 200, "{alg}");
        let profile = s.get("/profile", Some(&login.field("accessToken"))).await;
        assert_eq!(profile.status, 200, "{alg}");
        let jwks = s.get("/.well-known/jwks.json", None).await;
        assert_eq!(jwks.status, 200, "{alg}");
        assert_eq!(jwks.json["keys"][0]["kty"], kty, "{alg}");
        assert_eq!(jwks.json["keys"][0]["alg"], alg, "{alg}");
    }
    let hs = Instance::start(&[], Some(SECRET)).await.unwrap();
    assert_eq!(hs.get("/.well-known/jwks.json", None).await.status, 404);
}

#[tokio::test]
async fn a_pem_key_is_used_and_survives_a_restart() {
    let pem = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../auth-core/tests/keys/es256.pem"
    );
    let first = Instance::start(&["--alg", "ES256", "--key-pem", pem], None)
        .await
        .unwrap();
    let access = first
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    drop(first);
    let second = Instance::start(&["--alg", "ES256", "--key-pem", pem], None)
        .await
        .unwrap();
    assert_eq!(second.get("/profile", Some(&access)).await.status, 200);

    let err = Instance::start(&["--alg", "ES256", "--key-pem", "/nonexistent.pem"], None)
        .await
        .err()
        .unwrap();
    assert!(err.contains("/nonexistent.pem"), "{err}");
    let err = Instance::start(&["--alg", "EdDSA", "--key-pem", pem], None)
        .await
        .err()
        .unwrap();
    assert!(err.contains("--key-pem"), "{err}");
}

#[tokio::test]
async fn the_secret_decides_whether_access_tokens_survive_a_restart() {
    let first = Instance::start(&[], Some(SECRET)).await.unwrap();
    let access = first
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    drop(first);
    let same_secret = Instance::start(&[], Some(SECRET)).await.unwrap();
    assert_eq!(same_secret.get("/profile", Some(&access)).await.status, 200);

    let random = Instance::start(&[], None).await.unwrap();
    let access = random
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    drop(random);
    let random_again = Instance::start(&[], None).await.unwrap();
    assert_eq!(
        random_again.get("/profile", Some(&access)).await.status,
        401
    );

    let err = Instance::start(&[], Some("too-short")).await.err().unwrap();
    assert!(err.contains("AUTH_JWT_SECRET"), "{err}");
}

#[tokio::test]
async fn short_lifetimes_from_the_flags_are_enforced() {
    let s = Instance::start(&["--access-ttl", "1s", "--leeway", "0s"], Some(SECRET))
        .await
        .unwrap();
    let login = s.login("alice", "alice-password").await;
    assert_eq!(login.json["expiresIn"], 1);
    let access = login.field("accessToken");
    assert_eq!(s.get("/profile", Some(&access)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = s.get("/profile", Some(&access)).await;
    assert_eq!(r.status, 401);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("expired")
    );
    // The refresh token outlives it.
    assert_eq!(
        s.refresh_by_cookie(&login.set_cookie().unwrap())
            .await
            .status,
        200
    );
}

/// Tokens carry the server's `iss` and `aud`, and a server configured with
/// another issuer or audience refuses them, though it holds the same key.
#[tokio::test]
async fn issuer_and_audience_are_set_and_enforced_by_default() {
    let s = Instance::start(&[], Some(SECRET)).await.unwrap();
    let access = s
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    let payload = access.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], example_axum_server::DEFAULT_ISSUER);
    assert_eq!(claims["aud"], example_axum_server::DEFAULT_AUDIENCE);
    for flags in [
        &["--issuer", "billing"][..],
        &["--audience", "billing-api"][..],
    ] {
        let other = Instance::start(flags, Some(SECRET)).await.unwrap();
        assert_eq!(
            other.get("/profile", Some(&access)).await.status,
            401,
            "{flags:?}"
        );
    }
}

/// Starts the example app with these limits and returns its address.
async fn start_with_limits(limits: example_axum_server::Limits) -> std::net::SocketAddr {
    let a = args(&[]).unwrap();
    let authority = example_axum_server::authority(&a, Some(SECRET.into()))
        .await
        .unwrap();
    let app =
        example_axum_server::app(authority, example_axum_server::demo_users().unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_axum_server::serve_with(
        listener,
        app,
        std::future::pending(),
        limits,
    ));
    addr
}

/// Reads until the server closes the connection; what it sent.
async fn read_until_closed(conn: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(limit, conn.read_to_end(&mut got))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

/// A client that pipelines requests and never reads the answers blocks
/// the server's writes; nothing moves on its connection, which is closed
/// after the stall timeout, and its slot (here the only one: at the cap the
/// next connection waits in the backlog) goes to the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_loses_its_slot() {
    use tokio::io::AsyncWriteExt;
    let limits = example_axum_server::Limits {
        max_connections: 1,
        stall_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    assert_eq!(example_axum_server::Limits::default().max_connections, 1024);
    let addr = start_with_limits(limits).await;
    let mut hog = tokio::net::TcpStream::connect(addr).await.unwrap();
    let requests = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(1000);
    let writer = tokio::spawn(async move {
        let start = std::time::Instant::now();
        while hog.write_all(requests.as_bytes()).await.is_ok() {
            assert!(start.elapsed() < Duration::from_secs(120), "never cut off");
        }
        start.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = std::time::Instant::now();
    let next = tokio::time::timeout(
        Duration::from_secs(60),
        contract_tests::Client::new(addr).get("/healthz", None),
    )
    .await
    .expect("the next client is served once the hog is cut off");
    assert_eq!(next.status, 200);
    let cut_after = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the hog is cut off")
        .unwrap();
    eprintln!(
        "the hog was cut off after {cut_after:?}; the next client waited {:?}",
        start.elapsed()
    );
}

/// Slowloris: a client that sends its headers a byte at a time, or opens a
/// connection and sends nothing, is cut off after the header-read timeout;
/// one that sends headers but trickles its body gets 408.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let limits = example_axum_server::Limits {
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    assert_eq!(
        example_axum_server::Limits::default().header_read_timeout,
        Duration::from_secs(10)
    );
    let addr = start_with_limits(limits).await;

    // Headers never finished.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut conn, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection with unfinished headers stays open"
    );
    // Nothing sent at all.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "an idle connection stays open"
    );
    // A body that never arrives.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        b"POST /auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"user",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(5))
        .await
        .expect("the server answers a stalled body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Oversized headers: 431, not a 500 or a hang.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let big = format!(
        "GET /profile HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = conn.write_all(big.as_bytes()).await;
    let answer = read_until_closed(&mut conn, Duration::from_secs(5))
        .await
        .expect("the server closes a connection with oversized headers");
    // The answer can be lost to the reset that closing with unread input
    // causes; what arrives is a 431.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // And it still serves.
    let ok = contract_tests::Client::new(addr)
        .get("/healthz", None)
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn admins_rotate_the_signing_key_and_a_storm_cannot_grow_the_ring() {
    let s = Instance::start(&["--alg", "ES256"], None).await.unwrap();
    let alice = s
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    let root = s.login("root", "root-password").await.field("accessToken");
    let path = "/admin/keys/rotate";
    assert_eq!(s.post(path, &[], None).await.status, 401);
    let refused = s.bearer(Method::POST, path, &alice).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json["error"], "insufficient_scope");

    let kid = |token: &str| {
        let header = token.split('.').next().unwrap();
        let json: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap(),
        )
        .unwrap();
        json["kid"].as_str().unwrap().to_owned()
    };
    let signing = kid(&root);
    // A stolen admin token rotating in a loop only replaces the key waiting
    // to sign: the JWKS holds the signing key and the latest waiting one.
    let mut last = None;
    for _ in 0..(auth_core::MAX_RING_KEYS + 8) {
        let r = s.bearer(Method::POST, path, &root).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["alg"], "ES256");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let signs_from = r.json["signsFrom"].as_u64().unwrap();
        assert!(
            signs_from >= now + 590,
            "published before it signs: {}",
            r.json
        );
        assert!(r.json["previousRetiresAt"].as_u64().unwrap() > signs_from);
        last = Some(r.field("kid"));
    }
    let jwks = s.get("/.well-known/jwks.json", None).await;
    let published: Vec<&str> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(published, [signing.as_str(), last.as_deref().unwrap()]);
    // Tokens are still signed by the published key, and all of them work.
    let fresh = s
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    assert_eq!(kid(&fresh), signing);
    for token in [&alice, &root, &fresh] {
        assert_eq!(s.get("/profile", Some(token)).await.status, 200);
    }
}

/// The incident response: a leaked signing key is withdrawn, and a fresh
/// key signs at once; the leaked key's tokens are refused at once.
#[tokio::test]
async fn a_leaked_key_is_withdrawn_at_once() {
    let s = Instance::start(&["--alg", "EdDSA"], None).await.unwrap();
    let root = s.login("root", "root-password").await.field("accessToken");
    let alice = s.login("alice", "alice-password").await;
    let path = "/admin/keys/withdraw";
    let body = |kid: &str| serde_json::json!({ "kid": kid }).to_string();
    let jwks = s.get("/.well-known/jwks.json", None).await;
    let leaked = jwks.json["keys"][0]["kid"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {}", alice.field("accessToken"));
    let by_alice = s
        .post(path, &[("authorization", &auth)], Some(&body(&leaked)))
        .await;
    assert_eq!(by_alice.status, 403);
    let root_auth = format!("Bearer {root}");
    let unknown = s
        .post(
            path,
            &[("authorization", &root_auth)],
            Some(&body("no-such-kid")),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.json);
    let garbage = s
        .post(path, &[("authorization", &root_auth)], Some("{\"id\":1}"))
        .await;
    assert_eq!(garbage.status, 422, "{}", garbage.json);
    // A key named twice is refused, never resolved to one of them.
    let twice = format!("{{\"kid\":\"no-such-kid\",\"kid\":\"{leaked}\"}}");
    let twice = s
        .post(path, &[("authorization", &root_auth)], Some(&twice))
        .await;
    assert_eq!(twice.status, 422, "{}", twice.json);

    let replaced = s
        .post(path, &[("authorization", &root_auth)], Some(&body(&leaked)))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.json);
    let fresh_kid = replaced.field("kid");
    assert_ne!(fresh_kid, leaked);
    // Every token the leaked key signed is refused, the admin's own too.
    for token in [alice.field("accessToken"), root.clone()] {
        assert_eq!(s.get("/profile", Some(&token)).await.status, 401);
    }
    let refresh = s.refresh_body(&alice.field("refreshToken")).await;
    assert_eq!(refresh.status, 401, "{}", refresh.json);
    let jwks = s.get("/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [fresh_kid.as_str()]);
    let again = s
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    assert_eq!(s.get("/profile", Some(&again)).await.status, 200);
}

#[test]
fn tls_flags_go_together_and_bad_files_are_clear_errors() {
    assert!(args(&["--tls-cert", "cert.pem"]).is_err());
    assert!(args(&["--tls-key", "key.pem"]).is_err());
    let a = args(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
    assert!(a.tls_cert.is_some() && a.tls_key.is_some());

    let dir = std::env::temp_dir().join(format!("auth-tls-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.join("missing.pem");
    let err = example_axum_server::tls_config(&empty, &empty).unwrap_err();
    assert!(err.to_string().contains("--tls-cert"), "{err}");
    let err = example_axum_server::tls_config(&missing, &missing).unwrap_err();
    assert!(err.to_string().contains("--tls-cert"), "{err}");
}
