//! The demo page in a real headless Chromium, driven through chromedriver
//! (WebDriver), against the example server started with `--access-ttl 2s`:
//! sign-in, where the tokens live, a transparent refresh after expiry, a
//! reload, two tabs refreshing at once (one rotation), sign-out, and a
//! cross-site request refused. Each step leaves a screenshot in
//! `target/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test is
//! skipped with a loud message, unless `CI` is set, where it fails.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
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

/// chromedriver and a headless Chromium session, ended when dropped.
struct Browser {
    client: Client,
    _driver: Child,
    shots: PathBuf,
    step: usize,
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
        wait_listening(([127, 0, 0, 1], port).into(), "chromedriver").await;
        let profile = std::env::temp_dir().join(format!("auth-browser-{}", free_port()));
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
        let deadline = Instant::now() + Duration::from_secs(15);
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

    /// The refresh cookie, as the browser keeps it for the auth routes.
    async fn refresh_cookie(&self, base: &str) -> Option<String> {
        let back = self.client.current_url().await.expect("url");
        self.client
            .goto(&format!("{base}/auth/sessions"))
            .await
            .expect("goto");
        let cookies = self.client.get_all_cookies().await.expect("cookies");
        self.client.goto(back.as_str()).await.expect("goto");
        cookies
            .iter()
            .find(|c| c.name().contains("refresh_token"))
            .map(|c| c.value().to_owned())
    }
}

/// The example server, killed when dropped.
struct Server {
    base: String,
    _child: Child,
}

async fn server(flags: &[&str], scheme: &str) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_example-axum-server"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--access-ttl", "2s", "--leeway", "0s", "--metrics"])
        .args(flags)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("example-axum-server starts");
    wait_listening(([127, 0, 0, 1], port).into(), "example-axum-server").await;
    Server {
        base: format!("{scheme}://localhost:{port}"),
        _child: child,
    }
}

/// Successful refreshes (rotations) the server counted.
async fn rotations(b: &Browser, base: &str) -> u64 {
    let text = b
        .js(&format!(
            "return fetch('{base}/metrics').then(r => r.text())"
        ))
        .await;
    let text = text.as_str().unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("auth_refreshes_total{outcome=\"ok\"} "))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .next()
        .unwrap_or(0.0) as u64
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

/// The whole walk through, on `server`.
async fn walk_through(b: &mut Browser, base: &str) {
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
    let cookie_value = b.refresh_cookie(base).await.expect("the refresh cookie");
    assert!(!cookie_value.is_empty());
    b.ready().await;

    // After the access token expired, a call refreshes transparently.
    let before = rotations(b, base).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
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
    tokio::time::sleep(Duration::from_millis(2500)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_in_a_real_browser() {
    if !browser_installed() {
        return;
    }
    let s = server(&[], "http").await;
    let mut b = Browser::start(&[], "http").await;
    walk_through(&mut b, &s.base).await;
    assert_eq!(hsts(&b, &s.base).await, Value::Null);
    b.client.close().await.expect("the session ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_over_https() {
    if !browser_installed() {
        return;
    }
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("auth-tls-{}", free_port()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("cert");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("key");
    let s = server(
        &[
            "--tls-cert",
            cert_path.to_str().expect("utf-8"),
            "--tls-key",
            key_path.to_str().expect("utf-8"),
        ],
        "https",
    )
    .await;
    // The certificate is this test's own: the browser is told to accept it.
    let mut b = Browser::start(&["--ignore-certificate-errors"], "https").await;
    walk_through(&mut b, &s.base).await;
    assert_eq!(hsts(&b, &s.base).await, json!(example_axum_server::HSTS));
    b.client.close().await.expect("the session ends");
}
