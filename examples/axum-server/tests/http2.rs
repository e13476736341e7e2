//! The example server over HTTP/2, called by a real client (hyper's, over
//! rustls with ALPN, or with prior knowledge on plain TCP): the app and its
//! tokens work, and the serving limits hold as they do over HTTP/1.1.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use clap::Parser;
use example_axum_server::{HSTS, Limits, PAGE_CSP};
use http::{Method, Request, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long anything may take before the test gives up: generous, the
/// machine may be busy.
const DEADLINE: Duration = Duration::from_secs(60);

type Body = BoxBody<Bytes, Infallible>;

/// A certificate for `localhost` in PEM files, and its DER to trust.
struct TestCert {
    root: CertificateDer<'static>,
    config: Arc<rustls::ServerConfig>,
}

fn test_cert() -> TestCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("auth-http2-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("cert");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("key");
    let config = example_axum_server::tls_config(&cert_path, &key_path).expect("the TLS config");
    let _ = std::fs::remove_dir_all(&dir);
    TestCert {
        root: cert.der().clone(),
        config,
    }
}

/// The example app (HS256, the demo users).
async fn example_app() -> axum::Router {
    let args = example_axum_server::Args::try_parse_from(["example-axum-server"]).expect("args");
    let secret = "a-test-secret-that-is-at-least-32-bytes-long".to_owned();
    let authority = example_axum_server::authority(&args, Some(secret))
        .await
        .expect("the authority");
    let users = example_axum_server::demo_users().expect("the users");
    example_axum_server::app(authority, users).expect("the app")
}

/// Serves `app` on a loopback port with `limits`, over TLS when given,
/// until `shutdown` completes; returns its address and the serving task.
async fn start(
    app: axum::Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<(), example_axum_server::Error>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    let serving = tokio::spawn(example_axum_server::serve_tls(
        listener, app, shutdown, limits, tls,
    ));
    (addr, serving)
}

/// A TLS connection to `addr` as `localhost`, trusting `root` only,
/// offering `alpn`; with the protocol the server picked.
async fn tls_connect(
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Option<Vec<u8>>,
) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("the test's root");
    let mut config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let name = ServerName::try_from("localhost").expect("a name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, alpn)
}

/// An HTTP/2 client on `io`; the connection's task ends when the server
/// closes it.
async fn h2<I>(io: I) -> (SendRequest<Body>, tokio::task::JoinHandle<()>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("the HTTP/2 handshake");
    let driven = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, driven)
}

/// A request to `path` with `headers` and `body`.
fn request(method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(body).expect("a request")
}

fn empty() -> Body {
    Full::new(Bytes::new()).boxed()
}

/// An answer: its status, version, headers and body.
struct Answer {
    status: StatusCode,
    version: Version,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(client: &mut SendRequest<Body>, req: Request<Body>) -> Answer {
    tokio::time::timeout(DEADLINE, async {
        client.ready().await.expect("the connection is open");
        let res = client.send_request(req).await.expect("an answer");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("the body").to_bytes();
        Answer {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    })
    .await
    .expect("answered in time")
}

/// A request body that sends `first` and then nothing, never ending.
struct Stuck(Option<Bytes>);

impl hyper::body::Body for Stuck {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.take() {
            Some(first) => Poll::Ready(Some(Ok(Frame::data(first)))),
            None => Poll::Pending,
        }
    }
}

fn stuck_login() -> Request<Body> {
    request(
        Method::POST,
        "/auth/login",
        &[
            ("content-type", "application/json"),
            ("content-length", "100"),
        ],
        Stuck(Some(Bytes::from_static(b"{\"user"))).boxed(),
    )
}

/// Over TLS the server offers HTTP/2 by ALPN: a client that takes it signs
/// in and calls a protected route with its token (401 without), and every
/// answer carries HSTS; the page keeps its own CSP, the API answers get a
/// stricter one. A client that offers only HTTP/1.1 is served HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_by_alpn() {
    let tls = test_cert();
    let (addr, _serving) = start(
        example_app().await,
        Limits::default(),
        Some(tls.config.clone()),
        std::future::pending(),
    )
    .await;

    let (io, alpn) = tls_connect(addr, &tls.root, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (mut client, _conn) = h2(io).await;

    let refused = send(&mut client, request(Method::GET, "/profile", &[], empty())).await;
    assert_eq!(refused.version, Version::HTTP_2);
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("strict-transport-security"), Some(HSTS));

