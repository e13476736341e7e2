//! The login throttle over real example-server processes: clients on other
//! machines are imitated by other loopback source addresses (127.0.0.x),
//! counters shared through a real `redis-server` and a real Redis Cluster.
//! Waits are read from `Retry-After` and waited out in full, never guessed.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use auth_core::testing::redis_server::{RedisCluster, RedisServer};
use common::{Server, spawn_memory, spawn_with};
use contract_tests::{Client, Reply};
use http::StatusCode;
use serde_json::json;

const RIGHT: &str = "alice-password";
const WRONG: &str = "not-her-password";

fn from(server: &Server, last: u8) -> Client {
    Client::from_source(server.addr(), IpAddr::from([127, 0, 0, last]))
}

async fn login_with(c: &Client, user: &str, password: &str, headers: &[(&str, &str)]) -> Reply {
    let body = json!({ "username": user, "password": password }).to_string();
    c.post("/auth/login", headers, Some(&body)).await
}

/// The `Retry-After` of a 429 `too_many_attempts`; panics on anything else.
fn throttled(r: &Reply) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.json);
    assert_eq!(r.json["error"], "too_many_attempts", "{}", r.json);
    let secs: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(secs >= 1);
    secs
}

async fn wrong(c: &Client, user: &str, n: usize) {
    for i in 0..n {
        let r = c.login(user, WRONG).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "failure {i}: {}",
            r.json
        );
    }
}

