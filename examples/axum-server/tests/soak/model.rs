//! The run's records: sessions and the requests made with their tokens,
//! revocations, 5xx answers, counters, and the world the actors share.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use contract_tests::{Client, Reply};

/// When a request left and when its answer was complete.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) sent: Instant,
    pub(crate) recv: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Profile,
    /// A refresh presenting the session's refresh token of this generation.
    Refresh(usize),
}

/// A request made with a token of a session, on instance 0 or 1.
#[derive(Debug, Clone)]
pub(crate) struct Use {
    pub(crate) span: Span,
    pub(crate) instance: usize,
    pub(crate) op: Op,
    /// For a refusal: the answer's `error` and `error_description`.
    pub(crate) why: String,
}

impl Use {
    pub(crate) fn new(span: Span, instance: usize, op: Op) -> Use {
        Use {
            span,
            instance,
            op,
            why: String::new(),
        }
    }

    /// The same use, refused with the answer `r`.
    pub(crate) fn refused(mut self, r: &contract_tests::Reply) -> Use {
        self.why = format!("{} ({})", r.json["error"], r.json["error_description"]);
        self
    }
}

/// A revocation whose answer came back: the session is certainly revoked
/// from `span.recv` on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revocation {
    pub(crate) span: Span,
    pub(crate) instance: usize,
    pub(crate) how: &'static str,
}

impl Revocation {
    pub(crate) fn new(span: Span, instance: usize, how: &'static str) -> Revocation {
        Revocation {
            span,
            instance,
            how,
        }
    }
}

/// A logout sent, for the report of a refusal nothing explains.
pub(crate) struct Logout {
    /// The session it was sent for.
    pub(crate) session: usize,
    /// The `sid` its access token names.
    pub(crate) sid: String,
    pub(crate) span: Span,
    pub(crate) instance: usize,
    pub(crate) status: u16,
    /// Why it was sent.
    pub(crate) how: &'static str,
}

/// One login and everything that happened to it.
pub(crate) struct Session {
    pub(crate) id: usize,
    pub(crate) user: usize,
    pub(crate) login: Span,
    pub(crate) state: Mutex<State>,
}

pub(crate) struct State {
    pub(crate) access: String,
    /// When the request that issued `access` left.
    pub(crate) access_sent: Instant,
    /// The refresh tokens by generation (0 from the login).
    pub(crate) refresh: Vec<String>,
    /// 200 answers per refresh-token generation: never more than one.
    pub(crate) wins: Vec<u32>,
    /// The last successful rotation (or the login).
    pub(crate) rotated: Span,
    /// The earliest certain revocation: the one answered first.
    pub(crate) revoked: Option<Revocation>,
    /// When the first revocation that was answered left: from then on the
    /// session may be revoked. Not `revoked`'s `sent`: under load a
    /// revocation sent earlier can be answered later than another.
    pub(crate) revoked_from: Option<Instant>,
    /// Something may have revoked or rotated it without the test knowing
    /// (an outage mid-write, a logout-all racing the login, a slow race).
    pub(crate) maybe_revoked: bool,
    /// Its client gave up on it.
    pub(crate) abandoned: bool,
    /// Every 200 obtained with one of its tokens.
    pub(crate) successes: Vec<Use>,
    /// 401s on a token that should have worked.
    pub(crate) refusals: Vec<Use>,
}

impl Session {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

struct LogoutAll {
    user: usize,
    instance: usize,
    span: Span,
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) sessions: Vec<Arc<Session>>,
    /// Sessions certainly revoked, in the order that was learned.
    pub(crate) revoked: Vec<Arc<Session>>,
    logout_alls: Vec<LogoutAll>,
}

/// A 5xx answer.
pub(crate) struct ServerError {
    pub(crate) span: Span,
    pub(crate) instance: usize,
    pub(crate) what: &'static str,
    pub(crate) status: u16,
    pub(crate) body: String,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) logins: AtomicU64,
    pub(crate) login_attempts: AtomicU64,
    pub(crate) calls: AtomicU64,
    pub(crate) calls_ok: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) refreshes_ok: AtomicU64,
    pub(crate) races: AtomicU64,
    pub(crate) race_requests: AtomicU64,
    /// Races by outcome: one winner, none (refused), none (an outage), two or more.
    pub(crate) race_outcomes: [AtomicU64; 4],
    pub(crate) replays: AtomicU64,
    pub(crate) logouts: AtomicU64,
    pub(crate) cleanup_logouts: AtomicU64,
    pub(crate) revoker_logouts: AtomicU64,
    pub(crate) logout_alls: AtomicU64,
    pub(crate) logout_all_killed: AtomicU64,
    pub(crate) reuse_revocations: AtomicU64,
    pub(crate) dead_probes: AtomicU64,
    pub(crate) sweep_checks: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

pub(crate) struct World {
    pub(crate) servers: [Client; 2],
    pub(crate) deadline: Instant,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) n: Counters,
    pub(crate) errors: Mutex<Vec<ServerError>>,
    /// Answers outside the contract (a 400, an unknown error code...).
    pub(crate) oddities: Mutex<Vec<String>>,
    /// Every logout sent.
    pub(crate) logouts: Mutex<Vec<Logout>>,
    /// (kill, recovered) per injected fault.
    pub(crate) faults: Mutex<Vec<(Instant, Instant)>>,
    /// (time into the run, RSS of a, RSS of b) in KiB.
    pub(crate) rss_samples: Mutex<Vec<(Duration, u64, u64)>>,
}

impl World {
    /// Times `request` on `instance`, keeping any 5xx.
    pub(crate) async fn call(
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

    pub(crate) fn odd(&self, what: &str, reply: &Reply) {
        let msg = format!("{what}: {} {}", reply.status, reply.json);
        self.oddities.lock().unwrap().push(msg);
    }

    pub(crate) fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// Records a certain revocation of `s` (the earliest one wins).
    pub(crate) fn revoke(&self, s: &Arc<Session>, r: Revocation) {
        mark_revoked(&mut self.registry.lock().unwrap(), s, r);
    }

    /// Applies a logout-all of `user` answered 204 by instance `i`: the
    /// sessions whose login was answered before it left are revoked, those
    /// whose login overlapped it may be.
    pub(crate) fn logged_out_all(&self, user: usize, span: Span, i: usize) {
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
    pub(crate) fn register(&self, user: usize, login: Span, reply: &Reply) -> Arc<Session> {
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
                revoked_from: None,
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
    st.revoked_from = Some(st.revoked_from.map_or(r.span.sent, |t| t.min(r.span.sent)));
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
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    pub(crate) fn instance(&mut self) -> usize {
        self.below(2) as usize
    }
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}
