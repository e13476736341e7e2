//! The servers the tests talk to: the example server over HTTP or HTTPS and
//! its metrics, a cross-site page, and an API on another origin.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::process::{Child, Command};

use crate::harness::{Browser, TestCert, free_port, wait_listening};

/// The example server, killed when dropped.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) addr: SocketAddr,
    _child: Child,
}

/// The access-token lifetime of the walk-through: long enough that a token
/// one tab hands over is still alive when the other tab uses it, however
/// slow the machine.
const ACCESS_TTL_SECS: u64 = 5;

/// The example server with `flags`, `--access-ttl` [`ACCESS_TTL_SECS`]
/// unless they set it.
pub(crate) async fn server(flags: &[&str], scheme: &str) -> Server {
    let port = free_port();
    let default_ttl = format!("{ACCESS_TTL_SECS}s");
    let ttl: &[&str] = if flags.contains(&"--access-ttl") {
        &[]
    } else {
        &["--access-ttl", &default_ttl]
    };
    let child = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(ttl)
        .args(["--leeway", "0s", "--metrics"])
        .args(flags)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("example-axum-server starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, "example-axum-server").await;
    Server {
        base: format!("{scheme}://localhost:{port}"),
        addr,
        _child: child,
    }
}

/// The value of `series` (`auth_refreshes_total{outcome="ok"}`) in a
/// Prometheus text; 0 before its first increment.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .next()
        .unwrap_or(0.0) as u64
}

/// Waits until every access token issued so far has expired (`exp` is in
/// whole seconds, the server's leeway 0).
pub(crate) async fn expire_access_tokens() {
    tokio::time::sleep(Duration::from_millis(ACCESS_TTL_SECS * 1000 + 1000)).await;
}

/// Successful refreshes (rotations) the server counted.
pub(crate) async fn rotations(b: &Browser, base: &str) -> u64 {
    let text = b
        .js(&format!(
            "return fetch('{base}/metrics').then(r => r.text())"
        ))
        .await;
    counter(
        text.as_str().unwrap_or_default(),
        "auth_refreshes_total{outcome=\"ok\"}",
    )
}

/// Refreshes with `outcome` (`ok`, `superseded`, `reused`...) the server
/// counted, asked over plain HTTP.
pub(crate) async fn refreshes(http: &contract_tests::Client, outcome: &str) -> u64 {
    let reply = http.get("/metrics", None).await;
    counter(
        reply.json.as_str().unwrap_or_default(),
        &format!("auth_refreshes_total{{outcome=\"{outcome}\"}}"),
    )
}

/// A page on another site that posts to the auth routes.
pub(crate) async fn cross_site_page(target: &str) -> String {
    use axum::routing::get;
    let html = format!(
        "<!doctype html><body><form id=f method=post action='{target}/auth/refresh'></form>\
         <script>document.getElementById('f').submit()</script></body>"
    );
    let app = axum::Router::new().route(
        "/",
        get(move || std::future::ready(axum::response::Html(html))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{}/", addr.port())
}

/// The example server over HTTPS with `tls`.
pub(crate) async fn https_server(tls: &TestCert) -> Server {
    let cert = tls.cert.to_str().expect("utf-8");
    let key = tls.key.to_str().expect("utf-8");
    server(&["--tls-cert", cert, "--tls-key", key], "https").await
}

/// One request over HTTPS to `addr` as `localhost`, trusting `root` only:
/// the answer's status and `Strict-Transport-Security`.
pub(crate) async fn https_answer(
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>) {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("the test's root");
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/1.1");
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("localhost:{}", addr.port()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = send
        .send_request(req.body(Empty::<Bytes>::new()).expect("a request"))
        .await
        .expect("an answer");
    let hsts = res
        .headers()
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (res.status().as_u16(), hsts)
}

/// What [`api_elsewhere`] records of each request: its `Authorization` and
/// `DPoP` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) authorization: Option<String>,
    pub(crate) dpop: Option<String>,
}

/// The header `name`, when it is there and text.
fn header(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What [`api_elsewhere`] records: each request's [`Credentials`], and its
/// `x-custom` header and body joined by `|` when it has the header.
pub(crate) type Seen = (Arc<Mutex<Vec<Credentials>>>, Arc<Mutex<Vec<String>>>);

/// An API on another origin: it answers every request 401 (CORS open, the
/// preflight for `Authorization` and `DPoP` included, so the page reads the
/// answer and a token would get through) and records each request (see
/// [`Seen`]).
pub(crate) async fn api_elsewhere() -> (String, Seen) {
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let custom = Arc::new(Mutex::new(Vec::new()));
    let record_custom = custom.clone();
    let api = axum::Router::new().route(
        "/api",
        axum::routing::any(move |req: axum::extract::Request| {
            let (record, record_custom) = (record.clone(), record_custom.clone());
            async move {
                let cors = [
                    ("access-control-allow-origin", "*"),
                    (
                        "access-control-allow-headers",
                        "authorization, dpop, x-custom, content-type",
                    ),
                    ("access-control-allow-methods", "GET, POST"),
                ];
                if req.method() == Method::OPTIONS {
                    return (StatusCode::NO_CONTENT, cors).into_response();
                }
                let seen = Credentials {
                    authorization: header(req.headers(), "authorization"),
                    dpop: header(req.headers(), "dpop"),
                };
                record.lock().expect("the record").push(seen);
                if let Some(x) = req.headers().get("x-custom").cloned() {
                    let body = axum::body::to_bytes(req.into_body(), 1024)
                        .await
                        .unwrap_or_default();
                    let seen = format!(
                        "{}|{}",
                        x.to_str().unwrap_or_default(),
                        String::from_utf8_lossy(&body)
                    );
                    record_custom.lock().expect("the record").push(seen);
                }
                (
                    StatusCode::UNAUTHORIZED,
                    cors,
                    [("www-authenticate", "Bearer")],
                    "{}",
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, api).await });
    (format!("http://127.0.0.1:{}", addr.port()), (seen, custom))
}
