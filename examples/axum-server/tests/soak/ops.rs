//! The requests the actors make with a session's tokens, each answer
//! recorded for the verdict: login, `/profile`, refresh (alone, in races,
//! replayed), probes of revoked tokens, logout and logout-all.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use contract_tests::Reply;
use http::Method;
use tokio::task::JoinSet;

use crate::common::logout_tokens;
use crate::model::{Logout, Op, Revocation, Rng, Session, Use, World, inc};
use crate::{ACCESS_FRESH, USERS};

/// The error code of a 401 refused refresh; losers of a race and replays
/// within the grace may say either.
fn refresh_code_ok(reply: &Reply) -> bool {
    matches!(
        reply.json["error"].as_str(),
        Some("invalid_token" | "refresh_superseded")
    )
}

/// Logs in from the client's own machine (`source`): many clients of one
/// user on one address would be one guesser to the login throttle.
pub(crate) async fn login(
    w: &World,
    user: usize,
    source: std::net::IpAddr,
    rng: &mut Rng,
) -> Option<Arc<Session>> {
    let i = rng.instance();
    let (name, password) = USERS[user];
    inc(&w.n.login_attempts);
    let machine = contract_tests::Client::from_source(w.servers[i].addr, source);
    let (span, r) = w.call(i, "login", machine.login(name, password)).await;
    match r.status.as_u16() {
        200 => {
            inc(&w.n.logins);
            Some(w.register(user, span, &r))
        }
        503 => {
            // Each attempt costs the server an argon2 hash: back off.
            tokio::time::sleep(rng.millis(300, 800)).await;
            None
        }
        _ => {
            w.odd("login", &r);
            tokio::time::sleep(rng.millis(300, 800)).await;
            None
        }
    }
}

pub(crate) async fn profile(w: &World, s: &Session, i: usize) -> bool {
    let (access, access_sent) = {
        let st = s.lock();
        (st.access.clone(), st.access_sent)
    };
    inc(&w.n.calls);
    let (span, r) = w
        .call(i, "profile", w.servers[i].get("/profile", Some(&access)))
        .await;
    let used = Use::new(span, i, Op::Profile);
    match r.status.as_u16() {
        200 => {
            inc(&w.n.calls_ok);
            if r.json["sub"] != USERS[s.user].0 {
                w.odd("profile of another subject", &r);
            }
            s.lock().successes.push(used);
            true
        }
        // A token past its lifetime (its refresh failed in an outage):
        // refresh next.
        401 if span.sent >= access_sent + ACCESS_FRESH => true,
        401 => {
            s.lock().refusals.push(used.refused(&r));
            false
        }
        503 => true,
        _ => {
            w.odd("profile", &r);
            true
        }
    }
}

/// Records the answer to a refresh that presented generation `generation`;
/// a 200 for the current generation moves the session on.
fn refreshed(w: &World, s: &Session, generation: usize, used: Use, r: &Reply) {
    let mut st = s.lock();
    st.wins[generation] += 1;
    let span = used.span;
    st.successes.push(used);
    if generation + 1 == st.refresh.len() {
        st.refresh.push(r.field("refreshToken"));
        st.wins.push(0);
        st.access = r.field("accessToken");
        st.access_sent = span.sent;
        st.rotated = span;
    }
    inc(&w.n.refreshes_ok);
}

pub(crate) async fn refresh(w: &World, s: &Arc<Session>, rng: &mut Rng) -> bool {
    let i = rng.instance();
    let (generation, token) = {
        let st = s.lock();
        (
            st.refresh.len() - 1,
            st.refresh[st.refresh.len() - 1].clone(),
        )
    };
    inc(&w.n.refreshes);
    let (span, r) = w
        .call(i, "refresh", w.servers[i].refresh_body(&token))
        .await;
    let used = Use::new(span, i, Op::Refresh(generation));
    match r.status.as_u16() {
        200 => {
            refreshed(w, s, generation, used, &r);
            // Now and then the client "retries" with the token just
            // replaced: superseded, the session lives on.
            if rng.chance(150) {
                return replay(w, s, false, rng).await;
            }
            true
        }
        401 => {
            s.lock().refusals.push(used.refused(&r));
            false
        }
        503 => {
            // Redis may have rotated before the outage cut the answer off.
            s.lock().maybe_revoked = true;
            true
        }
        _ => {
            w.odd("refresh", &r);
            true
        }
    }
}

