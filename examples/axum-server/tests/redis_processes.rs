//! Two example-server processes on one real Redis: sessions, rotation and
//! revocation hold across both, and a Redis killed with SIGKILL and restarted
//! from its append-only file is survived without restarting them. The same
//! on a real Redis Cluster (`--redis-cluster`), a primary killed.

mod common;

use std::time::{Duration, Instant};

use auth_core::testing::redis_server::{RedisCluster, RedisServer};
use common::{logout, spawn, spawn_on};
use contract_tests::Client;

/// Polls `GET /profile` until it answers `status`; returns how long it took.
async fn profile_becomes(s: &Client, access: &str, status: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let seen = s.get("/profile", Some(access)).await.status;
        if seen == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "/profile not {status} within {limit:?}: still {seen}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_rotation_and_revocation() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (spawn(&redis).await, spawn(&redis).await);

    let first = a.login("alice", "alice-password").await;
    assert_eq!(first.status, 200);
    // Refresh on B of a session made on A.
    let second = b.refresh_by_cookie(&first.set_cookie().unwrap()).await;
    assert_eq!(second.status, 200, "{}", second.json);
    let access = second.field("accessToken");
    assert_eq!(a.get("/profile", Some(&access)).await.status, 200);

    // Logout on B: A refuses the access token within 100 ms.
    assert_eq!(logout(&b, &second).await.status, 204);
    let delay = profile_becomes(&a, &access, 401, Duration::from_millis(100)).await;
    eprintln!("logout on B refused on A after {delay:?}");
    assert_eq!(
        a.refresh_by_cookie(&second.set_cookie().unwrap())
            .await
            .status,
        401
    );

    // Eight concurrent refreshes with one token, alternating instances.
    let pair = b.login("alice", "alice-password").await;
    let cookie = pair.set_cookie().unwrap().into_owned();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let client = if i % 2 == 0 {
                (*a).clone()
            } else {
                (*b).clone()
            };
            let cookie = cookie.clone();
            tokio::spawn(async move { client.refresh_by_cookie(&cookie).await })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            200 => winners.push(r),
            401 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one refresh wins across instances"
    );
    // The losers were superseded, not reuse: the winner's pair lives on.
    let winner = &winners[0];
    assert_eq!(
        a.get("/profile", Some(&winner.field("accessToken")))
            .await
            .status,
        200
    );
    let next = b.refresh_by_cookie(&winner.set_cookie().unwrap()).await;
    assert_eq!(next.status, 200, "{}", next.json);

    // A stale token replayed later revokes the session everywhere: on B
    // once the revocation's event arrives (the cross-instance window).
    tokio::time::sleep(Duration::from_millis(2100)).await; // past the reuse grace
    assert_eq!(a.refresh_by_cookie(&cookie).await.status, 401);
    let access = pair.field("accessToken");
    let delay = profile_becomes(&b, &access, 401, Duration::from_millis(100)).await;
    eprintln!("reuse on A revoked the session on B after {delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_fails_closed_then_recovers_without_forgetting() {
    let Some(mut redis) = RedisServer::start_persistent() else {
        return;
    };
    let (a, b) = (spawn(&redis).await, spawn(&redis).await);
    let ended = a.login("alice", "alice-password").await;
    assert_eq!(logout(&b, &ended).await.status, 204);
    let live = a.login("root", "root-password").await;
    let live_access = live.field("accessToken");
    assert_eq!(b.get("/profile", Some(&live_access)).await.status, 200);

    redis.kill();
    // Fail closed: 503, on checks and on refresh.
    profile_becomes(&a, &live_access, 503, Duration::from_secs(5)).await;
    profile_becomes(&b, &live_access, 503, Duration::from_secs(5)).await;
    let r = a.refresh_by_cookie(&live.set_cookie().unwrap()).await;
    assert_eq!(r.status, 503);

    redis.restart();
    // Back by themselves, with the revocation made before the outage.
    profile_becomes(&a, &live_access, 200, Duration::from_secs(10)).await;
    profile_becomes(&b, &live_access, 200, Duration::from_secs(10)).await;
    for s in [&a, &b] {
        let r = s.get("/profile", Some(&ended.field("accessToken"))).await;
        assert_eq!(r.status, 401, "a revocation was forgotten");
    }
    let r = b.refresh_by_cookie(&live.set_cookie().unwrap()).await;
    assert_eq!(
        r.status, 200,
        "the session survived the restart: {}",
        r.json
    );
    // A process started after the restart knows the revocation from Redis
    // itself (its append-only file), not from a mirror.
    let c = spawn(&redis).await;
    let revoked = c.get("/profile", Some(&ended.field("accessToken"))).await;
    assert_eq!(
        revoked.status, 401,
        "Redis forgot a revocation across its restart"
    );
    assert_eq!(
        c.get("/profile", Some(&r.field("accessToken")))
            .await
            .status,
        200
    );
}

