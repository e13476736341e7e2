//! The verdict on the run's records, the summary it prints, and the
//! servers' memory over the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::model::{Op, World};
use crate::{MIRROR_WINDOW, USERS, total};

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
pub(crate) fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What the run's records say.
pub(crate) struct Verdict {
    /// Tokens honoured after their revocation, refresh tokens used twice.
    pub(crate) violations: Vec<String>,
    /// `/profile` accepted by the other instance within [`MIRROR_WINDOW`]
    /// of a revocation: how long after.
    pub(crate) lags: Vec<Duration>,
    /// 401s for sessions nothing revoked.
    pub(crate) unexplained: Vec<String>,
    /// 5xx other than a 503 overlapping a fault.
    pub(crate) stray: Vec<String>,
    pub(crate) fault_503: usize,
    pub(crate) ok_after_recovery: usize,
    pub(crate) sessions: usize,
    pub(crate) revoked: usize,
    pub(crate) ambiguous: usize,
    pub(crate) refusals: usize,
}

pub(crate) fn judge(w: &World, started: Instant) -> Verdict {
    let faults = w.faults.lock().unwrap().clone();
    let last_recovery = faults.iter().map(|f| f.1).max().unwrap();
    let reg = w.registry.lock().unwrap();
    let mut v = Verdict {
        violations: Vec::new(),
        lags: Vec::new(),
        unexplained: Vec::new(),
        stray: Vec::new(),
        fault_503: 0,
        ok_after_recovery: 0,
        sessions: reg.sessions.len(),
        revoked: reg.revoked.len(),
        ambiguous: 0,
        refusals: 0,
    };
    for s in &reg.sessions {
        let st = s.lock();
        let (id, user) = (s.id, USERS[s.user].0);
        v.ambiguous += usize::from(st.maybe_revoked);
        v.refusals += st.refusals.len();
        let late = st.successes.iter().filter(|u| u.span.sent > last_recovery);
        v.ok_after_recovery += late.count();
        if let Some(r) = st.revoked {
            let mut late = Vec::new();
            for u in st.successes.iter().filter(|u| u.span.sent > r.span.recv) {
                let after = u.span.sent - r.span.recv;
                let other = u.instance != r.instance;
                if u.op == Op::Profile && other && after < MIRROR_WINDOW {
                    v.lags.push(after);
                } else {
                    late.push((u, after));
                }
            }
            if let Some((u, after)) = late.first() {
                v.violations.push(format!(
                    "session {id} ({user}): {} requests answered 200 after the answer to its {} on instance {}; the first, {:?} by instance {}, sent {after:?} after it",
                    late.len(),
                    r.how,
                    r.instance,
                    u.op,
                    u.instance
                ));
            }
        }
        for (generation, wins) in st.wins.iter().enumerate().filter(|(_, w)| **w > 1) {
            v.violations.push(format!(
                "session {id} ({user}): refresh token generation {generation} exchanged {wins} times"
            ));
        }
        for f in &st.refusals {
            let cause = st.revoked_from.is_some_and(|t| t < f.span.recv);
            if !st.maybe_revoked && !cause {
                v.unexplained.push(format!(
                    "session {id} ({user}, sid {}, generation {}, logged in {:?} into the run): {:?} refused (401: {}) by instance {} {:?} into the run, answered {:?} later",
                    sid_of(&st.access),
                    st.refresh.len() - 1,
                    s.login.sent - started,
                    f.op,
                    f.why,
                    f.instance,
                    f.span.sent - started,
                    f.span.recv - f.span.sent
                ) + &format!(
                    "; logouts naming its sid: {}",
                    w.logouts
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|l| l.sid == sid_of(&st.access))
                        .map(|l| format!(
                            "{} of session {} on {} sent {:?} answered {}",
                            l.how,
                            l.session,
                            l.instance,
                            l.span.sent - started,
                            l.status
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ) + &format!(
                    "; its 200s: {}",
                    st.successes
                        .iter()
                        .map(|u| format!("{:?} on {} at {:?}", u.op, u.instance, u.span.sent - started))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    for e in w.errors.lock().unwrap().iter() {
        let overlaps =
            |(kill, back): &(Instant, Instant)| e.span.recv >= *kill && e.span.sent <= *back;
        if e.status == 503 && faults.iter().any(overlaps) {
            v.fault_503 += 1;
        } else {
            v.stray.push(format!(
                "{} {} on instance {} {:?} into the run: {}",
                e.what,
                e.status,
                e.instance,
                e.span.sent - started,
                e.body
            ));
        }
    }
    v
}

/// The summary line, and memory over time.
pub(crate) fn report(
    w: &World,
    v: &Verdict,
    seed: u64,
    duration: Duration,
    rss_start: &[u64],
    memory: &[(u64, u64)],
) {
    let n = &w.n;
    let get = |c: &AtomicU64| c.load(Relaxed);
    let mib = |k: u64| k as f64 / 1024.0;
    let [one, refused, outage, several] = &n.race_outcomes;
    let revocations = get(&n.logouts)
        + get(&n.cleanup_logouts)
        + get(&n.revoker_logouts)
        + get(&n.logout_all_killed)
        + get(&n.reuse_revocations);
    eprintln!(
        "soak summary: duration {duration:.1?}, seed {seed}; logins {} ({} attempts); \
         calls {} ({} ok); refreshes {} ({} ok with race winners and replays); \
         races {} ({} requests: one winner {}, no winner (revoked) {}, no winner (outage) {}, several {}); \
         replays {}; logouts {} (+{} cleanup); revocations {revocations} (revoker logouts {}, logout-alls {} killing {}, reuse detections {}); \
         sessions {} (revoked {}, ambiguous {}); 401s on live-looking tokens {} (unexplained {}); \
         dead-token probes {}, post-fault checks {}; 503s during faults {}, other 5xx {}; \
         other-instance acceptances within {MIRROR_WINDOW:?} {} (max {:?}); violations {}; \
         RSS MiB a {:.1} -> {:.1} (peak {:.1}), b {:.1} -> {:.1} (peak {:.1})",
        get(&n.logins),
        get(&n.login_attempts),
        get(&n.calls),
        get(&n.calls_ok),
        get(&n.refreshes),
        get(&n.refreshes_ok),
        get(&n.races),
        get(&n.race_requests),
        get(one),
        get(refused),
        get(outage),
        get(several),
        get(&n.replays),
        get(&n.logouts),
        get(&n.cleanup_logouts),
        get(&n.revoker_logouts),
        get(&n.logout_alls),
        get(&n.logout_all_killed),
        get(&n.reuse_revocations),
        v.sessions,
        v.revoked,
        v.ambiguous,
        v.refusals,
        v.unexplained.len(),
        get(&n.dead_probes),
        get(&n.sweep_checks),
        v.fault_503,
        v.stray.len(),
        v.lags.len(),
        v.lags.iter().max(),
        v.violations.len(),
        mib(rss_start[0]),
        mib(memory[0].0),
        mib(memory[0].1),
        mib(rss_start[1]),
        mib(memory[1].0),
        mib(memory[1].1),
    );
    let samples = w.rss_samples.lock().unwrap();
    let line: Vec<String> = samples
        .iter()
        .map(|(t, a, b)| format!("{t:.0?}: {:.0}/{:.0}", mib(*a), mib(*b)))
        .collect();
    eprintln!("soak RSS MiB a/b over time: {}", line.join(", "));
}

/// Samples both processes' RSS ten times over the run.
pub(crate) async fn sample_memory(w: Arc<World>, pids: [u32; 2], started: Instant) {
    let step = total() / 10;
    while w.running() {
        tokio::time::sleep(step).await;
        let (a, b) = (memory_kib(pids[0]).0, memory_kib(pids[1]).0);
        w.rss_samples
            .lock()
            .unwrap()
            .push((started.elapsed(), a, b));
    }
}

/// The `sid` claim of a token, read without verifying it.
pub(crate) fn sid_of(token: &str) -> String {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .and_then(|c| c["sid"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
