//! Helpers shared by the Redis store tests, on one Redis and on a cluster.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::TokenRef;
use auth_core::store::{NewSession, RedisStore, RedisStoreBuilder, RotateOutcome, Store, Verdict};
use auth_core::testing::store_suite::{self, rotation_with_grace};
use uuid::Uuid;

/// A key prefix of a test's own, so tests sharing a Redis never meet.
pub fn prefix() -> String {
    format!("t{}:", Uuid::new_v4().simple())
}

/// Polls `check` until it refuses; returns how long that took.
pub async fn refused_within(store: &RedisStore, t: &TokenRef<'_>, limit: Duration) -> Duration {
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

/// Runs the shared store suite, each case on a store of `builder()` with a
/// prefix of its own and the case's clock.
pub async fn run_store_suite(builder: impl Fn() -> RedisStoreBuilder) {
    store_suite::run_all(|clock| {
        let builder = builder().prefix(prefix()).clock(clock);
        async move { Arc::new(builder.build().await.expect("store")) as Arc<dyn Store> }
    })
    .await;
}

/// Eight concurrent rotations of `s`'s first refresh token at `now`,
/// alternating between the two stores (2 s grace); returns how many won.
/// The others must be superseded.
pub async fn concurrent_rotation_winners(
    stores: [&RedisStore; 2],
    s: &NewSession,
    now: u64,
) -> usize {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = stores[i % 2].clone();
            let r = rotation_with_grace(s, s.refresh_jti, now, Duration::from_secs(2));
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
    rotated
}
