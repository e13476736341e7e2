//! The example binary as a user runs it, on a loopback port, called over
//! real sockets: it keeps serving when it runs out of file descriptors,
//! serves at most `--max-connections` connections at once, speaks HTTP/2
//! with prior knowledge under the same limits, and describes its arguments
//! in `--help`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_example-hyper-server");

/// How long anything may take before the test gives up: generous, the
/// machine may be busy.
const DEADLINE: Duration = Duration::from_secs(60);

/// The example server, killed when dropped.
struct Server {
    child: Child,
    /// Where it listens (`127.0.0.1:<port>`).
    addr: String,
    /// The demo token it printed.
    token: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the binary on a free loopback port with the `flags`, with at
    /// most `fd_limit` open file descriptors when given (`ulimit -n`), and
    /// waits for the address and the token it prints.
    fn start(fd_limit: Option<u32>, flags: &[&str]) -> Server {
        let addr = free_addr();
        let mut command = match fd_limit {
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!(r#"ulimit -n {limit} && exec "$0" "$@""#))
                    .arg(BIN);
                sh
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .arg(&addr)
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");

        let stdout = child.stdout.take().expect("stdout");
        let (lines, printed) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Keep draining when nobody listens any more.
                let _ = lines.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .expect("stderr")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let (mut listening, mut token) = (false, None);
        let start = Instant::now();
        while !listening || token.is_none() {
            let remaining = DEADLINE.saturating_sub(start.elapsed());
            let Ok(line) = printed.recv_timeout(remaining) else {
                panic!(
                    "the server printed no address and token; stderr:\n{}",
                    stderr.lock().expect("stderr")
                );
            };
            if let Some(rest) = line.strip_prefix("listening on http://") {
                assert_eq!(rest.split_whitespace().next(), Some(addr.as_str()));
                listening = true;
            }
            if let Some((_, rest)) = line.split_once("Bearer ") {
                token = rest.split('\'').next().map(str::to_owned);
            }
        }
        Server {
            child,
            addr,
            token: token.expect("token"),
            stderr,
        }
    }

    /// How it ended, or `None` while it runs.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// What it wrote to stderr so far.
    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port free a moment ago.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// A connection on which `GET /` (with the token when given) has been
/// sent; keep-alive unless `close`.
fn send_get(addr: &str, token: Option<&str>, close: bool) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)?;
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let connection = if close { "close" } else { "keep-alive" };
    write!(
        stream,
        "GET / HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: {connection}\r\n\r\n"
    )?;
    Ok(stream)
}

/// The status and body of a response the server ends with closing the
/// connection.
fn read_response(mut stream: TcpStream) -> io::Result<(u16, String)> {
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// `GET /` on a fresh connection, tried again until it is answered or
/// [`DEADLINE`] passes.
fn get(addr: &str, token: Option<&str>) -> (u16, String) {
    let start = Instant::now();
    loop {
        let answered = send_get(addr, token, true).and_then(|stream| {
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            read_response(stream)
        });
        match answered {
            Ok(answer) => return answer,
            Err(e) if start.elapsed() < DEADLINE => {
                eprintln!("GET / on {addr}: {e}; trying again");
                thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("GET / on {addr} never answered: {e}"),
        }
    }
}

/// Runs the binary with `args` to its end, which must come within
/// [`DEADLINE`].
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
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
                "`{args:?}` still running after {DEADLINE:?} (the arguments were ignored?); stdout:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn keeps_serving_after_running_out_of_file_descriptors() {
    let mut server = Server::start(Some(64), &[]);
    // More idle connections than the process may have descriptors.
    let idle: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(&server.addr).expect("connect"))
        .collect();

    // The server runs out of descriptors (it says so for each failed
    // accept); it must live through it.
    let start = Instant::now();
    while server.stderr().matches("accept failed").count() < 3 {
        if let Some(status) = server.exited() {
            panic!(
                "the server ended ({status}) when out of file descriptors; stderr:\n{}",
                server.stderr()
            );
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the server never reported running out of descriptors; stderr:\n{}",
            server.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.exited(), None, "stderr:\n{}", server.stderr());

    // Once the idle clients leave, everyone is served again.
    drop(idle);
    let (status, _) = get(&server.addr, None);
    assert_eq!(status, 401);
    let token = server.token.clone();
    assert_eq!(
        get(&server.addr, Some(&token)),
        (200, "hello demo\n".to_owned())
    );
    assert_eq!(server.exited(), None, "stderr:\n{}", server.stderr());
}

#[test]
fn connections_past_the_cap_wait_until_one_ends() {
    let server = Server::start(None, &["--max-connections", "4"]);
    // Four kept-alive connections, each answered once: all four are being
    // served, and stay so (idle) for the header read timeout (10 s).
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = send_get(&server.addr, None, false).expect("request");
            stream
                .set_read_timeout(Some(DEADLINE))
                .expect("read timeout");
            let mut head = [0; 12];
            stream.read_exact(&mut head).expect("an answer");
            assert_eq!(&head, b"HTTP/1.1 401");
            stream
        })
        .collect();

