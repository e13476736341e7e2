//! The Redis store at scale, on a single Redis and on a 3-primary Redis
//! Cluster, each started by the run (`redis-server`, `redis-cli`):
//!
//! - one million live sessions (logins, over 100 000 subjects) and one
//!   million revocations (denylisted `jti`s), written through the store;
//! - the resync of an instance with nothing to load, and of a fresh one: how long its `build()` takes, loading
//!   every revocation into its mirror, and how much memory the mirror takes
//!   (resident memory before and after);
//! - logout-all of a subject at the per-subject cap (100 sessions);
//! - rotation throughput: refreshes of distinct sessions, 64 at a time.
//!
//! `cargo bench -p auth-core --bench redis_scale` (about five minutes);
//! `SESSIONS=100000 REVOKED=100000` for a shorter run, `TARGET=single` or
//! `TARGET=cluster` for one of the two. Figures go to BENCHMARKS.md.

mod resident;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::store::{NewSession, RedisStore, RotateOutcome, Rotation, Store};
use auth_core::testing::redis_server::{RedisCluster, RedisServer};
use auth_core::testing::store_suite::session;
use auth_core::{Clock, SystemClock};
use resident::rss;
use uuid::Uuid;

/// Calls in flight while writing.
const CONCURRENCY: usize = 256;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `used_memory` summed over `ports` (the primaries), in bytes.
async fn redis_memory(ports: &[u16]) -> u64 {
    let mut total = 0;
    for port in ports {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await
            .expect("info");
        total += info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// Runs `op(i)` for `i` in `0..n`, `CONCURRENCY` at a time; returns the rate.
async fn run<F, Fut>(n: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut i = w;
                while i < n {
                    op(i).await;
                    i += CONCURRENCY;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("worker");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn measure(
    name: &str,
    build: impl Fn() -> auth_core::store::RedisStoreBuilder,
    ports: Vec<u16>,
) {
    let sessions = env("SESSIONS", 1_000_000);
    let revoked = env("REVOKED", 1_000_000);
    let prefix = format!("scale{}:", Uuid::new_v4().simple());
    // The fixed cost of a resync: every bucket's (empty) index.
    let start = Instant::now();
    let empty = build().prefix(&prefix).build().await.expect("store");
    println!(
        "{name}: an instance with nothing to load synced in {:.2?}",
        start.elapsed()
    );
    drop(empty);
    let writer = build()
        .prefix(&prefix)
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("store");
    let now = SystemClock.now();

    // One million logins over 100 000 subjects.
    let store = writer.clone();
    let rate = run(sessions, move |i| {
        let store = store.clone();
        async move {
            let s = session(&format!("user{}", i % (sessions / 10).max(1)), now);
            store.create_session(s).await.expect("login");
        }
    })
    .await;
    println!("{name}: {sessions} logins at {rate:.0}/s");

    // One million revocations (logged-out access tokens).
    let store = writer.clone();
    let rate = run(revoked, move |_| {
        let store = store.clone();
        async move {
            store
                .revoke_token(Uuid::new_v4(), now + 3600)
                .await
                .expect("revoke");
        }
    })
    .await;
    println!("{name}: {revoked} revocations at {rate:.0}/s");
    let used = redis_memory(&ports).await;
    println!("{name}: Redis holds {:.0} MiB", mib(used));

    // A fresh instance: its resync loads every revocation.
    let before = rss();
    let start = Instant::now();
    let fresh = build()
        .prefix(&prefix)
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("fresh store");
    let resync = start.elapsed();
    let after = rss();
    println!(
        "{name}: a fresh instance synced {} revocations in {resync:.2?}; mirror {:.0} MiB ({:.0} bytes each)",
        fresh.mirror_len(),
        mib(after.saturating_sub(before)),
        after.saturating_sub(before) as f64 / fresh.mirror_len().max(1) as f64
    );

    // Logout-all of subjects at the cap.
    let mut times = Vec::new();
    for k in 0..20 {
        let subject = format!("capped{k}");
        for _ in 0..100 {
            writer
                .create_session(session(&subject, now))
                .await
                .expect("login");
        }
        let start = Instant::now();
        let n = writer
            .revoke_subject(&subject, now, now + 3600)
            .await
            .expect("logout-all");
        times.push(start.elapsed());
        assert_eq!(n, 100);
    }
    times.sort();
    println!(
        "{name}: logout-all of 100 sessions: median {:.2?}, max {:.2?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );

    // Rotations of distinct sessions.
    let live: Vec<NewSession> = (0..CONCURRENCY * 8)
        .map(|i| session(&format!("rot{i}"), now))
        .collect();
    for s in &live {
        writer.create_session(s.clone()).await.expect("login");
    }
    let secs = 5.0;
    let start = Instant::now();
    let tasks: Vec<_> = live
        .chunks(8)
        .map(|chunk| {
            let store = writer.clone();
            let mut current: Vec<(NewSession, Uuid)> =
                chunk.iter().map(|s| (s.clone(), s.refresh_jti)).collect();
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed().as_secs_f64() < secs {
                    for (s, jti) in current.iter_mut() {
                        let next = Uuid::new_v4();
                        let r = Rotation {
                            sid: s.sid,
                            subject: s.subject.clone(),
                            presented: *jti,
                            next,
                            now_ms: SystemClock.now_millis(),
                            refresh_ttl: 3600,
                            grace_ms: 2000,
                            claims: None,
                        };
                        match store.rotate(r).await.expect("rotate") {
                            RotateOutcome::Rotated(_) => *jti = next,
                            other => panic!("{other:?}"),
                        }
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("rotator");
    }
    println!(
        "{name}: {:.0} rotations/s ({CONCURRENCY} in flight)",
        total as f64 / start.elapsed().as_secs_f64()
    );
    drop(fresh);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let target = std::env::var("TARGET").unwrap_or_default();
    rt.block_on(async {
        if target != "cluster" {
            let Some(server) = RedisServer::start() else {
                return;
            };
            let url = server.url();
            measure(
                "single",
                || RedisStore::builder(url.clone()),
                vec![server.port()],
            )
            .await;
        }
        if target != "single" {
            let Some(cluster) = RedisCluster::start(3, 0) else {
                return;
            };
            let urls = cluster.urls();
            let ports = cluster.primaries();
            measure(
                "cluster",
                || RedisStore::cluster_builder(urls.clone()),
                ports,
            )
            .await;
        }
    });
}
