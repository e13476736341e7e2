//! Writes: the store suite, rotations across instances, outages, large
//! logout-alls, replicas, the throttle's begin.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    run_store_suite(|| RedisStore::builder(url.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_across_instances_have_one_winner() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let stores = [store(&server, &p).await, store(&server, &p).await];
    let now = SystemClock.now();
    let s = session("alice", now);
    stores[0].create_session(s.clone()).await.unwrap();
    let [first, second] = &stores;
    assert_eq!(
        concurrent_rotation_winners([first, second], &s, now).await,
        1
    );

    // A stale token past the grace revokes the session on both instances.
    let stale = rotation_with_grace(&s, s.refresh_jti, now + 10, Duration::from_secs(2));
    assert_eq!(
        stores[1].rotate(stale).await.unwrap(),
        RotateOutcome::Reused
    );
    let t = token(&s, now);
    refused_within(&stores[0], &t, Duration::from_millis(100)).await;
    assert_eq!(
        stores[1].check(&t).await.unwrap(),
        Verdict::Revoked(RevokedBy::Session)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_fails_closed_and_recovers_with_every_revocation() {
    let Some(mut server) = RedisServer::start_persistent() else {
        return;
    };
    let p = prefix();
    let (a, b) = (store(&server, &p).await, store(&server, &p).await);
    let now = SystemClock.now();
    let s = session("alice", now);
    a.create_session(s.clone()).await.unwrap();
    let revoked = token(&s, now);
    a.revoke_token(revoked.jti, now + 600).await.unwrap();
    let fine = token(&s, now);

    server.kill();
    // Fail closed: checks refuse once the feed is seen down, writes error.
    let start = Instant::now();
    while a.is_in_sync() || b.is_in_sync() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "outage not noticed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(
        a.check(&fine).await,
        Err(StoreError::Unavailable(_))
    ));
    let r = rotation_with_grace(&s, s.refresh_jti, now, Duration::from_secs(2));
    assert!(matches!(
        a.rotate(r.clone()).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        b.revoke_token(Uuid::new_v4(), now + 60).await,
        Err(StoreError::Unavailable(_))
    ));

    // Down long enough for every reconnect backoff to reach its ceiling.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    let start = Instant::now();
    while !(a.is_in_sync() && b.is_in_sync()) {
        assert!(start.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("recovered {:?} after the restart", start.elapsed());
    // Nothing revoked before the outage is forgotten; the session survived.
    assert_eq!(
        a.check(&revoked).await.unwrap(),
        Verdict::Revoked(RevokedBy::Token)
    );
    assert_eq!(a.check(&fine).await.unwrap(), Verdict::Allowed);
    assert!(matches!(
        a.rotate(r).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    // A fresh instance loads the revocation from Redis itself.
    let c = store(&server, &p).await;
    assert_eq!(
        c.check(&revoked).await.unwrap(),
        Verdict::Revoked(RevokedBy::Token)
    );
    // And the feed works again: revoked on B, refused on A.
    b.revoke_token(fine.jti, now + 60).await.unwrap();
    refused_within(&a, &fine, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .timeout(Duration::from_millis(200))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .prefix("bad prefix*")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("prefix"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_all_of_more_sessions_than_a_batch_revokes_every_one() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let (a, b) = (store(&server, &p).await, store(&server, &p).await);
    let now = SystemClock.now();
    let mut sessions = Vec::new();
    for _ in 0..600 {
        let s = NewSession {
            max_sessions: 1_000,
            ..session("alice", now)
        };
        a.create_session(s.clone()).await.unwrap();
        sessions.push(s);
    }
    assert_eq!(
        a.revoke_subject("alice", now, now + 600).await.unwrap(),
        600
    );
    let last = token(&sessions[599], now);
    refused_within(&b, &last, Duration::from_millis(100)).await;
    for s in &sessions {
        assert_eq!(
            b.check(&token(s, now)).await.unwrap(),
            Verdict::Revoked(RevokedBy::Session)
        );
    }
    assert!(a.sessions("alice").await.unwrap().is_empty());
}

/// `wait_for_replicas(1)` on a Redis without replicas: every write is
/// refused (fail closed) with a clear error, checks go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_no_replica_acknowledges_fail_closed() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::builder(server.url())
        .prefix(prefix())
        .wait_for_replicas(1)
        // WAIT gets three quarters of it: room for Redis's "0 replicas"
        // answer to arrive before the command's own timeout, loaded or not.
        .timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("store");
    let now = SystemClock.now();
    let alice = session("alice", now);
    match s.create_session(alice.clone()).await {
        Err(StoreError::Unavailable(e)) => assert!(e.contains("0 of 1 replicas"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.revoke_token(Uuid::new_v4(), now + 60).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(
        s.check(&token(&alice, now)).await.unwrap(),
        Verdict::Allowed
    );
}

/// A throttle begin whose script runs in Redis but whose answer comes after
/// the store's timeout fails (503 at the routes) and leaves no count: what
/// the late script counted is taken back behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_begin_that_times_out_leaves_no_count() {
    use auth_core::throttle::{Attempt, Decision, LoginThrottle, ThrottlePolicy};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let (link, lag) = proxy(server.port(), Pace::Lag).await;
    let far = RedisStore::builder(format!("redis://{link}"))
        .prefix(p.clone())
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("store");
    let near = RedisStore::builder(server.url())
        .prefix(p)
        .build()
        .await
        .expect("store");
    // Two attempts per address, then a wait: a count left behind shows as
    // one attempt fewer.
    let policy = ThrottlePolicy::default().address_failures(1, Duration::from_secs(60));
    let far = LoginThrottle::new(Arc::new(far)).policy(policy);
    let near = LoginThrottle::new(Arc::new(near)).policy(policy);
    let attempt = |name: &str| Attempt::new(name, "192.0.2.9".parse().unwrap());
    // Redis learns the scripts first, so a late one runs at once (EVALSHA),
    // not after an answer that never comes in time (NOSCRIPT, then EVAL).
    let warm = Attempt::new("warm", "192.0.2.10".parse().unwrap());
    assert_eq!(far.begin(&warm).await.unwrap(), Decision::Go);
    far.abandoned(&warm).await.unwrap();
    lag.store(1000, Ordering::Relaxed);
    for i in 0..3 {
        let late = far.begin(&attempt(&format!("late{i}"))).await;
        assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
    }
    lag.store(0, Ordering::Relaxed);
    // Every late script and its taking back have run by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut gone = 0;
    for i in 0..4 {
        match near.begin(&attempt(&format!("now{i}"))).await.unwrap() {
            Decision::Go => gone += 1,
            Decision::Wait { .. } => break,
        }
    }
    assert_eq!(gone, 2, "counts of timed-out begins were left behind");
}
