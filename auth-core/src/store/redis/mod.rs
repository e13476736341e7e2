//! The Redis store (feature `redis`): see [`RedisStore`].

mod attempts;
mod builder;
mod conn;
mod feed;
mod keys;
mod replay;
mod replies;
mod scripts;

use std::fmt;
use std::sync::Arc;

use ::redis::RedisError;
use uuid::Uuid;

pub use self::builder::{DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisStoreBuilder};
use self::conn::Conn;
use self::feed::Health;
use self::replies::{MAX_SECS, cap, cap_ms, malformed, parse, record, revoked_pairs};
use self::scripts::Scripts;
use super::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, SessionRecord,
    Store,
};
use crate::claims::TokenRef;
use crate::clock::Clock;
use crate::error::StoreError;

/// How many sessions one logout-all script revokes before handing back to
/// Redis's other clients: about a millisecond of work. With the default cap
/// of 100 sessions per subject, one batch does it all.
const REVOKE_BATCH: usize = 256;
/// A logout-all gives up (fails closed, to be retried) after this many
/// batches, which only sessions created faster than it revokes them reach.
const MAX_REVOKE_BATCHES: usize = 1024;

/// The Redis store (feature `redis`): revocations and sessions shared by every
/// instance, atomic rotation, and per-request checks answered from a local
/// mirror; on a single Redis (with replicas, or not) or on Redis Cluster.
///
/// # How it works
///
/// - Every write (denylisting a token, revoking a session, logout-all,
///   creating and rotating sessions) is one Lua script, so it is atomic
///   across instances: of concurrent rotations with one token, on any mix of
///   instances, exactly one wins. Each script's work is bounded (Redis serves
///   nobody else while one runs): a subject has at most the authority's
///   `max_sessions_per_subject` live sessions, logout-all revokes them in
///   batches, and expired index entries are pruned a few at a time.
/// - Revocation scripts also `PUBLISH` the revocation. Each instance keeps a
///   subscription open and applies what it hears to a local mirror (a
///   [`MemoryStore`] holding only denylists), so [`Store::check`] is an
///   in-memory lookup with no round trip. On every (re)subscription the mirror
///   is resynchronized from the revocation indexes, so nothing revoked while
///   an instance was cut off is missed; that costs one `ZSCAN` per bucket
///   (1024 in all, 32 at a time) plus what the live revocations cost,
///   however many sessions there are, and entries it cannot read are
///   skipped (and logged), never fatal. A resync takes as long as it takes
///   (a million revocations, a slow link): it is abandoned only when Redis
///   stops answering the heartbeat, never because its commands queue past
///   the store's timeout.
/// - While the subscription is down, checks fail closed
///   ([`StoreError::Unavailable`], 503 from the layer); writes fail closed
///   too. Both recover by themselves when Redis is back. A closed connection
///   is noticed at once; a silent one (a partition) by a heartbeat: checks
///   refuse once nothing was heard from Redis for the timeout (1 s by
///   default), pings going out every quarter of it.
/// - Keys are spread over 1024 buckets, each under its own hash tag:
///   `{prefix}{bbb}:…`, `bbb` the bucket in hex. A subject's bucket (a hash
///   of the `sub`) holds its sessions `sess:{sid}` (hashes), its index
///   `subj:{subject}` (its sids in login order), its cut-off `cut:{subject}`
///   (value: the cut-off and the `until`) and its sessions' revocations
///   `rsid:{sid}` (value: the `until`); a `jti`'s bucket holds its denylist
///   entry `jti:{jti}`. Each bucket indexes its revocations in `idx`, a
///   sorted set of those key names scored by `until`. So every script
///   touches one hash slot, as Redis Cluster requires. Every key has a TTL
///   equal to the lifetime of what it shadows, so nothing grows without
///   bound. Revocations go to `{prefix}events`.
/// - It is also a DPoP replay cache ([`ReplayCache`](crate::store::ReplayCache)),
///   shared by every instance: `DpopVerifier::new(Arc::new(store.clone()))`.
///   A proof costs one round trip (`SET … NX PX` of a `dpop:{digest}` key
///   in the digest's bucket, expiring with the proof's window); the
///   revocation check beside it costs none, being answered by the mirror.
///
/// # Redis Cluster
///
/// Build with [`RedisStore::cluster_builder`] (or
/// [`RedisStoreBuilder::cluster`] for a URL from configuration), giving a
/// few nodes: the rest are discovered, and commands follow the slots
/// through redirections and failovers. Scripts declare their keys and run
/// on the primary of their bucket's slot. Revocations are `PUBLISH`ed, which
/// a cluster delivers to the subscribers of every node, so each instance
/// subscribes on one node; when that node fails it moves to another it
/// learnt from the cluster (`CLUSTER NODES`). A resync reads every bucket's
/// index, each from the primary that holds it.
///
/// Failover (a primary dies, its replica is promoted): checks fail closed
/// while the feed's node is down, or while the node sees the cluster
/// unhealthy (`cluster_state` not `ok`) or has no link to a primary that
/// serves slots (the revocations it publishes would not reach the node;
/// a node just restarted answers `ok` before its links are up), both read
/// with every heartbeat; and whenever the cluster's epoch changes (every
/// failover changes it) the mirror is resynchronized before checks trust
/// it again. Each resync reads on a cluster connection of its own, made
/// from the node the feed subscribed to, so it never queues behind the
/// writers' commands nor routes by a slot map from before the failover. Writes to the
/// failed primary's slots fail closed until its replica takes over. Redis
/// replicates asynchronously: to be sure a failover loses no acknowledged
/// revocation, give each primary a replica and
/// [`wait_for_replicas(1)`](RedisStoreBuilder::wait_for_replicas), so every
/// write is acknowledged only once a replica has it (`WAIT`); a primary
/// left without a live replica then refuses writes (fail closed) until one
/// is back. Tested on a 3-primary cluster, primaries killed with SIGKILL.
///
/// # Deployment notes
///
/// - Persist revocations (`appendonly yes`): running instances keep what
///   they mirrored through a Redis restart, but an instance started after a
///   Redis that lost its data would not learn those revocations.
/// - Pub/sub ignores the database number: deployments sharing a Redis
///   server need distinct prefixes, not just distinct databases.
/// - Needs Redis 6.2 or later; tested with Redis 7.0, single
///   and in cluster mode.
/// - Upgrading from a version whose keys had no hash tag
///   (`{prefix}jti:…`, `{prefix}sess:…`, `{prefix}idx:jti`): the layout
///   changed, and the old keys are ignored (they expire by themselves).
///   Sessions started before the upgrade are unknown, so their users log in
///   again; revocations made before it are not seen by the new version, and
///   they matter only until the access tokens they refused expire. So stop
///   every old instance and wait one access-token lifetime (plus leeway)
///   after the last revocation of concern before serving from the new
///   version, or accept that window. Running old and new instances side by
///   side does not work: they do not see each other's sessions.
/// - Upgrading with a prefix that did not end in a separator (`:`, `_`, `-`
///   or `.`): keys are now `{prefix}:…` where they were `{prefix}…`, so the
///   old keys are ignored. Sessions started before are gone (their users log
///   in again) and revocations made before are not seen: stop every old
///   instance, or wait one access-token lifetime after the last logout of
///   concern, before serving from the new version.
/// - A service that only verifies tokens (a resource server beside the
///   issuer) builds its store [`read_only`](RedisStoreBuilder::read_only):
///   it mirrors the revocations and refuses every write.
/// - A rotation whose reply is lost after Redis committed it (a timeout at
///   the wrong moment) reports a failure; the client's retry of the same
///   refresh token is then superseded within the reuse grace, or reuse after
///   it. Entry TTLs are computed from the writer's clock, so a writer whose
///   clock runs ahead keeps entries for less time by that skew; the reuse
///   grace is measured between the clocks of two instances, so their skew
///   widens or narrows it.
///
/// ```no_run
/// use std::sync::Arc;
/// use auth_core::store::RedisStore;
/// use auth_core::{Algorithm, Key, KeySet, TokenAuthority};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379").prefix("myapp:auth:").build().await?;
/// // Or on Redis Cluster, from a few of its nodes, every write on a replica too:
/// let clustered = RedisStore::cluster_builder(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
///     .prefix("myapp:auth:")
///     .wait_for_replicas(1)
///     .build()
///     .await?;
/// let keys = KeySet::new(Key::generate(Algorithm::EdDSA)?)?;
/// let authority = TokenAuthority::builder(keys).store(Arc::new(store)).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    /// The URL (of the first seed node, on a cluster) with its password masked.
    url: String,
    /// Replicas every write waits for ([`RedisStoreBuilder::wait_for_replicas`]).
    replicas: u32,
    timeout: std::time::Duration,
    prefix: String,
    channel: String,
    clock: Arc<dyn Clock>,
    mirror: MemoryStore,
    health: Arc<Health>,
    scripts: Arc<Scripts>,
    attempt_scripts: attempts::AttemptScripts,
    /// Built [`read_only`](RedisStoreBuilder::read_only): writes are refused.
    read_only: bool,
    /// Dropped with the store: ends the subscription task.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("cluster", &matches!(self.inner.conn, Conn::Cluster(_)))
            .field("prefix", &self.inner.prefix)
            .field("read_only", &self.inner.read_only)
            .field("in_sync", &self.inner.health.in_sync())
            .field("mirror_entries", &self.inner.mirror.len())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A builder for the Redis at `url` (`redis://[user:pass@]host:port[/db]`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(vec![url.into()], false)
    }

    /// A builder for a Redis Cluster, given some of its nodes
    /// (`redis://[user:pass@]host:port` each; `rediss://` for TLS): the rest
    /// are discovered. Give more than one, so a store can start while one is
    /// down.
    pub fn cluster_builder<I>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisStoreBuilder::new(nodes.into_iter().map(Into::into).collect(), true)
    }

    /// Whether the local mirror is subscribed and synchronized; while it is
    /// not, checks fail closed.
    pub fn is_in_sync(&self) -> bool {
        self.inner.health.in_sync()
    }

    /// How many times the mirror was resynchronized since the first sync:
    /// once after every outage of the feed (a lost connection, a silent
    /// Redis, a cluster failover), each preceded by checks failing closed.
    /// For monitoring and tests.
    pub fn resyncs(&self) -> u64 {
        self.inner.health.syncs().saturating_sub(1)
    }

    /// How many revocations the local mirror holds.
    pub fn mirror_len(&self) -> usize {
        self.inner.mirror.len()
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
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask
        )
    ) || matches!(e.kind(), ErrorKind::ClusterConnectionNotFound);
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

