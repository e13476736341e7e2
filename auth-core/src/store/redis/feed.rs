//! The revocation feed: a subscription task that keeps the local mirror in
//! step with Redis, resynchronizes it from the revocation indexes on every
//! (re)subscription, and tells checks whether the mirror can be trusted.
//! On Redis Cluster it subscribes on one node (a `PUBLISH` reaches every
//! node's subscribers), moves to another when that one fails, and resyncs
//! whenever the cluster's configuration changes (a failover).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::{ConnectionAddr, ConnectionInfo};
use futures_core::Stream;
use uuid::Uuid;

use super::conn::{Conn, cluster_client};
use super::keys::{BUCKETS, base};
use super::{error, short};
use crate::clock::Clock;
use crate::store::{MemoryStore, Store, StoreError};

/// How many entries one `ZSCAN` step asks for.
const PAGE: usize = 1000;
/// The limit on one command of a resync, queueing on its connection
/// included: a backstop for a reader connection that dies silently while
/// Redis still answers the heartbeat. Whether Redis answers at all is the
/// heartbeat's to judge, within the store's timeout; a resync whose
/// commands keep finishing (a million revocations, a slow link) is never
/// cut off by that timeout.
pub(super) const RESYNC_COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How many buckets a resync reads at once.
const PARALLEL: usize = 32;
/// The most cluster nodes remembered as places to subscribe.
const MAX_NODES: usize = 64;
/// Unreadable entries are each logged once; past this many distinct ones,
/// no more are remembered (nor logged).
const MAX_WARNED: usize = 1024;

/// The kinds of revocation, each with its key family and its index.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Token,
    Session,
    Subject,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Token, Kind::Session, Kind::Subject];

    /// The key family: keys `{base}{family}:{id}`, indexed by that name
    /// (without the base) in the bucket's `{base}idx`.
    fn family(self) -> &'static str {
        match self {
            Kind::Token => "jti",
            Kind::Session => "rsid",
            Kind::Subject => "cut",
        }
    }
}

/// Where the feed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not subscribed (yet, or any more).
    Down,
    /// Subscribed, loading the revocations.
    Loading,
    /// Subscribed and synchronized.
    InSync,
}

/// The subscription task: keeps the mirror fed and says whether it is.
pub(super) struct Listener {
    /// Where to subscribe: the Redis, or a cluster's seed nodes (the other
    /// nodes are learnt from the cluster).
    pub(super) nodes: Vec<ConnectionInfo>,
    /// On Redis Cluster.
    pub(super) cluster: bool,
    /// The store's shared connection, woken after an outage (single Redis).
    pub(super) conn: Conn,
    pub(super) prefix: String,
    pub(super) channel: String,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) mirror: MemoryStore,
    pub(super) health: Arc<Health>,
    pub(super) timeout: Duration,
    /// Where the feed is, for the first sync to wait on.
    pub(super) phase: tokio::sync::watch::Sender<Phase>,
    /// Unreadable entries already logged.
    pub(super) warned: Mutex<HashSet<Vec<u8>>>,
}

/// Whether the mirror can be trusted: subscribed and synchronized, and heard
/// from Redis recently.
pub(super) struct Health {
    synced: AtomicBool,
    epoch: Instant,
    /// Milliseconds since `epoch` when Redis last answered on the feed.
    last_heard: AtomicU64,
    silence_ms: u64,
    /// Synchronizations completed, the first included.
    syncs: AtomicU64,
}

impl Health {
    pub(super) fn new(silence: Duration) -> Self {
        Health {
            synced: AtomicBool::new(false),
            epoch: Instant::now(),
            last_heard: AtomicU64::new(0),
            silence_ms: u64::try_from(silence.as_millis()).unwrap_or(u64::MAX),
            syncs: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn heard(&self) {
        self.last_heard.store(self.now_ms(), Ordering::Release);
    }

    fn set_synced(&self, synced: bool) -> bool {
        crate::metrics::feed_up(synced);
        if synced {
            self.heard();
            self.syncs.fetch_add(1, Ordering::AcqRel);
        }
        self.synced.swap(synced, Ordering::AcqRel)
    }

    /// Synchronizations completed, the first included.
    pub(super) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Acquire)
    }

