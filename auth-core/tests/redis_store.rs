//! The Redis store against a real `redis-server` started by the test: the
//! shared store suite, two instances on one Redis, and a Redis killed with
//! SIGKILL and restarted from its append-only file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::store::{RedisStore, RotateOutcome, Store, Verdict};
use auth_core::testing::redis_server::RedisServer;
use auth_core::testing::store_suite::{self, rotation_with_grace, session, token};
use auth_core::{Clock, RevokedBy, StoreError, SystemClock, TokenRef};
use uuid::Uuid;

fn prefix() -> String {
    format!("t{}:", Uuid::new_v4().simple())
}

async fn store(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::builder(server.url())
        .prefix(prefix)
        .build()
        .await
        .expect("store")
}

/// A store of its own whose feed may stay silent at most `timeout`.
async fn store_with_timeout(server: &RedisServer, timeout: Duration) -> RedisStore {
    RedisStore::builder(server.url())
        .prefix(prefix())
        .timeout(timeout)
        .build()
        .await
        .expect("store")
}

/// Polls `check` until it refuses; returns how long that took.
async fn refused_within(store: &RedisStore, t: &TokenRef<'_>, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(Verdict::Revoked(_)) = store.check(t).await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not refused within {limit:?} on the other instance"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    store_suite::run_all(|clock| {
        let url = url.clone();
        async move {
            Arc::new(
                RedisStore::builder(url)
                    .prefix(prefix())
                    .clock(clock)
                    .build()
                    .await
                    .expect("store"),
            ) as Arc<dyn Store>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_the_other_instance_within_100ms() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let (a, b) = (store(&server, &p).await, store(&server, &p).await);
    let now = SystemClock.now();

    let s = session("alice", now);
    a.create_session(s.clone()).await.unwrap();
    let t = token(&s, now);
    assert_eq!(b.check(&t).await.unwrap(), Verdict::Allowed);

    // A token, a session, a subject: each revoked on A, refused on B.
    a.revoke_token(t.jti, now + 60).await.unwrap();
    let d1 = refused_within(&b, &t, Duration::from_millis(100)).await;
    let other = token(&s, now);
    assert!(b.revoke_session(s.sid, now + 60).await.unwrap());
    let d2 = refused_within(&a, &other, Duration::from_millis(100)).await;
    let s2 = session("bob", now);
    b.create_session(s2.clone()).await.unwrap();
    let bob = token(&s2, now - 10);
    assert_eq!(a.revoke_subject("bob", now, now + 60).await.unwrap(), 1);
    let d3 = refused_within(&b, &bob, Duration::from_millis(100)).await;
    eprintln!("cross-instance revocation delays: {d1:?} {d2:?} {d3:?}");
    assert!(a.sessions("bob").await.unwrap().is_empty());
    // A live session stays, so its record and index are checked too.
    a.create_session(session("carol", now)).await.unwrap();

    // Nothing lingers without a TTL.
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{p}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for kind in ["jti:", "rsid:", "cut:", "sess:", "subj:"] {
        assert!(
            keys.iter().any(|k| k.starts_with(&format!("{p}{kind}"))),
            "no {kind} key in {keys:?}"
        );
    }
    for key in keys {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
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
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = stores[i % 2].clone();
            let r = rotation_with_grace(&s, s.refresh_jti, now, 2);
            tokio::spawn(async move { store.rotate(r).await.unwrap() })
        })
        .collect();
    let mut rotated = 0;
    for t in tasks {
        match t.await.unwrap() {
            RotateOutcome::Rotated(_) => rotated += 1,
            RotateOutcome::Superseded => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1);

    // A stale token past the grace revokes the session on both instances.
    let stale = rotation_with_grace(&s, s.refresh_jti, now + 10, 2);
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
    let r = rotation_with_grace(&s, s.refresh_jti, now, 2);
    assert!(matches!(a.rotate(r).await, Err(StoreError::Unavailable(_))));
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
async fn the_feed_stays_in_sync_across_health_pings() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // Silent for at most 100 ms, pinged every 25 ms: a second of pings must
    // all be answered and understood.
    let store = store_with_timeout(&server, Duration::from_millis(100)).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        assert!(
            store.is_in_sync(),
            "feed dropped after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_redis_is_noticed_by_the_heartbeat() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store_with_timeout(&server, Duration::from_millis(200)).await;
    let s = session("alice", SystemClock.now());
    let t = token(&s, s.created_at);
    assert_eq!(store.check(&t).await.unwrap(), Verdict::Allowed);
    // Redis stops answering anyone for 1.5 s, connections open: a partition.
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut conn)
        .await
        .unwrap();
    let start = Instant::now();
    while store.is_in_sync() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "silence not noticed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("silence noticed after {:?}", start.elapsed());
    assert!(matches!(
        store.check(&t).await,
        Err(StoreError::Unavailable(_))
    ));
    while !store.is_in_sync() {
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "no recovery after the pause"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.check(&t).await.unwrap(), Verdict::Allowed);
}
