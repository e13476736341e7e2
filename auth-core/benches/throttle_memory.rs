//! Memory of the login throttle's in-memory counters: bytes per tracked
//! counter with short and with the longest (256-byte) usernames, the cap
//! holding under a flood of distinct names, and the table emptied by a
//! purge once everything expired.
//!
//! `cargo bench -p auth-core --bench throttle_memory` (`TRACKED=20000` for
//! a shorter run; default 100 000, the default cap).

mod resident;

use std::net::IpAddr;

use auth_core::throttle::{Attempt, AttemptStore, MemoryAttempts, ThrottlePolicy};
use resident::rss;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::var("TRACKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let policy = ThrottlePolicy::default();
    println!("| usernames | counters | bytes per counter |");
    println!("|---|---|---|");
    for (label, width) in [("8 bytes", 8usize), ("256 bytes (the cap)", 256)] {
        let table = MemoryAttempts::new(n);
        let before = rss();
        for i in 0..n {
            let name = format!("{i:0width$}");
            let addr = IpAddr::from((i as u32).to_be_bytes());
            // One pair counter per attempt (no failure: no address or
            // account counter), the commonest entry.
            let attempt = Attempt::new(&name, addr);
            table.begin(&policy, &attempt, 0).await.expect("in memory");
        }
        let grown = rss().saturating_sub(before);
        println!(
            "| {label} | {} | {:.0} |",
            table.len(),
            grown as f64 / table.len() as f64
        );
        // A flood of ten times the cap stays at the cap.
        for i in 0..n * 10 {
            let attempt = Attempt::new(&format!("flood{i}"), IpAddr::from([10, 0, 0, 1]));
            table.begin(&policy, &attempt, 0).await.expect("in memory");
        }
        let kept = table.len();
        assert!(kept <= n, "{kept} counters over a cap of {n}");
        let full = rss().saturating_sub(before);
        let purged = table.purge(u64::MAX);
        println!(
            "flood of {} names: {kept} counters kept (cap {n}), RSS +{:.1} MiB; \
             after expiry a purge dropped {purged}, {} left",
            n * 10,
            full as f64 / 1_048_576.0,
            table.len(),
        );
    }
}
