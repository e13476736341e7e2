//! The Redis store (feature `redis`): revocations and sessions shared by every
//! instance, atomic rotation, and per-request checks answered from a local
//! mirror.
//!
//! # How it works
//!
//! - Every write (denylisting a token, revoking a session, logout-all,
//!   creating and rotating sessions) is one Lua script, so it is atomic
//!   across instances: of concurrent rotations with one token, on any mix of
//!   instances, exactly one wins.
//! - Revocation scripts also `PUBLISH` the revocation. Each instance keeps a
//!   subscription open and applies what it hears to a local mirror (a
//!   [`MemoryStore`] holding only denylists), so [`Store::check`] is an
//!   in-memory lookup with no round trip. On every (re)subscription the mirror
//!   is resynchronized from Redis with `SCAN`, so nothing revoked while an
//!   instance was cut off is missed.
//! - While the subscription is down, checks fail closed
//!   ([`StoreError::Unavailable`], 503 from the layer); writes fail closed
//!   too. Both recover by themselves when Redis is back. A closed connection
//!   is noticed at once; a silent one (a partition) by a heartbeat: checks
//!   refuse once nothing was heard from Redis for the timeout (1 s by
//!   default), pings going out every quarter of it.
//! - Keys: `{prefix}jti:{jti}`, `{prefix}rsid:{sid}`, `{prefix}cut:{subject}`
//!   (value: the `until`, plus the cut-off), `{prefix}sess:{sid}` (a hash) and
//!   `{prefix}subj:{subject}` (the subject's sids, scored by session end,
//!   ended ones dropped at each login). Every key has a TTL equal to the
//!   lifetime of what it shadows, so nothing grows without bound. Revocations
//!   go to `{prefix}events`.
//!
//! # Deployment notes
//!
//! - Persist revocations (`appendonly yes`): running instances keep what
//!   they mirrored through a Redis restart, but an instance started after a
//!   Redis that lost its data would not learn those revocations.
//! - Pub/sub ignores the database number: deployments sharing a Redis
//!   server need distinct prefixes, not just distinct databases.
//! - The scripts build their keys from the prefix, so use a single Redis (or
//!   a primary with replicas), not Redis Cluster. Tested with Redis 7.0.
//! - A rotation whose reply is lost after Redis committed it (a timeout at
//!   the wrong moment) reports a failure; the client's retry of the same
//!   refresh token is then superseded within the reuse grace, or reuse after
//!   it. Entry TTLs are computed from the writer's clock, so a writer whose
//!   clock runs ahead keeps entries for less time by that skew.
//!
//! ```no_run
//! use std::sync::Arc;
//! use auth_core::store::RedisStore;
//! use auth_core::{Algorithm, Key, KeySet, TokenAuthority};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::builder("redis://127.0.0.1:6379").prefix("myapp:auth:").build().await?;
//! let keys = KeySet::new(Key::generate(Algorithm::EdDSA)?)?;
//! let authority = TokenAuthority::builder(keys).store(Arc::new(store)).build()?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, Script};
use futures_core::Stream;
use uuid::Uuid;

use super::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, SessionRecord,
    Store, StoreError,
};
use crate::claims::TokenRef;
use crate::clock::{Clock, SystemClock};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "auth:";
/// The default timeout for connecting and for each command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Times are capped here (year 9999) so they survive Lua's doubles and
/// Redis's expiry arithmetic.
const MAX_SECS: u64 = 253_402_300_799;

macro_rules! script {
    ($body:literal) => {
        concat!(include_str!("redis_store.lua"), "\n", $body)
    };
}

const REVOKE_TOKEN: &str = script!(
    r#"
local u, now = tonumber(ARGV[3]), tonumber(ARGV[4])
deny(ARGV[1] .. 'jti:' .. ARGV[2], u, now, ARGV[5], 'j ' .. ARGV[2] .. ' ' .. int(u))
return 1
"#
);

const REVOKE_SESSION: &str = script!(
    r#"
local live, u = revoke_sid(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])
return {int(live), int(u)}
"#
);

