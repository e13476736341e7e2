//! Reaching the nodes: connections for the subscription and the resync
//! readers, commands bounded in time, and a cluster's nodes and
//! configuration epoch.

use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{ConnectionAddr, ConnectionInfo};

use super::RESYNC_COMMAND_LIMIT;
use crate::error::StoreError;
use crate::store::redis::conn::{Conn, cluster_client};
use crate::store::redis::error;

/// The most cluster nodes remembered as places to subscribe.
pub(super) const MAX_NODES: usize = 64;

/// A plain connection to one Redis: connecting within `connect`, each
/// command answered within `respond`.
pub(super) async fn connect(
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
pub(super) async fn cluster_reader(
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

pub(super) fn timed_out() -> StoreError {
    StoreError::Unavailable("redis: timed out".into())
}

/// Runs `cmd`, giving up after `timeout`.
pub(super) async fn within<T: ::redis::FromRedisValue>(
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
pub(super) async fn cluster_epoch(conn: &mut MultiplexedConnection) -> Result<u64, StoreError> {
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
pub(super) fn unlinked_primary(listing: &str) -> Option<&str> {
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
pub(super) async fn learn_nodes(
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
