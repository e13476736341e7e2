//! The revocation feed: a subscription task that keeps the local mirror in
//! step with Redis, resynchronizes it from the revocation indexes on every
//! (re)subscription, and tells checks whether the mirror can be trusted.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, MultiplexedConnection};
use futures_core::Stream;
use uuid::Uuid;

use super::scripts::Scripts;
use super::{error, short};
use crate::clock::Clock;
use crate::store::{MemoryStore, Store, StoreError};

/// How many entries one `ZSCAN`/`SCAN` step asks for.
const PAGE: usize = 1000;
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

    /// The key family, `{prefix}{family}:{id}`, and the index, `{prefix}idx:{family}`.
    fn family(self) -> &'static str {
        match self {
            Kind::Token => "jti",
            Kind::Session => "rsid",
            Kind::Subject => "cut",
        }
    }
}

/// The subscription task: keeps the mirror fed and says whether it is.
pub(super) struct Listener {
    pub(super) client: ::redis::Client,
    pub(super) conn: ConnectionManager,
    pub(super) prefix: String,
    pub(super) channel: String,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) mirror: MemoryStore,
    pub(super) health: Arc<Health>,
    pub(super) timeout: Duration,
    pub(super) synced: tokio::sync::watch::Sender<bool>,
    pub(super) scripts: Arc<Scripts>,
    /// Never index (a read-only store).
    pub(super) read_only: bool,
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
}

impl Health {
    pub(super) fn new(silence: Duration) -> Self {
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
        crate::metrics::feed_up(synced);
        if synced {
            self.heard();
        }
        self.synced.swap(synced, Ordering::AcqRel)
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

    /// Loads the live revocations into the mirror from the three revocation
    /// indexes (`ZSCAN`, which returns every entry present for the whole scan;
    /// entries added meanwhile arrive on the subscription, opened before).
    /// Reads nothing else: its cost follows the revocations, not the
    /// sessions. Entries it cannot read are skipped and logged once. Returns
    /// how many revocations it loaded.
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
        let ready = format!("{}idx:ready", self.prefix);
        let indexed: bool = ::redis::cmd("EXISTS")
            .arg(&ready)
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        if !indexed && self.read_only {
            tracing::warn!(
                prefix = %self.prefix,
                "read-only: the revocation indexes are not ready, so revocations written before them are not loaded until an instance that may write indexes them"
            );
        } else if !indexed {
            self.backfill(&mut conn).await?;
            let _: () = ::redis::cmd("SET")
                .arg(&ready)
                .arg(self.clock.now())
                .query_async(&mut conn)
                .await
                .map_err(error)?;
        }
        let now = self.clock.now();
        let mut loaded = 0;
        for kind in Kind::ALL {
            let index = format!("{}idx:{}", self.prefix, kind.family());
            let mut cursor: u64 = 0;
            loop {
                let (next_cursor, flat): (u64, Vec<Vec<u8>>) = ::redis::cmd("ZSCAN")
                    .arg(&index)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(PAGE)
                    .query_async(&mut conn)
                    .await
                    .map_err(error)?;
                let mut subjects = Vec::new();
                for pair in flat.chunks_exact(2) {
                    let (member, score) = (&pair[0], &pair[1]);
                    let Some(until) = parse_time(score) else {
                        self.skip(kind.family(), member);
                        continue;
                    };
                    if until <= now {
                        continue; // expired; pruned by a later write
                    }
                    let applied = match kind {
                        Kind::Token => match parse_uuid(member) {
                            Some(jti) => self.mirror.revoke_token(jti, until).await.is_ok(),
                            None => false,
                        },
                        Kind::Session => match parse_uuid(member) {
                            Some(sid) => self.mirror.revoke_session(sid, until).await.is_ok(),
                            None => false,
                        },
                        Kind::Subject => {
                            subjects.push(member.clone());
                            continue;
                        }
                    };
                    if applied {
                        loaded += 1;
                    } else {
                        self.skip(kind.family(), member);
                    }
                }
                loaded += self.load_cutoffs(&mut conn, subjects).await?;
                cursor = next_cursor;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(loaded)
    }

    /// Loads the cut-offs of `subjects` (their `cut:` keys hold the cut-off
    /// second and the `until`).
    async fn load_cutoffs(
        &self,
        conn: &mut MultiplexedConnection,
        subjects: Vec<Vec<u8>>,
    ) -> Result<usize, StoreError> {
        if subjects.is_empty() {
            return Ok(0);
        }
        let keys: Vec<Vec<u8>> = subjects
            .iter()
            .map(|s| [format!("{}cut:", self.prefix).as_bytes(), s].concat())
            .collect();
        let values: Vec<Option<Vec<u8>>> = ::redis::cmd("MGET")
            .arg(&keys)
            .query_async(conn)
            .await
            .map_err(error)?;
        let mut loaded = 0;
        for (subject, value) in subjects.iter().zip(values) {
            let Some(value) = value else { continue }; // expired since
            let parsed = std::str::from_utf8(subject).ok().zip(parse_cutoff(&value));
            match parsed {
                Some((subject, (cutoff, until))) => {
                    if self
                        .mirror
                        .revoke_subject(subject, cutoff, until)
                        .await
                        .is_ok()
                    {
                        loaded += 1;
                    }
                }
                None => self.skip("cut", subject),
            }
        }
        Ok(loaded)
    }

    /// Indexes the revocation keys written before the indexes existed (an
    /// upgrade from an older version): one `SCAN` per key family, matching
    /// that family only, once per prefix. Keys it cannot read are skipped.
    async fn backfill(&self, conn: &mut MultiplexedConnection) -> Result<(), StoreError> {
        let now = self.clock.now();
        for kind in Kind::ALL {
            let family = format!("{}{}:", self.prefix, kind.family());
            let mut cursor: u64 = 0;
            loop {
                let (next_cursor, keys): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{family}*"))
                    .arg("COUNT")
                    .arg(PAGE)
                    .query_async(&mut *conn)
                    .await
                    .map_err(error)?;
                if !keys.is_empty() {
                    let values: Vec<Option<Vec<u8>>> = ::redis::cmd("MGET")
                        .arg(&keys)
                        .query_async(&mut *conn)
                        .await
                        .map_err(error)?;
                    let mut call = self.scripts.index.prepare_invoke();
                    call.arg(&self.prefix).arg(kind.family()).arg(now);
                    for (key, value) in keys.iter().zip(values) {
                        let Some(value) = value else { continue };
                        let id = key.get(family.len()..).unwrap_or_default();
                        let until = match kind {
                            Kind::Token | Kind::Session => {
                                parse_uuid(id).and_then(|_| parse_time(&value))
                            }
                            Kind::Subject => std::str::from_utf8(id)
                                .ok()
                                .and(parse_cutoff(&value))
                                .map(|(_, until)| until),
                        };
                        match until {
                            Some(until) => {
                                call.arg(id).arg(until);
                            }
                            None => self.skip(kind.family(), key),
                        }
                    }
                    let _: i64 = call.invoke_async(&mut *conn).await.map_err(error)?;
                }
                cursor = next_cursor;
                if cursor == 0 {
                    break;
                }
            }
        }
        tracing::info!(prefix = %self.prefix, "indexed the revocations written before the index");
        Ok(())
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
            self.skip("event", event.as_bytes());
        }
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
