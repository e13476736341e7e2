//! The flags: defaults and help, keys and algorithms, secrets across
//! restarts, lifetimes, issuer and audience, TLS files.

use super::*;

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

/// `--key-file`: the ring is written at start, rewritten after a rotation,
/// and read back at the next start, so tokens of both keys still verify and
/// the JWKS still lists both.
#[tokio::test]
async fn a_key_file_keeps_keys_and_rotations_across_restarts() {
    let dir = std::env::temp_dir().join(format!("key-file-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.json");
    let file = file.to_str().unwrap();
    let flags = [
        "--alg",
        "EdDSA",
        "--key-file",
        file,
        "--key-publication-delay",
        "0s",
    ];
    let first = Instance::start(&flags, None).await.unwrap();
    assert!(std::path::Path::new(file).exists(), "written at start");
    let before = first
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    let root = first
        .login("root", "root-password")
        .await
        .field("accessToken");
    let rotated = first
        .bearer(Method::POST, "/admin/keys/rotate", &root)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    let new_kid = rotated.json["kid"].as_str().unwrap().to_owned();
    let after = first
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    drop(first);

    // Another start with other flags: the file wins.
    let second = Instance::start(&["--key-file", file], None).await.unwrap();
    assert_eq!(second.get("/profile", Some(&before)).await.status, 200);
    assert_eq!(second.get("/profile", Some(&after)).await.status, 200);
    let jwks = second.get("/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.contains(&new_kid.as_str()), "{kids:?}");
    // New tokens are signed by the rotated key.
    let fresh = second
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    let header = fresh.split('.').next().unwrap();
    let header =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--dpop-nonces`: nonces keyed by `AUTH_DPOP_NONCE_SECRET`, else by what
/// the instances share to sign, are accepted by every instance; keyed at
/// random (no secret, or a `--key-file` ring alone), by none but their own.
#[test]
fn dpop_nonces_are_shared_by_what_the_instances_share() {
    use example_axum_server::dpop_nonces;
    let nonce_secret = "a DPoP nonce secret of at least 32 bytes";
    let on = args(&["--dpop-nonces"]).unwrap();
    assert!(
        dpop_nonces(&args(&[]).unwrap(), Some(SECRET), Some(nonce_secret))
            .unwrap()
            .is_none(),
        "off without the flag"
    );
    let shared = |secret: Option<&str>, nonce_secret: Option<&str>| {
        let a = dpop_nonces(&on, secret, nonce_secret).unwrap().unwrap();
        let b = dpop_nonces(&on, secret, nonce_secret).unwrap().unwrap();
        b.accepts(&a.current())
    };
    assert!(shared(None, Some(nonce_secret)));
    assert!(shared(Some(SECRET), None));
    assert!(!shared(None, None), "random keys");
    let ring = args(&[
        "--dpop-nonces",
        "--alg",
        "EdDSA",
        "--key-file",
        "/tmp/ring.json",
    ])
    .unwrap();
    let a = dpop_nonces(&ring, None, None).unwrap().unwrap();
    let b = dpop_nonces(&ring, None, None).unwrap().unwrap();
    assert!(!b.accepts(&a.current()), "a key file keys no nonces");
    // The nonce secret wins over the signing secret.
    let by_secret = dpop_nonces(&on, Some(SECRET), None).unwrap().unwrap();
    let by_nonce_secret = dpop_nonces(&on, Some(SECRET), Some(nonce_secret))
        .unwrap()
        .unwrap();
    assert!(!by_secret.accepts(&by_nonce_secret.current()));
    let err = dpop_nonces(&on, None, Some("short"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("AUTH_DPOP_NONCE_SECRET"), "{err}");
}