/// Waits out a `Retry-After` of `secs`, with room for a loaded machine.
async fn wait_out(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guesser_waits_doubling_and_a_success_resets() {
    let server = spawn_memory(&["--metrics"]).await;
    let guesser = from(&server, 2);
    wrong(&guesser, "alice", 5).await;
    // The sixth attempt is refused unchecked, the right password too.
    assert_eq!(throttled(&guesser.login("alice", RIGHT).await), 1);
    // Another machine, or another account, is not held.
    let other = from(&server, 3);
    assert_eq!(other.login("alice", RIGHT).await.status, StatusCode::OK);
    assert_eq!(
        guesser.login("root", WRONG).await.status,
        StatusCode::UNAUTHORIZED
    );
    wait_out(1).await;
    wrong(&guesser, "alice", 1).await;
    assert_eq!(
        throttled(&guesser.login("alice", WRONG).await),
        2,
        "doubled"
    );
    wait_out(2).await;
    let ok = guesser.login("alice", RIGHT).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    // The success reset the pair: five free failures again.
    wrong(&guesser, "alice", 5).await;
    throttled(&guesser.login("alice", RIGHT).await);
    let metrics = server.get("/metrics", None).await;
    let text = metrics.json.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("auth_logins_throttled_total{counter=\"pair\"} 3"),
        "{text}"
    );
    // The waits left when refused: 1 s, 2 s, 1 s.
    assert!(
        text.contains("auth_login_wait_seconds_bucket{counter=\"pair\",le=\"2\"} 3"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_are_counted_like_known_ones() {
    let server = spawn_memory(&[]).await;
    let (a, b) = (from(&server, 4), from(&server, 5));
    for _ in 0..5 {
        let known = a.login("alice", WRONG).await;
        let unknown = b.login("nobody", WRONG).await;
        assert_eq!(known.status, unknown.status);
        assert_eq!(known.json, unknown.json);
    }
    let known = a.login("alice", WRONG).await;
    let unknown = b.login("nobody", WRONG).await;
    assert_eq!(throttled(&known), throttled(&unknown));
    assert_eq!(known.json, unknown.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_sprays_waits_for_every_account() {
    let server = spawn_memory(&["--address-failures", "3"]).await;
    let sprayer = from(&server, 6);
    for user in ["u1", "u2", "u3", "u4"] {
        wrong(&sprayer, user, 1).await;
    }
    // Past the address's limit, every account waits, alice's right password
    // included; another address logs in.
    throttled(&sprayer.login("alice", RIGHT).await);
    throttled(&sprayer.login("u5", WRONG).await);
    assert_eq!(
        from(&server, 7).login("alice", RIGHT).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_under_attack_still_admits_its_known_devices() {
    let server = spawn_memory(&["--account-failures", "3"]).await;
    // Alice logged in from her laptop before: it holds a device cookie.
    let laptop = from(&server, 8);
    let first = laptop.login("alice", RIGHT).await;
    assert_eq!(first.status, StatusCode::OK);
    let device = first.cookie("auth_device").expect("a device cookie");
    assert!(device.http_only().unwrap_or(false));
    assert_eq!(device.path(), Some("/auth"));
    let device = format!("auth_device={}", device.value());
    // Root's device cookie names root, not alice.
    let root = laptop.login("root", "root-password").await;
    let root_device = format!(
        "auth_device={}",
        root.cookie("auth_device").unwrap().value()
    );
    // Distributed guessing: one failure from each of three machines.
    for last in 9..12 {
        wrong(&from(&server, last), "alice", 1).await;
    }
    // New devices wait, wherever they are, the right password included.
    throttled(&from(&server, 12).login("alice", RIGHT).await);
    throttled(&login_with(&laptop, "alice", RIGHT, &[("cookie", &root_device)]).await);
    throttled(&laptop.login("alice", RIGHT).await);
    // The laptop's cookie lets her in, a decoy planted beside it or not.
    let ok = login_with(&laptop, "alice", RIGHT, &[("cookie", &device)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    for cookies in [
        format!("auth_device=decoy; {device}"),
        format!("{device}; {root_device}"),
    ] {
        let ok = login_with(&laptop, "alice", RIGHT, &[("cookie", &cookies)]).await;
        assert_eq!(ok.status, StatusCode::OK, "{cookies}: {}", ok.json);
    }
    // A stolen device cookie is no key: its own counter holds it.
    let thief = from(&server, 13);
    for _ in 0..5 {
        let r = login_with(&thief, "alice", WRONG, &[("cookie", &device)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    throttled(&login_with(&thief, "alice", WRONG, &[("cookie", &device)]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_forwarded_address_counts() {
    let server = spawn_memory(&["--trusted-proxies", "1"]).await;
    let proxy = from(&server, 14);
    let client_a = [("x-forwarded-for", "198.51.100.1")];
    for _ in 0..5 {
        let r = login_with(&proxy, "alice", WRONG, &client_a).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    throttled(&login_with(&proxy, "alice", RIGHT, &client_a).await);
    // What a client writes left of the proxy's entry changes nothing.
    let spoofed = [("x-forwarded-for", "203.0.113.9, 198.51.100.1")];
    throttled(&login_with(&proxy, "alice", RIGHT, &spoofed).await);
    // Another client behind the same proxy is not held.
    let client_b = [("x-forwarded-for", "198.51.100.2")];
    let ok = login_with(&proxy, "alice", RIGHT, &client_b).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
}

/// Failures on either of two instances count for both.
async fn two_instances_share_the_counters(a: &Server, b: &Server) {
    let (on_a, on_b) = (from(a, 15), from(b, 15));
    wrong(&on_a, "alice", 3).await;
    wrong(&on_b, "alice", 2).await;
    throttled(&on_a.login("alice", RIGHT).await);
    throttled(&on_b.login("alice", RIGHT).await);
    // Another machine is not held.
    let other = from(b, 16);
    assert_eq!(other.login("alice", RIGHT).await.status, StatusCode::OK);
}

/// The number of keys of `redis` matching `pattern` (`KEYS`, in RESP).
async fn redis_keys(redis: &RedisServer, pattern: &str) -> usize {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", redis.port()))
        .await
        .expect("redis");
    let cmd = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n", pattern.len());
    conn.write_all(cmd.as_bytes()).await.expect("write");
    let mut line = String::new();
    BufReader::new(conn)
        .read_line(&mut line)
        .await
        .expect("read");
    line.trim()
        .trim_start_matches('*')
        .parse()
        .expect("an array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_count_together_and_fail_closed() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let flags = ["--account-failures", "8"];
    let a = spawn_with(&redis, &flags, "warn", std::process::Stdio::inherit()).await;
    let b = spawn_with(&redis, &flags, "warn", std::process::Stdio::inherit()).await;
    two_instances_share_the_counters(&a, &b).await;
    // A device known to one instance is known to the other: with the
    // account past its limit, B lets in the device A saw, and no other.
    let laptop = from(&a, 40);
    let device = laptop
        .login("alice", RIGHT)
        .await
        .cookie("auth_device")
        .unwrap();
    let device = format!("auth_device={}", device.value());
    for last in 41..44 {
        wrong(&from(&b, last), "alice", 1).await;
    }
    throttled(&from(&b, 44).login("alice", RIGHT).await);
    let on_b = from(&b, 40);
    let ok = login_with(&on_b, "alice", RIGHT, &[("cookie", &device)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    // Bodies refused before a verdict leave no counter behind.
    let before = redis_keys(&redis, "*thr:*").await;
    let junk = from(&a, 45);
    for i in 0..50 {
        let body = json!({ "username": format!("junk{i}") }).to_string();
        let r = junk.post("/auth/login", &[], Some(&body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
    }
    assert_eq!(redis_keys(&redis, "*thr:*").await, before);
    // Redis gone: a login is refused (503), never checked unthrottled.
    redis.kill();
    let r = from(&a, 17).login("alice", RIGHT).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_redis_cluster_count_together() {
    let Some(cluster) = RedisCluster::start(3, 0) else {
        return;
    };
    let seed = cluster.urls()[0].clone();
    let flags = ["--redis-cluster"];
    let a = common::spawn_on(&seed, &flags, "warn", std::process::Stdio::inherit()).await;
    let b = common::spawn_on(&seed, &flags, "warn", std::process::Stdio::inherit()).await;
    two_instances_share_the_counters(&a, &b).await;
    // The address counter too, in its own hash slot.
    let sprayer = (from(&a, 18), from(&b, 18));
    for i in 0..25 {
        wrong(&sprayer.0, &format!("a{i}"), 1).await;
        wrong(&sprayer.1, &format!("b{i}"), 1).await;
    }
    // The 51st failure within ten minutes starts the address's wait.
    wrong(&sprayer.0, "c", 1).await;
    throttled(&sprayer.1.login("alice", RIGHT).await);
}
