//! The demo page in a real headless Chromium, driven through chromedriver
//! (WebDriver), against the example server started with `--access-ttl 2s`:
//! sign-in, where the tokens live, a transparent refresh after expiry, a
//! reload, two tabs refreshing at once (one rotation), sign-out, and a
//! cross-site request refused, over HTTP and over HTTPS (`__Secure-` cookie,
//! HSTS on every answer). Then the client against a thief who refreshed a
//! copied cookie first (the page ends the session), and against an API of
//! another origin (no token, no refresh). Each step leaves a screenshot in
//! `target/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test is
//! skipped with a loud message, unless `CI` is set, where it fails.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the browser is installed; a missing one fails under `CI`.
fn browser_installed() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} or {CHROMEDRIVER} is missing and CI is set: the browser test must run"
    );
    eprintln!(
        "\n\n*** SKIPPED: the browser test needs Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver) ***\n\n"
    );
    false
}

/// A new, empty directory under the temporary directory, named so that no
/// other test, run or process shares it (a port number is not enough: the
/// kernel hands a released port out again).
fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// chromedriver and a headless Chromium session, ended when dropped; its
/// profile directory is removed then.
struct Browser {
    client: Client,
    _driver: Child,
    _profile: ScratchDir,
    driver: SocketAddr,
    shots: PathBuf,
    step: usize,
}

