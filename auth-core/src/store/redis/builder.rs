//! Building a [`RedisStore`]: settings, connecting, the first sync, and the
//! URL as it may be shown (password masked).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ConnectionInfo, IntoConnectionInfo};

use super::conn::{Conn, cluster_client};
use super::feed::{Health, Listener, Phase};
use super::scripts::Scripts;
use super::{Inner, RedisStore};
use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::store::MemoryStore;

/// The default key prefix: short, and names what the keys are for.
pub const DEFAULT_REDIS_PREFIX: &str = "auth:";
/// The default timeout for connecting and for each command: 1 s. Far above
/// a healthy Redis's answer (well under a millisecond), and short enough that
/// an outage turns into quick 503s (fail closed) instead of hung requests.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds a [`RedisStore`]. Defaults: a single Redis (not a cluster), prefix
/// [`DEFAULT_REDIS_PREFIX`], timeouts [`DEFAULT_REDIS_TIMEOUT`], no replica
/// acknowledgement awaited, the system clock. `Debug` masks the URLs'
/// passwords.
pub struct RedisStoreBuilder {
    /// The Redis, or a cluster's seed nodes (at least one).
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
    timeout: Duration,
    replicas: u32,
    clock: Option<Arc<dyn Clock>>,
    read_only: bool,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redact(u)).collect();
        f.debug_struct("RedisStoreBuilder")
            .field("urls", &urls)
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("replicas", &self.replicas)
            .field("clock", &self.clock)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl RedisStoreBuilder {
    pub(super) fn new(urls: Vec<String>, cluster: bool) -> Self {
        RedisStoreBuilder {
            urls,
            cluster,
            prefix: DEFAULT_REDIS_PREFIX.to_owned(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            replicas: 0,
            clock: None,
            read_only: false,
        }
    }

    /// Treats the URL(s) as seed nodes of a Redis Cluster: the rest of the
    /// cluster is discovered from them, and commands follow its slots
    /// through redirections and failovers. What
    /// [`RedisStore::cluster_builder`] builds; this is for a URL that comes
    /// from configuration, with a flag saying it is a cluster.
    pub fn cluster(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// Acknowledges a write (a revocation, a login, a rotation) only once
    /// `replicas` replicas of its primary have it (`WAIT`, within the
    /// timeout; fewer in time fails the write, closed). With a replica per
    /// primary and `1` here, a failover (a replica promoted after its primary
    /// died) loses no revocation that was acknowledged; Redis replicates
    /// asynchronously, so with `0` (the default) the last writes before a
    /// crash can be lost with it. Costs a round trip per write.
    pub fn wait_for_replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// The prefix of every key and of the event channel (default
    /// [`DEFAULT_REDIS_PREFIX`]). Letters, digits and `:_-.` only (it is used in
    /// `SCAN` patterns). It always ends in a separator: one that does not end
    /// in `:`, `_`, `-` or `.` gets a `:`, so `myapp` makes keys such as
    /// `myapp:rsid:…`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with([':', '_', '-', '.']) {
            prefix.push(':');
        }
        self.prefix = prefix;
        self
    }

    /// Only checks tokens, never writes: for a service that verifies the
    /// tokens of an issuer sharing this Redis (give it an ACL user that may
    /// only read and subscribe; on a cluster, also `CLUSTER INFO`, `NODES`
    /// and `SLOTS`, which find the nodes and watch for failovers). It mirrors the issuer's revocations like any
    /// instance and answers [`Store::check`](crate::store::Store::check)
    /// from them, and [`sessions`](crate::store::Store::sessions) from
    /// Redis; every write fails with [`StoreError::ReadOnly`], except the
    /// DPoP replay cache's (a resource server checks proofs too): see
    /// [the `ReplayCache` implementation](RedisStore#impl-ReplayCache-for-RedisStore)
    /// for the ACL rule it needs.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The timeout for connecting and for each command (default
    /// [`DEFAULT_REDIS_TIMEOUT`]); past it an operation fails closed. Also how long
    /// the revocation feed may stay silent before checks fail closed. At
    /// least 10 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// The clock (default [`SystemClock`]; tests pass a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Connects, subscribes and loads the current revocations. Fails when
    /// Redis cannot be reached now (within five timeouts); a load under way
    /// is waited for however long it takes (about 2 s per million
    /// revocations), each of its commands bounded by the timeout. Later
    /// outages are survived. Must run
    /// inside a Tokio runtime, which keeps the subscription task. Errors name
    /// the URL with its password masked.
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
        let Some(first) = self.urls.first() else {
            return Err(StoreError::Unavailable("no Redis URL given".into()));
        };
        let url = redact(first);
        let unreachable =
            |e: ::redis::RedisError| StoreError::Unavailable(format!("redis at {url}: {e}"));
        let nodes = self
            .urls
            .iter()
            .map(|u| u.as_str().into_connection_info())
            .collect::<Result<Vec<ConnectionInfo>, _>>()
            .map_err(unreachable)?;
        let conn = if self.cluster {
            let client =
                cluster_client(nodes.clone(), self.timeout, self.timeout).map_err(unreachable)?;
            Conn::Cluster(client.get_async_connection().await.map_err(unreachable)?)
        } else {
            let client = ::redis::Client::open(first.as_str()).map_err(unreachable)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let writer = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(unreachable)?;
            Conn::Single(writer)
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let mirror = MemoryStore::builder().clock(clock.clone()).build();
        let health = Arc::new(Health::new(self.timeout));
        let scripts = Arc::new(Scripts::new());
        let channel = format!("{}events", self.prefix);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (phase_tx, mut phase) = tokio::sync::watch::channel(Phase::Down);
        let listener = Listener {
            nodes,
            cluster: self.cluster,
            conn: conn.clone(),
            prefix: self.prefix.clone(),
            channel: channel.clone(),
            clock: clock.clone(),
            mirror: mirror.clone(),
            health: health.clone(),
            timeout: self.timeout,
            phase: phase_tx,
            warned: Mutex::default(),
        };
        tokio::spawn(listener.run(stopped));
        // Reaching Redis gets five timeouts; a resync under way (millions of
        // revocations take seconds, more over a slow link) is waited for as
        // long as Redis keeps answering the feed's heartbeat.
        let deadline = tokio::time::Instant::now() + self.timeout.saturating_mul(5);
        let synced = loop {
            let now = *phase.borrow_and_update();
            let changed = match now {
                Phase::InSync => break true,
                Phase::Loading => phase.changed().await.is_ok(),
                Phase::Down => matches!(
                    tokio::time::timeout_at(deadline, phase.changed()).await,
                    Ok(Ok(()))
                ),
            };
            if !changed {
                break false;
            }
        };
        if !synced {
            return Err(StoreError::Unavailable(format!(
                "could not subscribe to Redis at {url} and load the revocations"
            )));
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                url,
                replicas: self.replicas,
                timeout: self.timeout,
                prefix: self.prefix,
                channel,
                clock,
                mirror,
                health,
                scripts,
                attempt_scripts: super::attempts::AttemptScripts::new(),
                read_only: self.read_only,
                _stop: stop,
            }),
        })
    }
}

