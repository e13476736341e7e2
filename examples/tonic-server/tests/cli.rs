//! The two binaries as a user runs them: `--help`, a refused unknown flag,
//! and a server started on `--addr` that the client reaches there with the
//! command the server printed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use example_tonic_server::{SECRET_ENV, TOKEN_ENV};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SERVER: &str = env!("CARGO_BIN_EXE_example-tonic-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_tonic-client");

/// How long anything may take before the test gives up: generous, the
/// machine may be busy.
const DEADLINE: Duration = Duration::from_secs(60);

/// A child process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback address with a port free a moment ago.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// `bin` with `args`, without the example's environment variables.
fn command(bin: &str, args: &[&str]) -> Command {
    let mut command = Command::new(bin);
    command
        .args(args)
        .env_remove(SECRET_ENV)
        .env_remove(TOKEN_ENV);
    command
}

/// Runs `command` to its end, which must come within [`DEADLINE`].
fn run(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "`{command:?}` still running after {DEADLINE:?} (the arguments were ignored?); stdout:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn help_describes_addr_for_server_and_client() {
    for bin in [SERVER, CLIENT] {
        let output = run(command(bin, &["--help"]));
        assert!(output.status.success(), "{bin}: {output:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        for expected in ["--addr", "127.0.0.1:50051"] {
            assert!(help.contains(expected), "{bin}: no {expected} in:\n{help}");
        }
    }
}

#[test]
fn an_unknown_flag_is_refused_by_server_and_client() {
    for bin in [SERVER, CLIENT] {
        let output = run(command(bin, &["--addr", &free_addr(), "--no-such-flag"]));
        assert!(!output.status.success(), "{bin}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--no-such-flag"), "{bin}: {stderr}");
    }
}

#[test]
fn the_client_reaches_a_server_started_on_addr() {
    let addr = free_addr();
    let mut server = command(SERVER, &["--addr", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Running)
        .expect("start the server");
    let stdout = server.0.stdout.take().expect("stdout");
    let (lines, printed) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });

    // What it prints up to the line saying where it serves.
    let mut output = Vec::new();
    let start = Instant::now();
    loop {
        let remaining = DEADLINE.saturating_sub(start.elapsed());
        let line = printed
            .recv_timeout(remaining)
            .unwrap_or_else(|e| panic!("the server stopped printing ({e}) after:\n{output:#?}"));
        let serving = line.starts_with("gRPC on ");
        output.push(line);
        if serving {
            break;
        }
    }
    let serving = output.last().expect("a line");
    assert!(
        serving.starts_with(&format!("gRPC on {addr}:")),
        "{serving}"
    );

    // The client commands it printed name the address; the last one has
    // the roles `user` and `admin`.
    let suffix = format!(" cargo run -p example-tonic-server --bin tonic-client -- --addr {addr}");
    let commands: Vec<&str> = output
        .iter()
        .filter_map(|line| line.trim().strip_prefix(&format!("{TOKEN_ENV}=")))
        .collect();
    assert_eq!(commands.len(), 2, "{output:#?}");
    let mut tokens = commands.iter().map(|command| {
        command
            .strip_suffix(&suffix)
            .unwrap_or_else(|| panic!("not a command for {addr}: {command}"))
    });
    let admin_token = tokens.nth(1).expect("the admin token");

    // A tonic client reaches it there.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let status = runtime.block_on(async {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect_timeout(DEADLINE)
            .connect()
            .await
            .expect("connect");
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .expect("health check")
            .into_inner()
            .status()
    });
    assert_eq!(status, ServingStatus::Serving);

    // And so does the client binary, run as printed.
    let mut client = command(CLIENT, &["--addr", &addr]);
    client.env(TOKEN_ENV, admin_token);
    let output = run(client);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}\nstdout:\n{stdout}");
    for expected in [
        "served: Serving",
        "served: order-1 ",
        "served: Some(Order { id: \"order-1\"",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
}

/// Connections that never send the HTTP/2 preface are closed after
/// `PREFACE_TIMEOUT` instead of holding descriptors: with `ulimit -n 64`
/// and 100 silent connections, a real client is served once they are cut
/// off (before, only once they hung up).
#[test]
fn silent_connections_are_closed_and_the_server_serves_again() {
    let addr = free_addr();
    let _server = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" "$@""#)
        .arg(SERVER)
        .args(["--addr", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .expect("start the server");
    let start = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(start.elapsed() < DEADLINE, "the server never listened");
        thread::sleep(Duration::from_millis(50));
    }
    // More silent connections than the server has descriptors; kept open.
    let silent: Vec<std::net::TcpStream> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(silent.len() > 64, "{} connected", silent.len());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let status = runtime.block_on(async {
        let check = async {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .expect("url")
                .connect()
                .await?;
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await?
                .into_inner()
                .status();
            Ok::<_, Box<dyn std::error::Error>>(status)
        };
        tokio::time::timeout(DEADLINE, check).await
    });
    let waited = started.elapsed();
    drop(silent);
    let status = status
        .expect("served while the silent connections were still open")
        .expect("a health answer");
    eprintln!("served after {waited:?} behind 100 silent connections");
    assert_eq!(status, ServingStatus::Serving);
}
