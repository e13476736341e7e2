//! The Redis store against a real `redis-server` started by the test: the
//! shared store suite, two instances on one Redis, a Redis killed with
//! SIGKILL and restarted from its append-only file, foreign and garbage keys,
//! what a resync reads, and the URL's password kept out of sight.

mod redis_common;

use std::time::{Duration, Instant};

use auth_core::store::{NewSession, RedisStore, RotateOutcome, Store, Verdict};
use auth_core::testing::redis_server::RedisServer;
use auth_core::testing::store_suite::{rotation_with_grace, session, token};
use auth_core::{Clock, RevokedBy, StoreError, SystemClock};
use redis_common::{concurrent_rotation_winners, prefix, refused_within, run_store_suite};
use uuid::Uuid;

async fn connect(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection")
}

/// Waits until every store is in sync again.
async fn all_in_sync(stores: &[&RedisStore], limit: Duration) {
    let start = Instant::now();
    while !stores.iter().all(|s| s.is_in_sync()) {
        assert!(start.elapsed() < limit, "not back in sync within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `INFO commandstats` as command → calls.
async fn command_calls(
    conn: &mut redis::aio::MultiplexedConnection,
) -> std::collections::HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("info");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    run_store_suite(|| RedisStore::builder(url.clone())).await;
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
    assert!(b.revoke_session(s.sid, &s.subject, now + 60).await.unwrap());
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
    // Every key is `{prefix}{bucket}:…`, the bucket a hash tag.
    fn tail<'k>(p: &str, k: &'k str) -> Option<&'k str> {
        let rest = k.strip_prefix(p)?;
        let (tag, rest) = rest.split_once("}:")?;
        let tag = tag.strip_prefix('{')?;
        (tag.len() == 3 && u16::from_str_radix(tag, 16).is_ok_and(|b| b < 1024)).then_some(rest)
    }
    for kind in ["jti:", "rsid:", "cut:", "sess:", "subj:", "idx"] {
        assert!(
            keys.iter()
                .any(|k| tail(&p, k).is_some_and(|t| t.starts_with(kind))),
            "no {kind} key in {keys:?}"
        );
    }
    for key in keys {
        assert!(
            tail(&p, &key).is_some(),
            "{key} is not under a bucket's hash tag"
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_garbage_keys_do_not_stop_the_resync() {
    let Some(mut server) = RedisServer::start_persistent() else {
        return;
    };
    let mut conn = connect(&server).await;
    let now = SystemClock.now();
    let later = (now + 600).to_string();
    // Under the default prefix: a key that is not UTF-8, and garbage under
    // each revocation family, written before any store indexed them.
    for (key, value) in [
        (&b"auth:\xff\xfe"[..], &b"x"[..]),
        (b"auth:jti:\xff\xfe", later.as_bytes()),
        (b"auth:jti:not-a-uuid", later.as_bytes()),
        (
            b"auth:rsid:6d7d4b1e-8a84-4ad5-a2f9-2c5f5c1b7a00",
            b"garbage",
        ),
        (b"auth:cut:\xff", b"1 2"),
        (b"auth:cut:carol", b"\xfe\xff"),
    ] {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let a = RedisStore::builder(server.url())
        .build()
        .await
        .expect("a fresh store builds past foreign and garbage keys");
    let s = session("alice", now);
    a.create_session(s.clone()).await.unwrap();
    let revoked = token(&s, now);
    a.revoke_token(revoked.jti, now + 600).await.unwrap();
    // Garbage in the indexes themselves, and a cut-off that is not one.
    let _: () = redis::cmd("SET")
        .arg("auth:{3ff}:cut:carol")
        .arg(&b"\xfe\xff"[..])
        .query_async(&mut conn)
        .await
        .unwrap();
    for (index, member) in [
        ("auth:{000}:idx", &b"jti:\xff\xfe"[..]),
        ("auth:{000}:idx", b"\xff\xfe"),
        ("auth:{000}:idx", b"rsid:not-a-uuid"),
        ("auth:{3ff}:idx", b"cut:\xff"),
        ("auth:{3ff}:idx", b"cut:carol"),
        ("auth:{3ff}:idx", b"jti"),
    ] {
        let _: () = redis::cmd("ZADD")
            .arg(index)
            .arg(now + 600)
            .arg(member)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let b = RedisStore::builder(server.url())
        .build()
        .await
        .expect("a fresh store builds past garbage in the indexes");
    assert_eq!(
        b.check(&revoked).await.unwrap(),
        Verdict::Revoked(RevokedBy::Token),
        "the real revocation is loaded"
    );
    // Instances that reconnect resync past the garbage too.
    server.restart();
    all_in_sync(&[&a, &b], Duration::from_secs(10)).await;
    assert_eq!(
        a.check(&revoked).await.unwrap(),
        Verdict::Revoked(RevokedBy::Token)
    );
    let fine = token(&s, now);
    assert_eq!(b.check(&fine).await.unwrap(), Verdict::Allowed);
    a.revoke_token(fine.jti, now + 60).await.unwrap();
    refused_within(&b, &fine, Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_reads_the_revocations_and_no_session() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let a = store(&server, &p).await;
    let now = SystemClock.now();
    let mut sessions = Vec::new();
    for i in 0..5_000 {
        let s = session(&format!("user{}", i % 50), now);
        a.create_session(s.clone()).await.unwrap();
        sessions.push(s);
    }
    // Three revocations, one of each kind.
    let t = token(&sessions[0], now);
    a.revoke_token(t.jti, now + 600).await.unwrap();
    assert!(
        a.revoke_session(sessions[1].sid, &sessions[1].subject, now + 600)
            .await
            .unwrap()
    );
    let bob = session("bob", now);
    a.create_session(bob.clone()).await.unwrap();
    assert_eq!(a.revoke_subject("bob", now, now + 600).await.unwrap(), 1);

    let mut conn = connect(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    let b = store(&server, &p).await;
    // And both reconnect: their subscriptions are cut.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    let start = Instant::now();
    let calls = loop {
        let calls = command_calls(&mut conn).await;
        // Each of the three resyncs scans the index of every bucket.
        if calls.get("zscan").copied().unwrap_or(0) >= 3 * 1024 {
            break calls;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no resync after the reconnect: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    all_in_sync(&[&a, &b], Duration::from_secs(10)).await;
    for walk in [
        "scan", "keys", "hgetall", "hmget", "hget", "exists", "zrange",
    ] {
        assert_eq!(calls.get(walk), None, "a resync used {walk}: {calls:?}");
    }
    // Beyond one ZSCAN per bucket (an empty bucket's costs microseconds),
    // only the cut-offs are read: the sessions cost nothing.
    let work: u64 = calls
        .iter()
        .filter(|(name, _)| {
            !["ping", "info", "config", "client", "subscribe", "zscan"].contains(&name.as_str())
        })
        .map(|(_, calls)| calls)
        .sum();
    assert!(
        work < 20 && calls.get("zscan").copied().unwrap_or(0) < 4 * 1024,
        "3 resyncs with 3 revocations cost {work} commands besides ZSCAN: {calls:?}"
    );
    assert_eq!(
        b.check(&t).await.unwrap(),
        Verdict::Revoked(RevokedBy::Token)
    );
    assert_eq!(
        b.check(&token(&sessions[1], now)).await.unwrap(),
        Verdict::Revoked(RevokedBy::Session)
    );
    assert_eq!(
        b.check(&token(&bob, now)).await.unwrap(),
        Verdict::Revoked(RevokedBy::Session)
    );
    assert_eq!(
        b.check(&token(&sessions[2], now)).await.unwrap(),
        Verdict::Allowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_revocation_reaches_the_other_instance() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let (a, b) = (store(&server, &p).await, store(&server, &p).await);
    let now = SystemClock.now();
    let capped = || NewSession {
        max_sessions: 3,
        ..session("alice", now)
    };
    let first = capped();
    a.create_session(first.clone()).await.unwrap();
    for _ in 0..3 {
        a.create_session(capped()).await.unwrap();
    }
    let t = token(&first, now);
    assert_eq!(
        a.check(&t).await.unwrap(),
        Verdict::Revoked(RevokedBy::Session)
    );
    refused_within(&b, &t, Duration::from_millis(100)).await;
    assert_eq!(b.sessions("alice").await.unwrap().len(), 3);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_password_is_never_shown() {
    let builder = RedisStore::builder("redis://:hunter2@127.0.0.1:1/0");
    let shown = format!("{builder:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redis://:***@127.0.0.1:1/0"), "{shown}");
    let err = builder
        .timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut conn = connect(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("hunter2")
        .query_async(&mut conn)
        .await
        .unwrap();
    let url = format!("redis://:hunter2@127.0.0.1:{}/0", server.port());
    let store = RedisStore::builder(url.as_str())
        .prefix(prefix())
        .build()
        .await
        .expect("store");
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");
    let err = RedisStore::builder(url.replace("hunter2", "wrong-hunter2"))
        .build()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_mirrors_revocations_and_never_writes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let writer = store(&server, &p).await;
    let reader = RedisStore::builder(server.url())
        .prefix(&p)
        .read_only()
        .build()
        .await
        .expect("read-only store");
    let now = SystemClock.now();
    let s = session("alice", now);
    writer.create_session(s.clone()).await.unwrap();
    let t = token(&s, now);
    assert_eq!(reader.check(&t).await.unwrap(), Verdict::Allowed);
    assert_eq!(reader.sessions("alice").await.unwrap().len(), 1);

    let mut conn = connect(&server).await;
    let keys = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        let pattern = format!("{p}*");
        async move {
            let mut keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.sort();
            keys
        }
    };
    let before = keys(&mut conn).await;
    let other = session("bob", now);
    let refused = [
        reader.create_session(other.clone()).await.err(),
        reader.revoke_token(t.jti, now + 60).await.err(),
        reader
            .revoke_session(s.sid, &s.subject, now + 60)
            .await
            .err(),
        reader.revoke_subject("alice", now, now + 60).await.err(),
        reader
            .rotate(rotation_with_grace(
                &s,
                s.refresh_jti,
                now,
                Duration::from_secs(2),
            ))
            .await
            .err(),
    ];
    for e in refused {
        assert!(matches!(e, Some(StoreError::ReadOnly(_))), "{e:?}");
    }
    assert_eq!(keys(&mut conn).await, before, "a read-only store wrote");
    assert_eq!(reader.check(&t).await.unwrap(), Verdict::Allowed);

    // The issuer's revocation reaches the read-only mirror.
    writer
        .revoke_session(s.sid, &s.subject, now + 60)
        .await
        .unwrap();
    let d = refused_within(&reader, &t, Duration::from_millis(100)).await;
    eprintln!("read-only mirror refused the revoked session after {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_always_ends_in_a_separator() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let bare = format!("app{}", Uuid::new_v4().simple());
    let s = store(&server, &bare).await;
    s.revoke_token(Uuid::new_v4(), SystemClock.now() + 60)
        .await
        .unwrap();
    let mut conn = connect(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{bare}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(key.starts_with(&format!("{bare}:")), "{key} in {keys:?}");
    }
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{bare}:{{")) && k.ends_with("}:idx")),
        "{keys:?}"
    );
    // A prefix already ending in a separator is kept as it is.
    let dashed = format!("app-{}-", Uuid::new_v4().simple());
    store(&server, &dashed)
        .await
        .revoke_token(Uuid::new_v4(), SystemClock.now() + 60)
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{dashed}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{dashed}{{")) && k.ends_with("}:idx")),
        "{keys:?}"
    );
}

/// A first resync of many revocations takes longer than the deadline for
/// reaching Redis (five timeouts): `build` waits for it instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_first_resync_is_waited_for() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    // A million denylisted tokens, written straight into the bucket indexes
    // (a resync reads nothing else): seconds of loading, in a debug build.
    let per_bucket = 1000;
    fill_indexes(&server, &p, 1024, per_bucket).await;
    // Each command gets a quarter of a second, generous even on a busy
    // machine; reaching Redis gets five of them.
    let timeout = Duration::from_millis(250);
    let start = Instant::now();
    let s = RedisStore::builder(server.url())
        .prefix(&p)
        .timeout(timeout)
        .build()
        .await
        .expect("the first resync is waited for");
    let took = start.elapsed();
    eprintln!(
        "a first resync of {} revocations took {took:?}",
        s.mirror_len()
    );
    assert_eq!(s.mirror_len(), 1024 * per_bucket);
    assert!(
        took > timeout * 5,
        "the resync was too quick to test the deadline: {took:?}"
    );
}

/// A TCP proxy to the Redis on `port` whose answers travel at
/// `bytes_per_sec` on each connection (requests go through at once), as
/// over a slow link. Returns its address and a count of the bytes it has
/// delivered.
async fn slow_link(
    port: u16,
    bytes_per_sec: u64,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let delivered = Arc::new(AtomicU64::new(0));
    let counter = delivered.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                continue;
            };
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut up_rx, mut up_tx) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_rx, &mut up_tx).await;
            });
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = up_rx.read(&mut buf).await {
                    if n == 0 || client_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    let pause = Duration::from_secs_f64(n as f64 / bytes_per_sec as f64);
                    tokio::time::sleep(pause).await;
                }
            });
        }
    });
    (addr, delivered)
}

