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

mod common;

use std::future::Future;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use auth_core::testing::redis_server::RedisServer;
use common::{logout_tokens, spawn_with};
use contract_tests::{Client, Reply};
use http::Method;
use tokio::task::JoinSet;

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

/// When a request left and when its answer was complete.
#[derive(Debug, Clone, Copy)]
struct Span {
    sent: Instant,
    recv: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Profile,
    /// A refresh presenting the session's refresh token of this generation.
    Refresh(usize),
}

/// A request made with a token of a session, on instance 0 or 1.
#[derive(Debug, Clone, Copy)]
struct Use {
    span: Span,
    instance: usize,
    op: Op,
}

impl Use {
    fn new(span: Span, instance: usize, op: Op) -> Use {
        Use { span, instance, op }
    }
}

/// A revocation whose answer came back: the session is certainly revoked
/// from `span.recv` on.
#[derive(Debug, Clone, Copy)]
struct Revocation {
    span: Span,
    instance: usize,
    how: &'static str,
}

impl Revocation {
    fn new(span: Span, instance: usize, how: &'static str) -> Revocation {
        Revocation {
            span,
            instance,
            how,
        }
    }
}

/// One login and everything that happened to it.
struct Session {
    id: usize,
    user: usize,
    login: Span,
    state: Mutex<State>,
}

struct State {
    access: String,
    /// When the request that issued `access` left.
    access_sent: Instant,
    /// The refresh tokens by generation (0 from the login).
    refresh: Vec<String>,
    /// 200 answers per refresh-token generation: never more than one.
    wins: Vec<u32>,
    /// The last successful rotation (or the login).
    rotated: Span,
    /// The earliest certain revocation.
    revoked: Option<Revocation>,
    /// Something may have revoked or rotated it without the test knowing
    /// (an outage mid-write, a logout-all racing the login, a slow race).
    maybe_revoked: bool,
    /// Its client gave up on it.
    abandoned: bool,
    /// Every 200 obtained with one of its tokens.
    successes: Vec<Use>,
    /// 401s on a token that should have worked.
    refusals: Vec<Use>,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

struct LogoutAll {
    user: usize,
    instance: usize,
    span: Span,
}

#[derive(Default)]
struct Registry {
    sessions: Vec<Arc<Session>>,
    /// Sessions certainly revoked, in the order that was learned.
    revoked: Vec<Arc<Session>>,
    logout_alls: Vec<LogoutAll>,
}

/// A 5xx answer.
struct ServerError {
    span: Span,
    instance: usize,
    what: &'static str,
    status: u16,
    body: String,
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    login_attempts: AtomicU64,
    calls: AtomicU64,
    calls_ok: AtomicU64,
    refreshes: AtomicU64,
    refreshes_ok: AtomicU64,
    races: AtomicU64,
    race_requests: AtomicU64,
    /// Races by outcome: one winner, none (refused), none (an outage), two or more.
    race_outcomes: [AtomicU64; 4],
    replays: AtomicU64,
    logouts: AtomicU64,
    cleanup_logouts: AtomicU64,
    revoker_logouts: AtomicU64,
    logout_alls: AtomicU64,
    logout_all_killed: AtomicU64,
    reuse_revocations: AtomicU64,
    dead_probes: AtomicU64,
    sweep_checks: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

struct World {
    servers: [Client; 2],
    deadline: Instant,
    registry: Mutex<Registry>,
    n: Counters,
    errors: Mutex<Vec<ServerError>>,
    /// Answers outside the contract (a 400, an unknown error code...).
    oddities: Mutex<Vec<String>>,
    /// (kill, recovered) per injected fault.
    faults: Mutex<Vec<(Instant, Instant)>>,
    /// (time into the run, RSS of a, RSS of b) in KiB.
    rss_samples: Mutex<Vec<(Duration, u64, u64)>>,
}

impl World {
    /// Times `request` on `instance`, keeping any 5xx.
    async fn call(
        &self,
        instance: usize,
        what: &'static str,
        request: impl Future<Output = Reply>,
    ) -> (Span, Reply) {
        let sent = Instant::now();
        let reply = request.await;
        let span = Span {
            sent,
            recv: Instant::now(),
        };
        if reply.status.is_server_error() {
            self.errors.lock().unwrap().push(ServerError {
                span,
                instance,
                what,
                status: reply.status.as_u16(),
                body: reply.json.to_string(),
            });
        }
        (span, reply)
    }