const REVOKE_SUBJECT: &str = script!(
    r#"
local p, sub, c, u, now, ch = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local ck = p .. 'cut:' .. sub
local old = redis.call('GET', ck)
if old then
  local oc, ou = string.match(old, '^(%d+) (%d+)$')
  if oc then
    c = math.max(c, tonumber(oc))
    u = math.max(u, tonumber(ou))
  end
end
if u > now then
  redis.call('SET', ck, int(c) .. ' ' .. int(u), 'EX', int(u - now))
end
redis.call('PUBLISH', ch, 'c ' .. int(c) .. ' ' .. int(u) .. ' ' .. sub)
local sk = p .. 'subj:' .. sub
local sids = redis.call('ZRANGE', sk, 0, -1)
redis.call('DEL', sk)
local n = 0
local out = {'', int(c), int(u)}
for _, sid in ipairs(sids) do
  local live, su = revoke_sid(p, sid, u, now, ch)
  n = n + live
  table.insert(out, sid)
  table.insert(out, int(su))
end
out[1] = int(n)
return out
"#
);

const CREATE_SESSION: &str = script!(
    r#"
local p, sid, sub, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[10])
local sk = p .. 'sess:' .. sid
redis.call('HSET', sk, 'sub', sub, 'cur', ARGV[4], 'prev', '', 'created', ARGV[5], 'last', ARGV[5],
  'rexp', ARGV[6], 'exp', ARGV[7], 'ru', ARGV[8], 'claims', ARGV[9])
local exp = tonumber(ARGV[7])
redis.call('EXPIRE', sk, int(math.max(math.min(tonumber(ARGV[6]), exp) - now, 1)))
local subj = p .. 'subj:' .. sub
-- The index is scored by each session's end: ended ones are dropped here,
-- and the key lives as long as its longest session.
redis.call('ZADD', subj, int(exp), sid)
redis.call('ZREMRANGEBYSCORE', subj, '-inf', int(now))
local last = redis.call('ZRANGE', subj, -1, -1, 'WITHSCORES')
redis.call('EXPIRE', subj, int(math.max(tonumber(last[2] or exp) - now, 1)))
return 1
"#
);

const ROTATE: &str = script!(
    r#"
local p, sid, presented, nxt, ch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[8]
local now, ttl, grace = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local sk = p .. 'sess:' .. sid
local f = redis.call('HMGET', sk, 'cur', 'prev', 'last', 'rexp', 'exp', 'ru', 'sub')
if not f[1] then
  return {'unknown'}
end
local last, rexp, exp = tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
if f[1] ~= presented then
  if math.max(now - last, 0) < grace and f[2] == presented then
    return {'superseded'}
  end
  local _, u = revoke_sid(p, sid, 0, now, ch)
  return {'reused', int(u)}
end
if now >= math.min(rexp, exp) then
  redis.call('DEL', sk)
  redis.call('ZREM', p .. 'subj:' .. f[7], sid)
  return {'expired'}
end
local nrexp = math.min(now + ttl, exp)
redis.call('HSET', sk, 'cur', nxt, 'prev', presented, 'last', int(now), 'rexp', int(nrexp))
redis.call('EXPIRE', sk, int(math.max(nrexp - now, 1)))
local out = redis.call('HGETALL', sk)
table.insert(out, 1, 'rotated')
return out
"#
);

struct Scripts {
    revoke_token: Script,
    revoke_session: Script,
    revoke_subject: Script,
    create_session: Script,
    rotate: Script,
}

