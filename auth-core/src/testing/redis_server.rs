//! A throwaway `redis-server` for tests (features `testing` and `redis`): a
//! free loopback port, a temporary directory, stopped and removed on drop;
//! and a throwaway Redis Cluster of such servers ([`RedisCluster`]).
//!
//! Where `redis-server` is not installed, [`RedisServer::start`] says so
//! loudly and returns `None` so the test can skip, unless the environment
//! variable `CI` is set, where a missing server fails the run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    persistent: bool,
    cluster: bool,
}

impl RedisServer {
    /// A server without persistence (`--save "" --appendonly no`).
    pub fn start() -> Option<RedisServer> {
        Self::launch(false)
    }

    /// A server that persists every write to its append-only file
    /// (`--appendonly yes --appendfsync always`), for restart tests.
    pub fn start_persistent() -> Option<RedisServer> {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Option<RedisServer> {
        if !installed(&["redis-server"]) {
            return None;
        }
        Some(Self::launch_on(free_port(), persistent, false))
    }

    fn launch_on(port: u16, persistent: bool, cluster: bool) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "auth-core-redis-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            persistent,
            cluster,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"));
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.cluster {
            // A failed primary is noticed within a second, and its replica
            // takes over whenever it last heard from it.
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "1000",
                "--cluster-replica-validity-factor",
                "0",
            ])
            .arg("--cluster-config-file")
            .arg(self.dir.join("nodes.conf"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!("redis-server did not come up on port {}:\n{log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL: no shutdown, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (so from its
    /// append-only file when persistent).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the programs are installed; if not, says so loudly (and returns
/// false), or fails when `CI` is set.
fn installed(programs: &[&str]) -> bool {
    for program in programs {
        let found = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if found {
            continue;
        }
        if std::env::var_os("CI").is_some() {
            panic!("{program} is not installed and CI is set: the Redis tests must run");
        }
        eprintln!(
            "\n*** SKIPPED: {program} is not installed; the Redis tests did not run. ***\n\
             *** Install it (apt-get install redis-server) to run them.          ***\n"
        );
        return false;
    }
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A free port whose cluster bus port (`port + 10000`) is free too.
fn free_cluster_port() -> u16 {
    for _ in 0..1000 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = l.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node")
}

/// A throwaway Redis Cluster on loopback: `primaries` primaries (at least
/// three), each with `replicas` replicas, made with `redis-cli --cluster
/// create`. Nodes notice a failed primary within a second
/// (`cluster-node-timeout 1000`) and promote its replica. Stopped and
/// removed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the nodes and makes them a cluster, or returns `None` (loudly)
    /// when `redis-server` or `redis-cli` is missing and `CI` is not set.
    pub fn start(primaries: usize, replicas: usize) -> Option<RedisCluster> {
        if !installed(&["redis-server", "redis-cli"]) {
            return None;
        }
        let count = primaries.max(3) * (1 + replicas);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| RedisServer::launch_on(free_cluster_port(), false, true))
            .collect();
        let cluster = RedisCluster { nodes };
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port)),
            )
            .arg("--cluster-replicas")
            .arg(replicas.to_string())
            .arg("--cluster-yes")
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
        if !out.status.success() {
            panic!(
                "redis-cli --cluster create failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cluster.wait_healthy(Duration::from_secs(30));
        Some(cluster)
    }

    /// Every node's URL, primaries first (as `--cluster create` assigned
    /// them).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The node at `index`, in [`urls`](Self::urls) order.
    pub fn node(&self, index: usize) -> &RedisServer {
        &self.nodes[index]
    }

    /// Kills the node at `index` with SIGKILL.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Starts the node at `index` again, on its port and with its cluster
    /// configuration: it rejoins the cluster (as a replica, when another
    /// node took its slots over meanwhile).
    pub fn restart(&mut self, index: usize) {
        self.nodes[index].restart();
    }

    /// The ports of the live nodes that are primaries now.
    pub fn primaries(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .filter(|n| cli(n.port, &["ROLE"]).starts_with("master"))
            .map(|n| n.port)
            .collect()
    }

    /// Waits until every live node sees the cluster healthy (`cluster_state:ok`,
    /// every slot served) and every live replica is linked to its primary;
    /// panics past `timeout`.
    pub fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let healthy = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let info = cli(n.port, &["CLUSTER", "INFO"]);
                let replica = cli(n.port, &["ROLE"]).starts_with("slave");
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && (!replica
                        || cli(n.port, &["INFO", "replication"]).contains("master_link_status:up"))
            });
            if healthy {
                return;
            }
            if Instant::now() > deadline {
                let info: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| cli(n.port, &["CLUSTER", "NODES"]))
                    .collect();
                panic!("the cluster did not become healthy:\n{}", info.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// What `redis-cli -p <port> <args>` prints (empty when it fails).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
