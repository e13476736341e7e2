//! Two example-server processes on one real Redis share their DPoP replay
//! cache: a proof accepted by one is refused by the other.

mod common;

use auth_core::Algorithm;
use auth_core::testing::DpopKey;
use auth_core::testing::redis_server::RedisServer;
use common::spawn_with;
use contract_tests::Reply;
use http::Method;
use serde_json::json;

/// The origin both instances take proofs for (`--public-url`), as behind
/// one load balancer.
const ORIGIN: &str = "http://api.example";

async fn profile(server: &common::Server, access: &str, proof: &str) -> Reply {
    let authorization = format!("DPoP {access}");
    server
        .send(
            Method::GET,
            "/profile",
            &[("authorization", &authorization), ("dpop", proof)],
            None,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_accepted_by_one_instance_is_refused_by_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let flags = ["--public-url", ORIGIN];
    let a = spawn_with(&redis, &flags, "warn", std::process::Stdio::inherit()).await;
    let b = spawn_with(&redis, &flags, "warn", std::process::Stdio::inherit()).await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();

    let login_proof = key.proof("POST", &format!("{ORIGIN}/auth/login"), None);
    let body = json!({ "username": "alice", "password": "alice-password" }).to_string();
    let login = a
        .post("/auth/login", &[("dpop", &login_proof)], Some(&body))
        .await;
    assert_eq!(login.status, 200, "{}", login.json);
    assert_eq!(login.json["tokenType"], "DPoP", "{}", login.json);
    let access = login.field("accessToken");
    // The login's proof is spent on every instance.
    let again = b
        .post("/auth/login", &[("dpop", &login_proof)], Some(&body))
        .await;
    assert_eq!(again.status, 401, "{}", again.json);

    let url = format!("{ORIGIN}/profile");
    for (accepts, refuses) in [(&a, &b), (&b, &a)] {
        let proof = key.proof("GET", &url, Some(&access));
        let first = profile(accepts, &access, &proof).await;
        assert_eq!(first.status, 200, "{}", first.json);
        let replayed = profile(refuses, &access, &proof).await;
        assert_eq!(replayed.status, 401, "{}", replayed.json);
        assert_eq!(replayed.json["error"], "invalid_dpop_proof");
        // A fresh proof passes there: the refusal was the replay.
        let fresh = key.proof("GET", &url, Some(&access));
        assert_eq!(profile(refuses, &access, &fresh).await.status, 200);
    }
}