/// `--redis-cluster`: two processes seeded with different nodes of a
/// 3-primary cluster (each with a replica) share sessions and revocations,
/// and a primary killed with SIGKILL fails them closed, then they recover
/// by themselves with every logout kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_redis_cluster_survive_a_failover() {
    let Some(mut cluster) = RedisCluster::start(3, 1) else {
        return;
    };
    let flags = ["--redis-cluster", "--redis-wait-replicas", "1"];
    let urls = cluster.urls();
    let a = spawn_on(&urls[0], &flags, "warn", std::process::Stdio::inherit()).await;
    let b = spawn_on(&urls[4], &flags, "warn", std::process::Stdio::inherit()).await;

    // Sessions made on A, refreshed on B, a third logged out on B (their
    // access tokens' denylist entries spread over the primaries).
    let mut live = Vec::new();
    let mut out = Vec::new();
    for i in 0..12 {
        let user = if i % 2 == 0 { "alice" } else { "root" };
        let pair = a.login(user, &format!("{user}-password")).await;
        assert_eq!(pair.status, 200, "{}", pair.json);
        let next = b.refresh_by_cookie(&pair.set_cookie().unwrap()).await;
        assert_eq!(next.status, 200, "{}", next.json);
        let access = next.field("accessToken");
        if i % 3 == 0 {
            assert_eq!(logout(&b, &next).await.status, 204);
            let delay = profile_becomes(&a, &access, 401, Duration::from_millis(100)).await;
            eprintln!("cluster: logout on B refused on A after {delay:?}");
            out.push(access);
        } else {
            live.push(next);
        }
    }

    // The first node (A's seed, a primary) dies; its replica takes over.
    cluster.kill(0);
    let start = Instant::now();
    let probe = &live[0].field("accessToken");
    let closed = profile_becomes(&a, probe, 503, Duration::from_secs(10)).await;
    profile_becomes(&a, probe, 200, Duration::from_secs(30)).await;
    profile_becomes(&b, probe, 200, Duration::from_secs(30)).await;
    eprintln!(
        "cluster: A failed closed {closed:?} after the kill, both served again after {:?}",
        start.elapsed()
    );
    // Nothing logged out came back.
    for access in &out {
        assert_eq!(a.get("/profile", Some(access)).await.status, 401);
        assert_eq!(b.get("/profile", Some(access)).await.status, 401);
    }
    // The old primary rejoins as a replica, so writes are acknowledged
    // again; then refreshes and logouts work on both.
    cluster.restart(0);
    cluster.wait_healthy(Duration::from_secs(30));
    for pair in &live {
        let cookie = pair.set_cookie().unwrap();
        let start = Instant::now();
        let next = loop {
            let r = a.refresh_by_cookie(&cookie).await;
            if r.status != 503 || start.elapsed() > Duration::from_secs(10) {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(next.status, 200, "{}", next.json);
        assert_eq!(logout(&b, &next).await.status, 204);
        profile_becomes(
            &a,
            &next.field("accessToken"),
            401,
            Duration::from_millis(100),
        )
        .await;
    }
}
