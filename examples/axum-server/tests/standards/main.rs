//! The standards the example server speaks, checked from outside as other
//! services would: the discovery documents (OpenID Connect Discovery, RFC
//! 8414) and introspection (RFC 7662), with our own client and with
//! Python's `requests`.

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;

use common::spawn_memory;
use contract_tests::Client;
use http::StatusCode;
use serde_json::json;

const CLIENT: &str = "orders";
/// A secret with characters RFC 6749's form encoding changes, sent as it
/// is by Python's requests.
const SECRET: &str = "orders+secret/0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_always_served_and_names_introspection_when_on() {
    let plain = spawn_memory(&[]).await;
    let c = Client::new(plain.addr());
    let base = format!("http://{}", plain.addr());
    let r = c.get("/.well-known/openid-configuration", None).await;
    assert_eq!(r.status, StatusCode::OK);
    // HS256 by default: nothing published; the issuer is the token's iss.
    assert_eq!(
        r.json,
        json!({
            "issuer": "example-axum-server",
            "access_token_signing_alg_values_supported": ["HS256"],
        })
    );
    let r = c.post("/auth/introspect", &[], Some("token=x")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "off without a client");

    let flag = format!("{CLIENT}:{SECRET}");
    let on = spawn_memory(&["--alg", "ES256", "--introspection-client", &flag]).await;
    let c = Client::new(on.addr());
    let base_on = format!("http://{}", on.addr());
    let r = c.get("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(
        r.json,
        json!({
            "issuer": "example-axum-server",
            "jwks_uri": format!("{base_on}/.well-known/jwks.json"),
            "access_token_signing_alg_values_supported": ["ES256"],
            "introspection_endpoint": format!("{base_on}/auth/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        })
    );
    assert_ne!(base, base_on);
}

#[tokio::test]
async fn a_bad_introspection_client_stops_the_start() {
    for (flag, why) in [
        ("orders", "ID:SECRET"),
        ("orders:short", "at least 16"),
        (":a-secret-of-16-bytes-or-more", "client id"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
            .args(["--introspection-client", flag])
            .output()
            .expect("the binary runs");
        assert!(!out.status.success(), "{flag}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{flag}: {stderr}");
    }
}

/// Python's `requests` as the resource server of another language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_requests_discovers_and_introspects() {
    let ready = Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and python3 with requests is missing: python3 -m pip install requests"
        );
        eprintln!("SKIPPED: needs python3 with requests (python3 -m pip install requests)");
        return;
    }
    let flag = format!("{CLIENT}:{SECRET}");
    let server = spawn_memory(&["--introspection-client", &flag]).await;
    let base = format!("http://{}", server.addr());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/standards/introspect.py");
    let out = tokio::process::Command::new("python3")
        .args([script, &base, CLIENT, SECRET])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
