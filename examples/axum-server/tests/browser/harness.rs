//! The WebDriver harness: chromedriver and a headless Chromium with its own
//! profile, the page helpers, scratch directories and a test certificate.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub(crate) async fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the browser is installed; a missing one fails under `CI`.
pub(crate) fn browser_installed() -> bool {
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
pub(crate) struct Browser {
    pub(crate) client: Client,
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
    pub(crate) async fn start(extra_args: &[&str], shots: &str) -> Browser {
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

    pub(crate) async fn screenshot(&mut self, name: &str) {
        self.step += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("the screenshot is written");
    }

    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Waits until `script` returns true.
    pub(crate) async fn until(&self, script: &str, what: &str) {
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
    pub(crate) async fn until_alice(&self, what: &str) {
        self.until(
            "return document.getElementById('profile').textContent.startsWith('alice')",
            what,
        )
        .await;
    }

    pub(crate) async fn ready(&self) {
        self.until("return document.body.dataset.ready === 'true'", "the page")
            .await;
    }

    pub(crate) async fn text(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .text()
            .await
            .expect("its text")
    }

    pub(crate) async fn visible(&self, id: &str) -> bool {
        self.js(&format!(
            "return !document.getElementById('{id}').closest('[hidden]')"
        ))
        .await
            == Value::Bool(true)
    }

    pub(crate) async fn log(&self) -> Vec<String> {
        let v = self
            .js("return [...document.querySelectorAll('#log li')].map(li => li.textContent)")
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    pub(crate) async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .click()
            .await
            .expect("a click");
    }

    /// Opens the demo page at `base` and signs alice in: her profile shows.
    pub(crate) async fn open_signed_in(&self, base: &str) {
        self.client
            .goto(&format!("{base}/"))
            .await
            .expect("the page loads");
        self.ready().await;
        self.sign_in("alice", "alice-password").await;
        self.until_alice("signed in").await;
    }

    pub(crate) async fn sign_in(&self, user: &str, password: &str) {
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
    pub(crate) async fn refresh_cookie(&self, base: &str) -> Option<Cookie<'static>> {
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
    /// navigation on (`Page.setBypassCSP`).
    pub(crate) async fn bypass_csp(&self) {
        self.cdp("Page.setBypassCSP", json!({ "enabled": true }))
            .await;
    }

    /// Runs `script` in every document the current tab loads from now on,
    /// before the document's own scripts
    /// (`Page.addScriptToEvaluateOnNewDocument`).
    pub(crate) async fn before_scripts(&self, script: &str) {
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        )
        .await;
    }

    /// Records, in every document the current tab loads from now on, each
    /// request the page's scripts make with `fetch` and its answer, from
    /// before the page's own scripts run; read them with [`sent`](Self::sent).
    pub(crate) async fn record_requests(&self) {
        self.before_scripts(RECORDER).await;
    }

    /// The requests recorded since the current document loaded (see
    /// [`record_requests`](Self::record_requests)), oldest first.
    pub(crate) async fn sent(&self) -> Vec<Sent> {
        let v = self.js("return window.__sent ?? []").await;
        serde_json::from_value(v).expect("the recorded requests")
    }

    /// A Chrome DevTools Protocol command for the current tab, through
    /// chromedriver's CDP endpoint.
    async fn cdp(&self, cmd: &str, params: Value) {
        let id = self
            .client
            .session_id()
            .await
            .expect("the session")
            .expect("a session id");
        let command = json!({ "cmd": cmd, "params": params });
        let reply = contract_tests::Client::new(self.driver)
            .post(
                &format!("/session/{id}/goog/cdp/execute"),
                &[],
                Some(&command.to_string()),
            )
            .await;
        assert_eq!(reply.status, 200, "{cmd}: {}", reply.json);
    }
}

/// Wraps `window.fetch`: each request's method, URL, `Authorization` and
/// `DPoP` headers, and its answer's status and body, go into `window.__sent`.
const RECORDER: &str = "(() => { \
    const plain = window.fetch; \
    window.__sent = []; \
    window.fetch = async (...args) => { \
      const request = new Request(...args); \
      const entry = { method: request.method, url: request.url, \
        authorization: request.headers.get('authorization'), \
        dpop: request.headers.get('dpop'), status: null, body: null }; \
      window.__sent.push(entry); \
      const res = await plain(request); \
      entry.status = res.status; \
      entry.body = await res.clone().text().catch(() => null); \
      return res; \
    }; \
  })()";

/// A request the page made, as [`Browser::record_requests`] saw it.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Sent {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) authorization: Option<String>,
    pub(crate) dpop: Option<String>,
    /// `None` while the answer is on its way.
    pub(crate) status: Option<u16>,
    pub(crate) body: Option<String>,
}

impl Sent {
    /// The answer's body as JSON (`Null` when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null)
    }

    /// The path of the request's URL.
    pub(crate) fn path(&self) -> &str {
        let rest = self.url.split_once("://").map_or("", |(_, rest)| rest);
        rest.find('/').map_or("/", |i| &rest[i..])
    }
}

/// A certificate for `localhost` made for this run, and its PEM files.
pub(crate) struct TestCert {
    pub(crate) root: CertificateDer<'static>,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

pub(crate) fn test_cert() -> TestCert {
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

/// An `AuthClient` made in the page (as the page's own script would), with
/// `options`, signed in from the cookie; its "refreshed", "superseded" and
/// "signed-out" events are counted in `window.__events`.
pub(crate) async fn page_client(b: &Browser, options: Value) {
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
pub(crate) async fn page_fetch(b: &Browser, url: &str) -> Value {
    b.client
        .execute(
            "return window.__client.fetch(arguments[0]).then(r => r.status)",
            vec![json!(url)],
        )
        .await
        .expect("the fetch")
}

/// The JSON of part `n` of a compact JWS (0: the header, 1: the claims).
pub(crate) fn jws_part(jws: &str, n: usize) -> Value {
    use base64::Engine;
    let part = jws.split('.').nth(n).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The RFC 7638 thumbprint of an EC public JWK (`cnf.jkt` of the tokens
/// bound to it): its required members in order, hashed, base64url. The
/// hash is the one `ath` uses, base64url(SHA-256).
pub(crate) fn ec_thumbprint(jwk: &Value) -> String {
    let member = |name: &str| jwk[name].as_str().expect("an EC JWK member").to_owned();
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        member("crv"),
        member("x"),
        member("y")
    );
    auth_core::dpop::access_token_hash(&canonical)
}
