//! Operating it: slow and stalled clients, key rotation and withdrawal by
//! an admin.

use super::*;

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
