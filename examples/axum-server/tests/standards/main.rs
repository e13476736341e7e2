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

    // An issuer with a path names no route of this server: the endpoints
    // are named under the server's own address, and they answer.
    let tenant = spawn_memory(&[
        "--alg",
        "ES256",
        "--issuer",
        "https://auth.example.com/tenant1",
    ])
    .await;
    let c = Client::new(tenant.addr());
    let own = format!("http://{}", tenant.addr());
    let r = c.get("/.well-known/openid-configuration", None).await;
    assert_eq!(r.json["issuer"], "https://auth.example.com/tenant1");
    let jwks_uri = r.json["jwks_uri"].as_str().unwrap().to_owned();
    assert_eq!(jwks_uri, format!("{own}/.well-known/jwks.json"));
    let path = jwks_uri.trim_start_matches(&own);
    assert_eq!(c.get(path, None).await.status, StatusCode::OK);
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

/// `GET /openapi.json` describes every route, and an independent validator
/// (openapi-spec-validator) accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_is_valid_and_complete() {
    let flag = format!("{CLIENT}:{SECRET}");
    let server = spawn_memory(&["--introspection-client", &flag]).await;
    let c = Client::new(server.addr());
    let r = c.get("/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let doc = &r.json;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/sessions",
        "/auth/sessions/{id}",
        "/auth/introspect",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/profile",
        "/admin/keys/rotate",
        "/healthz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not described");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refreshCookie"]["in"], "cookie");
    assert_eq!(schemes["refreshCookie"]["name"], "refresh_token");
    assert_eq!(schemes["clientBasic"]["scheme"], "basic");
    assert!(doc["paths"]["/auth/login"]["post"]["responses"]["429"].is_object());

    let ready = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and openapi-spec-validator is missing: python3 -m pip install openapi-spec-validator"
        );
        eprintln!("SKIPPED: needs python3 -m pip install openapi-spec-validator");
        return;
    }
    let file = std::env::temp_dir().join(format!("openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, r.json.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "valid");
}