    pub(super) fn in_sync(&self) -> bool {
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
    pub(super) async fn run(self, mut stopped: tokio::sync::oneshot::Receiver<()>) {
        let mut backoff = Duration::from_millis(50);
        let mut nodes = self.nodes.clone();
        let mut attempt = 0usize;
        loop {
            // Never empty: the builder has at least one node.
            let Some(node) = nodes.get(attempt % nodes.len().max(1)).cloned() else {
                return;
            };
            let outcome = tokio::select! {
                _ = &mut stopped => return,
                outcome = self.follow(&node, &mut nodes) => outcome,
            };
            // The next attempt tries the next node (on a cluster).
            attempt = attempt.wrapping_add(1);
            let was_in_sync = self.health.set_synced(false);
            self.phase.send_replace(Phase::Down);
            // Never in sync yet: starting, not an outage.
            if self.health.syncs() == 0 {
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

    /// Subscribes on `node`, resyncs, then applies events until the
    /// connection fails (or, on a cluster, its configuration changes);
    /// returns why it stopped. Learns the cluster's nodes into `nodes`.
    async fn follow(&self, node: &ConnectionInfo, nodes: &mut Vec<ConnectionInfo>) -> StoreError {
        let result: Result<(), StoreError> = async {
            let client = ::redis::Client::open(node.clone()).map_err(error)?;
            let mut pubsub = tokio::time::timeout(self.timeout, client.get_async_pubsub())
                .await
                .map_err(|_| timed_out())?
                .map_err(error)?;
            tokio::time::timeout(self.timeout, pubsub.subscribe(&self.channel))
                .await
                .map_err(|_| timed_out())?
                .map_err(error)?;
            let (mut sink, mut stream) = pubsub.split();
            let mut direct = connect(&client, self.timeout, self.timeout).await?;
            // On a cluster: only a healthy one is trusted, and the epoch it
            // was read at tells when a failover happens.
            let epoch = if self.cluster {
                let epoch = cluster_epoch(&mut direct).await?;
                learn_nodes(&mut direct, node, nodes).await;
                Some(epoch)
            } else {
                None
            };
            // Resyncs read on connections of their own: never queued behind
            // the writers' commands (a `WAIT` blocks its connection until
            // replicas answer), nor behind a manager still backing off. On a
            // cluster, a fresh cluster connection discovers the slots from
            // the node just subscribed to, known to be up: a connection made
            // before a failover may still route to the dead primary.
            // Their commands may queue (32 buckets at a time, pages of a
            // thousand entries): each has a generous limit of its own, and
            // Redis's liveness is judged by the heartbeat, which goes on
            // during the resync on the subscription's connection.
            let reader = if self.cluster {
                cluster_reader(node, nodes, self.timeout).await?
            } else {
                Conn::Direct(connect(&client, self.timeout, RESYNC_COMMAND_LIMIT).await?)
            };
            self.phase.send_replace(Phase::Loading);
            let loaded = tokio::select! {
                loaded = self.resync(reader) => loaded?,
                stopped = self.heartbeat(&mut sink, &mut direct, epoch) => return Err(stopped),
            };
            if !self.cluster {
                self.wake_writer().await?;
            }
            // Events that arrived during the resync, before trusting the mirror.
            while let Ok(Some(msg)) = tokio::time::timeout(Duration::ZERO, next(&mut stream)).await {
                self.receive(msg).await;
            }
            self.health.set_synced(true);
            self.phase.send_replace(Phase::InSync);
            tracing::info!(revocations = loaded, "Redis revocation feed in sync");
            let mut ping = tokio::time::interval(self.timeout / 4);
            ping.tick().await;
            loop {
                tokio::select! {
                    msg = next(&mut stream) => match msg {
                        Some(msg) => self.receive(msg).await,
                        None => return Err(StoreError::Unavailable("redis: subscription closed".into())),
                    },
                    _ = ping.tick() => self.beat(&mut sink, &mut direct, epoch).await?,
                }
            }
        }
        .await;
        match result {
            Ok(()) => StoreError::Unavailable("redis: subscription ended".into()),
            Err(e) => e,
        }
    }

    /// Beats until a beat fails; returns why. Runs beside a resync, so a
    /// long one is abandoned as soon as Redis stops answering, and only then.
    async fn heartbeat(
        &self,
        sink: &mut ::redis::aio::PubSubSink,
        direct: &mut MultiplexedConnection,
        epoch: Option<u64>,
    ) -> StoreError {
        let mut ping = tokio::time::interval(self.timeout / 4);
        ping.tick().await;
        loop {
            ping.tick().await;
            if let Err(e) = self.beat(sink, direct, epoch).await {
                return e;
            }
        }
    }

    /// One heartbeat: a `PING` on the subscription answered within the
    /// timeout and, on a cluster, the cluster still healthy at the same
    /// epoch (else a failover happened: resync).
    async fn beat(
        &self,
        sink: &mut ::redis::aio::PubSubSink,
        direct: &mut MultiplexedConnection,
        epoch: Option<u64>,
    ) -> Result<(), StoreError> {
        match tokio::time::timeout(self.timeout, sink.ping::<::redis::Value>()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(error(e)),
            Err(_) => return Err(StoreError::Unavailable("redis: ping timed out".into())),
        }
        if let Some(epoch) = epoch
            && cluster_epoch(direct).await? != epoch
        {
            return Err(StoreError::Unavailable(
                "redis cluster: configuration changed (a failover?): resyncing".into(),
            ));
        }
        self.health.heard();
        Ok(())
    }

    async fn receive(&self, msg: ::redis::Msg) {
        self.health.heard();
        match msg.get_payload::<String>() {
            Ok(payload) => self.apply(&payload).await,
            Err(_) => self.skip("event", msg.get_payload_bytes()),
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

    /// Loads the live revocations into the mirror from the revocation
    /// indexes of every bucket (`ZSCAN`, which returns every entry present
    /// for the whole scan; entries added meanwhile arrive on the
    /// subscription, opened before), a few buckets at a time. Reads nothing
    /// else: its cost follows the revocations, not the sessions. Entries it
    /// cannot read are skipped and logged once. Returns how many revocations
    /// it loaded.
    async fn resync(&self, conn: Conn) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut buckets = 0..BUCKETS;
        let mut loaded = 0;
        loop {
            while tasks.len() < PARALLEL {
                let Some(b) = buckets.next() else { break };
                let read = read_bucket(conn.clone(), base(&self.prefix, b));
                tasks.spawn(read);
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let entries = joined
                .map_err(|_| StoreError::Unavailable("redis: a resync task failed".into()))??;
            loaded += self.load(entries, now).await;
        }
        Ok(loaded)
    }

    /// Applies what [`read_bucket`] read; returns how many revocations it
    /// loaded.
    async fn load(&self, entries: BucketEntries, now: u64) -> usize {
        let mut loaded = 0;
        for member in entries.unknown {
            self.skip("index", &member);
        }
        for (kind, member, score) in entries.indexed {
            let Some(until) = parse_time(&score) else {
                self.skip(kind.family(), &member);
                continue;
            };
            if until <= now {
                continue; // expired; pruned by a later write
            }
            let applied = match (kind, parse_uuid(&member)) {
                (Kind::Token, Some(jti)) => self.mirror.revoke_token(jti, until).await.is_ok(),
                (Kind::Session, Some(sid)) => {
                    self.mirror.deny_session(sid, until);
                    true
                }
                _ => false,
            };
            if applied {
                loaded += 1;
            } else {
                self.skip(kind.family(), &member);
            }
        }
        for (subject, value) in entries.cutoffs {
            let Some(value) = value else { continue }; // expired since
            let parsed = std::str::from_utf8(&subject).ok().zip(parse_cutoff(&value));
            match parsed {
                Some((subject, (cutoff, until))) if until > now => {
                    if self
                        .mirror
                        .revoke_subject(subject, cutoff, until)
                        .await
                        .is_ok()
                    {
                        loaded += 1;
                    }
                }
                Some(_) => {}
                None => self.skip("cut", &subject),
            }
        }
        loaded
    }

    /// Logs an entry that cannot be read, once per entry, in a short lossy
    /// form.
    fn skip(&self, what: &'static str, raw: &[u8]) {
        let first = match self.warned.lock() {
            Ok(mut warned) => warned.len() < MAX_WARNED && warned.insert(raw.to_vec()),
            Err(_) => false,
        };
        if first {
            tracing::warn!(kind = what, entry = %short(raw), "skipped an unreadable Redis revocation entry");
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
                (Ok(sid), Ok(until)) => {
                    self.mirror.deny_session(sid, until);
                    true
                }
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
            self.skip("event", event.as_bytes());
        }
    }
}

/// What one bucket's revocation index holds, as read: `(kind, id, score)`
/// of each token and session revocation, and each subject with a cut-off
/// with its `cut:` key's value.
#[derive(Default)]
struct BucketEntries {
    indexed: Vec<(Kind, Vec<u8>, Vec<u8>)>,
    cutoffs: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Members of no known kind.
    unknown: Vec<Vec<u8>>,
}

/// Reads the revocation index of the bucket whose keys start with `base`
/// (its members are the revocation keys' names, `jti:…`, `rsid:…`, `cut:…`),
/// and the cut-offs it names: one slot, which a cluster serves from one node.
/// Each command is bounded by [`RESYNC_COMMAND_LIMIT`] here too, whatever
/// the client does underneath (a cluster client refreshing its slots
/// mid-failover).
async fn read_bucket(mut conn: Conn, base: String) -> Result<BucketEntries, StoreError> {
    let timeout = RESYNC_COMMAND_LIMIT;
    let mut out = BucketEntries::default();
    let index = format!("{base}idx");
    let mut cursor: u64 = 0;
    loop {
        let mut zscan = ::redis::cmd("ZSCAN");
        zscan.arg(&index).arg(cursor).arg("COUNT").arg(PAGE);
        let (next_cursor, flat): (u64, Vec<Vec<u8>>) = within(timeout, &zscan, &mut conn).await?;
        let mut cut_keys = Vec::new();
        for pair in flat.chunks_exact(2) {
            let (member, score) = (&pair[0], &pair[1]);
            let kind = Kind::ALL.into_iter().find(|k| {
                member.starts_with(k.family().as_bytes())
                    && member.get(k.family().len()) == Some(&b':')
            });
            match kind {
                Some(Kind::Subject) => cut_keys.push(member.clone()),
                Some(kind) => {
                    let id = member.get(kind.family().len() + 1..).unwrap_or_default();
                    out.indexed.push((kind, id.to_vec(), score.clone()));
                }
                None => out.unknown.push(member.clone()),
            }
        }
        if !cut_keys.is_empty() {
            let keys: Vec<Vec<u8>> = cut_keys
                .iter()
                .map(|k| [base.as_bytes(), k].concat())
                .collect();
            let mut mget = ::redis::cmd("MGET");
            mget.arg(&keys);
            let values: Vec<Option<Vec<u8>>> = within(timeout, &mget, &mut conn).await?;
            let subjects = cut_keys
                .into_iter()
                .map(|k| k.get(b"cut:".len()..).unwrap_or_default().to_vec());
            out.cutoffs.extend(subjects.zip(values));
        }
        cursor = next_cursor;
        if cursor == 0 {
            break;
        }
    }
    Ok(out)
}

/// A plain connection to one Redis: connecting within `connect`, each
/// command answered within `respond`.
async fn connect(
    client: &::redis::Client,
    connect: Duration,
    respond: Duration,
) -> Result<MultiplexedConnection, StoreError> {
    let config = ::redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect))
        .set_response_timeout(Some(respond));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(error)
}

/// A cluster connection for a resync, discovering the slots from `node`
/// first (then the other known nodes); each command within
/// [`RESYNC_COMMAND_LIMIT`].
async fn cluster_reader(
    node: &ConnectionInfo,
    nodes: &[ConnectionInfo],
    timeout: Duration,
) -> Result<Conn, StoreError> {
    let seeds = std::iter::once(node.clone())
        .chain(nodes.iter().filter(|n| n.addr() != node.addr()).cloned())
        .collect::<Vec<_>>();
    let client = cluster_client(seeds, timeout, RESYNC_COMMAND_LIMIT).map_err(error)?;
    let conn = tokio::time::timeout(timeout.saturating_mul(2), client.get_async_connection())
        .await
        .map_err(|_| timed_out())?
        .map_err(error)?;
    Ok(Conn::Cluster(conn))
}

fn timed_out() -> StoreError {
    StoreError::Unavailable("redis: timed out".into())
}

/// Runs `cmd`, giving up after `timeout`.
async fn within<T: ::redis::FromRedisValue>(
    timeout: Duration,
    cmd: &::redis::Cmd,
    conn: &mut Conn,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, cmd.query_async(conn))
        .await
        .map_err(|_| timed_out())?
        .map_err(error)
}

/// A cluster's current epoch, read on one node (`CLUSTER INFO`), or an
/// error when that node does not see the cluster healthy: its state is not
/// `ok`, or its link to a primary that serves slots is down. Revocations are
/// published on the primaries and reach this node over those links, so the
/// feed is trusted only while all of them are up (a node just restarted
/// answers `ok` before they are). The epoch changes with every failover.
async fn cluster_epoch(conn: &mut MultiplexedConnection) -> Result<u64, StoreError> {
    let info: String = ::redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut *conn)
        .await
        .map_err(error)?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
    };
    if field("cluster_state") != Some("ok") {
        return Err(StoreError::Unavailable(
            "redis cluster: state is not ok (a primary down?)".into(),
        ));
    }
    let epoch = field("cluster_current_epoch")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| StoreError::Unavailable("redis cluster: no epoch in CLUSTER INFO".into()))?;
    let nodes: String = ::redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(conn)
        .await
        .map_err(error)?;
    if let Some(addr) = unlinked_primary(&nodes) {
        return Err(StoreError::Unavailable(format!(
            "redis cluster: the feed's node has no link to the primary at {addr}"
        )));
    }
    Ok(epoch)
}