/// Writes `per_bucket` denylisted tokens into each of the first `buckets`
/// bucket indexes (a resync reads nothing else).
async fn fill_indexes(server: &RedisServer, p: &str, buckets: u16, per_bucket: usize) {
    let mut conn = connect(server).await;
    let until = SystemClock.now() + 600;
    for chunk in (0..buckets).collect::<Vec<_>>().chunks(64) {
        let mut pipe = redis::pipe();
        for b in chunk {
            let cmd = pipe.cmd("ZADD").arg(format!("{p}{{{b:03x}}}:idx"));
            for _ in 0..per_bucket {
                cmd.arg(until).arg(format!("jti:{}", Uuid::new_v4()));
            }
        }
        let _: () = pipe.query_async(&mut conn).await.unwrap();
    }
}

/// Over a slow link (2 MB/s), each page of a resync (a thousand entries,
/// about 60 KB) takes about 30 ms, and 32 buckets are read at once on one
/// connection: the last page waits for the others, far longer than the
/// store's timeout. Redis answers every command and the heartbeat all
/// along, so the resync is not cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_over_a_slow_link_is_not_cut_off_by_the_timeout() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    fill_indexes(&server, &p, 32, 1000).await;
    let (link, delivered) = slow_link(server.port(), 2_000_000).await;
    let timeout = Duration::from_millis(250);
    let start = Instant::now();
    let s = RedisStore::builder(format!("redis://{link}"))
        .prefix(&p)
        .timeout(timeout)
        .build()
        .await
        .expect("a resync whose commands all finish is waited for");
    let took = start.elapsed();
    eprintln!(
        "a resync of {} revocations over a slow link took {took:?} ({} bytes)",
        s.mirror_len(),
        delivered.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(s.mirror_len(), 32_000);
    assert!(
        took > timeout * 2,
        "the link was too fast to test: {took:?}"
    );
    assert!(s.is_in_sync());
}

