//! The Redis store against a real `redis-server` started by the test: the
//! shared store suite, two instances on one Redis, a Redis killed with
//! SIGKILL and restarted from its append-only file, foreign and garbage keys,
//! what a resync reads, and the URL's password kept out of sight.

#[path = "../redis_common/mod.rs"]
mod redis_common;

use std::time::{Duration, Instant};

use auth_core::store::{NewSession, RedisStore, RotateOutcome, Store, Verdict};
use auth_core::testing::redis_server::RedisServer;
use auth_core::testing::store_suite::{rotation_with_grace, session, token};
use auth_core::{Clock, RevokedBy, StoreError, SystemClock};
use redis_common::{concurrent_rotation_winners, prefix, refused_within, run_store_suite};
use uuid::Uuid;

mod feed;
mod setup;
mod writes;

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

/// How a [`proxy`] delays Redis's answers on each connection (requests go
/// through at once).
#[derive(Clone, Copy)]
enum Pace {
    /// Answers travel at this many bytes per second, as over a slow link.
    BytesPerSec(u64),
    /// Every answer is held for the proxy's lag (milliseconds, changeable
    /// while it runs), so Redis runs commands whose answers come late.
    Lag,
}

/// A TCP proxy to the Redis on `port` pacing its answers by `pace`.
/// Returns its address and a number: with [`Pace::BytesPerSec`] the bytes
/// it has delivered, with [`Pace::Lag`] the lag to set.
async fn proxy(
    port: u16,
    pace: Pace,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let number = Arc::new(AtomicU64::new(0));
    let shared = number.clone();
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
            let number = shared.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = up_rx.read(&mut buf).await {
                    if let Pace::Lag = pace {
                        let lag = Duration::from_millis(number.load(Ordering::Relaxed));
                        tokio::time::sleep(lag).await;
                    }
                    if n == 0 || client_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    if let Pace::BytesPerSec(rate) = pace {
                        number.fetch_add(n as u64, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                }
            });
        }
    });
    (addr, number)
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
