//! Memory at scale: the memory store (and so the Redis store's local
//! mirror, which is one) holding 10 million denylisted `jti`s. Prints the
//! bytes each entry costs, the time of a check against 10 million entries
//! next to one against a thousand, and the memory left once they expired
//! and were purged.
//!
//! `cargo bench -p auth-core --bench revocations` (`REVOKED=1000000` for a
//! shorter run). Linux only (reads `/proc/self/status`).

mod resident;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::store::{MemoryStore, Store};
use auth_core::{Clock, ManualClock, TokenRef};
use resident::rss;
use uuid::Uuid;

/// A store on `clock`, without the background purge.
fn store(clock: &Arc<ManualClock>) -> MemoryStore {
    MemoryStore::builder()
        .clock(clock.clone())
        .purge_interval(None)
        .build()
}

/// Denylists `n` random `jti`s until `until`; returns a few of them.
fn fill(store: &MemoryStore, n: usize, until: u64, rt: &tokio::runtime::Runtime) -> Vec<Uuid> {
    let mut kept = Vec::with_capacity(1024);
    rt.block_on(async {
        for i in 0..n {
            let jti = Uuid::new_v4();
            if i % (n / 1024).max(1) == 0 {
                kept.push(jti);
            }
            let _ = store.revoke_token(jti, until).await;
        }
    });
    kept
}

/// Mean time of one check, over `rounds` checks of present and absent ids.
fn check_time(store: &MemoryStore, present: &[Uuid], rounds: usize) -> Duration {
    let absent: Vec<Uuid> = (0..1024).map(|_| Uuid::new_v4()).collect();
    let sub = "alice";
    let start = Instant::now();
    for i in 0..rounds {
        let jti = if i % 2 == 0 {
            present[i % present.len()]
        } else {
            absent[i % absent.len()]
        };
        let token = TokenRef {
            jti,
            sid: absent[(i / 2) % absent.len()],
            sub,
            iat: 0,
        };
        let _ = black_box(store.check(black_box(&token)).now());
    }
    start.elapsed() / rounds as u32
}

fn main() {
    let n: usize = std::env::var("REVOKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let clock = Arc::new(ManualClock::starting_now());
    let until = clock.now() + 60;

    let small = store(&clock);
    let small_ids = fill(&small, 1_000, until, &rt);
    let small_check = check_time(&small, &small_ids, 2_000_000);

    let before = rss();
    let big = store(&clock);
    let started = Instant::now();
    let big_ids = fill(&big, n, until, &rt);
    let filled_in = started.elapsed();
    let after = rss();
    let big_check = check_time(&big, &big_ids, 2_000_000);

    clock.advance(Duration::from_secs(61));
    let purged = big.purge_expired();
    let purged_rss = rss();

    let per_entry = after.saturating_sub(before) as f64 / n as f64;
    println!("memory store, {n} denylisted jtis (filled in {filled_in:.2?}):");
    println!(
        "  resident memory: {:.1} MiB before, {:.1} MiB full, {:.1} MiB after they expired and {purged} were purged",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        purged_rss as f64 / 1048576.0
    );
    println!("  bytes per entry: {per_entry:.1}");
    println!(
        "  check (half present, half absent): {big_check:.1?} with {n} entries, {small_check:.1?} with 1000 ({:.2}x)",
        big_check.as_secs_f64() / small_check.as_secs_f64()
    );
}