/// 2 to 4 concurrent refreshes of one token, alternating instances.
pub(crate) async fn race(w: &Arc<World>, s: &Session, rng: &mut Rng) -> bool {
    let n = 2 + rng.below(3) as usize;
    let first = rng.instance();
    let (generation, token) = {
        let st = s.lock();
        (
            st.refresh.len() - 1,
            st.refresh[st.refresh.len() - 1].clone(),
        )
    };
    inc(&w.n.races);
    w.n.race_requests.fetch_add(n as u64, Relaxed);
    let mut set = JoinSet::new();
    for k in 0..n {
        let (w, token) = (w.clone(), token.clone());
        let i = (first + k) % 2;
        set.spawn(async move {
            let (span, r) = w
                .call(i, "race refresh", w.servers[i].refresh_body(&token))
                .await;
            (i, span, r)
        });
    }
    let answers = set.join_all().await;
    let (mut winners, mut unavailable) = (0, false);
    for (i, span, r) in &answers {
        let used = Use::new(*span, *i, Op::Refresh(generation));
        match r.status.as_u16() {
            200 => {
                winners += 1;
                refreshed(w, s, generation, used, r);
            }
            401 if !refresh_code_ok(r) => w.odd("race loser", r),
            401 => {}
            503 => unavailable = true,
            _ => w.odd("race refresh", r),
        }
    }
    let outcome = match (winners, unavailable) {
        (1, _) => 0,
        (0, false) => 1,
        (0, true) => 2,
        _ => 3,
    };
    inc(&w.n.race_outcomes[outcome]);
    let first_sent = answers.iter().map(|a| a.1.sent).min().unwrap();
    let last_recv = answers.iter().map(|a| a.1.recv).max().unwrap();
    // A loser judged near the end of the reuse grace (2 s, counted in
    // milliseconds from the rotation) could be past it: reuse, which revokes
    // the session.
    if unavailable || last_recv - first_sent >= Duration::from_millis(1900) {
        s.lock().maybe_revoked = true;
    }
    if winners == 0 && !unavailable {
        let (i, span, r) = &answers[0];
        s.lock()
            .refusals
            .push(Use::new(*span, *i, Op::Refresh(generation)).refused(r));
        return false;
    }
    true
}

/// Presents an already rotated refresh token: the one just replaced
/// (`old == false`: within the grace, refused as superseded, the session
/// lives) or an older one (reuse: refused, and the session is revoked).
pub(crate) async fn replay(w: &World, s: &Arc<Session>, old: bool, rng: &mut Rng) -> bool {
    let (generation, token, rotated) = {
        let st = s.lock();
        let latest = st.refresh.len() - 1;
        let generation = match old {
            false if latest >= 1 && st.rotated.sent.elapsed() < Duration::from_millis(800) => {
                latest - 1
            }
            true if latest >= 2 => rng.below(latest as u64 - 1) as usize,
            _ => return true,
        };
        (generation, st.refresh[generation].clone(), st.rotated)
    };
    let i = rng.instance();
    inc(&w.n.replays);
    let (span, r) = w.call(i, "replay", w.servers[i].refresh_body(&token)).await;
    let used = Use::new(span, i, Op::Refresh(generation));
    match r.status.as_u16() {
        200 => refreshed(w, s, generation, used, &r), // a second win: judged at the end
        401 if !refresh_code_ok(&r) => w.odd("replay", &r),
        401 if old => {
            inc(&w.n.reuse_revocations);
            let how = "reuse detection";
            w.revoke(s, Revocation::new(span, i, how));
        }
        401 => {
            // Near the end of the 2 s grace, the store may call it reuse.
            if span.recv - rotated.sent >= Duration::from_millis(1900) {
                s.lock().maybe_revoked = true;
            }
        }
        503 => s.lock().maybe_revoked = true,
        _ => w.odd("replay", &r),
    }
    true
}