/// The address of a primary serving slots whose link is not `connected`,
/// in a `CLUSTER NODES` listing (`<id> <addr> <flags> <primary> <ping-sent>
/// <pong-recv> <config-epoch> <link-state> <slot>...`).
fn unlinked_primary(listing: &str) -> Option<&str> {
    listing.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
        let primary = fields.get(2)?.split(',').any(|f| f == "master");
        let serving = fields.len() > 8;
        let linked = fields.get(7) == Some(&"connected");
        (primary && serving && !linked).then(|| fields.get(1).copied().unwrap_or("?"))
    })
}

/// Adds the cluster's reachable nodes (`CLUSTER NODES`) to `nodes`, with
/// the credentials and TLS settings of `seed`, so the feed can move to any
/// of them when its node fails. Best effort: what it cannot read is left.
async fn learn_nodes(
    conn: &mut MultiplexedConnection,
    seed: &ConnectionInfo,
    nodes: &mut Vec<ConnectionInfo>,
) {
    let Ok(listing) = ::redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async::<String>(conn)
        .await
    else {
        return;
    };
    for line in listing.lines() {
        let mut fields = line.split(' ');
        let (Some(addr), Some(flags)) = (fields.nth(1), fields.next()) else {
            continue;
        };
        if flags
            .split(',')
            .any(|f| matches!(f, "fail" | "fail?" | "noaddr" | "handshake"))
        {
            continue;
        }
        // `ip:port@cport[,hostname]`
        let hostport = addr.split(['@', ',']).next().unwrap_or_default();
        let Some((host, port)) = hostport.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if host.is_empty() || port == 0 || nodes.len() >= MAX_NODES {
            continue;
        }
        let known = nodes.iter().any(|n| match n.addr() {
            ConnectionAddr::Tcp(h, p)
            | ConnectionAddr::TcpTls {
                host: h, port: p, ..
            } => h == host && *p == port,
            _ => false,
        });
        if known {
            continue;
        }
        let addr = match seed.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_owned(), port),
        };
        nodes.push(seed.clone().set_addr(addr));
    }
}

