//! RFC 9470 step-up on the example server: the key operations need a login
//! within `--step-up-max-age`, and a refresh is no login.

mod common;

use std::time::Duration;

use common::spawn_memory;
use contract_tests::Client;
use http::{Method, StatusCode};

const ROTATE: &str = "/admin/keys/rotate";
const WITHDRAW: &str = "/admin/keys/withdraw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_needs_a_recent_login_and_a_refresh_is_none() {
    // Long enough for the first rotation to follow the login on a loaded
    // machine; the wait below is measured from the login.
    let server = spawn_memory(&["--alg", "ES256", "--step-up-max-age", "5s"]).await;
    let c = Client::new(server.addr());
    let login = c.login("root", "root-password").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json);
    let logged_in = std::time::Instant::now();
    let r = c
        .bearer(Method::POST, ROTATE, &login.field("accessToken"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a fresh login rotates: {}",
        r.json
    );

    // The role is checked first: alice learns nothing about her login.
    let alice = c
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    let r = c.bearer(Method::POST, ROTATE, &alice).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"], "insufficient_scope");

    // auth_time is in whole seconds: past 6 s the 5 s are over for sure.
    tokio::time::sleep(Duration::from_millis(6_500).saturating_sub(logged_in.elapsed())).await;
    let r = c
        .bearer(Method::POST, ROTATE, &login.field("accessToken"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    assert_eq!(r.json["error"], "insufficient_user_authentication");
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer realm=")
            && challenge.contains("error=\"insufficient_user_authentication\"")
            && challenge.ends_with(", max_age=5"),
        "{challenge}"
    );
    // Other routes take the token as before.
    let r = c.get("/admin", Some(&login.field("accessToken"))).await;
    assert_eq!(r.status, StatusCode::OK);

    // A refresh keeps the login's time.
    let refreshed = c.refresh_body(&login.field("refreshToken")).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.json);
    let stale = refreshed.field("accessToken");
    let r = c.bearer(Method::POST, ROTATE, &stale).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    assert_eq!(r.json["error"], "insufficient_user_authentication");

    // Withdrawing the signing key ends every session it signed: it needs
    // a recent login too.
    let jwks = c.get("/.well-known/jwks.json", None).await;
    let kid = jwks.json["keys"][0]["kid"]
        .as_str()
        .unwrap_or("the-kid")
        .to_owned();
    let bearer = format!("Bearer {stale}");
    let body = serde_json::json!({ "kid": kid }).to_string();
    let r = c
        .post(WITHDRAW, &[("authorization", &bearer)], Some(&body))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    assert_eq!(r.json["error"], "insufficient_user_authentication");
    let victim = c
        .login("alice", "alice-password")
        .await
        .field("accessToken");
    assert_eq!(
        c.get("/profile", Some(&victim)).await.status,
        StatusCode::OK
    );

    // Signing in again does.
    let again = c.login("root", "root-password").await.field("accessToken");
    let r = c.bearer(Method::POST, ROTATE, &again).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
}

#[tokio::test]
async fn a_step_up_max_age_that_is_not_a_duration_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--step-up-max-age", "soon"])
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--step-up-max-age"), "{stderr}");
}
