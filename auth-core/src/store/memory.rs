//! The in-memory store: the default, and the reference semantics.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use uuid::Uuid;

use super::attempts::{AttemptStore, DEFAULT_MAX_TRACKED, MemoryAttempts};
use super::{
    BoxFuture, Check, NewSession, RotateOutcome, RotateVerdict, Rotation, SessionInfo,
    SessionRecord, Store, Verdict,
};
use crate::claims::TokenRef;
use crate::clock::{Clock, SystemClock};
use crate::error::RevokedBy;
use crate::error::StoreError;

/// The default purge interval: a minute. Expired entries are refused by
/// their own `exp` anyway, so the purge only bounds memory; once a minute
/// keeps that near the live tokens at a negligible cost.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// A [`Store`] in process memory, on [`DashMap`]s: the default store, right for
/// a single instance. Everything is lost on restart (sessions end; tokens
/// signed with a persistent key stay valid until they expire unless revoked
/// again), so run several instances on the Redis store instead.
///
/// Entries are purged once the token they shadow has expired: by a background
/// task every [`DEFAULT_PURGE_INTERVAL`] when built inside a Tokio runtime
/// (the task ends when the store is dropped), and by
/// [`MemoryStore::purge_expired`] on demand. Memory is thus bounded by the
/// live tokens and sessions.
///
/// ```
/// use auth_core::store::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryStore::builder().purge_interval(None).build();
/// assert_eq!(store.purge_expired(), 0);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clock: Arc<dyn Clock>,
    /// Denylisted `jti` → until.
    tokens: DashMap<Uuid, u64>,
    /// Revoked `sid` → until.
    revoked_sessions: DashMap<Uuid, u64>,
    /// Subject → (cut-off second, until).
    cutoffs: DashMap<String, (u64, u64)>,
    /// Live sessions.
    sessions: DashMap<Uuid, SessionRecord>,
    /// The login throttle's counters.
    attempts: MemoryAttempts,
    /// How long a session or subject revocation stays in the denylist
    /// [`check`](Store::check) reads, in seconds (see
    /// [`Store::set_access_window`]); `u64::MAX` until told.
    window: AtomicU64,
    /// Subject → its live session ids, in login order. Lock order:
    /// `by_subject`, then `sessions`.
    by_subject: DashMap<String, SubjectSessions>,
}

/// A subject's sessions in login order, so the oldest goes first when a
/// login passes the cap (logins in the same second keep their order).
#[derive(Debug, Default)]
struct SubjectSessions {
    next: u64,
    by_order: BTreeMap<u64, Uuid>,
    order_of: HashMap<Uuid, u64>,
}

impl SubjectSessions {
    fn insert(&mut self, sid: Uuid) {
        let n = self.next;
        self.next += 1;
        self.by_order.insert(n, sid);
        self.order_of.insert(sid, n);
    }

    fn remove(&mut self, sid: Uuid) {
        if let Some(n) = self.order_of.remove(&sid) {
            self.by_order.remove(&n);
        }
    }

    fn len(&self) -> usize {
        self.order_of.len()
    }

    fn is_empty(&self) -> bool {
        self.order_of.is_empty()
    }

