//! Helpers shared by the Redis store tests, on one Redis and on a cluster.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use auth_core::TokenRef;
use auth_core::store::{RedisStore, Store, Verdict};
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