/// Presents the tokens of a revoked session: `/profile` (while the access
/// token has not expired) on `pi`, a refresh on `ri`. Any 200 is kept and
/// judged at the end.
pub(crate) async fn probe_dead(w: &World, s: &Session, pi: usize, ri: usize) {
    let (access, access_sent, generation, token) = {
        let st = s.lock();
        let g = st.refresh.len() - 1;
        (st.access.clone(), st.access_sent, g, st.refresh[g].clone())
    };
    if access_sent.elapsed() < ACCESS_FRESH {
        let (span, r) = w
            .call(
                pi,
                "dead profile",
                w.servers[pi].get("/profile", Some(&access)),
            )
            .await;
        match r.status.as_u16() {
            200 => s.lock().successes.push(Use::new(span, pi, Op::Profile)),
            401 | 503 => {}
            _ => w.odd("dead profile", &r),
        }
    }
    let (span, r) = w
        .call(ri, "dead refresh", w.servers[ri].refresh_body(&token))
        .await;
    match r.status.as_u16() {
        200 => {
            let mut st = s.lock();
            st.wins[generation] += 1;
            st.successes
                .push(Use::new(span, ri, Op::Refresh(generation)));
        }
        401 | 503 => {}
        _ => w.odd("dead refresh", &r),
    }
}

/// Logs `s` out on `i` with its current tokens; on 204, probes its tokens
/// at once on the other instance.
pub(crate) async fn logout(w: &World, s: &Arc<Session>, i: usize, how: &'static str) {
    let (access, token) = {
        let st = s.lock();
        (st.access.clone(), st.refresh[st.refresh.len() - 1].clone())
    };
    let (span, r) = w
        .call(i, "logout", logout_tokens(&w.servers[i], &access, &token))
        .await;
    w.logouts.lock().unwrap().push(Logout {
        session: s.id,
        sid: crate::verdict::sid_of(&access),
        span,
        instance: i,
        status: r.status.as_u16(),
        how,
    });
    match r.status.as_u16() {
        204 => {
            w.revoke(s, Revocation::new(span, i, how));
            inc(&w.n.dead_probes);
            probe_dead(w, s, 1 - i, 1 - i).await;
        }
        503 => s.lock().maybe_revoked = true,
        _ => w.odd("logout", &r),
    }
}

/// Logout-all of `s`'s user on `i`, with `s`'s access token.
pub(crate) async fn logout_all(w: &World, s: &Arc<Session>, i: usize) {
    let access = s.lock().access.clone();
    let bearer = format!("Bearer {access}");
    let headers = [("authorization", bearer.as_str())];
    let request = w.servers[i].send(Method::POST, "/auth/logout-all", &headers, None);
    let (span, r) = w.call(i, "logout-all", request).await;
    match r.status.as_u16() {
        204 => {
            inc(&w.n.logout_alls);
            w.logged_out_all(s.user, span, i);
            inc(&w.n.dead_probes);
            probe_dead(w, s, 1 - i, 1 - i).await;
        }
        401 => s
            .lock()
            .refusals
            .push(Use::new(span, i, Op::Profile).refused(&r)),
        503 => {
            let reg = w.registry.lock().unwrap();
            for x in reg.sessions.iter().filter(|x| x.user == s.user) {
                if x.login.sent <= span.recv {
                    x.lock().maybe_revoked = true;
                }
            }
        }
        _ => w.odd("logout-all", &r),
    }
}