/// The Redis [`Store`]; see the [module docs](self).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    channel: String,
    clock: Arc<dyn Clock>,
    mirror: MemoryStore,
    health: Arc<Health>,
    scripts: Scripts,
    /// Dropped with the store: ends the subscription task.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("in_sync", &self.inner.health.in_sync())
            .field("mirror_entries", &self.inner.mirror.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisStore`]. Defaults: prefix [`DEFAULT_PREFIX`], timeouts
/// [`DEFAULT_TIMEOUT`], the system clock.
#[derive(Debug)]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    clock: Option<Arc<dyn Clock>>,
}

impl RedisStore {
    /// A builder for the Redis at `url` (`redis://[user:pass@]host:port[/db]`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            clock: None,
        }
    }

    /// Whether the local mirror is subscribed and synchronized; while it is
    /// not, checks fail closed.
    pub fn is_in_sync(&self) -> bool {
        self.inner.health.in_sync()
    }

    /// How many revocations the local mirror holds.
    pub fn mirror_len(&self) -> usize {
        self.inner.mirror.len()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key and of the event channel. Letters, digits and
    /// `:_-.` only (it is used in `SCAN` patterns).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The timeout for connecting and for each command; past it an operation
    /// fails closed. Also how long the revocation feed may stay silent before
    /// checks fail closed. At least 10 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// The clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Connects, subscribes and loads the current revocations. Fails when
    /// Redis cannot be reached now; later outages are survived. Must run
    /// inside a Tokio runtime, which keeps the subscription task.
    pub async fn build(self) -> Result<RedisStore, StoreError> {
        if self.prefix.is_empty()
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":_-.".contains(&b))
        {
            return Err(StoreError::Unavailable(format!(
                "invalid Redis key prefix {:?}: use letters, digits and :_-.",
                self.prefix
            )));
        }
        let client = ::redis::Client::open(self.url.as_str()).map_err(error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(error)?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let mirror = MemoryStore::builder().clock(clock.clone()).build();
        let health = Arc::new(Health::new(self.timeout));
        let channel = format!("{}events", self.prefix);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (synced_tx, mut synced_rx) = tokio::sync::watch::channel(false);
        let listener = Listener {
            client,
            conn: conn.clone(),
            prefix: self.prefix.clone(),
            channel: channel.clone(),
            mirror: mirror.clone(),
            health: health.clone(),
            timeout: self.timeout,
            synced: synced_tx,
        };
        tokio::spawn(listener.run(stopped));
        let first_sync =
            tokio::time::timeout(self.timeout.saturating_mul(5), synced_rx.wait_for(|s| *s)).await;
        if !matches!(first_sync, Ok(Ok(_))) {
            return Err(StoreError::Unavailable(
                "could not subscribe to Redis and load the revocations".into(),
            ));
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                channel,
                clock,
                mirror,
                health,
                scripts: Scripts {
                    revoke_token: Script::new(REVOKE_TOKEN),
                    revoke_session: Script::new(REVOKE_SESSION),
                    revoke_subject: Script::new(REVOKE_SUBJECT),
                    create_session: Script::new(CREATE_SESSION),
                    rotate: Script::new(ROTATE),
                },
                _stop: stop,
            }),
        })
    }
}

/// Maps a Redis failure onto the store's errors: anything about reaching
/// Redis is `Unavailable` (503, retry), the rest `Backend`.
fn error(e: RedisError) -> StoreError {
    use ::redis::{ErrorKind, ServerErrorKind};
    let transient = matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
        )
    );
    if transient
        || e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

fn cap(t: u64) -> u64 {
    t.min(MAX_SECS)
}

/// A field of a script's reply.
fn parse<T: std::str::FromStr>(s: Option<&String>) -> Result<T, StoreError> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Unavailable("redis: malformed reply".into()))
}

/// A session record from `HGETALL` field/value pairs.
fn record(sid: Uuid, pairs: &[String]) -> Result<SessionRecord, StoreError> {
    let m: HashMap<&str, &String> = pairs
        .chunks_exact(2)
        .map(|kv| (kv[0].as_str(), &kv[1]))
        .collect();
    let get = |k: &str| m.get(k).copied();
    Ok(SessionRecord {
        sid,
        subject: get("sub").cloned().unwrap_or_default(),
        current_jti: parse::<Uuid>(get("cur"))?,
        previous_jti: get("prev").and_then(|p| p.parse().ok()),
        created_at: parse::<u64>(get("created"))?,
        last_refreshed_at: parse::<u64>(get("last"))?,
        refresh_expires_at: parse::<u64>(get("rexp"))?,
        expires_at: parse::<u64>(get("exp"))?,
        revoke_until: parse::<u64>(get("ru"))?,
        claims: get("claims").cloned().unwrap_or_default(),
    })
}

impl Inner {
    fn now(&self) -> u64 {
        self.clock.now()
    }

    async fn revoke_token(&self, jti: Uuid, until: u64) -> Result<(), StoreError> {
        let until = cap(until);
        let _: i64 = self
            .scripts
            .revoke_token
            .arg(&self.prefix)
            .arg(jti.to_string())
            .arg(until)
            .arg(self.now())
            .arg(&self.channel)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        self.mirror.revoke_token(jti, until).await
    }

