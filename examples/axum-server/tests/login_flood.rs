//! A flood of failed logins, half of them abandoned by their clients a few
//! milliseconds in, leaves the example server's memory bounded: password
//! checks run at most `MAX_CONCURRENT_HASHES` at once whatever clients do,
//! in reused buffers. So does a flood of logins at the body cap: the queue
//! of logins waiting for a check is bounded, and their extra fields too.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use contract_tests::Client;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The bound the server's resident memory must stay under (the example
/// server idles at about 30 MiB; eight 19 MiB argon2 buffers add 152 MiB).
const RSS_LIMIT_KIB: u64 = 400 * 1024;

/// Fails unless `peak` (KiB) is under [`RSS_LIMIT_KIB`].
fn assert_under_the_limit(peak: u64) {
    assert!(
        peak < RSS_LIMIT_KIB,
        "RSS peaked at {} MiB (limit {} MiB)",
        peak / 1024,
        RSS_LIMIT_KIB / 1024
    );
}

/// A memory figure (`VmRSS:`, `VmHWM:`) of `pid`'s `/proc` status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory of `pid` now, in KiB.
fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Starts the example server on a free port with `args` (and as many file
/// descriptors as the system lets it have, for floods), and waits until it
/// listens.
async fn start_server(args: &[&str]) -> (tokio::process::Child, SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -n 8192 2>/dev/null; exec "$0" "$@""#,
            env!("CARGO_BIN_EXE_example-axum-server"),
            "--addr",
            &addr.to_string(),
            // The queue is what these floods measure: from one address, the
            // login throttle would refuse them before they reach it (a flood
            // from many addresses, which it cannot stop, reaches it).
            "--no-login-throttle",
        ])
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("example-axum-server starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, addr)
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
    let (mut child, addr) = start_server(&[]).await;
    let pid = child.id().expect("pid");
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
    assert_under_the_limit(peak);
    let _ = child.kill().await;
}

/// Peak resident memory (`VmHWM`) of `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// How many sockets this process may open, less a margin for the rest.
fn socket_budget() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1024);
    soft.saturating_sub(64)
}

/// Sends one login with `body` on a connection of its own; returns the
/// status and the `Retry-After` header, if any (`None` if the connection
/// broke).
async fn raw_login(addr: SocketAddr, body: String) -> Option<(u16, Option<String>)> {
    use tokio::io::AsyncReadExt;
    let req = format!(
        "POST /auth/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
    conn.write_all(req.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.ok()?;
    let head = String::from_utf8_lossy(&answer);
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let retry_after = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after:")
            .map(|v| v.trim().to_owned())
    });
    Some((status, retry_after))
}

/// A login body of about 16 KiB (the body cap): `alice`, a wrong password,
/// and an extra field `pad` holding `pad`.
fn padded(pad: impl Fn(usize) -> String) -> String {
    let head = r#"{"username":"alice","password":"not-alice-password","pad":"#;
    let room = 16 * 1024 - head.len() - 1;
    format!("{head}{}}}", pad(room))
}

/// 1 500 connections at once, each sending one 16 KiB login (the cap): an
/// array of zeros in an extra field, then well-formed wrong passwords that
/// each cost a hash. The queue is bounded (503 with `Retry-After` past it,
/// counted), the extra fields are bounded while parsed (422), and the
/// server's peak memory stays under the bound whatever the number of
/// logins; when the flood is over, users log in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_logins_costs_time_never_memory() {
    if !cfg!(target_os = "linux") {
        eprintln!("SKIPPED: reads /proc");
        return;
    }
    let connections = socket_budget().min(1500);
    let (mut child, addr) = start_server(&["--metrics"]).await;
    let pid = child.id().expect("pid");
    let client = Client::new(addr);
    let before = rss_kib(pid);

    let zeros = padded(|room| format!("[{}0]", "0,".repeat((room - 3) / 2)));
    let words = padded(|room| format!("\"{}\"", "x".repeat(room - 2)));
    assert!(zeros.len() <= 16 * 1024 && words.len() <= 16 * 1024);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for body in [zeros, words] {
        let floods: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(raw_login(addr, body.clone())))
            .collect();
        for f in floods {
            if let Some((status, retry_after)) = f.await.expect("task") {
                if status == 503 {
                    let secs: u64 = retry_after
                        .and_then(|v| v.parse().ok())
                        .expect("a 503 says when to retry");
                    assert!(secs >= 1);
                }
                *statuses.entry(status).or_default() += 1;
            }
        }
    }
    let peak = peak_rss_kib(pid);
    eprintln!(
        "{connections} connections x 2 floods of 16 KiB logins: {statuses:?}; RSS {} MiB before, peak {} MiB, {} MiB after",
        before / 1024,
        peak / 1024,
        rss_kib(pid) / 1024
    );
    assert!(
        statuses.get(&422).copied().unwrap_or(0) > 0,
        "oversized extra fields were parsed: {statuses:?}"
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the queue of logins waiting for a hash was not bounded: {statuses:?}"
    );
    assert!(
        statuses.keys().all(|s| [401, 422, 503].contains(s)),
        "{statuses:?}"
    );
    assert_under_the_limit(peak);
    let metrics = client.get("/metrics", None).await;
    let text = metrics.json.as_str().unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.starts_with("auth_logins_total{outcome=\"overloaded\"}")),
        "refusals of a full queue are counted: {text}"
    );
    let ok = client.login("alice", "alice-password").await;
    assert_eq!(ok.status, 200, "the server logs users in after the flood");
    let _ = child.kill().await;
}