    fn odd(&self, what: &str, reply: &Reply) {
        let msg = format!("{what}: {} {}", reply.status, reply.json);
        self.oddities.lock().unwrap().push(msg);
    }

    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// Records a certain revocation of `s` (the earliest one wins).
    fn revoke(&self, s: &Arc<Session>, r: Revocation) {
        mark_revoked(&mut self.registry.lock().unwrap(), s, r);
    }

    /// Applies a logout-all of `user` answered 204 by instance `i`: the
    /// sessions whose login was answered before it left are revoked, those
    /// whose login overlapped it may be.
    fn logged_out_all(&self, user: usize, span: Span, i: usize) {
        let mut reg = self.registry.lock().unwrap();
        let of_user: Vec<_> = reg
            .sessions
            .iter()
            .filter(|x| x.user == user)
            .cloned()
            .collect();
        for x in &of_user {
            if x.login.recv < span.sent {
                if x.lock().revoked.is_none() {
                    inc(&self.n.logout_all_killed);
                }
                mark_revoked(&mut reg, x, Revocation::new(span, i, "logout-all"));
            } else if x.login.sent <= span.recv {
                x.lock().maybe_revoked = true;
            }
        }
        reg.logout_alls.push(LogoutAll {
            user,
            instance: i,
            span,
        });
    }

