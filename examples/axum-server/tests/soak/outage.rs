//! The injected faults: Redis killed and restarted under load, and the
//! servers' recovery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::testing::redis_server::RedisServer;

use crate::common::logout_tokens;
use crate::model::{Session, World, inc};
use crate::ops::probe_dead;
use crate::{OUTAGE, RECOVERY_LIMIT, USERS, total};

/// Kills Redis (SIGKILL) for [`OUTAGE`], restarts it from its append-only
/// file, waits until both instances log in, refresh and check again, then
/// presents the tokens of sessions revoked before the kill to both.
pub(crate) async fn outage(w: &World, redis: RedisServer) -> RedisServer {
    let kill = Instant::now();
    let redis = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.kill();
        redis
    })
    .await
    .unwrap();
    tokio::time::sleep(OUTAGE).await;
    let redis = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.restart();
        redis
    })
    .await
    .unwrap();
    let restarted = Instant::now();
    let recovered = recover(w, restarted).await;
    w.faults.lock().unwrap().push((kill, recovered));
    let before: Vec<Arc<Session>> = {
        let reg = w.registry.lock().unwrap();
        let revoked = reg.revoked.iter();
        let before = revoked.filter(|s| s.lock().revoked.is_some_and(|r| r.span.recv < kill));
        let mut before: Vec<_> = before.cloned().collect();
        before.drain(..before.len().saturating_sub(200));
        before
    };
    for s in &before {
        for i in 0..2 {
            inc(&w.n.sweep_checks);
            probe_dead(w, s, i, i).await;
        }
    }
    eprintln!(
        "soak: Redis killed at {:.1?}, back after {:.1?}, both instances serving {:.1?} after the restart; {} revocations from before the kill checked on both",
        kill.duration_since(w.deadline - total()),
        restarted - kill,
        recovered - restarted,
        before.len()
    );
    redis
}

/// Returns when both instances refresh and check a session again.
async fn recover(w: &World, restarted: Instant) -> Instant {
    let mut tokens: Option<(String, String)> = None;
    loop {
        assert!(
            restarted.elapsed() < RECOVERY_LIMIT,
            "the servers did not recover within {RECOVERY_LIMIT:?} of Redis's restart"
        );
        let Some((_, refresh)) = tokens.clone() else {
            let (name, password) = USERS[1];
            let (_, r) = w
                .call(0, "recovery login", w.servers[0].login(name, password))
                .await;
            if r.status == 200 {
                tokens = Some((r.field("accessToken"), r.field("refreshToken")));
            } else {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        };
        let mut ok = true;
        let mut refresh = refresh;
        for i in 0..2 {
            let (_, r) = w
                .call(i, "recovery refresh", w.servers[i].refresh_body(&refresh))
                .await;
            match r.status.as_u16() {
                200 => {
                    refresh = r.field("refreshToken");
                    tokens = Some((r.field("accessToken"), refresh.clone()));
                }
                401 => {
                    tokens = None; // revoked by a logout-all of root, or a lost rotation
                    ok = false;
                    break;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if let (true, Some((access, _))) = (ok, &tokens) {
            let mut both = true;
            for i in 0..2 {
                let (_, r) = w
                    .call(
                        i,
                        "recovery profile",
                        w.servers[i].get("/profile", Some(access)),
                    )
                    .await;
                both &= r.status == 200;
            }
            if both {
                let recovered = Instant::now();
                let (access, refresh) = tokens.unwrap_or_default();
                let _ = logout_tokens(&w.servers[0], &access, &refresh).await;
                return recovered;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