impl Inner {
    fn now(&self) -> u64 {
        self.clock.now()
    }

    fn writable(&self, what: &'static str) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly(what));
        }
        Ok(())
    }

    /// After a write to the bucket of `base`: waits for the replicas asked
    /// for, if any.
    async fn durable(&self, base: &str) -> Result<(), StoreError> {
        self.conn
            .clone()
            .wait(base, self.replicas, self.timeout)
            .await
    }

    async fn revoke_token(&self, jti: Uuid, until: u64) -> Result<(), StoreError> {
        self.writable("revoke tokens")?;
        let until = cap(until);
        let id = jti.to_string();
        let p = keys::base_of(&self.prefix, &id);
        let _: i64 = self
            .scripts
            .revoke_token
            .key(format!("{p}jti:{id}"))
            .key(format!("{p}idx"))
            .arg(&p)
            .arg(&id)
            .arg(until)
            .arg(self.now())
            .arg(&self.channel)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        self.durable(&p).await?;
        self.mirror.revoke_token(jti, until).await
    }

    async fn revoke_session(
        &self,
        sid: Uuid,
        subject: &str,
        until: u64,
    ) -> Result<bool, StoreError> {
        self.writable("revoke sessions")?;
        let p = keys::base_of(&self.prefix, subject);
        let (live, until): (u64, u64) = self
            .scripts
            .revoke_session
            .key(format!("{p}sess:{sid}"))
            .key(format!("{p}subj:{subject}"))
            .key(format!("{p}rsid:{sid}"))
            .key(format!("{p}idx"))
            .arg(&p)
            .arg(sid.to_string())
            .arg(cap(until))
            .arg(self.now())
            .arg(&self.channel)
            .arg(subject)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        self.durable(&p).await?;
        self.mirror.deny_session(sid, until);
        Ok(live == 1)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        cutoff: u64,
        until: u64,
    ) -> Result<usize, StoreError> {
        self.writable("revoke subjects")?;
        let p = keys::base_of(&self.prefix, subject);
        let mut revoked: u64 = 0;
        for batch in 0..MAX_REVOKE_BATCHES {
            let out: Vec<String> = self
                .scripts
                .revoke_subject
                .key(format!("{p}cut:{subject}"))
                .key(format!("{p}idx"))
                .key(format!("{p}subj:{subject}"))
                .arg(&p)
                .arg(subject)
                .arg(cap(cutoff))
                .arg(cap(until))
                .arg(self.now())
                .arg(&self.channel)
                .arg(REVOKE_BATCH)
                .arg(u8::from(batch == 0))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(error)?;
            self.durable(&p).await?;
            revoked = revoked.saturating_add(parse::<u64>(out.first())?);
            if batch == 0 {
                let (cutoff, until) = (parse::<u64>(out.get(1))?, parse::<u64>(out.get(2))?);
                self.mirror.revoke_subject(subject, cutoff, until).await?;
            }
            for (sid, until) in revoked_pairs(out.get(4..).unwrap_or_default())? {
                self.mirror.deny_session(sid, until);
            }
            if parse::<u64>(out.get(3))? == 0 {
                return Ok(usize::try_from(revoked).unwrap_or(usize::MAX));
            }
        }
        Err(StoreError::Unavailable(
            "logout-all: sessions kept appearing faster than they were revoked".into(),
        ))
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        self.writable("create sessions")?;
        let now_ms = cap_ms(
            self.clock
                .now_millis()
                .max(s.created_at.saturating_mul(1000)),
        );
        let p = keys::base_of(&self.prefix, &s.subject);
        let evicted: Vec<String> = self
            .scripts
            .create_session
            .key(format!("{p}sess:{}", s.sid))
            .key(format!("{p}subj:{}", s.subject))
            .key(format!("{p}idx"))
            .arg(&p)
            .arg(s.sid.to_string())
            .arg(&s.subject)
            .arg(s.refresh_jti.to_string())
            .arg(cap(s.created_at))
            .arg(cap(s.refresh_expires_at))
            .arg(cap(s.expires_at))
            .arg(cap(s.revoke_until))
            .arg(&s.claims)
            .arg(now_ms / 1000)
            .arg(cap(s.created_at) * 1000)
            .arg(now_ms)
            .arg(s.max_sessions.max(1))
            .arg(&self.channel)
            .arg(s.device.as_deref().unwrap_or(""))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        self.durable(&p).await?;
        for (sid, until) in revoked_pairs(&evicted)? {
            tracing::debug!(%sid, "session cap reached: oldest session revoked");
            self.mirror.deny_session(sid, until);
        }
        Ok(())
    }

    async fn rotate(&self, r: Rotation) -> Result<RotateOutcome, StoreError> {
        self.writable("rotate refresh tokens")?;
        let now_ms = cap_ms(r.now_ms);
        let p = keys::base_of(&self.prefix, &r.subject);
        let out: Vec<String> = self
            .scripts
            .rotate
            .key(format!("{p}sess:{}", r.sid))
            .key(format!("{p}subj:{}", r.subject))
            .key(format!("{p}rsid:{}", r.sid))
            .key(format!("{p}idx"))
            .arg(&p)
            .arg(r.sid.to_string())
            .arg(r.presented.to_string())
            .arg(r.next.to_string())
            .arg(now_ms / 1000)
            .arg(r.refresh_ttl.min(MAX_SECS))
            .arg(cap_ms(r.grace_ms))
            .arg(&self.channel)
            .arg(now_ms)
            .arg(&r.subject)
            .arg(r.claims.as_deref().unwrap_or_default())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        self.durable(&p).await?;
        Ok(match out.first().map(String::as_str) {
            Some("rotated") => RotateOutcome::Rotated(record(r.sid, &out[1..])?),
            Some("superseded") => RotateOutcome::Superseded,
            Some("reused") => {
                self.mirror.deny_session(r.sid, parse::<u64>(out.get(1))?);
                RotateOutcome::Reused
            }
            Some("expired") => RotateOutcome::Expired,
            Some("unknown") => RotateOutcome::Unknown,
            _ => return Err(malformed()),
        })
    }

    async fn session(&self, sid: Uuid, subject: &str) -> Result<Option<SessionRecord>, StoreError> {
        let p = keys::base_of(&self.prefix, subject);
        let pairs: Vec<String> = ::redis::cmd("HGETALL")
            .arg(format!("{p}sess:{sid}"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        if pairs.is_empty() {
            return Ok(None);
        }
        let rec = record(sid, &pairs)?;
        Ok((rec.subject == subject).then_some(rec))
    }

    async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let mut conn = self.conn.clone();
        let p = keys::base_of(&self.prefix, subject);
        let sids: Vec<String> = ::redis::cmd("ZRANGE")
            .arg(format!("{p}subj:{subject}"))
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
            pipe.cmd("HGETALL").arg(format!("{p}sess:{sid}"));
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
        // Stable: logins in the same second stay in login order.
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }
}

impl Store for RedisStore {
    fn attempts(&self) -> Option<&dyn crate::store::attempts::AttemptStore> {
        Some(self)
    }

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

    fn revoke_session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.inner.revoke_session(sid, subject, until))
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

    fn session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(self.inner.session(sid, subject))
    }

    /// The local mirror keeps session and subject revocations for one
    /// access-token lifetime (plus leeway) after they are made; Redis keeps
    /// them longer, for the session records' sake.
    fn set_access_window(&self, window: std::time::Duration) {
        self.inner.mirror.set_access_window(window);
    }
}