    async fn revoke_session(&self, sid: Uuid, until: u64) -> Result<bool, StoreError> {
        let (live, until): (u64, u64) = self
            .scripts
            .revoke_session
            .arg(&self.prefix)
            .arg(sid.to_string())
            .arg(cap(until))
            .arg(self.now())
            .arg(&self.channel)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        self.mirror.revoke_session(sid, until).await?;
        Ok(live == 1)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        cutoff: u64,
        until: u64,
    ) -> Result<usize, StoreError> {
        let out: Vec<String> = self
            .scripts
            .revoke_subject
            .arg(&self.prefix)
            .arg(subject)
            .arg(cap(cutoff))
            .arg(cap(until))
            .arg(self.now())
            .arg(&self.channel)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        let revoked = parse::<u64>(out.first())?;
        let (cutoff, until) = (parse::<u64>(out.get(1))?, parse::<u64>(out.get(2))?);
        self.mirror.revoke_subject(subject, cutoff, until).await?;
        for pair in out.get(3..).unwrap_or_default().chunks_exact(2) {
            let sid = parse::<Uuid>(pair.first())?;
            self.mirror
                .revoke_session(sid, parse::<u64>(pair.get(1))?)
                .await?;
        }
        Ok(usize::try_from(revoked).unwrap_or(usize::MAX))
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .create_session
            .arg(&self.prefix)
            .arg(s.sid.to_string())
            .arg(&s.subject)
            .arg(s.refresh_jti.to_string())
            .arg(cap(s.created_at))
            .arg(cap(s.refresh_expires_at))
            .arg(cap(s.expires_at))
            .arg(cap(s.revoke_until))
            .arg(&s.claims)
            .arg(self.now().max(s.created_at))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn rotate(&self, r: Rotation) -> Result<RotateOutcome, StoreError> {
        let out: Vec<String> = self
            .scripts
            .rotate
            .arg(&self.prefix)
            .arg(r.sid.to_string())
            .arg(r.presented.to_string())
            .arg(r.next.to_string())
            .arg(cap(r.now))
            .arg(r.refresh_ttl.min(MAX_SECS))
            .arg(r.grace.min(MAX_SECS))
            .arg(&self.channel)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        Ok(match out.first().map(String::as_str) {
            Some("rotated") => RotateOutcome::Rotated(record(r.sid, &out[1..])?),
            Some("superseded") => RotateOutcome::Superseded,
            Some("reused") => {
                self.mirror
                    .revoke_session(r.sid, parse::<u64>(out.get(1))?)
                    .await?;
                RotateOutcome::Reused
            }
            Some("expired") => RotateOutcome::Expired,
            Some("unknown") => RotateOutcome::Unknown,
            _ => return Err(StoreError::Unavailable("redis: malformed reply".into())),
        })
    }

    async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let mut conn = self.conn.clone();
        let sids: Vec<String> = ::redis::cmd("ZRANGE")
            .arg(format!("{}subj:{subject}", self.prefix))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        let sids: Vec<Uuid> = sids.iter().filter_map(|s| s.parse().ok()).collect();
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for sid in &sids {
            pipe.cmd("HGETALL")
                .arg(format!("{}sess:{sid}", self.prefix));
        }
        let records: Vec<Vec<String>> = pipe.query_async(&mut conn).await.map_err(error)?;
        let now = self.now();
        let mut out = Vec::new();
        for (sid, pairs) in sids.into_iter().zip(records) {
            if pairs.is_empty() {
                continue; // expired or revoked since
            }
            let rec = record(sid, &pairs)?;
            if !rec.is_dead(now) {
                out.push(rec.info());
            }
        }
        out.sort_by_key(|s| (s.created_at, s.sid));
        Ok(out)
    }
}

impl Store for RedisStore {
    fn check(&self, token: &TokenRef<'_>) -> Check {
        if !self.inner.health.in_sync() {
            return Check::ready(Err(StoreError::Unavailable(
                "the Redis revocation feed is down".into(),
            )));
        }
        self.inner.mirror.check(token)
    }

