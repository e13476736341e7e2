//! Soak: two example-server processes share one real Redis while many
//! clients log in, call `/profile`, refresh (alone, and in races spread over
//! both instances), replay rotated refresh tokens and log out; a revoker ends
//! sessions and whole users; a prober keeps presenting revoked tokens; and
//! Redis is SIGKILLed and restarted from its append-only file under load.
//! Every answer is kept with the instants its request left and its answer
//! came back, and judged at the end:
//!
//! - no token of a session works in a request *sent after* the answer of a
//!   revocation of that session (logout, logout-all, reuse detection) came
//!   back; the one tolerance is `/profile` on the *other* instance within
//!   [`MIRROR_WINDOW`], the design's cross-instance propagation (each
//!   instance checks access tokens against its own mirror, fed by pub/sub):
//!   those are counted and reported;
//! - no refresh token is ever exchanged twice (races, replays): a session
//!   never has two usable refresh tokens;
//! - no 5xx, except 503 for requests in flight during an injected outage
//!   (from the kill until both instances log in, refresh and check again);
//! - a live session is never refused: every 401 on a token that should work
//!   is explained by a revocation sent before it, or by an ambiguity the
//!   test recorded (an outage during a refresh, a logout-all racing a login);
//! - each process's resident memory stays under [`RSS_LIMIT_KIB`].
//!
//! About 30 s by default (part of `cargo test --workspace`); `SOAK_SECS=600`
//! for longer. `SOAK_SEED` repeats the random choices (not the interleaving).

#[path = "../common/mod.rs"]
mod common;

mod actors;
mod model;
mod ops;
mod outage;
mod verdict;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::testing::redis_server::RedisServer;
use common::spawn_logging_to;
use tokio::task::JoinSet;

use actors::{client, prober, revoker};
use model::{Counters, Rng, World};
use outage::outage;
use verdict::{judge, memory_kib, report, sample_memory};

/// Concurrent clients, each with at most one session at a time.
const CLIENTS: usize = 24;
/// Short access tokens so that refreshes are frequent.
const FLAGS: [&str; 4] = ["--access-ttl", "3s", "--leeway", "1s"];
/// An access token is surely valid this long after the request that issued
/// it left: `exp = floor(issue) + 3 s`, plus 1 s leeway, is past `issue + 3 s`.
const ACCESS_FRESH: Duration = Duration::from_millis(2900);
/// Clients refresh once their access token is this old.
const REFRESH_AFTER: Duration = Duration::from_secs(2);
/// How long after a revocation's answer the *other* instance may still
/// accept the session's access token (its mirror hears of it by pub/sub;
/// the design's figure is about 1 ms, redis_processes.rs allows 100 ms).
const MIRROR_WINDOW: Duration = Duration::from_millis(100);
/// Resident memory bound per process. A server starts at about 51 MiB here;
/// password checks add at most 8 argon2 buffers of 19 MiB (152 MiB), kept
/// for reuse, so about 205 MiB once eight logins ran at once (seconds into
/// the run), then flat. The rest (about 50 MiB) is room for the runtime,
/// connections and the revocation mirror, whose entries expire with the 3 s
/// access tokens and the revoked sessions.
const RSS_LIMIT_KIB: u64 = 256 * 1024;
/// How long Redis stays dead at each injected fault.
const OUTAGE: Duration = Duration::from_millis(1500);
/// How long the servers get to recover after Redis is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);
/// The demo users.
const USERS: [(&str, &str); 2] = [("alice", "alice-password"), ("root", "root-password")];

pub(crate) fn total() -> Duration {
    let secs = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_two_instances_under_revocations_races_and_redis_restarts() {
    let Some(mut redis) = RedisServer::start_persistent() else {
        return;
    };
    let logs = std::env::temp_dir().join(format!("soak-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
        // Sessions started and revoked, with their ids: what a refusal the
        // model cannot explain is looked up in.
        let rust_log = "warn,auth_core=debug,auth_axum_extras=info";
        servers.push(spawn_logging_to(&redis, &FLAGS, rust_log, log).await);
    }
    let rss_start: Vec<u64> = servers.iter().map(|s| memory_kib(s.pid()).0).collect();

    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let started = Instant::now();
    let w = Arc::new(World {
        servers: [(*servers[0]).clone(), (*servers[1]).clone()],
        deadline: started + total(),
        registry: Mutex::default(),
        n: Counters::default(),
        errors: Mutex::default(),
        oddities: Mutex::default(),
        logouts: Mutex::default(),
        faults: Mutex::default(),
        rss_samples: Mutex::default(),
    });
    let mut seeds = Rng(seed);
    let mut tasks = JoinSet::new();
    for id in 0..CLIENTS {
        tasks.spawn(client(w.clone(), id, Rng(seeds.next())));
    }
    tasks.spawn(revoker(w.clone(), Rng(seeds.next())));
    tasks.spawn(prober(w.clone(), Rng(seeds.next())));
    let pids = [servers[0].pid(), servers[1].pid()];
    tasks.spawn(sample_memory(w.clone(), pids, started));

    for at in [0.35, 0.7] {
        tokio::time::sleep_until((started + total().mul_f64(at)).into()).await;
        redis = outage(&w, redis).await;
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let duration = started.elapsed();
    let memory: Vec<(u64, u64)> = servers.iter().map(|s| memory_kib(s.pid())).collect();

    let v = judge(&w, started);
    report(&w, &v, seed, duration, &rss_start, &memory);

    let first = |v: &[String]| v.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ");
    assert!(
        v.violations.is_empty(),
        "violations:\n  {}",
        first(&v.violations)
    );
    assert!(
        v.stray.is_empty(),
        "5xx outside the faults:\n  {}",
        first(&v.stray)
    );
    let unexplained = &v.unexplained;
    let oddities = w.oddities.lock().unwrap().clone();
    assert!(
        unexplained.is_empty(),
        "live sessions refused:\n  {}\nanswers off the contract:\n  {}\nserver logs: {}",
        first(unexplained),
        first(&oddities),
        logs.display()
    );
    assert!(
        oddities.is_empty(),
        "answers off the contract:\n  {}",
        first(&oddities)
    );
    assert!(v.fault_503 > 0, "the outages were not noticed");
    assert!(
        v.ok_after_recovery > 0,
        "nothing succeeded after the last recovery"
    );
    let n = &w.n;
    for c in [
        &n.logins,
        &n.calls_ok,
        &n.refreshes_ok,
        &n.race_outcomes[0],
        &n.logout_alls,
    ] {
        assert!(c.load(Relaxed) > 0, "a part of the soak never ran");
    }
    if cfg!(target_os = "linux") {
        for (name, (rss, peak)) in ["a", "b"].iter().zip(&memory) {
            assert!(
                *rss < RSS_LIMIT_KIB && *peak < RSS_LIMIT_KIB,
                "instance {name}: RSS {rss} KiB, peak {peak} KiB, over {RSS_LIMIT_KIB} KiB"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&logs);
}
