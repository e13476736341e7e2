//! Example-server processes for the multi-process tests: started on a free
//! loopback port against a real `redis-server`, reached through the shared
//! HTTP client, killed when dropped.
#![allow(dead_code)] // each test file uses its own subset

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use auth_core::testing::redis_server::RedisServer;
use contract_tests::{Client, Reply};
use http::Method;
use tokio::process::{Child, Command};

/// The HMAC secret every process shares, so a token minted by one is
/// checked by the others.
pub const SECRET: &str = "a-shared-secret-of-at-least-32-bytes-for-both";

/// An example-server process, killed when dropped.
pub struct Server {
    client: Client,
    child: Child,
}

impl Server {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.client.addr
    }

    /// The process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }
}

impl std::ops::Deref for Server {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// An example server on `redis`, logging warnings to the test's stderr.
pub async fn spawn(redis: &RedisServer) -> Server {
    spawn_with(redis, &[], "warn", Stdio::inherit()).await
}

/// An example server on `redis` with more flags (`--access-ttl 3s`...), its
/// `RUST_LOG` and where its stderr goes; returns once it listens.
pub async fn spawn_with(
    redis: &RedisServer,
    flags: &[&str],
    rust_log: &str,
    stderr: Stdio,
) -> Server {
    spawn_on(&redis.url(), flags, rust_log, stderr).await
}

/// An example server with `--redis-url redis_url` and more flags
/// (`--redis-cluster`...); returns once it listens.
pub async fn spawn_on(redis_url: &str, flags: &[&str], rust_log: &str, stderr: Stdio) -> Server {
    let mut args = vec!["--redis-url", redis_url];
    args.extend_from_slice(flags);
    spawn_process(&args, rust_log, stderr).await
}

/// An example server on `redis` with more flags, writing its log (`RUST_LOG`
/// `rust_log`, which goes to stdout) and any panic into `log`.
#[allow(dead_code)] // Not every test binary logs to a file.
pub async fn spawn_logging_to(
    redis: &RedisServer,
    flags: &[&str],
    rust_log: &str,
    log: std::fs::File,
) -> Server {
    let mut args = vec!["--redis-url".to_owned(), redis.url()];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = log.try_clone().map_or_else(|_| Stdio::null(), Stdio::from);
    start(&args, rust_log, stdout, Stdio::from(log)).await
}

/// An example server on its in-memory store, with `flags`.
pub async fn spawn_memory(flags: &[&str]) -> Server {
    spawn_process(flags, "warn", Stdio::inherit()).await
}

async fn spawn_process(flags: &[&str], rust_log: &str, stderr: Stdio) -> Server {
    start(flags, rust_log, Stdio::null(), stderr).await
}

async fn start(flags: &[&str], rust_log: &str, stdout: Stdio, stderr: Stdio) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--addr", &addr.to_string()])
        .args(flags)
        .env("AUTH_JWT_SECRET", SECRET)
        .env("RUST_LOG", rust_log)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("example-axum-server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "example-axum-server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server {
        client: Client::new(addr),
        child,
    }
}

/// `POST /auth/logout` with the pair's access token as bearer and its
/// refresh token, when the body has one (a refresh by cookie answers it in
/// the cookie only), in the body.
pub async fn logout(s: &Client, pair: &Reply) -> Reply {
    let refresh = pair.json["refreshToken"].as_str();
    logout_with(s, &pair.field("accessToken"), refresh).await
}

/// `POST /auth/logout` with `access` as bearer and `refresh` in the body.
pub async fn logout_tokens(s: &Client, access: &str, refresh: &str) -> Reply {
    logout_with(s, access, Some(refresh)).await
}

async fn logout_with(s: &Client, access: &str, refresh: Option<&str>) -> Reply {
    let bearer = format!("Bearer {access}");
    let body = refresh.map(|r| serde_json::json!({ "refreshToken": r }).to_string());
    s.send(
        Method::POST,
        "/auth/logout",
        &[("authorization", &bearer)],
        body.as_deref(),
    )
    .await
}