/// A UUID from an index member or a key's tail.
fn parse_uuid(raw: &[u8]) -> Option<Uuid> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// A time in whole seconds: a key's value, or an index score (which Redis
/// may write as a float).
fn parse_time(raw: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(raw).ok()?;
    s.parse::<u64>().ok().or_else(|| {
        let f = s.parse::<f64>().ok()?;
        // In range and whole: `as` is exact here.
        ((0.0..1e18).contains(&f) && f.fract() == 0.0).then_some(f as u64)
    })
}

/// A cut-off key's value: `<cutoff> <until>`.
fn parse_cutoff(raw: &[u8]) -> Option<(u64, u64)> {
    let (c, u) = std::str::from_utf8(raw).ok()?.split_once(' ')?;
    Some((c.parse().ok()?, u.parse().ok()?))
}

/// The next message of a subscription stream.
async fn next(stream: &mut ::redis::aio::PubSubStream) -> Option<::redis::Msg> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_primary_without_a_link_is_found() {
        let healthy = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 1733000000000 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master - 0 1733000000000 3 connected 10923-16383
d4 127.0.0.1:7003@17003 slave a1 0 1733000000000 1 disconnected
e5 127.0.0.1:7004@17004 master,fail - 0 0 5 disconnected
";
        // A replica's link, or a primary without slots, does not matter.
        assert_eq!(unlinked_primary(healthy), None);
        let cut = healthy.replace("3 connected 10923", "3 disconnected 10923");
        assert_eq!(unlinked_primary(&cut), Some("127.0.0.1:7002@17002"));
        assert_eq!(unlinked_primary(""), None);
        assert_eq!(unlinked_primary("garbage\n\n x y master"), None);
    }

    #[test]
    fn index_scores_and_values_parse_and_garbage_does_not() {
        assert_eq!(parse_time(b"1700000600"), Some(1_700_000_600));
        assert_eq!(parse_time(b"1700000600.0"), Some(1_700_000_600));
        assert_eq!(parse_time(b"1.5"), None);
        assert_eq!(parse_time(b"garbage"), None);
        assert_eq!(parse_time(b"\xff\xfe"), None);
        assert_eq!(parse_cutoff(b"10 20"), Some((10, 20)));
        assert_eq!(parse_cutoff(b"10"), None);
        assert_eq!(parse_uuid(b"\xff"), None);
    }
}