    /// A session of `user` from a 200 login; applies the logout-alls that
    /// finished before it was registered.
    fn register(&self, user: usize, login: Span, reply: &Reply) -> Arc<Session> {
        let mut reg = self.registry.lock().unwrap();
        let s = Arc::new(Session {
            id: reg.sessions.len(),
            user,
            login,
            state: Mutex::new(State {
                access: reply.field("accessToken"),
                access_sent: login.sent,
                refresh: vec![reply.field("refreshToken")],
                wins: vec![0],
                rotated: login,
                revoked: None,
                maybe_revoked: false,
                abandoned: false,
                successes: Vec::new(),
                refusals: Vec::new(),
            }),
        });
        let mut hits = Vec::new();
        for la in reg.logout_alls.iter().filter(|la| la.user == user) {
            if login.recv < la.span.sent {
                hits.push(Revocation::new(la.span, la.instance, "logout-all"));
            } else if login.sent <= la.span.recv {
                s.lock().maybe_revoked = true;
            }
        }
        for r in hits {
            mark_revoked(&mut reg, &s, r);
        }
        reg.sessions.push(s.clone());
        s
    }
}

fn mark_revoked(reg: &mut Registry, s: &Arc<Session>, r: Revocation) {
    let mut st = s.lock();
    match st.revoked {
        None => {
            st.revoked = Some(r);
            drop(st);
            reg.revoked.push(s.clone());
        }
        Some(old) if r.span.recv < old.span.recv => st.revoked = Some(r),
        Some(_) => {}
    }
}

/// SplitMix64: small, seedable, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn instance(&mut self) -> usize {
        self.below(2) as usize
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// The error code of a 401 refused refresh; losers of a race and replays
/// within the grace may say either.
fn refresh_code_ok(reply: &Reply) -> bool {
    matches!(
        reply.json["error"].as_str(),
        Some("invalid_token" | "refresh_superseded")
    )
}

// ---------------------------------------------------------------- clients

/// Logs in from the client's own machine (`source`): many clients of one
/// user on one address would be one guesser to the login throttle.
async fn login(
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

async fn profile(w: &World, s: &Session, i: usize) -> bool {
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
            s.lock().refusals.push(used);
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
    st.successes.push(used);
    if generation + 1 == st.refresh.len() {
        st.refresh.push(r.field("refreshToken"));
        st.wins.push(0);
        st.access = r.field("accessToken");
        st.access_sent = used.span.sent;
        st.rotated = used.span;
    }
    inc(&w.n.refreshes_ok);
}

async fn refresh(w: &World, s: &Arc<Session>, rng: &mut Rng) -> bool {
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
            s.lock().refusals.push(used);
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
async fn race(w: &Arc<World>, s: &Session, rng: &mut Rng) -> bool {
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
        let (i, span, _) = &answers[0];
        s.lock()
            .refusals
            .push(Use::new(*span, *i, Op::Refresh(generation)));
        return false;
    }
    true
}

/// Presents an already rotated refresh token: the one just replaced
/// (`old == false`: within the grace, refused as superseded, the session
/// lives) or an older one (reuse: refused, and the session is revoked).
async fn replay(w: &World, s: &Arc<Session>, old: bool, rng: &mut Rng) -> bool {
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
async fn probe_dead(w: &World, s: &Session, pi: usize, ri: usize) {
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
async fn logout(w: &World, s: &Arc<Session>, i: usize, how: &'static str) {
    let (access, token) = {
        let st = s.lock();
        (st.access.clone(), st.refresh[st.refresh.len() - 1].clone())
    };
    let (span, r) = w
        .call(i, "logout", logout_tokens(&w.servers[i], &access, &token))
        .await;
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

async fn client(w: Arc<World>, id: usize, mut rng: Rng) {
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

// ------------------------------------------------------ revoker and prober

/// Every 0.3 to 1.2 s ends a random live session, or (one time in six,
/// alice and root in turn) every session of a user.
async fn revoker(w: Arc<World>, mut rng: Rng) {
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

/// Logout-all of `s`'s user on `i`, with `s`'s access token.
async fn logout_all(w: &World, s: &Arc<Session>, i: usize) {
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
        401 => s.lock().refusals.push(Use::new(span, i, Op::Profile)),
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

/// Keeps presenting tokens of revoked sessions, mostly recent ones.
async fn prober(w: Arc<World>, mut rng: Rng) {
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

// ------------------------------------------------------------------ faults

/// Kills Redis (SIGKILL) for [`OUTAGE`], restarts it from its append-only
/// file, waits until both instances log in, refresh and check again, then
/// presents the tokens of sessions revoked before the kill to both.
async fn outage(w: &World, redis: RedisServer) -> RedisServer {
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

// ------------------------------------------------------------------- test

fn total() -> Duration {
    let secs = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(30))
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
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
        servers.push(spawn_with(&redis, &FLAGS, "error", Stdio::from(log)).await);
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
    assert!(
        unexplained.is_empty(),
        "live sessions refused:\n  {}",
        first(unexplained)
    );
    let oddities = w.oddities.lock().unwrap().clone();
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

/// What the run's records say.
struct Verdict {
    /// Tokens honoured after their revocation, refresh tokens used twice.
    violations: Vec<String>,
    /// `/profile` accepted by the other instance within [`MIRROR_WINDOW`]
    /// of a revocation: how long after.
    lags: Vec<Duration>,
    /// 401s for sessions nothing revoked.
    unexplained: Vec<String>,
    /// 5xx other than a 503 overlapping a fault.
    stray: Vec<String>,
    fault_503: usize,
    ok_after_recovery: usize,
    sessions: usize,
    revoked: usize,
    ambiguous: usize,
    refusals: usize,
}

fn judge(w: &World, started: Instant) -> Verdict {
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
            let cause = st.revoked.is_some_and(|r| r.span.sent < f.span.recv);
            if !st.maybe_revoked && !cause {
                v.unexplained.push(format!(
                    "session {id} ({user}, generation {}): {:?} refused (401) by instance {} {:?} into the run",
                    st.refresh.len() - 1,
                    f.op,
                    f.instance,
                    f.span.sent - started
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
fn report(
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
async fn sample_memory(w: Arc<World>, pids: [u32; 2], started: Instant) {
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