    let login = r#"{"username":"alice","password":"alice-password"}"#;
    let signed_in = send(
        &mut client,
        request(
            Method::POST,
            "/auth/login",
            &[("content-type", "application/json")],
            Full::new(Bytes::from(login)).boxed(),
        ),
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    let token = signed_in.json()["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let bearer = format!("Bearer {token}");
    let profile = send(
        &mut client,
        request(
            Method::GET,
            "/profile",
            &[("authorization", &bearer)],
            empty(),
        ),
    )
    .await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(profile.json()["sub"], "alice");
    assert_eq!(
        profile.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );

    let page = send(&mut client, request(Method::GET, "/", &[], empty())).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-security-policy"), Some(PAGE_CSP));
    assert_eq!(page.header("strict-transport-security"), Some(HSTS));

    // HTTP/1.1 only: served as such.
    let (io, alpn) = tls_connect(addr, &tls.root, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1.1");
    tokio::spawn(conn);
    let res = h1
        .send_request(
            Request::get("/healthz")
                .header("host", "localhost")
                .body(empty())
                .expect("a request"),
        )
        .await
        .expect("an answer");
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(res.status(), StatusCode::OK);
}

/// On plain TCP a client may speak HTTP/2 with prior knowledge (h2c); no
/// HSTS there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge() {
    let (addr, _serving) = start(
        example_app().await,
        Limits::default(),
        None,
        std::future::pending(),
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut client, _conn) = h2(tcp).await;
    let health = send(&mut client, request(Method::GET, "/healthz", &[], empty())).await;
    assert_eq!(health.version, Version::HTTP_2);
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.header("strict-transport-security"), None);
    let refused = send(&mut client, request(Method::GET, "/profile", &[], empty())).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

/// Over HTTP/2 the header cap is the example's 64 KiB (hyper's own default,
/// 16 KiB, would refuse a 32 KiB header), past it 431, and so past 256
/// header fields; a body past the cap
/// is 413; a body that never ends is 408 after the request time limit; and
/// past the streams cap the next request waits for one to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_hold_over_http2() {
    let tls = test_cert();
    let limits = Limits {
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let (addr, _serving) = start(
        example_app().await,
        limits,
        Some(tls.config.clone()),
        std::future::pending(),
    )
    .await;
    let (io, _) = tls_connect(addr, &tls.root, &[b"h2"]).await;
    let (mut client, _conn) = h2(io).await;

    let within = "a".repeat(32 * 1024);
    let big = send(
        &mut client,
        request(Method::GET, "/healthz", &[("x-padding", &within)], empty()),
    )
    .await;
    assert_eq!(big.status, StatusCode::OK);
    let past = "a".repeat(100 * 1024);
    let too_big = send(
        &mut client,
        request(Method::GET, "/healthz", &[("x-padding", &past)], empty()),
    )
    .await;
    assert_eq!(too_big.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // Past 256 fields, however short (over HTTP/2 each costs the server
    // about a hundred bytes beside its text): 431. Cookies sent one per
    // field, as browsers do over HTTP/2, count.
    let fields = |n: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|i| ("cookie".to_owned(), format!("c{i}=1")))
            .collect()
    };
    for (n, status) in [
        (200, StatusCode::OK),
        (257, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
    ] {
        let fields = fields(n);
        let headers: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = send(
            &mut client,
            request(Method::GET, "/healthz", &headers, empty()),
        )
        .await;
        assert_eq!(answer.status, status, "{n} header fields");
    }

    let body = Full::new(Bytes::from(vec![b'x'; 100 * 1024])).boxed();
    let too_long = send(
        &mut client,
        request(
            Method::POST,
            "/admin/keys/withdraw",
            &[
                ("content-type", "application/json"),
                ("content-length", "102400"),
            ],
            body,
        ),
    )
    .await;
    // The server's cap, before the route's token check (401).
    assert_eq!(too_long.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Eight stuck logins fill the connection's streams (each answered 408
    // after 2 s); a ninth request waits for one of them to end.
    let started = Instant::now();
    let stuck: Vec<_> = (0..Limits::default().max_streams)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { send(&mut client, stuck_login()).await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = send(&mut client, request(Method::GET, "/healthz", &[], empty())).await;
    let waited = started.elapsed();
    assert_eq!(health.status, StatusCode::OK);
    for login in stuck {
        assert_eq!(login.await.expect("a login"), StatusCode::REQUEST_TIMEOUT);
    }
    assert!(
        waited >= limits.request_timeout,
        "the ninth request was answered after {waited:?}, before any of the eight ended"
    );
}

/// Reads until the server closes the connection; `None` if it did not
/// within [`DEADLINE`].
async fn closed_by_server(conn: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Duration> {
    let start = Instant::now();
    let mut sink = Vec::new();
    tokio::time::timeout(DEADLINE, conn.read_to_end(&mut sink))
        .await
        .ok()
        .map(|_| start.elapsed())
}

/// A connection without a request in flight is closed after the header
/// read timeout, whatever it is stuck on: half an HTTP/2 preface, a TLS
/// handshake never begun, or nothing after its last answer (HTTP/2: the
/// connection is sent `GOAWAY` and ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let tls = test_cert();
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        // Only the idle limit can close them within the test's deadline.
        stall_timeout: DEADLINE * 10,
        ..Limits::default()
    };
    let (plain, _serving) = start(example_app().await, limits, None, std::future::pending()).await;
    let (secure, _serving) = start(
        example_app().await,
        limits,
        Some(tls.config.clone()),
        std::future::pending(),
    )
    .await;

    let mut preface = tokio::net::TcpStream::connect(plain)
        .await
        .expect("connects");
    preface
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("sent");
    assert!(closed_by_server(&mut preface).await.is_some());

    let mut no_handshake = tokio::net::TcpStream::connect(secure)
        .await
        .expect("connects");
    assert!(closed_by_server(&mut no_handshake).await.is_some());

    let tcp = tokio::net::TcpStream::connect(plain)
        .await
        .expect("connects");
    let (mut client, conn) = h2(tcp).await;
    let health = send(&mut client, request(Method::GET, "/healthz", &[], empty())).await;
    assert_eq!(health.status, StatusCode::OK);
    tokio::time::timeout(DEADLINE, conn)
        .await
        .expect("the idle HTTP/2 connection was closed")
        .expect("the client task");
}

/// On shutdown the server stops accepting, lets a request in flight (over
/// HTTP/2) finish and answer, then returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    let entered = Arc::new(tokio::sync::Notify::new());
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get({
            let entered = entered.clone();
            move || async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
                "done"
            }
        }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, serving) = start(slow, Limits::default(), None, async move {
        let _ = stopped.await;
    })
    .await;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut client, _conn) = h2(tcp).await;
    let in_flight = tokio::spawn(async move {
        send(&mut client, request(Method::GET, "/slow", &[], empty())).await
    });
    tokio::time::timeout(DEADLINE, entered.notified())
        .await
        .expect("the request reached the handler");
    stop.send(()).expect("the server is running");

