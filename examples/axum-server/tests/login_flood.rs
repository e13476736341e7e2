//! A flood of failed logins, half of them abandoned by their clients a few
//! milliseconds in, leaves the example server's memory bounded: password
//! checks run at most `MAX_CONCURRENT_HASHES` at once whatever clients do,
//! in reused buffers.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use contract_tests::Client;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The bound the server's resident memory must stay under (the example
/// server idles at about 30 MiB; eight 19 MiB argon2 buffers add 152 MiB).
const RSS_LIMIT_KIB: u64 = 400 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends a login with a wrong password and hangs up after 5 ms, before the
/// answer.
async fn abandoned_login(addr: SocketAddr) {
    let body = r#"{"username":"alice","password":"not-alice-password"}"#;
    let req = format!(
        "POST /auth/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
        let _ = conn.write_all(req.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_and_failed_logins_keep_memory_bounded() {
    if !cfg!(target_os = "linux") {
        eprintln!("SKIPPED: reads /proc");
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--addr", &addr.to_string()])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("example-axum-server starts");
    let pid = child.id().expect("pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = rss_kib(pid);
    let client = Client::new(addr);
    let mut peak = before;
    let started = Instant::now();
    // 400 failed logins in rounds of 20: ten abandoned, ten answered.
    for _ in 0..20 {
        let mut tasks = Vec::new();
        for _ in 0..10 {
            tasks.push(tokio::spawn(abandoned_login(addr)));
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let r = client.login("alice", "not-alice-password").await;
                assert_eq!(r.status, 401, "{:?}", r.json);
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        peak = peak.max(rss_kib(pid));
    }
    // The abandoned hashes finish on their own; sample while they do.
    for _ in 0..20 {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = client.login("alice", "alice-password").await;
    assert_eq!(ok.status, 200, "the server still logs users in");
    let after = rss_kib(pid);
    eprintln!(
        "400 failed logins (200 abandoned) in {:?}: RSS {} MiB before, peak {} MiB, {} MiB after",
        started.elapsed(),
        before / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(
        peak < RSS_LIMIT_KIB,
        "RSS reached {} MiB (limit {} MiB)",
        peak / 1024,
        RSS_LIMIT_KIB / 1024
    );
    let _ = child.kill().await;
}