/// A Redis that stops answering in the middle of a long resync is noticed
/// by the heartbeat within about the timeout: the resync is abandoned and
/// the store is not built (rather than waiting for the pause to end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_goes_silent_during_a_resync_fails_the_build() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    fill_indexes(&server, &p, 64, 1000).await;
    // About 4 MB at 1 MB/s: the resync lasts seconds.
    let (link, delivered) = slow_link(server.port(), 1_000_000).await;
    let building = tokio::spawn(
        RedisStore::builder(format!("redis://{link}"))
            .prefix(&p)
            .timeout(Duration::from_millis(250))
            .build(),
    );
    // The resync is under way once pages are flowing.
    let start = Instant::now();
    while delivered.load(std::sync::atomic::Ordering::Relaxed) < 200_000 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the resync never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut conn = connect(&server).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(8000)
        .arg("ALL")
        .query_async(&mut conn)
        .await
        .unwrap();
    let paused = Instant::now();
    let built = building.await.expect("task");
    let after = paused.elapsed();
    eprintln!("the build gave up {after:?} into the pause");
    assert!(built.is_err(), "built although Redis went silent");
    assert!(
        after < Duration::from_secs(6),
        "the silence was noticed only after {after:?}, not by the heartbeat"
    );
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

/// A TCP proxy to the Redis on `port` that holds every answer for the
/// returned delay (milliseconds, changeable while it runs); requests go
/// through at once, so Redis runs commands whose answers come late.
async fn lagging_link(
    port: u16,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lag = Arc::new(AtomicU64::new(0));
    let shared = lag.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                continue;
            };
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut up_rx, mut up_tx) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_rx, &mut up_tx).await;
            });
            let lag = shared.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = up_rx.read(&mut buf).await {
                    let pause = Duration::from_millis(lag.load(Ordering::Relaxed));
                    tokio::time::sleep(pause).await;
                    if n == 0 || client_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, lag)
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
    let (link, lag) = lagging_link(server.port()).await;
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
