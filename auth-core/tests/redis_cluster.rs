//! The Redis store on a real Redis Cluster started by the test (three
//! primaries, `redis-cli --cluster create`): the shared store suite, two
//! instances, concurrent rotation across them, a fresh instance loading the
//! revocations of every primary, and primaries killed with SIGKILL while
//! their replicas take over.

mod redis_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::store::{RedisStore, Store, Verdict};
use auth_core::testing::redis_server::RedisCluster;
use auth_core::testing::store_suite::{session, token};
use auth_core::{Clock, RevokedBy, StoreError, SystemClock, TokenRef};
use redis_common::{concurrent_rotation_winners, prefix, refused_within, run_store_suite};
use uuid::Uuid;

async fn store(cluster: &RedisCluster, prefix: &str) -> RedisStore {
    RedisStore::cluster_builder(cluster.urls())
        .prefix(prefix)
        .build()
        .await
        .expect("store")
}

/// A cluster store whose writes wait for a replica.
async fn durable_store(urls: Vec<String>, prefix: &str) -> RedisStore {
    RedisStore::cluster_builder(urls)
        .prefix(prefix)
        .wait_for_replicas(1)
        .build()
        .await
        .expect("store")
}

/// Subjects whose keys fall on every primary: a few dozen buckets.
fn subjects(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_a_cluster() {
    let Some(cluster) = RedisCluster::start(3, 0) else {
        return;
    };
    let urls = cluster.urls();
    run_store_suite(|| RedisStore::cluster_builder(urls.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_revocations_and_rotations() {
    let Some(cluster) = RedisCluster::start(3, 0) else {
        return;
    };
    let p = prefix();
    // Seeded differently: each learns the rest of the cluster.
    let a = RedisStore::cluster_builder([cluster.urls()[0].clone()])
        .prefix(&p)
        .build()
        .await
        .expect("store a");
    let b = RedisStore::builder(cluster.urls()[2].clone())
        .cluster()
        .prefix(&p)
        .build()
        .await
        .expect("store b");
    let now = SystemClock.now();

    // Revocations of every kind, for subjects all over the cluster, made on
    // one instance and refused by the other.
    let mut slowest = Duration::ZERO;
    for (i, subject) in subjects(12).iter().enumerate() {
        let s = session(subject, now);
        a.create_session(s.clone()).await.expect("login");
        let t = token(&s, now);
        assert_eq!(b.check(&t).await.unwrap(), Verdict::Allowed);
        match i % 3 {
            0 => a.revoke_token(t.jti, now + 60).await.expect("revoke token"),
            1 => assert!(a.revoke_session(s.sid, subject, now + 60).await.unwrap()),
            _ => assert_eq!(
                a.revoke_subject(subject, now + 1, now + 60).await.unwrap(),
                1
            ),
        }
        slowest = slowest.max(refused_within(&b, &t, Duration::from_millis(100)).await);
    }
    eprintln!("cluster: the slowest revocation reached the other instance after {slowest:?}");

    // Concurrent rotations of one token, across both instances: one wins.
    let s = session("alice", now);
    a.create_session(s.clone()).await.unwrap();
    assert_eq!(concurrent_rotation_winners([&a, &b], &s, now).await, 1);
    // The sessions of a subject are listed by either instance.
    assert_eq!(b.sessions("alice").await.unwrap().len(), 1);

    // A fresh instance loads every revocation, from every primary.
    // (A token, a session, or a subject's cut-off and its session, for each
    // subject: 4 + 4 + 8.)
    let c = store(&cluster, &p).await;
    assert_eq!(
        (a.mirror_len(), b.mirror_len(), c.mirror_len()),
        (16, 16, 16)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_reads_every_primary() {
    let Some(cluster) = RedisCluster::start(3, 0) else {
        return;
    };
    let p = prefix();
    let a = store(&cluster, &p).await;
    let now = SystemClock.now();
    let mut revoked = Vec::new();
    for subject in subjects(300) {
        let s = session(&subject, now);
        a.create_session(s.clone()).await.unwrap();
        let t = token(&s, now);
        a.revoke_token(t.jti, now + 600).await.unwrap();
        revoked.push(t.jti);
    }
    // The revocations really are spread over the primaries.
    let mut per_primary = Vec::new();
    for port in cluster.primaries() {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{p}*jti:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        per_primary.push(keys.len());
    }
    eprintln!("denylisted tokens per primary: {per_primary:?}");
    assert_eq!(per_primary.iter().sum::<usize>(), 300);
    assert!(per_primary.iter().all(|&n| n > 50), "{per_primary:?}");
    let b = store(&cluster, &p).await;
    assert_eq!(b.mirror_len(), 300);
    for jti in revoked {
        let t = TokenRef {
            jti,
            sid: Uuid::new_v4(),
            sub: "x",
            iat: now,
        };
        assert_eq!(
            b.check(&t).await.unwrap(),
            Verdict::Revoked(RevokedBy::Token)
        );
    }
}

/// Primaries killed with SIGKILL, one after the other, their replicas
/// promoted: the instances fail closed, recover by themselves, and forget no
/// revocation acknowledged before. Instance A listens on the first node, the
/// first one killed, so its feed breaks; instance B listens on a replica,
/// which lives on: only the cluster's state and epoch tell it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_fails_closed_then_recovers_without_forgetting() {
    let Some(mut cluster) = RedisCluster::start(3, 1) else {
        return;
    };
    let p = prefix();
    let build = |urls: Vec<String>| durable_store(urls, &p);
    let a = build(cluster.urls()).await;
    let b = build(cluster.urls()[5..].to_vec()).await;
    let now = SystemClock.now();
    let mut tokens = Vec::new();
    for subject in subjects(60) {
        let s = session(&subject, now);
        a.create_session(s.clone()).await.unwrap();
        let jti = token(&s, now).jti;
        a.revoke_token(jti, now + 600).await.unwrap();
        tokens.push((s, jti));
    }
    let refused = |store: &RedisStore, jti: Uuid| {
        let t = TokenRef {
            jti,
            sid: Uuid::new_v4(),
            sub: "x",
            iat: now,
        };
        store.check(&t).now().ok().map(|r| r.ok())
    };

    for (round, victim) in [0usize, 1].into_iter().enumerate() {
        let resyncs = [a.resyncs(), b.resyncs()];
        let started = Instant::now();
        cluster.kill(victim);
        // Each instance fails closed (its feed drops, or its node sees the
        // cluster fail or its epoch change) and resyncs by itself: its
        // resync count goes up and it is in sync again. Polling also sees
        // the refusals, unless a short one falls between two polls.
        let mut refusing = [None, None];
        let mut back = [None, None];
        let t = TokenRef {
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            sub: "x",
            iat: now,
        };
        while back.iter().any(Option::is_none) {
            for (i, store) in [&a, &b].into_iter().enumerate() {
                match store.check(&t).await {
                    Err(StoreError::Unavailable(_)) => {
                        refusing[i].get_or_insert(started.elapsed());
                    }
                    Ok(Verdict::Allowed) => {}
                    other => panic!("round {round}: {other:?}"),
                }
                if store.resyncs() > resyncs[i] && store.is_in_sync() {
                    back[i].get_or_insert(started.elapsed());
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: refusing {refusing:?}, back {back:?}; resyncs {:?} (before {resyncs:?}), in sync {:?}",
                [a.resyncs(), b.resyncs()],
                [a.is_in_sync(), b.is_in_sync()]
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // In the first round A's feed was on the killed node (its first
        // seed): it refused for a while.
        if round == 0 {
            assert!(refusing[0].is_some(), "A never failed closed");
        }
        // The dead primary comes back as the replica of the one that took
        // over, so writes, which wait for a replica, can be acknowledged again.
        cluster.restart(victim);
        cluster.wait_healthy(Duration::from_secs(30));
        eprintln!(
            "round {round}: node {victim} killed; A and B seen refusing after {refusing:?}, resynced and back after {back:?}"
        );
        // Nothing revoked before is forgotten, by the running instances or a
        // fresh one.
        let fresh = build(cluster.urls()[2..].to_vec()).await;
        for (_, jti) in &tokens {
            for store in [&a, &b, &fresh] {
                assert_eq!(
                    refused(store, *jti),
                    Some(Some(Verdict::Revoked(RevokedBy::Token))),
                    "round {round}: a revocation was forgotten"
                );
            }
        }
        // Writes work again everywhere, and still reach the other instance.
        for (s, _) in tokens.iter().skip(round).step_by(7) {
            let t = token(s, now);
            let start = Instant::now();
            loop {
                match a.revoke_token(t.jti, now + 600).await {
                    Ok(()) => break,
                    Err(StoreError::Unavailable(e)) => {
                        assert!(start.elapsed() < Duration::from_secs(10), "{e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            refused_within(&b, &t, Duration::from_millis(500)).await;
        }
    }
}

/// A primary left without a replica (its replica promoted, the old primary
/// still dead): with `wait_for_replicas(1)` each write to it waits out its
/// `WAIT` and fails. Writes keep coming to every primary, yet both
/// instances resync after the failover and answer checks: the feed's reads
/// do not queue behind the writers' `WAIT`s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_for_a_missing_replica_do_not_stall_the_feed() {
    let Some(mut cluster) = RedisCluster::start(3, 1) else {
        return;
    };
    let p = prefix();
    let build = |urls: Vec<String>| durable_store(urls, &p);
    let a = build(cluster.urls()).await;
    let b = build(cluster.urls()[5..].to_vec()).await;
    let before = [a.resyncs(), b.resyncs()];
    cluster.kill(0);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = if w % 2 == 0 { a.clone() } else { b.clone() };
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let s = session(&format!("writer{w}-{n}"), SystemClock.now());
                    if store.create_session(s).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let t = TokenRef {
        jti: Uuid::new_v4(),
        sid: Uuid::new_v4(),
        sub: "x",
        iat: SystemClock.now(),
    };
    let start = Instant::now();
    let mut serving_since: Option<Instant> = None;
    // Both resynced, and both answer every check for a whole second.
    while serving_since.is_none_or(|s| s.elapsed() < Duration::from_secs(1)) {
        let resynced = a.resyncs() > before[0] && b.resyncs() > before[1];
        let answering = a.check(&t).await.is_ok() && b.check(&t).await.is_ok();
        if resynced && answering {
            serving_since.get_or_insert_with(Instant::now);
        } else {
            serving_since = None;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the feed stalled behind the writes: resyncs {:?} (before {before:?}), in sync {:?}",
            [a.resyncs(), b.resyncs()],
            [a.is_in_sync(), b.is_in_sync()]
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "serving again {:?} after the kill, writes still waiting for a replica",
        start.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
}
