//! The Redis store as the DPoP replay cache, against real `redis-server`s
//! started by the test, single and in cluster mode: a first use is accepted
//! and a second refused, entries expire by themselves, instances on one
//! Redis share them (a proof accepted by one is refused by the other), a
//! read-only store records proofs too, and an unreachable Redis fails
//! closed.

mod redis_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::dpop::{DpopError, DpopVerifier, ProofRequest, ReplayCache};
use auth_core::store::RedisStore;
use auth_core::testing::DpopKey;
use auth_core::testing::redis_server::{RedisCluster, RedisServer};
use auth_core::{Algorithm, Clock, ManualClock, StoreError, SystemClock};
use redis_common::prefix;
use uuid::Uuid;

const URL: &str = "https://api.example/orders";

async fn store(url: String, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .build()
        .await
        .expect("store")
}

async fn cluster_store(seeds: Vec<String>, prefix: &str) -> RedisStore {
    RedisStore::cluster_builder(seeds)
        .prefix(prefix)
        .build()
        .await
        .expect("store")
}

/// A fresh replay-cache key, as the verifier makes them (`jkt:jti`).
fn fresh_key() -> String {
    format!("{}:{}", Uuid::new_v4().simple(), Uuid::new_v4())
}

/// The replay keys under `prefix` on the Redis at `port`.
async fn replay_keys(port: u16, prefix: &str) -> Vec<String> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    redis::cmd("KEYS")
        .arg(format!("{prefix}*dpop:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS")
}

/// The replay keys under `prefix` on the Redis at `port`, with their TTLs
/// in milliseconds.
async fn replay_ttls(port: u16, prefix: &str) -> Vec<i64> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let mut ttls = Vec::new();
    for key in replay_keys(port, prefix).await {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        ttls.push(ttl);
    }
    ttls
}

/// How long a replay entry lives in [`expiry_frees_a_key`].
const SHORT: u64 = 5;

/// Records a key for [`SHORT`] seconds through a store (under `prefix`)
/// whose clock (`clock`) stands on a whole second, so Redis is asked for exactly that
/// TTL: the key is there (on one of `ports`) with that TTL, then, once it has
/// expired (polled, at most 60 s), free again and gone from Redis.
async fn expiry_frees_a_key(store: RedisStore, clock: &ManualClock, ports: &[u16], prefix: &str) {
    let key = fresh_key();
    assert!(store.first_use(&key, clock.now() + SHORT).await.unwrap());
    let mut ttls = Vec::new();
    for port in ports {
        ttls.extend(replay_ttls(*port, prefix).await);
    }
    assert_eq!(ttls.len(), 1, "{ttls:?}");
    assert!(
        (1..=SHORT as i64 * 1000).contains(&ttls[0]),
        "TTL {} ms",
        ttls[0]
    );
    let start = Instant::now();
    let mut keys = 1;
    while keys > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the entry did not expire"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        keys = 0;
        for port in ports {
            keys += replay_keys(*port, prefix).await.len();
        }
    }
    eprintln!(
        "a {SHORT} s replay entry was gone after {:?}",
        start.elapsed()
    );
    assert!(store.first_use(&key, clock.now() + SHORT).await.unwrap());
}