/// Sends `body` to `path` one byte per TCP segment, a millisecond apart, or
/// (`chunked`) all at once in one-byte chunks; returns the status.
async fn fragmented(addr: SocketAddr, path: &str, body: &str, chunked: bool) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
    conn.set_nodelay(true).ok()?;
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nconnection: close\r\n{framing}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.ok()?;
    if chunked {
        let mut all = String::with_capacity(body.len() * 6);
        for c in body.chars() {
            all.push_str(&format!("{:x}\r\n{c}\r\n", c.len_utf8()));
        }
        all.push_str("0\r\n\r\n");
        conn.write_all(all.as_bytes()).await.ok()?;
    } else {
        for byte in body.as_bytes() {
            conn.write_all(std::slice::from_ref(byte)).await.ok()?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.ok()?;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// A body costs its own length, however it is framed: sent a byte per TCP
/// segment (to the login and the refresh routes), or in one-byte chunks.
/// Before, each one-byte frame kept a slice of the connection's read buffer
/// alive, kilobytes per byte: ten such logins took the server past 700 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_costs_its_length() {
    if !cfg!(target_os = "linux") {
        eprintln!("SKIPPED: reads /proc");
        return;
    }
    let (mut child, addr) = start_server(&[]).await;
    let pid = child.id().expect("pid");
    let before = rss_kib(pid);
    let login = padded(|room| format!("\"{}\"", "x".repeat(room - 2)));
    let login = &login[..8 * 1024 - 2];
    let login = format!("{login}\"}}");
    let refresh = format!(r#"{{"refreshToken":"{}"}}"#, "x".repeat(8 * 1024 - 20));
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (path, body) = if i % 3 == 2 {
            ("/auth/refresh", refresh.clone())
        } else {
            ("/auth/login", login.clone())
        };
        tasks.push(tokio::spawn(async move {
            fragmented(addr, path, &body, false).await
        }));
    }
    for _ in 0..200 {
        let body = login.clone();
        tasks.push(tokio::spawn(async move {
            fragmented(addr, "/auth/login", &body, true).await
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        if let Some(status) = t.await.expect("task") {
            *statuses.entry(status).or_default() += 1;
        }
    }
    let peak = peak_rss_kib(pid);
    eprintln!(
        "24 bodies a byte at a time, 200 in one-byte chunks: {statuses:?}; RSS {} MiB before, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        statuses.keys().all(|s| [401, 408, 503].contains(s)),
        "{statuses:?}"
    );
    assert_under_the_limit(peak);
    let client = Client::new(addr);
    assert_eq!(client.login("alice", "alice-password").await.status, 200);
    let _ = child.kill().await;
}

/// A thousand clients pipelining requests they never read the answers to
/// (each answer blocks on a full socket): each connection's read buffer is
/// capped near the header limit, where hyper would let it grow to 400 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_without_reading_costs_a_bounded_buffer() {
    if !cfg!(target_os = "linux") {
        eprintln!("SKIPPED: reads /proc");
        return;
    }
    let connections = socket_budget().min(1000);
    let (mut child, addr) = start_server(&[]).await;
    let pid = child.id().expect("pid");
    let before = rss_kib(pid);
    let request = format!(
        "POST /auth/logout HTTP/1.1\r\nhost: x\r\nx: {}\r\n\r\n",
        "a".repeat(1000)
    )
    .repeat(500);
    let mut hogs = Vec::new();
    for _ in 0..connections {
        let request = request.clone();
        hogs.push(tokio::spawn(async move {
            let socket = tokio::net::TcpSocket::new_v4().map_err(|e| format!("new {e}"))?;
            socket
                .set_recv_buffer_size(4096)
                .map_err(|e| format!("buf {e}"))?;
            let mut conn = socket
                .connect(addr)
                .await
                .map_err(|e| format!("connect {e}"))?;
            conn.write_all(request.as_bytes())
                .await
                .map_err(|e| format!("write {e}"))?;
            // Held open, never read, until the test ends.
            Ok::<_, String>(conn)
        }));
    }
    // Until the server has taken what it will take: its memory stops growing.
    let (mut last, mut steady) = (0, Instant::now());
    let started = Instant::now();
    while steady.elapsed() < Duration::from_secs(3) && started.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_kib(pid);
        if now > last + 1024 {
            (last, steady) = (now, Instant::now());
        }
    }
    let peak = peak_rss_kib(pid);
    for hog in &hogs {
        hog.abort();
    }
    eprintln!(
        "{connections} connections pipelining without reading: RSS {} MiB before, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    assert_under_the_limit(peak);
    let client = Client::new(addr);
    assert_eq!(client.login("alice", "alice-password").await.status, 200);
    let _ = child.kill().await;
}
