//! The revocation feed: revocations reaching other instances, health
//! pings and the heartbeat, resyncs (garbage, slow links, silence).

use super::*;

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
    let (link, delivered) = proxy(server.port(), Pace::BytesPerSec(2_000_000)).await;
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
    let (link, delivered) = proxy(server.port(), Pace::BytesPerSec(1_000_000)).await;
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