/// A proof accepted through `first` is refused as replayed through
/// `second`, and the other way round.
async fn instances_share_proofs(first: &RedisStore, second: &RedisStore) {
    let a = DpopVerifier::new(Arc::new(first.clone()));
    let b = DpopVerifier::new(Arc::new(second.clone()));
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = DpopKey::generate(alg).unwrap();
        let request = ProofRequest::new("GET", URL).with_access_token("the-token");
        for (accepts, refuses) in [(&a, &b), (&b, &a)] {
            let proof = key.proof("GET", URL, Some("the-token"));
            let verified = accepts.verify(&proof, &request).await.expect("first use");
            assert_eq!(verified.jkt, key.jkt());
            let replayed = refuses.verify(&proof, &request).await.unwrap_err();
            assert!(matches!(replayed, DpopError::Replayed), "{replayed:?}");
            let again = accepts.verify(&proof, &request).await.unwrap_err();
            assert!(matches!(again, DpopError::Replayed), "{again:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_use_is_accepted_and_a_second_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let s = store(server.url(), &p).await;
    let until = SystemClock.now() + 600;
    let key = fresh_key();
    assert!(s.first_use(&key, until).await.unwrap());
    assert!(!s.first_use(&key, until).await.unwrap());
    assert!(!s.first_use(&key, until + 600).await.unwrap());
    // Another key, and the same key under another prefix, are free.
    assert!(s.first_use(&fresh_key(), until).await.unwrap());
    let other = store(server.url(), &prefix()).await;
    assert!(other.first_use(&key, until).await.unwrap());

    // One key each, under the prefix, with the TTL asked for.
    let keys = replay_keys(server.port(), &p).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((590..=600).contains(&ttl), "TTL {ttl}");

    // One command per proof, a first use or not: one round trip.
    let before = command_calls(&mut conn).await;
    for i in 0..50 {
        let key = if i % 2 == 0 { fresh_key() } else { key.clone() };
        s.first_use(&key, until).await.unwrap();
    }
    let after = command_calls(&mut conn).await;
    let delta =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    assert_eq!(delta("set"), 50);
    let others: Vec<_> = after
        .keys()
        .filter(|name| !["set", "ping", "info"].contains(&name.as_str()))
        .filter(|name| delta(name) > 0)
        .collect();
    assert!(others.is_empty(), "other commands ran: {others:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_and_free_their_key() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let s = RedisStore::builder(server.url())
        .prefix(&p)
        .clock(clock.clone())
        .build()
        .await
        .expect("store");
    expiry_frees_a_key(s, &clock, &[server.port()], &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_replay_cache() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let p = prefix();
    let (a, b) = (store(server.url(), &p).await, store(server.url(), &p).await);
    instances_share_proofs(&a, &b).await;
    // A resource server's read-only store records proofs too.
    let reader = RedisStore::builder(server.url())
        .prefix(&p)
        .read_only()
        .build()
        .await
        .expect("read-only store");
    instances_share_proofs(&a, &reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_fails_closed() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::builder(server.url())
        .prefix(prefix())
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("store");
    let verifier = DpopVerifier::new(Arc::new(s.clone()));
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    server.kill();
    let proof = key.proof("POST", URL, None);
    let refused = verifier
        .verify(&proof, &ProofRequest::new("POST", URL))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DpopError::Unavailable(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(refused.reason(), "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_use_waits_for_the_replicas_asked_for() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // No replica: a first use cannot be acknowledged by one, so it fails
    // (closed); the proof stays recorded, so a retry is refused.
    let s = RedisStore::builder(server.url())
        .prefix(prefix())
        .timeout(Duration::from_millis(400))
        .wait_for_replicas(1)
        .build()
        .await
        .expect("store");
    let key = fresh_key();
    let until = SystemClock.now() + 60;
    let unacknowledged = s.first_use(&key, until).await.unwrap_err();
    assert!(
        matches!(&unacknowledged, StoreError::Unavailable(m) if m.contains("replicas")),
        "{unacknowledged:?}"
    );
    assert!(!s.first_use(&key, until).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_cache_works_on_a_cluster() {
    let Some(cluster) = RedisCluster::start(3, 0) else {
        return;
    };
    let p = prefix();
    // Seeded differently: each learns the rest of the cluster.
    let a = cluster_store(vec![cluster.urls()[0].clone()], &p).await;
    let b = cluster_store(vec![cluster.urls()[2].clone()], &p).await;

    // First use, second use, on either instance.
    let until = SystemClock.now() + 600;
    let key = fresh_key();
    assert!(a.first_use(&key, until).await.unwrap());
    assert!(!a.first_use(&key, until).await.unwrap());
    assert!(!b.first_use(&key, until).await.unwrap());
    instances_share_proofs(&a, &b).await;

    // Entries spread over every primary.
    for _ in 0..297 {
        assert!(a.first_use(&fresh_key(), until).await.unwrap());
    }
    let mut per_primary = Vec::new();
    for port in cluster.primaries() {
        per_primary.push(replay_keys(port, &p).await.len());
    }
    eprintln!("replay entries per primary: {per_primary:?}");
    // 298 here and 4 from the proofs of `instances_share_proofs`.
    assert_eq!(per_primary.iter().sum::<usize>(), 302);
    assert!(per_primary.iter().all(|&n| n > 50), "{per_primary:?}");

    // Expiry frees a key on the cluster too.
    let p = prefix();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let s = RedisStore::cluster_builder(cluster.urls())
        .prefix(&p)
        .clock(clock.clone())
        .build()
        .await
        .expect("store");
    expiry_frees_a_key(s, &clock, &cluster.primaries(), &p).await;
}
