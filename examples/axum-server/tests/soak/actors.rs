//! The concurrent actors: clients with one session at a time, the revoker
//! ending sessions and whole users, the prober presenting revoked tokens.

use std::sync::Arc;
use std::time::Duration;

use crate::REFRESH_AFTER;
use crate::model::{Rng, Session, World, inc};
use crate::ops::{login, logout, logout_all, probe_dead, profile, race, refresh, replay};

pub(crate) async fn client(w: Arc<World>, id: usize, mut rng: Rng) {
    let user = usize::from(id % 3 == 2); // two alices for one root
    let source = std::net::IpAddr::from([127, 0, 0, 2 + (id % 200) as u8]);
    let mut session: Option<Arc<Session>> = None;
    while w.running() {
        let Some(s) = session.clone() else {
            session = login(&w, user, source, &mut rng).await;
            continue;
        };
        let stale = s.lock().access_sent.elapsed() >= REFRESH_AFTER;
        let roll = rng.below(1000);
        let alive = if stale {
            if rng.chance(300) {
                race(&w, &s, &mut rng).await
            } else {
                refresh(&w, &s, &mut rng).await
            }
        } else if roll < 3 {
            inc(&w.n.logouts);
            logout(&w, &s, rng.instance(), "logout").await;
            false
        } else if roll < 5 {
            replay(&w, &s, true, &mut rng).await
        } else if roll < 35 {
            refresh(&w, &s, &mut rng).await
        } else if roll < 65 {
            race(&w, &s, &mut rng).await
        } else {
            profile(&w, &s, rng.instance()).await
        };
        if !alive {
            let unknown = {
                let mut st = s.lock();
                st.abandoned = true;
                st.revoked.is_none()
            };
            // A session left behind (its token lost in an outage) still
            // counts towards the subject's session cap: end it.
            if unknown {
                inc(&w.n.cleanup_logouts);
                logout(&w, &s, rng.instance(), "cleanup logout").await;
            }
            session = None;
        }
        tokio::time::sleep(rng.millis(10, 50)).await;
    }
}

/// Every 0.3 to 1.2 s ends a random live session, or (one time in six,
/// alice and root in turn) every session of a user.
pub(crate) async fn revoker(w: Arc<World>, mut rng: Rng) {
    for round in 0.. {
        tokio::time::sleep(rng.millis(300, 1200)).await;
        if !w.running() {
            break;
        }
        let all = round % 6 == 5;
        let user = round / 6 % 2;
        let candidates: Vec<Arc<Session>> = {
            let reg = w.registry.lock().unwrap();
            let live = reg.sessions.iter().rev().take(300).filter(|s| {
                let st = s.lock();
                !st.abandoned && st.revoked.is_none()
            });
            if all {
                live.filter(|s| {
                    let st = s.lock();
                    s.user == user
                        && !st.maybe_revoked
                        && st.access_sent.elapsed() < Duration::from_millis(2500)
                })
                .cloned()
                .collect()
            } else {
                live.cloned().collect()
            }
        };
        if candidates.is_empty() {
            continue;
        }
        let s = &candidates[rng.below(candidates.len() as u64) as usize];
        let i = rng.instance();
        if all {
            logout_all(&w, s, i).await;
        } else {
            inc(&w.n.revoker_logouts);
            logout(&w, s, i, "revoker logout").await;
        }
    }
}

/// Keeps presenting tokens of revoked sessions, mostly recent ones.
pub(crate) async fn prober(w: Arc<World>, mut rng: Rng) {
    while w.running() {
        tokio::time::sleep(rng.millis(20, 40)).await;
        let s = {
            let reg = w.registry.lock().unwrap();
            let window = if rng.chance(500) { 20 } else { 300 };
            let recent = &reg.revoked[reg.revoked.len().saturating_sub(window)..];
            if recent.is_empty() {
                continue;
            }
            recent[rng.below(recent.len() as u64) as usize].clone()
        };
        inc(&w.n.dead_probes);
        probe_dead(&w, &s, rng.instance(), rng.instance()).await;
    }
}