/// A Redis URL as it may be shown: `redis://user:***@host:port/db`. Parsed
/// the way the client parses it; the password (also a `pass`/`password`
/// query value, as in `redis+unix:` URLs) is masked, a path that is not a
/// database number too, and a URL that does not parse is not shown at all.
pub(super) fn redact(url: &str) -> String {
    let Some(u) = ::redis::parse_redis_url(url) else {
        return "<unparseable Redis URL>".to_owned();
    };
    let mut out = format!("{}://", u.scheme());
    match (u.username(), u.password()) {
        ("", None) => {}
        (user, None) => out.push_str(&format!("{user}@")),
        (user, Some(_)) => out.push_str(&format!("{user}:***@")),
    }
    out.push_str(u.host_str().unwrap_or_default());
    if let Some(port) = u.port() {
        out.push_str(&format!(":{port}"));
    }
    let path = u.path();
    if path.trim_matches('/').bytes().all(|b| b.is_ascii_digit()) || u.host_str().is_none() {
        // A database number, or a socket path (`redis+unix:`).
        if u.host_str().is_none() || path != "/" {
            out.push_str(path);
        }
    } else {
        out.push_str("/***");
    }
    let query: Vec<String> = u
        .query_pairs()
        .map(|(k, v)| {
            if k.to_ascii_lowercase().contains("pass") {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        for (url, shown) in [
            (
                "redis://user:hunter2@example.com:6380/2",
                "redis://user:***@example.com:6380/2",
            ),
            (
                "redis://:hunter2@127.0.0.1:1/0",
                "redis://:***@127.0.0.1:1/0",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("rediss://user@host", "rediss://user@host"),
            (
                "redis+unix:///run/redis.sock?db=1&pass=hunter2",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
            ("redis://h/hunter2", "redis://h/***"),
            ("not a url hunter2", "<unparseable Redis URL>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn the_builder_debug_masks_the_password() {
        let b = RedisStore::builder("redis://admin:hunter2@127.0.0.1:1/0");
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://admin:***@127.0.0.1:1/0"), "{shown}");
    }
}
