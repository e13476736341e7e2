//! `--metrics`: the real binary, on a real `redis-server`, exposes the auth
//! metrics at `GET /metrics` in the Prometheus text format, and they count
//! what happened.

mod common;

use std::process::Stdio;

use auth_core::metrics;
use auth_core::testing::redis_server::RedisServer;
use common::spawn_with;
use http::Method;

/// The value of the sample `name{labels}` (labels as rendered, in order), or
/// 0 when absent.
fn sample(text: &str, name: &str, labels: &str) -> f64 {
    let series = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .filter_map(|l| l.strip_prefix(series.as_str()))
        .filter_map(|rest| rest.strip_prefix(' '))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_metrics_endpoint_counts_logins_refreshes_refusals_and_store_calls() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let s = spawn_with(&redis, &["--metrics"], "warn", Stdio::inherit()).await;

    let ok = s.login("alice", "alice-password").await;
    assert_eq!(ok.status, 200);
    assert_eq!(s.login("alice", "wrong-password").await.status, 401);
    let first = ok.field("refreshToken");
    let second = s.refresh_body(&first).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        s.refresh_body(&second.field("refreshToken")).await.status,
        200
    );
    // Two rotations old, the first token is reuse at once (the grace only
    // covers the token just replaced): the session is revoked.
    assert_eq!(s.refresh_body(&first).await.status, 401);
    assert_eq!(s.get("/profile", Some("not-a-token")).await.status, 401);
    assert_eq!(s.get("/profile", None).await.status, 401);
    let fresh = s.login("root", "root-password").await;
    let r = s
        .bearer(
            Method::POST,
            "/auth/logout-all",
            &fresh.field("accessToken"),
        )
        .await;
    assert_eq!(r.status, 204);

    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.json.as_str().expect("a text body").to_owned();
    let at = |name: &str, labels: &str| sample(&text, name, labels);
    assert_eq!(at(metrics::LOGINS, "outcome=\"ok\""), 2.0, "{text}");
    assert_eq!(at(metrics::LOGINS, "outcome=\"refused\""), 1.0, "{text}");
    assert_eq!(at(metrics::REFRESHES, "outcome=\"ok\""), 2.0, "{text}");
    assert_eq!(at(metrics::REFRESHES, "outcome=\"reused\""), 1.0, "{text}");
    assert_eq!(
        at(metrics::REVOCATIONS, "kind=\"session\",reason=\"reuse\""),
        1.0,
        "{text}"
    );
    assert_eq!(
        at(
            metrics::REVOCATIONS,
            "kind=\"session\",reason=\"logout_all\""
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        at(metrics::REFUSALS, "class=\"invalid_token\""),
        1.0,
        "{text}"
    );
    assert_eq!(
        at(metrics::REFUSALS, "class=\"missing_token\""),
        1.0,
        "{text}"
    );
    let rotations = format!("{}_count", metrics::STORE_DURATION);
    assert_eq!(at(&rotations, "op=\"rotate\""), 3.0, "{text}");
    assert_eq!(at(&rotations, "op=\"create_session\""), 2.0, "{text}");
    assert_eq!(at(metrics::STORE_ERRORS, "op=\"rotate\""), 0.0, "{text}");
    assert_eq!(at(metrics::STORE_FEED_UP, ""), 1.0, "{text}");
}

#[tokio::test]
async fn without_the_flag_there_is_no_metrics_route() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let s = spawn_with(&redis, &[], "warn", Stdio::inherit()).await;
    assert_eq!(s.get("/metrics", None).await.status, 404);
}
