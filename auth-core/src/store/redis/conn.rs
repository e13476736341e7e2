//! One connection type for a single Redis and for Redis Cluster, so the
//! store's commands and scripts are written once.

use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use ::redis::{Cmd, ConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};

use super::error;
use crate::error::StoreError;

/// The store's shared connection: a reconnecting connection to one Redis, or
/// a cluster connection that follows the slots (redirections, failovers).
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    /// A plain connection to one Redis, for a resync (the shared manager may
    /// still be backing off from an outage).
    Direct(MultiplexedConnection),
}

/// A cluster client from `seeds`, connecting within `connect` and bounding
/// each command by `respond`: the store's writer (both the store's timeout)
/// and the feed's resync readers (a connection's timeout, and
/// [`RESYNC_COMMAND_LIMIT`](super::feed::RESYNC_COMMAND_LIMIT) per command)
/// are made alike. Retries cover a redirection or a failover in progress;
/// the overall timeout still bounds every command.
pub(super) fn cluster_client(
    seeds: Vec<ConnectionInfo>,
    connect: Duration,
    respond: Duration,
) -> RedisResult<ClusterClient> {
    ClusterClient::builder(seeds)
        .connection_timeout(connect)
        .response_timeout(respond)
        .overall_response_timeout(Some(respond))
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(200)
        .build()
}

impl Conn {
    /// Waits until `replicas` replicas have every write this connection made
    /// to the primary that holds `key` (`WAIT`), so a failover cannot lose
    /// it. Fewer in time is an error: the write may be lost with its primary.
    pub(super) async fn wait(
        &mut self,
        key: &str,
        replicas: u32,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        if replicas == 0 {
            return Ok(());
        }
        // Within the command's own timeout, so Redis answers first.
        let ms = u64::try_from(timeout.as_millis() * 3 / 4)
            .unwrap_or(u64::MAX)
            .max(1);
        let mut cmd = ::redis::cmd("WAIT");
        cmd.arg(replicas).arg(ms);
        let acked: u32 = match self {
            Conn::Single(_) | Conn::Direct(_) => cmd.query_async(self).await.map_err(error)?,
            Conn::Cluster(c) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                // Right after a failover the write may have been redirected
                // to the new primary while the client's slot map still names
                // the old one (now a replica, which refuses `WAIT`): ask
                // again once the map has caught up (five tries, 100 ms apart).
                // Still misrouted after that: the failover is not settled, so
                // the write is not known to be replicated (fail closed, 503).
                let mut attempt = 0;
                let v = loop {
                    let answer = c.route_command(cmd.clone(), routing.clone()).await;
                    // An error answer can come back as a value.
                    match answer.and_then(Value::extract_error) {
                        Ok(v) => break v,
                        Err(e) if misrouted(&e) && attempt < 4 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) if misrouted(&e) => {
                            return Err(StoreError::Unavailable(format!(
                                "redis: WAIT reached a node that is not the slot's primary (a failover in progress): {e}"
                            )));
                        }
                        Err(e) => return Err(error(e)),
                    }
                };
                ::redis::from_redis_value(v)
                    .map_err(|e| StoreError::Unavailable(format!("redis: WAIT: {e}")))?
            }
        };
        if acked < replicas {
            return Err(StoreError::Unavailable(format!(
                "redis: the write reached {acked} of {replicas} replicas in time"
            )));
        }
        Ok(())
    }
}

/// An answer that says the command reached a node that is not (or no
/// longer) the primary of the slot.
fn misrouted(e: &::redis::RedisError) -> bool {
    use ::redis::{ErrorKind, ServerErrorKind};
    matches!(
        e.kind(),
        ErrorKind::Server(ServerErrorKind::Moved | ServerErrorKind::ReadOnly)
    ) || e.to_string().contains("replica")
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Direct(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Direct(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Direct(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