    // A fifth waits in the backlog: no answer while the four stay.
    let waiting = send_get(&server.addr, None, true).expect("request");
    waiting
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let mut byte = [0; 1];
    match (&waiting).read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a connection past the cap was served: {other:?}"),
    }

    // One of the four leaves: the fifth is served.
    drop(held.pop());
    waiting
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let (status, _) = read_response(waiting).expect("an answer once a connection ended");
    assert_eq!(status, 401);
}

#[test]
fn help_describes_the_address_and_the_connection_cap() {
    let output = run(&["--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for expected in ["[ADDR]", "127.0.0.1:3001", "--max-connections", "1024"] {
        assert!(help.contains(expected), "no {expected} in:\n{help}");
    }
}

#[test]
fn an_unknown_flag_is_refused() {
    let output = run(&[&free_addr(), "--no-such-flag"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

/// A client that pipelines requests and never reads the responses blocks
/// the server's writes: nothing moves on its connection, which is closed
/// after `--stall-timeout`, freeing its slot (here the only one) for the
/// next client. Without the limit it would hold the slot forever.
#[test]
fn a_client_that_never_reads_loses_its_slot_after_the_stall_timeout() {
    let server = Server::start(None, &["--max-connections", "1", "--stall-timeout", "2"]);
    let addr = server.addr.clone();
    let mut hog = TcpStream::connect(&addr).expect("connect");
    let requests = format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n").repeat(1000);
    // Writes until the server stops reading, then blocks until it closes
    // the connection (the write fails).
    let writer = thread::spawn(move || {
        let start = Instant::now();
        while hog.write_all(requests.as_bytes()).is_ok() {
            assert!(start.elapsed() < DEADLINE * 2, "the hog was never cut off");
        }
        start.elapsed()
    });
    // Give the hog time to take the only slot, then ask as a normal client.
    thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let (status, _) = get(&addr, None);
    let waited = start.elapsed();
    assert_eq!(status, 401);
    let cut_after = writer.join().expect("writer");
    eprintln!("the hog was cut off after {cut_after:?}; the next client waited {waited:?}");
    // Its log line may still be on its way through the pipe.
    let start = Instant::now();
    while !server.stderr().contains("nothing moved") {
        assert!(start.elapsed() < DEADLINE, "{}", server.stderr());
        thread::sleep(Duration::from_millis(50));
    }
}

/// The server ports' sockets in `FIN-WAIT-1` (closed by the server with
/// data the client has not taken yet), from `/proc/net/tcp`.
fn fin_wait_1(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && fields.get(3) == Some(&"04")
        })
        .count()
}

/// A client that takes its answers a trickle at a time stalls the server's
/// writes; closed for that, its connection is reset, not left in the
/// kernel with the unsent answers (in `FIN-WAIT-1` for as long as the
/// client goes on trickling), where every such connection would add its
/// send buffer to the kernel's memory.
#[test]
fn a_stalled_connection_is_reset_not_left_in_the_kernel() {
    if !cfg!(target_os = "linux") {
        eprintln!("SKIPPED: reads /proc/net/tcp");
        return;
    }
    let server = Server::start(None, &["--stall-timeout", "2"]);
    let addr = server.addr.clone();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut slow = TcpStream::connect(&addr).expect("connect");
    // Within the server's read buffer, and far more answer than the
    // socket buffers hold.
    let requests = format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n").repeat(1500);
    slow.write_all(requests.as_bytes()).expect("requests sent");
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut trickle = [0u8; 64];
    // Read a little at a time until the server gives up on the connection.
    let ended = loop {
        thread::sleep(Duration::from_millis(500));
        match slow.read(&mut trickle) {
            Ok(0) => break "closed",
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "reset",
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(e) => panic!("{e}"),
        }
        if server.stderr().contains("nothing moved") {
            // Given up: nothing of it may stay in the kernel.
            thread::sleep(Duration::from_millis(200));
            break "given up";
        }
        assert!(start.elapsed() < DEADLINE, "the server never gave up");
    };
    eprintln!("the trickling client: {ended} after {:?}", start.elapsed());
    assert_eq!(
        fin_wait_1(port),
        0,
        "the unsent answers stayed in the kernel"
    );
}

/// An HTTP/2 client with prior knowledge on a new connection to `addr`
/// (what `curl --http2-prior-knowledge` does); the connection's task ends
/// when the server closes it.
async fn h2(
    addr: &str,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<hyper::body::Bytes>>,
    tokio::task::JoinHandle<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("the HTTP/2 handshake");
    let driven = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, driven)
}

/// `GET /` over HTTP/2 with `headers`: the status, the version and the body.
async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<hyper::body::Bytes>>,
    headers: &[(&str, &str)],
) -> (u16, hyper::Version, String) {
    use http_body_util::BodyExt;
    let mut req = hyper::Request::get("http://localhost/");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let answer = async {
        send.ready().await.expect("the connection is open");
        let res = send
            .send_request(req.body(http_body_util::Empty::new()).expect("a request"))
            .await
            .expect("an answer");
        let (status, version) = (res.status().as_u16(), res.version());
        let body = res
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        (status, version, String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(DEADLINE, answer)
        .await
        .expect("answered in time")
}

/// HTTP/2 with prior knowledge: 401 without the token, 200 with it; the
/// header cap is the example's 64 KiB over HTTP/2 too (hyper's default, 16
/// KiB, would refuse a 32 KiB header), past it 431.
#[tokio::test]
async fn http2_with_prior_knowledge() {
    let server = Server::start(None, &[]);
    let (mut send, _conn) = h2(&server.addr).await;
    let (status, version, _) = h2_get(&mut send, &[]).await;
    assert_eq!((status, version), (401, hyper::Version::HTTP_2));
    let bearer = format!("Bearer {}", server.token);
    let answer = h2_get(&mut send, &[("authorization", &bearer)]).await;
    assert_eq!(
        answer,
        (200, hyper::Version::HTTP_2, "hello demo\n".to_owned())
    );

    let within = "a".repeat(32 * 1024);
    let (status, _, _) = h2_get(&mut send, &[("x-padding", &within)]).await;
    assert_eq!(status, 401);
    let past = "a".repeat(100 * 1024);
    let (status, _, _) = h2_get(&mut send, &[("x-padding", &past)]).await;
    assert_eq!(status, 431);
}

/// A connection without a request in flight is closed after the header
/// read timeout (10 s), before the stall timeout could: one that sent half
/// the HTTP/2 preface, and an HTTP/2 one after its last answer (sent
/// `GOAWAY`, it ends).
#[tokio::test]
async fn idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(None, &["--stall-timeout", "600"]);
    let (mut send, conn) = h2(&server.addr).await;
    let (status, _, _) = h2_get(&mut send, &[]).await;
    assert_eq!(status, 401);

    let mut preface = tokio::net::TcpStream::connect(&server.addr)
        .await
        .expect("connect");
    preface
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("sent");
    let mut sink = Vec::new();
    tokio::time::timeout(DEADLINE, preface.read_to_end(&mut sink))
        .await
        .expect("half a preface, then nothing: closed")
        .expect("closed, not reset");
    tokio::time::timeout(DEADLINE, conn)
        .await
        .expect("the idle HTTP/2 connection was closed")
        .expect("the client task");
}