    let answer = in_flight.await.expect("the request");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "done");
    tokio::time::timeout(DEADLINE, serving)
        .await
        .expect("the server stopped")
        .expect("the serving task")
        .expect("no error");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// An HTTP/2 frame header: payload length, type, flags, stream 0.
fn frame_head(len: usize, kind: u8, flags: u8) -> Vec<u8> {
    let len = u32::try_from(len).expect("a small frame").to_be_bytes();
    vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0]
}

/// A client that never acknowledges the `PING` sent with the server's
/// first `GOAWAY` (hyper waits for that acknowledgement before it closes),
/// and sends a `PING` of its own every 100 ms so the connection never
/// stalls, is still cut off: reset once the request time limit has passed
/// since it was told to close. Before, it kept its connection slot for
/// ever, and enough such clients kept every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_acknowledges_the_closing_ping_is_cut_off() {
    const SETTINGS: u8 = 4;
    const PING: u8 = 6;
    const ACK: u8 = 1;
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(1),
        // Only the idle limit and its grace can close it within the deadline.
        stall_timeout: DEADLINE * 10,
        ..Limits::default()
    };
    let (addr, _serving) = start(example_app().await, limits, None, std::future::pending()).await;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut read, mut write) = tcp.into_split();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame_head(0, SETTINGS, 0));
    write.write_all(&hello).await.expect("the preface");
    let (acks, mut to_ack) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Writes: the SETTINGS acknowledgements, and a PING every 100 ms; never
    // a PING acknowledgement.
    let writer = tokio::spawn(async move {
        let mut ping = frame_head(8, PING, 0);
        ping.extend(*b"stayhere");
        loop {
            tokio::select! {
                ack = to_ack.recv() => match ack {
                    Some(()) => write.write_all(&frame_head(0, SETTINGS, ACK)).await?,
                    None => return Ok::<(), std::io::Error>(()),
                },
                () = tokio::time::sleep(Duration::from_millis(100)) => write.write_all(&ping).await?,
            }
        }
    });
    // Reads frames until the server closes the connection.
    let started = Instant::now();
    let closed = tokio::time::timeout(DEADLINE, async move {
        let mut head = [0u8; 9];
        loop {
            if read.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0u8; len];
            if read.read_exact(&mut payload).await.is_err() {
                return;
            }
            if head[3] == SETTINGS && head[4] & ACK == 0 {
                let _ = acks.send(());
            }
        }
    })
    .await;
    writer.abort();
    assert!(
        closed.is_ok(),
        "the connection was still open after {:?}",
        started.elapsed()
    );
}