/// A directory removed when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Chromium may still be writing while it exits; what stays is
        // harmless now that no other test can pick the same name.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    async fn start(extra_args: &[&str], shots: &str) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_listening(driver_addr, "chromedriver").await;
        // A profile of its own, never one a finished test left behind: a
        // reused profile brings that test's cookies for `localhost`.
        let profile = scratch_dir("auth-browser");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--window-size=1000,800".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        let caps = json!({ "goog:chromeOptions": { "binary": CHROMIUM, "args": args } });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/browser")
            .join(shots);
        std::fs::create_dir_all(&shots).expect("the screenshot directory");
        Browser {
            client,
            _driver: driver,
            _profile: ScratchDir(profile),
            driver: driver_addr,
            shots,
            step: 0,
        }
    }

    async fn screenshot(&mut self, name: &str) {
        self.step += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("the screenshot is written");
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Waits until `script` returns true.
    async fn until(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let log = self.log().await;
                panic!("timed out waiting for {what}; token events: {log:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the profile shows alice.
    async fn until_alice(&self, what: &str) {
        self.until(
            "return document.getElementById('profile').textContent.startsWith('alice')",
            what,
        )
        .await;
    }

    async fn ready(&self) {
        self.until("return document.body.dataset.ready === 'true'", "the page")
            .await;
    }

    async fn text(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .text()
            .await
            .expect("its text")
    }

    async fn visible(&self, id: &str) -> bool {
        self.js(&format!(
            "return !document.getElementById('{id}').closest('[hidden]')"
        ))
        .await
            == Value::Bool(true)
    }

    async fn log(&self) -> Vec<String> {
        let v = self
            .js("return [...document.querySelectorAll('#log li')].map(li => li.textContent)")
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .click()
            .await
            .expect("a click");
    }

    async fn sign_in(&self, user: &str, password: &str) {
        let form = self.client.find(Locator::Id("signin")).await.expect("form");
        for (name, value) in [("username", user), ("password", password)] {
            let input = form
                .find(Locator::Css(&format!("input[name='{name}']")))
                .await
                .expect("input");
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("typing");
        }
        self.click("submit").await;
    }

    /// The refresh cookie, as the browser keeps it for the auth routes (read
    /// in a tab of its own, so the page keeps its memory). WebDriver reads
    /// `HttpOnly` cookies too, as anyone with the browser profile could.
    async fn refresh_cookie(&self, base: &str) -> Option<Cookie<'static>> {
        let page = self.client.window().await.expect("window");
        let tab = self.client.new_window(true).await.expect("a tab").handle;
        self.client.switch_to_window(tab).await.expect("switch");
        self.client
            .goto(&format!("{base}/auth/sessions"))
            .await
            .expect("goto");
        let cookies = self.client.get_all_cookies().await.expect("cookies");
        self.client.close_window().await.expect("close the tab");
        self.client.switch_to_window(page).await.expect("switch");
        let mut found: Vec<_> = cookies
            .into_iter()
            .filter(|c| c.name().contains("refresh_token"))
            .collect();
        assert!(found.len() <= 1, "more than one refresh cookie: {found:?}");
        found.pop()
    }

    /// Has Chromium ignore the pages' Content-Security-Policy from the next
    /// navigation on (`Page.setBypassCSP`, through chromedriver's CDP
    /// endpoint).
    async fn bypass_csp(&self) {
        let id = self
            .client
            .session_id()
            .await
            .expect("the session")
            .expect("a session id");
        let command = json!({ "cmd": "Page.setBypassCSP", "params": { "enabled": true } });
        let reply = contract_tests::Client::new(self.driver)
            .post(
                &format!("/session/{id}/goog/cdp/execute"),
                &[],
                Some(&command.to_string()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
}

/// The example server, killed when dropped.
struct Server {
    base: String,
    addr: SocketAddr,
    _child: Child,
}

/// The access-token lifetime of the walk-through: long enough that a token
/// one tab hands over is still alive when the other tab uses it, however
/// slow the machine.
const ACCESS_TTL_SECS: u64 = 5;

/// The example server with `flags`, `--access-ttl` [`ACCESS_TTL_SECS`]
/// unless they set it.
async fn server(flags: &[&str], scheme: &str) -> Server {
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
async fn expire_access_tokens() {
    tokio::time::sleep(Duration::from_millis(ACCESS_TTL_SECS * 1000 + 1000)).await;
}

/// Successful refreshes (rotations) the server counted.
async fn rotations(b: &Browser, base: &str) -> u64 {
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
async fn refreshes(http: &contract_tests::Client, outcome: &str) -> u64 {
    let reply = http.get("/metrics", None).await;
    counter(
        reply.json.as_str().unwrap_or_default(),
        &format!("auth_refreshes_total{{outcome=\"{outcome}\"}}"),
    )
}

/// A page on another site that posts to the auth routes.
async fn cross_site_page(target: &str) -> String {
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

/// The whole walk through, on `server`, whose refresh cookie is named
/// `cookie_name`.
async fn walk_through(b: &mut Browser, base: &str, cookie_name: &str) {
    let c = &b.client;
    c.goto(&format!("{base}/")).await.expect("the page loads");
    b.ready().await;
    assert!(b.visible("signin").await, "the sign-in form shows");
    b.screenshot("sign-in").await;

    // A wrong password shows an error.
    b.sign_in("alice", "not-her-password").await;
    b.until(
        "return document.getElementById('error').textContent.length > 0",
        "the error",
    )
    .await;
    assert!(!b.visible("session").await);
    b.screenshot("wrong-password").await;

    // Record every response body the page receives from now on.
    b.js(
        "window.__bodies = []; const f = window.fetch; window.fetch = async (...a) => { \
          const r = await f(...a); window.__bodies.push(await r.clone().text()); return r; }; \
          return true",
    )
    .await;
    b.sign_in("alice", "alice-password").await;
    b.until_alice("the profile").await;
    assert!(b.text("profile").await.contains("user"));
    b.screenshot("signed-in").await;

    // Where the tokens are: not in script-readable cookies, not in storage,
    // and the refresh token in no body the page received.
    let cookie = b.js("return document.cookie").await;
    assert!(
        !cookie.as_str().unwrap_or_default().contains("refresh"),
        "{cookie}"
    );
    let stored = b
        .js("return localStorage.length + sessionStorage.length")
        .await;
    assert_eq!(stored, json!(0));
    let bodies = b.js("return window.__bodies").await;
    let bodies = bodies.as_array().expect("bodies");
    assert!(!bodies.is_empty());
    for body in bodies {
        let body = body.as_str().unwrap_or_default();
        assert!(!body.contains("refreshToken"), "{body}");
        assert!(!body.contains("refresh+jwt"), "{body}");
    }
    let cookie = b.refresh_cookie(base).await.expect("the refresh cookie");
    assert_eq!(cookie.name(), cookie_name);
    assert!(!cookie.value().is_empty());
    b.ready().await;

    // After the access token expired, a call refreshes transparently.
    let before = rotations(b, base).await;
    expire_access_tokens().await;
    b.click("call").await;
    b.until(
        "return [...document.querySelectorAll('#log li')].some(li => li.textContent.endsWith(' refreshed'))",
        "a refresh",
    )
    .await;
    b.until(
        "return [...document.querySelectorAll('#log li')].slice(-1)[0].textContent.endsWith('GET /profile: 200')",
        "the retried call",
    )
    .await;
    assert_eq!(rotations(b, base).await, before + 1);
    b.screenshot("refreshed").await;

    // A reload keeps the session: one cookie refresh, no stored token.
    b.client.refresh().await.expect("reload");
    b.ready().await;
    b.until_alice("the profile after a reload").await;
    b.screenshot("reloaded").await;

    // Two tabs, both expired, calling at once: one rotation in all.
    let first = b.client.window().await.expect("window");
    let second = b.client.new_window(true).await.expect("a tab").handle;
    b.client
        .switch_to_window(second.clone())
        .await
        .expect("switch");
    b.client.goto(&format!("{base}/")).await.expect("goto");
    b.ready().await;
    b.until_alice("the profile in the second tab").await;
    expire_access_tokens().await;
    let before = rotations(b, base).await;
    let calls = "return [...document.querySelectorAll('#log li')].filter(li => li.textContent.endsWith('GET /profile: 200')).length";
    let done_b = b.js(calls).await.as_u64().unwrap_or(0);
    b.client
        .switch_to_window(first.clone())
        .await
        .expect("switch");
    let done_a = b.js(calls).await.as_u64().unwrap_or(0);
    b.js("document.getElementById('call').click(); return true")
        .await;
    b.client
        .switch_to_window(second.clone())
        .await
        .expect("switch");
    b.js("document.getElementById('call').click(); return true")
        .await;
    b.until(&format!("{calls} > {done_b}"), "the second tab's call")
        .await;
    b.screenshot("second-tab").await;
    b.client
        .switch_to_window(first.clone())
        .await
        .expect("switch");
    b.until(&format!("{calls} > {done_a}"), "the first tab's call")
        .await;
    b.screenshot("first-tab").await;
    assert_eq!(
        rotations(b, base).await,
        before + 1,
        "two tabs after one expiry rotated more than once"
    );

    // Sign out: back to the form, the cookie gone, the other tab told.
    b.click("logout").await;
    b.until(
        "return !document.getElementById('signin').hidden",
        "the sign-in form",
    )
    .await;
    b.screenshot("signed-out").await;
    assert_eq!(b.refresh_cookie(base).await, None);
    b.client.switch_to_window(second).await.expect("switch");
    b.until(
        "return !document.getElementById('signin').hidden",
        "the other tab signed out",
    )
    .await;
    b.client.close_window().await.expect("close the tab");
    b.client.switch_to_window(first).await.expect("switch");

    // A cross-site form posting to /auth/refresh with the cookie is refused.
    b.ready().await;
    b.sign_in("alice", "alice-password").await;
    b.until_alice("signed in again").await;
    let before = rotations(b, base).await;
    let evil = cross_site_page(base).await;
    b.client.goto(&evil).await.expect("the other site");
    b.until(
        "return document.readyState === 'complete' && !document.getElementById('f')",
        "the cross-site post",
    )
    .await;
    let answer = b.js("return document.body.innerText").await;
    let answer = answer.as_str().unwrap_or_default().to_owned();
    b.screenshot("cross-site-refused").await;
    assert!(!answer.contains("accessToken"), "{answer}");
    assert!(answer.contains("cross_origin_request"), "{answer}");
    b.client.goto(&format!("{base}/")).await.expect("back");
    b.ready().await;
    assert_eq!(
        rotations(b, base).await,
        before + 1,
        "only the reload's own refresh"
    );
}

/// The `Strict-Transport-Security` header of the page, as the browser sees it.
async fn hsts(b: &Browser, base: &str) -> Value {
    b.js(&format!(
        "return fetch('{base}/').then(r => r.headers.get('strict-transport-security'))"
    ))
    .await
}

/// A certificate for `localhost` made for this run, and its PEM files.
struct TestCert {
    root: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn test_cert() -> TestCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = scratch_dir("auth-tls");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("cert");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("key");
    TestCert {
        root: cert.der().clone(),
        cert: cert_path,
        key: key_path,
    }
}

/// The example server over HTTPS with `tls`.
async fn https_server(tls: &TestCert) -> Server {
    let cert = tls.cert.to_str().expect("utf-8");
    let key = tls.key.to_str().expect("utf-8");
    server(&["--tls-cert", cert, "--tls-key", key], "https").await
}

/// One request over HTTPS to `addr` as `localhost`, trusting `root` only:
/// the answer's status and `Strict-Transport-Security`.
async fn https_answer(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_in_a_real_browser() {
    if !browser_installed() {
        return;
    }
    let s = server(&[], "http").await;
    let mut b = Browser::start(&[], "http").await;
    walk_through(&mut b, &s.base, auth_axum_extras::DEFAULT_COOKIE_NAME).await;
    assert_eq!(hsts(&b, &s.base).await, Value::Null);
    b.client.close().await.expect("the session ends");
}

/// Over HTTPS the refresh cookie is `__Secure-refresh_token`: sign-in,
/// refreshes, reloads and sign-out all work with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_over_https() {
    if !browser_installed() {
        return;
    }
    let tls = test_cert();
    let s = https_server(&tls).await;
    // The certificate is this test's own: the browser is told to accept it.
    let mut b = Browser::start(&["--ignore-certificate-errors"], "https").await;
    walk_through(&mut b, &s.base, auth_axum_extras::SECURE_COOKIE_NAME).await;
    assert_eq!(hsts(&b, &s.base).await, json!(example_axum_server::HSTS));
    b.client.close().await.expect("the session ends");
}

/// Every kind of answer over HTTPS carries `Strict-Transport-Security`:
/// the page, the layer's and the auth routes' refusals, the router's
/// fallbacks, and the 408 of the request time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_https_answer_carries_hsts() {
    let tls = test_cert();
    let s = https_server(&tls).await;
    let cross_site = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    // (method, path, sent from another site, status)
    let cases = [
        ("GET", "/", false, 200),
        ("GET", "/profile", false, 401),
        ("POST", "/auth/refresh", false, 401),
        ("POST", "/auth/login", true, 403),
        ("GET", "/no-such-page", false, 404),
        ("DELETE", "/", false, 405),
    ];
    for (method, path, from_elsewhere, status) in cases {
        let headers: &[(&str, &str)] = if from_elsewhere { &cross_site } else { &[] };
        let answer = https_answer(s.addr, &tls.root, method, path, headers).await;
        assert_eq!(
            answer,
            (status, Some(example_axum_server::HSTS.to_owned())),
            "{method} {path}"
        );
    }

    // The request time limit, on a route slower than it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(600)).await;
            "too late"
        }),
    );
    let limits = example_axum_server::Limits {
        request_timeout: Duration::from_millis(200),
        ..example_axum_server::Limits::default()
    };
    let config = example_axum_server::tls_config(&tls.cert, &tls.key).expect("the TLS config");
    tokio::spawn(example_axum_server::serve_tls(
        listener,
        slow,
        std::future::pending(),
        limits,
        Some(config),
    ));
    assert_eq!(
        https_answer(addr, &tls.root, "GET", "/slow", &[]).await,
        (408, Some(example_axum_server::HSTS.to_owned())),
    );
}

/// A thief copied the refresh cookie and refreshed with it first. The page's
/// next refresh is `refresh_superseded`, and so is its retry, since its
/// cookie still holds the replaced token: the page then logs out with that
/// token, which ends the session, so the thief's new tokens stop working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_who_refreshes_first_loses_the_session() {
    if !browser_installed() {
        return;
    }
    // The thief's access token would outlive the test: refused, it was
    // revoked with its session.
    let s = server(&["--access-ttl", "10m"], "http").await;
    let thief = contract_tests::Client::new(s.addr);
    let mut b = Browser::start(&[], "thief").await;
    b.client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    b.ready().await;
    // Both of the page's refreshes must come within the reuse grace (2 s)
    // of the thief's; past it the page's token is reuse, and the server ends
    // the session by itself. A machine too busy for that gets another try.
    for attempt in 1..=5 {
        b.sign_in("alice", "alice-password").await;
        b.until_alice("signed in").await;
        let stolen = b.refresh_cookie(&s.base).await.expect("the refresh cookie");
        let superseded = refreshes(&thief, "superseded").await;
        let reused = refreshes(&thief, "reused").await;
        let taken = thief.refresh_by_cookie(&stolen).await;
        assert_eq!(taken.status, 200, "the thief's refresh: {}", taken.json);
        let access = taken.field("accessToken");
        let refresh = taken.set_cookie().expect("the thief's new refresh token");

        // A reload: one refresh with the cookie the thief's refresh replaced.
        b.client.refresh().await.expect("reload");
        b.ready().await;
        if refreshes(&thief, "reused").await > reused {
            eprintln!("attempt {attempt}: the page refreshed after the reuse grace; again");
            continue;
        }
        assert_eq!(
            refreshes(&thief, "superseded").await,
            superseded + 2,
            "the page's refresh and its retry, both superseded"
        );
        b.screenshot("taken-over").await;

        assert_eq!(
            thief.refresh_by_cookie(&refresh).await.status,
            401,
            "the thief's refresh token still works: the page left the session to the thief"
        );
        assert_eq!(
            thief.get("/profile", Some(&access)).await.status,
            401,
            "the thief's access token still works"
        );
        assert!(b.visible("signin").await, "the sign-in form shows");
        let log = b.log().await;
        assert!(
            log.iter()
                .any(|l| l.ends_with("signed out (session_taken_over)")),
            "{log:?}"
        );
        assert!(!b.text("error").await.is_empty(), "the page says why");
        assert_eq!(b.refresh_cookie(&s.base).await, None, "the cookie is gone");
        b.client.close().await.expect("the session ends");
        return;
    }
    panic!("the page never refreshed within the reuse grace of the thief's refresh");
}

/// What [`api_elsewhere`] records of each request: its `Authorization`,
/// and its `x-custom` header and body joined by `|` when it has the header.
type Seen = (Arc<Mutex<Vec<Option<String>>>>, Arc<Mutex<Vec<String>>>);

/// An API on another origin: it answers every request 401 (CORS open, the
/// preflight for `Authorization` included, so the page reads the answer and
/// a token would get through) and records each request (see [`Seen`]).
async fn api_elsewhere() -> (String, Seen) {
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
                        "authorization, x-custom, content-type",
                    ),
                    ("access-control-allow-methods", "GET, POST"),
                ];
                if req.method() == Method::OPTIONS {
                    return (StatusCode::NO_CONTENT, cors).into_response();
                }
                let bearer = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                record.lock().expect("the record").push(bearer);
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

/// An `AuthClient` made in the page (as the page's own script would), with
/// `options`, signed in from the cookie; its "refreshed", "superseded" and
/// "signed-out" events are counted in `window.__events`.
async fn page_client(b: &Browser, options: Value) {
    let restored = b
        .client
        .execute(
            "const options = arguments[0]; return (async () => { \
               const { AuthClient } = await import(`${location.origin}/auth-client.js`); \
               const auth = new AuthClient(options); \
               window.__events = []; \
               for (const type of ['refreshed', 'superseded', 'signed-out']) { \
                 auth.addEventListener(type, () => window.__events.push(type)); \
               } \
               window.__client = auth; \
               const restored = await auth.restore(); \
               window.__events = []; \
               return restored; \
             })()",
            vec![options],
        )
        .await
        .expect("the client");
    assert_eq!(
        restored,
        json!(true),
        "the client signed in from the cookie"
    );
}

/// `auth.fetch(url)` in the page: the answer's status.
async fn page_fetch(b: &Browser, url: &str) -> Value {
    b.client
        .execute(
            "return window.__client.fetch(arguments[0]).then(r => r.status)",
            vec![json!(url)],
        )
        .await
        .expect("the fetch")
}

/// `auth.fetch` sends the access token to the page's own origin and to the
/// origins listed in `allowedOrigins` only: another origin gets no token,
/// and its 401 triggers no refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_goes_only_to_its_own_origin() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m"], "http").await;
    let (elsewhere, (seen, custom)) = api_elsewhere().await;
    let api = format!("{elsewhere}/api");
    let mut b = Browser::start(&[], "origins").await;
    // The demo page's CSP (connect-src 'self') would stop any request to
    // another origin before the client's own rule is seen. A page calling
    // APIs elsewhere lists them in connect-src, and the client must hold on
    // its own: the browser ignores the CSP here.
    b.bypass_csp().await;
    b.client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    b.ready().await;
    b.sign_in("alice", "alice-password").await;
    b.until_alice("signed in").await;

    // The default client: its own origin only.
    page_client(&b, json!({})).await;
    let own = format!("{}/profile", s.base);
    assert_eq!(page_fetch(&b, &own).await, json!(200), "its own origin");
    let before = rotations(&b, &s.base).await;
    assert_eq!(page_fetch(&b, &api).await, json!(401));
    let bearers: Vec<bool> = seen
        .lock()
        .expect("the record")
        .iter()
        .map(Option::is_some)
        .collect();
    assert_eq!(bearers, [false], "the other origin got the access token");
    assert_eq!(
        rotations(&b, &s.base).await,
        before,
        "a refresh for another origin's 401"
    );
    assert_eq!(b.js("return window.__events").await, json!([]));
    b.screenshot("other-origin").await;

    // A relative URL is resolved as fetch resolves it, against a <base>
    // element (here naming the other origin); a URL object that reads
    // otherwise the second time is read once.
    seen.lock().expect("the record").clear();
    b.js(&format!(
        "const base = document.createElement('base'); base.href = '{elsewhere}/'; \
         document.head.append(base); return document.baseURI"
    ))
    .await;
    assert_eq!(page_fetch(&b, "api").await, json!(401));
    b.js("document.querySelector('base').remove(); return true")
        .await;
    let shifty = b
        .js(&format!(
            "let reads = 0; \
             const url = {{ toString() {{ reads += 1; return reads === 1 ? '/profile' : '{api}'; }} }}; \
             return window.__client.fetch(url).then(r => [r.status, reads])"
        ))
        .await;
    assert_eq!(shifty, json!([200, 1]), "read once, sent where checked");
    // A Request whose `url` says one thing while it goes elsewhere.
    let liar = b
        .js(&format!(
            "class Liar extends Request {{ get url() {{ return `${{location.origin}}/profile`; }} }} \
             return window.__client.fetch(new Liar('{api}')).then(r => r.status)"
        ))
        .await;
    assert_eq!(liar, json!(401));
    let bearers: Vec<bool> = seen
        .lock()
        .expect("the record")
        .iter()
        .map(Option::is_some)
        .collect();
    assert_eq!(
        bearers,
        [false, false],
        "a <base> or a Request's own url sent the token to the other origin"
    );

    // Listed in allowedOrigins: the token goes there, and its 401 is
    // refreshed and retried once.
    seen.lock().expect("the record").clear();
    page_client(&b, json!({ "allowedOrigins": [elsewhere] })).await;
    let before = rotations(&b, &s.base).await;
    assert_eq!(page_fetch(&b, &api).await, json!(401));
    let bearers = seen.lock().expect("the record").clone();
    assert_eq!(bearers.len(), 2, "{bearers:?}");
    assert!(
        bearers
            .iter()
            .all(|h| h.as_deref().is_some_and(|h| h.starts_with("Bearer "))),
        "{bearers:?}"
    );
    assert_ne!(bearers[0], bearers[1], "the retry carries the new token");
    assert_eq!(rotations(&b, &s.base).await, before + 1);
    assert_eq!(b.js("return window.__events").await, json!(["refreshed"]));

    // A Request with its own method, headers and body (here made by
    // another frame): sent as it is, the bearer added, and retried whole
    // after the refresh its 401 triggers.
    seen.lock().expect("the record").clear();
    let before = rotations(&b, &s.base).await;
    let status = b
        .js(&format!(
            "const frame = document.createElement('iframe'); document.body.append(frame); \
             const request = new frame.contentWindow.Request('{api}', {{ method: 'POST', \
               headers: {{ 'x-custom': 'kept', 'content-type': 'text/plain' }}, body: 'the body' }}); \
             return window.__client.fetch(request).then(r => r.status)"
        ))
        .await;
    assert_eq!(status, json!(401));
    assert_eq!(
        *custom.lock().expect("the record"),
        ["kept|the body", "kept|the body"],
        "the request was not sent whole, twice"
    );
    let bearers = seen.lock().expect("the record").clone();
    assert!(
        bearers.len() == 2 && bearers.iter().all(Option::is_some),
        "{bearers:?}"
    );
    assert_eq!(rotations(&b, &s.base).await, before + 1);

    // Anything but a bare origin is refused.
    let refused = b
        .js("return import(`${location.origin}/auth-client.js`).then(({ AuthClient }) => { \
               try { new AuthClient({ allowedOrigins: ['https://api.example/v1'] }); return false; } \
               catch (e) { return e instanceof TypeError; } })")
        .await;
    assert_eq!(refused, json!(true));
    b.client.close().await.expect("the session ends");
}