    /// Oldest first.
    fn iter(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.by_order.values().copied()
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryStoreBuilder {
    clock: Arc<dyn Clock>,
    purge_interval: Option<Duration>,
    max_tracked_attempts: usize,
}

impl MemoryStoreBuilder {
    /// The clock that decides what has expired (default: [`SystemClock`]).
    /// Use the authority's clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How often the background task purges expired entries; `None` for no
    /// task (then call [`MemoryStore::purge_expired`] yourself). Default
    /// [`DEFAULT_PURGE_INTERVAL`]. The task is only started inside a Tokio runtime.
    pub fn purge_interval(mut self, every: Option<Duration>) -> Self {
        self.purge_interval = every;
        self
    }

    /// The most login-throttle counters kept (default 100 000,
    /// [`DEFAULT_MAX_TRACKED`]); see [`MemoryAttempts`].
    pub fn max_tracked_attempts(mut self, max: usize) -> Self {
        self.max_tracked_attempts = max;
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let store = MemoryStore {
            inner: Arc::new(Inner {
                clock: self.clock,
                tokens: DashMap::new(),
                revoked_sessions: DashMap::new(),
                cutoffs: DashMap::new(),
                sessions: DashMap::new(),
                by_subject: DashMap::new(),
                window: AtomicU64::new(u64::MAX),
                attempts: MemoryAttempts::new(self.max_tracked_attempts),
            }),
        };
        if let (Some(every), Ok(rt)) = (self.purge_interval, tokio::runtime::Handle::try_current())
        {
            rt.spawn(purge_task(
                Arc::downgrade(&store.inner),
                every.max(Duration::from_millis(10)),
            ));
        }
        store
    }
}

async fn purge_task(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let purged = inner.purge();
        if purged > 0 {
            tracing::debug!(purged, "memory store purged expired entries");
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store on the system clock, with the default purge task.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to set the clock or the purge interval.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            clock: Arc::new(SystemClock),
            purge_interval: Some(DEFAULT_PURGE_INTERVAL),
            max_tracked_attempts: DEFAULT_MAX_TRACKED,
        }
    }

    /// Drops every entry whose token has expired, and sessions that can no
    /// longer be refreshed. Returns how many entries went.
    pub fn purge_expired(&self) -> usize {
        self.inner.purge()
    }

    /// How many entries the store holds (denylisted tokens, revoked sessions,
    /// cut-offs, live sessions), for metrics and tests.
    pub fn len(&self) -> usize {
        let i = &self.inner;
        i.tokens.len() + i.revoked_sessions.len() + i.cutoffs.len() + i.sessions.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Denylists a session id until `until` (a mirror of revocations made
    /// elsewhere: there is no session record here to remove).
    #[cfg(feature = "redis")]
    pub(crate) fn deny_session(&self, sid: Uuid, until: u64) {
        self.inner.deny_session(sid, until);
    }
}

/// Shrinks a map holding less than a quarter of what it has room for
/// (beyond a small floor, so small maps do not churn).
fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(map: &DashMap<K, V>) {
    let capacity = map.capacity();
    if capacity > 4096 && map.len() < capacity / 4 {
        map.shrink_to_fit();
    }
}

impl Inner {
    fn purge(&self) -> usize {
        let now = self.clock.now();
        let mut purged = self.attempts.purge(self.clock.now_millis());
        let mut count = |kept: bool| {
            if !kept {
                purged += 1;
            }
            kept
        };
        self.tokens.retain(|_, until| count(*until > now));
        self.revoked_sessions.retain(|_, until| count(*until > now));
        self.cutoffs.retain(|_, (_, until)| count(*until > now));
        let mut dead = Vec::new();
        self.sessions.retain(|sid, rec| {
            let alive = !rec.is_dead(now);
            if !alive {
                dead.push((rec.subject.clone(), *sid));
            }
            count(alive)
        });
        for (subject, sid) in dead {
            self.unindex(&subject, sid);
        }
        // A table keeps its capacity when entries go: after a burst of
        // revocations has expired, give the memory back.
        shrink_if_sparse(&self.tokens);
        shrink_if_sparse(&self.revoked_sessions);
        shrink_if_sparse(&self.cutoffs);
        shrink_if_sparse(&self.sessions);
        purged
    }

    /// `until`, but no later than the access window from now: how long a
    /// session or subject revocation has to stay in the denylist.
    fn capped(&self, until: u64) -> u64 {
        let window = self.window.load(Ordering::Relaxed);
        until.min(self.clock.now().saturating_add(window))
    }

    fn unindex(&self, subject: &str, sid: Uuid) {
        if let Some(mut set) = self.by_subject.get_mut(subject) {
            set.remove(sid);
        }
        self.by_subject.remove_if(subject, |_, set| set.is_empty());
    }

    /// Removes a session and denylists its id.
    fn revoke_session(&self, sid: Uuid, until: u64) -> bool {
        self.revoke_session_of(sid, None, until)
    }

    /// Removes a session (only if it belongs to `subject`, when given) and
    /// denylists its id.
    fn revoke_session_of(&self, sid: Uuid, subject: Option<&str>, until: u64) -> bool {
        let removed = self
            .sessions
            .remove_if(&sid, |_, rec| subject.is_none_or(|s| rec.subject == s));
        match removed {
            Some((_, rec)) => {
                self.revoked_sessions
                    .insert(sid, self.capped(rec.revoke_until.max(until)));
                self.unindex(&rec.subject, sid);
                true
            }
            None => {
                self.deny_session(sid, until);
                false
            }
        }
    }

    fn deny_session(&self, sid: Uuid, until: u64) {
        let until = self.capped(until);
        self.revoked_sessions
            .entry(sid)
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
    }

    fn check(&self, t: &TokenRef<'_>) -> Verdict {
        if self.tokens.contains_key(&t.jti) {
            Verdict::Revoked(RevokedBy::Token)
        } else if self.revoked_sessions.contains_key(&t.sid) {
            Verdict::Revoked(RevokedBy::Session)
        } else if self.cutoffs.get(t.sub).is_some_and(|c| t.iat < c.0) {
            Verdict::Revoked(RevokedBy::Subject)
        } else {
            Verdict::Allowed
        }
    }

    fn rotate(&self, r: &Rotation) -> RotateOutcome {
        // The verdict and the swap happen under the session's shard lock, so
        // of concurrent rotations with one token exactly one sees it current.
        let verdict = match self.sessions.get_mut(&r.sid) {
            // A session is only found under its own subject, as in a store
            // sharded by subject.
            Some(rec) if rec.subject != r.subject => return RotateOutcome::Unknown,
            None => return RotateOutcome::Unknown,
            Some(mut rec) => match rec.judge(r) {
                RotateVerdict::Rotate => {
                    rec.rotate(r);
                    return RotateOutcome::Rotated(rec.clone());
                }
                v => v,
            },
        };
        match verdict {
            RotateVerdict::Superseded => RotateOutcome::Superseded,
            RotateVerdict::Reused => {
                self.revoke_session(r.sid, 0);
                RotateOutcome::Reused
            }
            _ => {
                // Only if still dead: a rotation that won in between keeps it.
                if let Some((_, rec)) = self
                    .sessions
                    .remove_if(&r.sid, |_, rec| rec.is_dead(r.now()))
                {
                    self.unindex(&rec.subject, r.sid);
                }
                RotateOutcome::Expired
            }
        }
    }

    fn create_session(&self, s: NewSession) {
        let (sid, max) = (s.sid, s.max_sessions.max(1));
        // Hold the subject's entry while inserting and enforcing the cap, so
        // a concurrent logout-all or login either sees all of it or none.
        let mut set = self.by_subject.entry(s.subject.clone()).or_default();
        set.insert(sid);
        self.sessions.insert(sid, SessionRecord::new(s));
        if set.len() <= max {
            return;
        }
        // Past the cap: first drop the sessions that ended by themselves
        // (the purge had not come yet), then revoke the oldest live ones.
        let now = self.clock.now();
        let ended: Vec<Uuid> = set
            .iter()
            .filter(|sid| self.sessions.get(sid).is_none_or(|r| r.is_dead(now)))
            .collect();
        for old in ended {
            set.remove(old);
            self.sessions.remove(&old);
        }
        while set.len() > max {
            let Some(oldest) = set.iter().next() else {
                break;
            };
            set.remove(oldest);
            if let Some((_, rec)) = self.sessions.remove(&oldest) {
                self.deny_session(oldest, rec.revoke_until);
            }
        }
    }

    fn revoke_subject(&self, subject: &str, cutoff: u64, until: u64) -> usize {
        let until = self.capped(until);
        self.cutoffs
            .entry(subject.to_owned())
            .and_modify(|c| *c = (c.0.max(cutoff), c.1.max(until)))
            .or_insert((cutoff, until));
        let sids = self
            .by_subject
            .remove(subject)
            .map(|(_, s)| s)
            .unwrap_or_default();
        let mut revoked = 0;
        for sid in sids.by_order.into_values() {
            if self.revoke_session(sid, until) {
                revoked += 1;
            }
        }
        revoked
    }

    fn sessions(&self, subject: &str) -> Vec<SessionInfo> {
        let now = self.clock.now();
        let sids: Vec<Uuid> = self
            .by_subject
            .get(subject)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        let mut out: Vec<SessionInfo> = sids
            .into_iter()
            .filter_map(|sid| self.sessions.get(&sid).map(|r| r.clone()))
            .filter(|r| !r.is_dead(now))
            .map(|r| r.info())
            .collect();
        // Stable: logins in the same second stay in login order.
        out.sort_by_key(|s| s.created_at);
        out
    }
}

impl Store for MemoryStore {
    fn check(&self, token: &TokenRef<'_>) -> Check {
        Check::ready(Ok(self.inner.check(token)))
    }

    fn attempts(&self) -> Option<&dyn AttemptStore> {
        Some(&self.inner.attempts)
    }

    fn create_session(&self, session: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.create_session(session);
        Box::pin(std::future::ready(Ok(())))
    }

    fn rotate(&self, rotation: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        Box::pin(std::future::ready(Ok(self.inner.rotate(&rotation))))
    }

    fn revoke_token(&self, jti: Uuid, until: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner
            .tokens
            .entry(jti)
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
        Box::pin(std::future::ready(Ok(())))
    }

    fn revoke_session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.inner.revoke_session_of(
            sid,
            Some(subject),
            until,
        ))))
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        cutoff: u64,
        until: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(std::future::ready(Ok(self
            .inner
            .revoke_subject(subject, cutoff, until))))
    }

    fn sessions<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.inner.sessions(subject))))
    }

    fn session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        let record = self
            .inner
            .sessions
            .get(&sid)
            .filter(|r| r.subject == subject)
            .map(|r| r.clone());
        Box::pin(std::future::ready(Ok(record)))
    }

    fn set_access_window(&self, window: Duration) {
        // Whole seconds, rounded up.
        let secs = window.as_secs() + u64::from(window.subsec_nanos() > 0);
        // The largest window wins: a shorter one would forget revocations
        // that a longer-lived token still needs.
        let _ = self
            .inner
            .window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some(if w == u64::MAX { secs } else { w.max(secs) })
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn a_purge_gives_back_the_room_of_expired_entries() {
        let clock = Arc::new(ManualClock::starting_now());
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .purge_interval(None)
            .build();
        let until = clock.now() + 10;
        for _ in 0..50_000 {
            store.revoke_token(Uuid::new_v4(), until).await.unwrap();
        }
        let full = store.inner.tokens.capacity();
        assert!(full >= 50_000);
        clock.advance(Duration::from_secs(11));
        assert_eq!(store.purge_expired(), 50_000);
        let after = store.inner.tokens.capacity();
        assert!(after < full / 8, "capacity {full} -> {after}");
    }
}