    fn create_session(&self, session: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.inner.create_session(session))
    }

    fn rotate(&self, rotation: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        Box::pin(self.inner.rotate(rotation))
    }

    fn revoke_token(&self, jti: Uuid, until: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.inner.revoke_token(jti, until))
    }

    fn revoke_session(&self, sid: Uuid, until: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.inner.revoke_session(sid, until))
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        cutoff: u64,
        until: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(self.inner.revoke_subject(subject, cutoff, until))
    }

    fn sessions<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(self.inner.sessions(subject))
    }
}

/// The subscription task: keeps the mirror fed and says whether it is.
struct Listener {
    client: ::redis::Client,
    conn: ConnectionManager,
    prefix: String,
    channel: String,
    mirror: MemoryStore,
    health: Arc<Health>,
    timeout: Duration,
    synced: tokio::sync::watch::Sender<bool>,
}

/// Whether the mirror can be trusted: subscribed and synchronized, and heard
/// from Redis recently.
struct Health {
    synced: AtomicBool,
    epoch: Instant,
    /// Milliseconds since `epoch` when Redis last answered on the feed.
    last_heard: AtomicU64,
    silence_ms: u64,
}

impl Health {
    fn new(silence: Duration) -> Self {
        Health {
            synced: AtomicBool::new(false),
            epoch: Instant::now(),
            last_heard: AtomicU64::new(0),
            silence_ms: u64::try_from(silence.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn heard(&self) {
        self.last_heard.store(self.now_ms(), Ordering::Release);
    }

    fn set_synced(&self, synced: bool) -> bool {
        if synced {
            self.heard();
        }
        self.synced.swap(synced, Ordering::AcqRel)
    }

    fn in_sync(&self) -> bool {
        self.synced.load(Ordering::Acquire)
            && self
                .now_ms()
                .saturating_sub(self.last_heard.load(Ordering::Acquire))
                <= self.silence_ms
    }
}

impl Drop for Listener {
    /// However the task ends (the store dropped, a panic, the runtime shutting
    /// down), checks must stop trusting the mirror.
    fn drop(&mut self) {
        self.health.set_synced(false);
    }
}

impl Listener {
    async fn run(self, mut stopped: tokio::sync::oneshot::Receiver<()>) {
        let mut backoff = Duration::from_millis(50);
        loop {
            let outcome = tokio::select! {
                _ = &mut stopped => return,
                outcome = self.follow() => outcome,
            };
            let was_in_sync = self.health.set_synced(false);
            if !*self.synced.borrow() {
                tracing::warn!(error = %outcome, "Redis revocation feed not up yet");
            } else if was_in_sync {
                tracing::error!(error = %outcome, "Redis revocation feed lost: failing closed until it is back");
                backoff = Duration::from_millis(50);
            } else {
                tracing::debug!(error = %outcome, "Redis revocation feed still down");
            }
            tokio::select! {
                _ = &mut stopped => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Subscribes, resyncs, then applies events until the connection fails;
    /// returns why it stopped.
    async fn follow(&self) -> StoreError {
        let result: Result<(), StoreError> = async {
            let timed_out = || StoreError::Unavailable("redis: timed out".into());
            let mut pubsub = tokio::time::timeout(self.timeout, self.client.get_async_pubsub())
                .await
                .map_err(|_| timed_out())?
                .map_err(error)?;
            tokio::time::timeout(self.timeout, pubsub.subscribe(&self.channel))
                .await
                .map_err(|_| timed_out())?
                .map_err(error)?;
            let (mut sink, mut stream) = pubsub.split();
            let loaded = self.resync().await?;
            self.wake_writer().await?;
            // Events that arrived during the resync, before trusting the mirror.
            while let Ok(Some(msg)) = tokio::time::timeout(Duration::ZERO, next(&mut stream)).await {
                self.receive(msg).await;
            }
            self.health.set_synced(true);
            self.synced.send_replace(true);
            tracing::info!(revocations = loaded, "Redis revocation feed in sync");
            let mut ping = tokio::time::interval(self.timeout / 4);
            ping.tick().await;
            loop {
                tokio::select! {
                    msg = next(&mut stream) => match msg {
                        Some(msg) => self.receive(msg).await,
                        None => return Err(StoreError::Unavailable("redis: subscription closed".into())),
                    },
                    _ = ping.tick() => {
                        match tokio::time::timeout(self.timeout, sink.ping::<::redis::Value>()).await {
                            Ok(Ok(_)) => self.health.heard(),
                            Ok(Err(e)) => return Err(error(e)),
                            Err(_) => return Err(StoreError::Unavailable("redis: ping timed out".into())),
                        }
                    }
                }
            }
        }
        .await;
        match result {
            Ok(()) => StoreError::Unavailable("redis: subscription ended".into()),
            Err(e) => e,
        }
    }

    async fn receive(&self, msg: ::redis::Msg) {
        self.health.heard();
        match msg.get_payload::<String>() {
            Ok(payload) => self.apply(&payload).await,
            Err(e) => tracing::warn!(error = %e, "unreadable revocation event"),
        }
    }

    /// Makes the shared connection reconnect now: after a long outage it
    /// answers its next command with the last connection error and only then
    /// reconnects, which would fail one write after the feed is back.
    async fn wake_writer(&self) -> Result<(), StoreError> {
        let mut last = None;
        for _ in 0..5 {
            let mut conn = self.conn.clone();
            match ::redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(error(e)),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(last.unwrap_or_else(|| StoreError::Unavailable("redis: no answer".into())))
    }

    /// Loads every revocation from Redis into the mirror, in one `SCAN` pass
    /// over the prefix; returns how many.
    async fn resync(&self) -> Result<usize, StoreError> {
        // A connection of its own: the shared manager may still be backing
        // off from the outage.
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(error)?;
        let pattern = format!("{}*", self.prefix);
        let mut loaded = 0;
        let mut cursor: u64 = 0;
        loop {
            let (next_cursor, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(error)?;
            // Revocation keys only: `jti:`, `rsid:`, `cut:`.
            let wanted: Vec<(&'static str, &str, &String)> = keys
                .iter()
                .filter_map(|key| {
                    let rest = key.get(self.prefix.len()..)?;
                    let (kind, id) = rest.split_once(':')?;
                    let kind = match kind {
                        "jti" => "j",
                        "rsid" => "s",
                        "cut" => "c",
                        _ => return None,
                    };
                    Some((kind, id, key))
                })
                .collect();
            if !wanted.is_empty() {
                let names: Vec<&String> = wanted.iter().map(|(_, _, key)| *key).collect();
                let values: Vec<Option<String>> = ::redis::cmd("MGET")
                    .arg(&names)
                    .query_async(&mut conn)
                    .await
                    .map_err(error)?;
                for ((kind, id, _), value) in wanted.iter().zip(values) {
                    let Some(value) = value else { continue };
                    let event = if *kind == "c" {
                        format!("c {value} {id}")
                    } else {
                        format!("{kind} {id} {value}")
                    };
                    self.apply(&event).await;
                    loaded += 1;
                }
            }
            cursor = next_cursor;
            if cursor == 0 {
                return Ok(loaded);
            }
        }
    }

    /// Applies one event: `j <jti> <until>`, `s <sid> <until>` or
    /// `c <cutoff> <until> <subject>`.
    async fn apply(&self, event: &str) {
        let mut parts = event.splitn(4, ' ');
        let applied = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("j"), Some(id), Some(until), None) => match (id.parse(), until.parse()) {
                (Ok(jti), Ok(until)) => self.mirror.revoke_token(jti, until).await.is_ok(),
                _ => false,
            },
            (Some("s"), Some(id), Some(until), None) => match (id.parse(), until.parse()) {
                (Ok(sid), Ok(until)) => self.mirror.revoke_session(sid, until).await.is_ok(),
                _ => false,
            },
            (Some("c"), Some(cutoff), Some(until), Some(subject)) => {
                match (cutoff.parse(), until.parse()) {
                    (Ok(cutoff), Ok(until)) => self
                        .mirror
                        .revoke_subject(subject, cutoff, until)
                        .await
                        .is_ok(),
                    _ => false,
                }
            }
            _ => false,
        };
        if !applied {
            tracing::warn!(event, "ignored a malformed revocation event");
        }
    }
}

/// The next message of a subscription stream.
async fn next(stream: &mut ::redis::aio::PubSubStream) -> Option<::redis::Msg> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}