/// A token another tab hands over while a call is on its way is tried
/// first; refused too (it expired on its way), the client refreshes once
/// and retries, instead of returning the 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_handed_over_and_refused_is_refreshed() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m"], "http").await;
    let mut b = Browser::start(&[], "handover").await;
    b.client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    b.ready().await;
    b.sign_in("alice", "alice-password").await;
    b.until_alice("signed in").await;
    page_client(&b, json!({})).await;

    // Another tab (a second channel of the same name) hands over a token
    // the server refuses; the call made with it is answered 401, and while
    // that answer is on its way the other tab hands over a second token,
    // refused as well.
    let before = rotations(&b, &s.base).await;
    let status = b
        .js("const tab = new BroadcastChannel('auth-client-refresh'); \
             const client = window.__client; \
             const shared = () => new Promise(r => client.addEventListener('shared', r, { once: true })); \
             const statuses = []; \
             const plain = window.fetch; \
             let armed = true; \
             window.fetch = async (request, init) => { \
               const res = await plain(request, init); \
               if (new URL(request.url ?? request, location.href).pathname === '/profile') { \
                 statuses.push(res.status); \
                 if (armed) { \
                   armed = false; \
                   const got = shared(); \
                   tab.postMessage({ type: 'token', token: 'handed.over.second' }); \
                   await got; \
                 } \
               } \
               return res; \
             }; \
             const got = shared(); \
             tab.postMessage({ type: 'token', token: 'handed.over.first' }); \
             return got.then(() => client.fetch('/profile')) \
               .then(r => { window.fetch = plain; tab.close(); return [r.status, statuses]; })")
        .await;
    b.screenshot("handed-over-and-refused").await;
    assert_eq!(
        status,
        json!([200, [401, 401, 200]]),
        "the refused hand-over was not refreshed"
    );
    assert_eq!(rotations(&b, &s.base).await, before + 1);
    assert_eq!(b.js("return window.__events").await, json!(["refreshed"]));
    b.client.close().await.expect("the session ends");
}
