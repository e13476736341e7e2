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

use ::redis::ConnectionInfo;
use ::redis::aio::MultiplexedConnection;
use futures_core::Stream;

use super::conn::Conn;
use super::error;
use super::replies::short;
use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::{MemoryStore, Store};

use nodes::cluster_epoch;
use nodes::cluster_reader;
use nodes::connect;
use nodes::learn_nodes;
use nodes::timed_out;
mod nodes;
mod resync;

/// The limit on one command of a resync, queueing on its connection
/// included: a backstop for a reader connection that dies silently while
/// Redis still answers the heartbeat. Whether Redis answers at all is the
/// heartbeat's to judge, within the store's timeout; a resync whose
/// commands keep finishing (a million revocations, a slow link) is never
/// cut off by that timeout.
pub(super) const RESYNC_COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// Unreadable entries are each logged once; past this many distinct ones,
/// no more are remembered (nor logged).
const MAX_WARNED: usize = 1024;

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

/// The next message of a subscription stream.
async fn next(stream: &mut ::redis::aio::PubSubStream) -> Option<::redis::Msg> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[cfg(test)]
mod tests {
    use super::nodes::unlinked_primary;
    use super::resync::{parse_cutoff, parse_time, parse_uuid};

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
