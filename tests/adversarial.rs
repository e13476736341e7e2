//! Adversarial requests against the example server, over real HTTP on
//! loopback: a table of forged, malformed and confused tokens and headers,
//! each with the exact status, `WWW-Authenticate` error code and body it must
//! get. Every row must be answered cleanly (never a 5xx, never a dropped
//! connection), and the server must still serve a valid token afterwards.
//!
//! Tokens are forged with the server's own HS256 secret, so a refusal is
//! caused by the one thing each row changes, not by a bad signature.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{Algorithm, Key, KeySet, TokenAuthority};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use contract_tests::Client;
use example_axum_server::Args;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The HS256 secret of the main instance (what `AUTH_JWT_SECRET` would hold).
const SECRET: &str = "adversarial-test-secret-of-more-than-32-bytes";
/// Issuer and audience of the instance that requires them.
const ISS: &str = "https://issuer.test";
const AUD: &str = "api.test";

// ---------------------------------------------------------------------------
// The server, started in this process (as tests/example_server.rs does).

/// A server started in this process, stopped when dropped.
struct Instance {
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Instance {
    /// The example server with these flags and `AUTH_JWT_SECRET`.
    async fn start(flags: &[&str], secret: Option<&str>) -> Instance {
        let mut argv = vec!["example-axum-server", "--addr", "127.0.0.1:0"];
        argv.extend_from_slice(flags);
        let args = Args::try_parse_from(argv).expect("flags parse");
        let authority = example_axum_server::authority(&args, secret.map(str::to_owned))
            .await
            .expect("authority");
        Instance::serve(authority).await
    }

    /// The example server's app and users around this authority.
    async fn serve(authority: TokenAuthority) -> Instance {
        let users = example_axum_server::demo_users().expect("demo users");
        let app = example_axum_server::app(authority, users).expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(example_axum_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Instance {
            client: Client::new(addr),
            stop: Some(stop),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.client.addr
    }

    /// Logs in and returns (access token, refresh token).
    async fn login(&self, user: &str, password: &str) -> (String, String) {
        let r = self.client.login(user, password).await;
        assert_eq!(r.status, 200, "login {user}: {}", r.json);
        (r.field("accessToken"), r.field("refreshToken"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------------------
// Forging tokens.

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The decoded header and payload of a compact JWS.
fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || {
        let part = URL_SAFE_NO_PAD
            .decode(it.next().expect("part"))
            .expect("base64url");
        serde_json::from_slice::<Value>(&part).expect("json")
    };
    let header = next();
    (header, next())
}

/// A token from raw header and payload JSON text, HS256-signed with `secret`
/// whatever the header says.
fn sign_raw(header: &str, payload: &str, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("hmac");
    format!("{message}.{sig}")
}

/// A token signed with the main instance's secret.
fn forge(header: &Value, payload: &Value) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), SECRET.as_bytes())
}

/// `header.payload.` with no signature at all.
fn unsigned(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

/// A copy of a JSON object with `key` set to `value`.
fn with(obj: &Value, key: &str, value: Value) -> Value {
    let mut o = obj.clone();
    o[key] = value;
    o
}

/// A copy of a JSON object without `key`.
fn without(obj: &Value, key: &str) -> Value {
    let mut o = obj.clone();
    o.as_object_mut().expect("object").remove(key);
    o
}

/// The JSON text of `obj` with `member` (`"k":v`) appended: a duplicate key
/// when `obj` already has `k` (the later one is lexically last).
fn append_member(obj: &Value, member: &str) -> String {
    let text = obj.to_string();
    format!("{},{member}}}", &text[..text.len() - 1])
}

/// The JSON text of `obj` with `member` put first (before an existing `k`).
fn prepend_member(obj: &Value, member: &str) -> String {
    let text = obj.to_string();
    format!("{{{member},{}", &text[1..])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

// ---------------------------------------------------------------------------
// The table.

/// Which server a row is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// HS256, the known secret, no issuer/audience.
    Main,
    /// RS256 with auth-core/tests/keys/rsa2048.pem.
    Rsa,
    /// ES256 with auth-core/tests/keys/es256.pem.
    Ec,
    /// HS256 with the known secret, issuer [`ISS`] and audience [`AUD`].
    IssAud,
}

/// A request, as sent on the wire.
#[derive(Debug, Clone)]
struct Req {
    method: Method,
    path: &'static str,
    /// Header name and raw value bytes, in order (repeats allowed).
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<String>,
    /// Sent over a raw TCP stream rather than with hyper's client (huge
    /// headers: the server may answer before it has read everything).
    raw_tcp: bool,
}

/// `GET /profile` with these headers.
fn get(headers: Vec<(&'static str, Vec<u8>)>) -> Req {
    Req {
        method: Method::GET,
        path: "/profile",
        headers,
        body: None,
        raw_tcp: false,
    }
}

/// `GET /profile` with this exact `Authorization` value.
fn authz(value: impl Into<Vec<u8>>) -> Req {
    get(vec![("authorization", value.into())])
}

/// `GET /profile` with `Authorization: Bearer <token>`.
fn bearer(token: &str) -> Req {
    authz(format!("Bearer {token}"))
}

/// `POST /auth/refresh` with `{"refreshToken": token}`.
fn refresh_body(token: &str) -> Req {
    Req {
        method: Method::POST,
        path: "/auth/refresh",
        headers: vec![],
        body: Some(json!({ "refreshToken": token }).to_string()),
        raw_tcp: false,
    }
}

/// `POST /auth/refresh` with the token in the refresh cookie only.
fn refresh_cookie(token: &str) -> Req {
    Req {
        method: Method::POST,
        path: "/auth/refresh",
        headers: vec![("cookie", format!("refresh_token={token}").into_bytes())],
        body: None,
        raw_tcp: false,
    }
}

/// What `WWW-Authenticate` must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    /// `Bearer realm=..., error="<code>", ...`.
    Code(&'static str),
    /// `Bearer realm=...` without an error code (no credentials presented).
    Bare,
    /// No `WWW-Authenticate` header.
    Absent,
    /// Not checked (a 431 from hyper, before any auth code runs).
    Any,
}

/// What the body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyIs {
    /// JSON with this `error` field.
    Error(&'static str),
    /// JSON with this `sub` (the profile of this user).
    Sub(&'static str),
    /// Not checked.
    Any,
}

#[derive(Debug, Clone, Copy)]
struct Expect {
    status: &'static [u16],
    challenge: Challenge,
    body: BodyIs,
}

/// 401 `invalid_token`, JSON body: the layer refused the token.
const INVALID_TOKEN: Expect = Expect {
    status: &[401],
    challenge: Challenge::Code("invalid_token"),
    body: BodyIs::Error("invalid_token"),
};
/// 400 `invalid_request`, JSON body: the request itself is malformed.
const INVALID_REQUEST: Expect = Expect {
    status: &[400],
    challenge: Challenge::Code("invalid_request"),
    body: BodyIs::Error("invalid_request"),
};
/// 401 with a bare challenge and `missing_token`: no bearer token was found.
const MISSING: Expect = Expect {
    status: &[401],
    challenge: Challenge::Bare,
    body: BodyIs::Error("missing_token"),
};
/// `/auth/refresh` refused the token: 401 JSON `invalid_token`, no challenge.
const REFRESH_REFUSED: Expect = Expect {
    status: &[401],
    challenge: Challenge::Absent,
    body: BodyIs::Error("invalid_token"),
};
/// A clean client error for an oversized request; never 5xx.
const CLEAN_4XX: Expect = Expect {
    status: &[400, 401, 431],
    challenge: Challenge::Any,
    body: BodyIs::Any,
};

/// 200 with the profile of `sub`.
const fn ok(sub: &'static str) -> Expect {
    Expect {
        status: &[200],
        challenge: Challenge::Absent,
        body: BodyIs::Sub(sub),
    }
}

struct Row {
    name: String,
    target: Target,
    req: Req,
    expect: Expect,
}

/// What came back.
#[derive(Debug, Default)]
struct Got {
    status: Option<u16>,
    www_authenticate: Option<String>,
    body: Vec<u8>,
    /// Why there was no answer.
    failure: Option<String>,
}

impl Got {
    fn error_code(&self) -> Option<&str> {
        let h = self.www_authenticate.as_deref()?;
        let start = h.find("error=\"")? + 7;
        let len = h[start..].find('"')?;
        Some(&h[start..start + len])
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Why this answer does not meet `e`, if it does not.
    fn mismatch(&self, e: &Expect) -> Option<String> {
        let Some(status) = self.status else {
            return Some(format!(
                "no answer: {}",
                self.failure.as_deref().unwrap_or("?")
            ));
        };
        if !e.status.contains(&status) {
            return Some(format!("status {status}, want {:?}", e.status));
        }
        let realm = self
            .www_authenticate
            .as_deref()
            .is_some_and(|h| h.starts_with("Bearer realm=\""));
        let challenge_ok = match e.challenge {
            Challenge::Code(code) => realm && self.error_code() == Some(code),
            Challenge::Bare => realm && self.error_code().is_none(),
            Challenge::Absent => self.www_authenticate.is_none(),
            Challenge::Any => true,
        };
        if !challenge_ok {
            return Some(format!(
                "WWW-Authenticate {:?}, want {:?}",
                self.www_authenticate, e.challenge
            ));
        }
        let body_ok = match e.body {
            BodyIs::Error(code) => self.json()["error"] == code,
            BodyIs::Sub(sub) => self.json()["sub"] == sub,
            BodyIs::Any => true,
        };
        if !body_ok {
            return Some(format!(
                "body {:?}, want {:?}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)]),
                e.body
            ));
        }
        None
    }
}

type Http = HyperClient<HttpConnector, Full<Bytes>>;

async fn send(http: &Http, addr: SocketAddr, req: &Req) -> Got {
    if req.raw_tcp {
        return send_raw(addr, req).await;
    }
    let mut b = Request::builder()
        .method(req.method.clone())
        .uri(format!("http://{addr}{}", req.path));
    for (name, value) in &req.headers {
        b = b.header(*name, HeaderValue::from_bytes(value).expect("header value"));
    }
    if req.body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let body = Full::new(Bytes::from(req.body.clone().unwrap_or_default()));
    let res = match http.request(b.body(body).expect("request")).await {
        Ok(res) => res,
        Err(e) => {
            return Got {
                failure: Some(format!("{e:?}")),
                ..Got::default()
            };
        }
    };
    let status = res.status().as_u16();
    let www_authenticate = res
        .headers()
        .get("www-authenticate")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = match res.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) => {
            return Got {
                status: Some(status),
                failure: Some(format!("body: {e}")),
                ..Got::default()
            };
        }
    };
    Got {
        status: Some(status),
        www_authenticate,
        body,
        failure: None,
    }
}

/// Writes the request on its own task while reading the answer, so an answer
/// sent before the server has read a huge request is still seen.
async fn send_raw(addr: SocketAddr, req: &Req) -> Got {
    let mut wire = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        req.method, req.path
    )
    .into_bytes();
    for (name, value) in &req.headers {
        wire.extend_from_slice(name.as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&wire).await;
        wr
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut buf)).await;
    drop(writer.await);
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Got {
            failure: Some(format!("no HTTP head in {} bytes ({read:?})", buf.len())),
            ..Got::default()
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let mut www_authenticate = None;
    let mut content_length = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("www-authenticate") {
                www_authenticate = Some(v.trim().to_owned());
            } else if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = buf[head_end + 4..].to_vec();
    if let Some(n) = content_length {
        body.truncate(n);
    }
    Got {
        status,
        www_authenticate,
        body,
        failure: None,
    }
}

fn row(name: impl Into<String>, target: Target, req: Req, expect: Expect) -> Row {
    Row {
        name: name.into(),
        target,
        req,
        expect,
    }
}

fn key_file(name: &str) -> String {
    format!(
        "{}/../auth-core/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test]
async fn adversarial_tokens_and_headers_get_exact_refusals() {
    let started = std::time::Instant::now();
    let rsa_pem = key_file("rsa2048.pem");
    let ec_pem = key_file("es256.pem");
    let rsa_flags = ["--alg", "RS256", "--key-pem", &rsa_pem];
    let ec_flags = ["--alg", "ES256", "--key-pem", &ec_pem];
    let (main, rsa, ec, iss_aud) = tokio::join!(
        Instance::start(&[], Some(SECRET)),
        Instance::start(&rsa_flags, None),
        Instance::start(&ec_flags, None),
        Instance::serve(
            TokenAuthority::builder(
                KeySet::new(Key::hmac(Algorithm::HS256, SECRET).expect("key")).expect("keys")
            )
            .issuer(ISS)
            .audience(AUD)
            .build()
            .expect("authority"),
        ),
    );

    let (access, refresh) = main.login("alice", "alice-password").await;
    let (root_access, root_refresh) = main.login("root", "root-password").await;
    let (h, p) = parts(&access);
    assert_eq!(h["alg"], "HS256");
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(p["sub"], "alice");
    let t = now();

    let mut rows: Vec<Row> = Vec::new();
    let mut add = |name: &str, req: Req, expect: Expect| {
        rows.push(row(name, Target::Main, req, expect));
    };

    // Controls: these must pass, or the refusals below prove nothing.
    add(
        "control: the login's access token",
        bearer(&access),
        ok("alice"),
    );
    add(
        "control: re-signed copy",
        bearer(&forge(&h, &p)),
        ok("alice"),
    );
    add(
        "control: lower-case scheme",
        authz(format!("bearer {access}")),
        ok("alice"),
    );
    add(
        "control: nbf in the past",
        bearer(&forge(&h, &with(&p, "nbf", json!(t - 60)))),
        ok("alice"),
    );

    // alg none, in every spelling, unsigned and signed.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let hn = with(&h, "alg", json!(alg));
        add(
            &format!("alg {alg}, no signature"),
            bearer(&unsigned(&hn, &p)),
            INVALID_TOKEN,
        );
        add(
            &format!("alg {alg}, HMAC signature"),
            bearer(&forge(&hn, &p)),
            INVALID_TOKEN,
        );
    }
    add(
        "alg none, no kid, no signature",
        bearer(&unsigned(
            &without(&with(&h, "alg", json!("none")), "kid"),
            &p,
        )),
        INVALID_TOKEN,
    );
    for alg in [json!("hs256"), json!("HS256 "), json!("HS512"), json!(null)] {
        add(
            &format!("alg {alg}"),
            bearer(&forge(&with(&h, "alg", alg.clone()), &p)),
            INVALID_TOKEN,
        );
    }
    add(
        "alg missing",
        bearer(&forge(&without(&h, "alg"), &p)),
        INVALID_TOKEN,
    );

    // kid.
    for kid in [
        json!("unknown-kid"),
        json!("../../etc/passwd"),
        json!("/dev/null"),
        json!("' OR '1'='1"),
        json!(""),
        json!(null),
        json!(42),
    ] {
        add(
            &format!("kid {kid}"),
            bearer(&forge(&with(&h, "kid", kid.clone()), &p)),
            INVALID_TOKEN,
        );
    }
    add(
        "kid missing",
        bearer(&forge(&without(&h, "kid"), &p)),
        INVALID_TOKEN,
    );

    // typ.
    for typ in [json!("JWT"), json!("refresh+jwt"), json!(""), json!(null)] {
        add(
            &format!("typ {typ}"),
            bearer(&forge(&with(&h, "typ", typ.clone()), &p)),
            INVALID_TOKEN,
        );
    }
    add(
        "typ missing",
        bearer(&forge(&without(&h, "typ"), &p)),
        INVALID_TOKEN,
    );

    // Key indirections and critical extensions (RFC 8725 §3.10, RFC 7515 §4.1.11).
    let jwk = json!({"kty": "oct", "k": b64(SECRET.as_bytes())});
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", jwk),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("crit", json!([])),
        ("b64", json!(false)),
    ] {
        add(
            &format!("header {name}: {value}"),
            bearer(&forge(&with(&h, name, value.clone()), &p)),
            INVALID_TOKEN,
        );
    }

    // Duplicate JSON keys (RFC 7519 §4: reject, or take the lexically last).
    let hs = h.to_string();
    let ps = p.to_string();
    let future = t + 3600;
    let past = t - 3600;
    for (name, header, payload) in [
        (
            "header: alg HS256 then alg none",
            append_member(&h, r#""alg":"none""#),
            ps.clone(),
        ),
        (
            "header: alg none then alg HS256",
            prepend_member(&h, r#""alg":"none""#),
            ps.clone(),
        ),
        (
            "header: typ refresh+jwt then at+jwt",
            prepend_member(&h, r#""typ":"refresh+jwt""#),
            ps.clone(),
        ),
        (
            "header: kid twice",
            append_member(&h, r#""kid":"unknown""#),
            ps.clone(),
        ),
        (
            "payload: exp future then exp past",
            hs.clone(),
            append_member(&with(&p, "exp", json!(future)), &format!(r#""exp":{past}"#)),
        ),
        (
            "payload: exp past then exp future",
            hs.clone(),
            append_member(&with(&p, "exp", json!(past)), &format!(r#""exp":{future}"#)),
        ),
        (
            "payload: sub alice then sub root",
            hs.clone(),
            append_member(&p, r#""sub":"root""#),
        ),
        (
            "payload: sub root then sub alice",
            hs.clone(),
            prepend_member(&p, r#""sub":"root""#),
        ),
        (
            "payload: jti twice",
            hs.clone(),
            append_member(&p, r#""jti":"00000000-0000-4000-8000-000000000000""#),
        ),
    ] {
        add(
            &format!("duplicate {name}"),
            bearer(&sign_raw(&header, &payload, SECRET.as_bytes())),
            INVALID_TOKEN,
        );
    }
    // An application claim twice: the extra claims are flattened, so this is
    // the path where a duplicate could slip through. Checked on /admin.
    let mut admin_dup = bearer(&sign_raw(
        &hs,
        &append_member(&p, r#""roles":["admin"]"#),
        SECRET.as_bytes(),
    ));
    admin_dup.path = "/admin";
    add(
        "duplicate payload: roles [user] then [admin], on /admin",
        admin_dup,
        INVALID_TOKEN,
    );

    // exp.
    for (name, exp) in [
        ("exp float", "4102444800.5"),
        ("exp integral float", "4102444800.0"),
        ("exp exponent notation", "4.1e9"),
        ("exp string", "\"4102444800\""),
        ("exp 1e300", "1e300"),
        ("exp u64::MAX+1", "18446744073709551616"),
        ("exp 2^70", "1180591620717411303424"),
        ("exp negative", "-1"),
        ("exp null", "null"),
        ("exp true", "true"),
        ("exp array", "[4102444800]"),
    ] {
        let payload = append_member(&without(&p, "exp"), &format!(r#""exp":{exp}"#));
        add(
            name,
            bearer(&sign_raw(&hs, &payload, SECRET.as_bytes())),
            INVALID_TOKEN,
        );
    }
    add(
        "exp missing",
        bearer(&forge(&h, &without(&p, "exp"))),
        INVALID_TOKEN,
    );
    add(
        "exp an hour ago",
        bearer(&forge(&h, &with(&p, "exp", json!(past)))),
        INVALID_TOKEN,
    );
    add(
        "exp 0",
        bearer(&forge(&h, &with(&p, "exp", json!(0)))),
        INVALID_TOKEN,
    );
    // Signed with the server's own key: no overflow on exp + leeway, and a
    // lifetime no issuer of ours makes is refused however it was signed.
    add(
        "exp u64::MAX (own key; no overflow, over the lifetime limit)",
        bearer(&forge(&h, &with(&p, "exp", json!(u64::MAX)))),
        INVALID_TOKEN,
    );
    add(
        "exp 30 days after iat (own key; over the lifetime limit)",
        bearer(&forge(
            &h,
            &with(
                &p,
                "exp",
                json!(p["iat"].as_u64().unwrap_or(t) + 30 * 86_400),
            ),
        )),
        INVALID_TOKEN,
    );
    add(
        "iat an hour ahead (own key)",
        bearer(&forge(
            &h,
            &with(
                &with(&with(&p, "iat", json!(future)), "nbf", json!(t)),
                "exp",
                json!(future + 60),
            ),
        )),
        INVALID_TOKEN,
    );
    add(
        "sub empty (own key)",
        bearer(&forge(&h, &with(&p, "sub", json!("")))),
        INVALID_TOKEN,
    );

    // nbf, iat and the other required claims.
    for (name, claim, value) in [
        ("nbf an hour ahead", "nbf", json!(future)),
        ("nbf u64::MAX", "nbf", json!(u64::MAX)),
        ("nbf string", "nbf", json!(t.to_string())),
        ("nbf float", "nbf", json!(t as f64 - 0.5)),
        ("iat string", "iat", json!(t.to_string())),
        ("iat negative", "iat", json!(-1)),
        ("jti not a uuid", "jti", json!("1")),
        ("sid not a uuid", "sid", json!("../../x")),
        ("sub number", "sub", json!(42)),
        ("sub null", "sub", json!(null)),
        ("roles string", "roles", json!("admin")),
    ] {
        add(
            name,
            bearer(&forge(&h, &with(&p, claim, value))),
            INVALID_TOKEN,
        );
    }
    for claim in ["iat", "jti", "sid", "sub"] {
        add(
            &format!("{claim} missing"),
            bearer(&forge(&h, &without(&p, claim))),
            INVALID_TOKEN,
        );
    }
    add(
        "payload is a JSON array",
        bearer(&forge(&h, &json!([p.clone()]))),
        INVALID_TOKEN,
    );
    add(
        "header is a JSON string",
        bearer(&sign_raw("\"HS256\"", &ps, SECRET.as_bytes())),
        INVALID_TOKEN,
    );

    // iss/aud: the example server sets and requires both (`--issuer`,
    // `--audience`, with defaults); a token naming anything else is refused.
    let iss = p["iss"].as_str().unwrap_or("https://example.invalid");
    let aud = p["aud"].as_str().unwrap_or("example.invalid");
    for (name, claims) in [
        (
            "iss differs from the server's",
            with(&p, "iss", json!(format!("{iss}.evil"))),
        ),
        ("iss missing", without(&p, "iss")),
        (
            "aud differs from the server's",
            with(&p, "aud", json!(format!("{aud}.evil"))),
        ),
        ("aud missing", without(&p, "aud")),
    ] {
        add(name, bearer(&forge(&h, &claims)), INVALID_TOKEN);
    }

    // Type confusion both ways.
    add(
        "refresh token as bearer on /profile",
        bearer(&refresh),
        INVALID_TOKEN,
    );
    add(
        "access token in the /auth/refresh body",
        refresh_body(&access),
        REFRESH_REFUSED,
    );
    add(
        "access token in the refresh cookie",
        refresh_cookie(&access),
        REFRESH_REFUSED,
    );

    // Shape: segments.
    let (hp, sig) = access.rsplit_once('.').expect("jws");
    add(
        "4 parts: token.x",
        bearer(&format!("{access}.x")),
        INVALID_TOKEN,
    );
    add(
        "4 parts: header.payload.payload.sig",
        bearer(&format!("{hp}.{}.{sig}", b64(ps.as_bytes()))),
        INVALID_TOKEN,
    );
    add(
        "5 parts (JWE shape)",
        bearer(&format!("{access}.AAAA.BBBB")),
        INVALID_TOKEN,
    );
    add("trailing dot", bearer(&format!("{access}.")), INVALID_TOKEN);
    add("2 parts", bearer(hp), INVALID_TOKEN);
    add("1 part", bearer(&b64(hs.as_bytes())), INVALID_TOKEN);
    add("only dots", bearer(".."), INVALID_TOKEN);
    add(
        "empty payload segment",
        bearer(&format!("{}..{sig}", b64(hs.as_bytes()))),
        INVALID_TOKEN,
    );
    add("empty signature", bearer(&format!("{hp}.")), INVALID_TOKEN);

    // Whitespace. Leading/trailing whitespace around a field value is not
    // part of it (RFC 9110 §5.5), so hyper hands the layer a clean value.
    add(
        "leading space before the scheme",
        authz(format!(" Bearer {access}")),
        ok("alice"),
    );
    add(
        "trailing space after the token",
        authz(format!("Bearer {access} ")),
        ok("alice"),
    );
    add(
        "trailing tab after the token",
        authz(format!("Bearer {access}\t")),
        ok("alice"),
    );
    add(
        "two spaces after the scheme",
        authz(format!("Bearer  {access}")),
        INVALID_REQUEST,
    );
    add(
        "space inside the token",
        authz(format!("Bearer {} {}", &access[..10], &access[10..])),
        INVALID_REQUEST,
    );
    add(
        "two tokens",
        authz(format!("Bearer {access} {access}")),
        INVALID_REQUEST,
    );
    add(
        "tab between scheme and token (not the Bearer scheme)",
        authz(format!("Bearer\t{access}")),
        MISSING,
    );
    add("scheme only", authz("Bearer"), INVALID_REQUEST);
    add("scheme and a space", authz("Bearer "), INVALID_REQUEST);
    add(
        "another scheme",
        authz("Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ="),
        MISSING,
    );
    add("no Authorization", get(vec![]), MISSING);

    // Characters outside base64url.
    add(
        "'+' in the signature (b64token, not base64url)",
        bearer(&format!("{hp}.+{}", &sig[1..])),
        INVALID_TOKEN,
    );
    add(
        "'/' in the header",
        bearer(&format!("/{}", &access[1..])),
        INVALID_TOKEN,
    );
    add(
        "'=' padding after the signature",
        bearer(&format!("{access}==")),
        INVALID_TOKEN,
    );
    add(
        "'!' in the token (not a b64token)",
        bearer(&format!("{access}!")),
        INVALID_REQUEST,
    );
    add(
        "percent-encoded dot",
        bearer(&access.replacen('.', "%2E", 1)),
        INVALID_REQUEST,
    );
    add(
        "'=' in the middle",
        bearer(&format!("{hp}=.{sig}")),
        INVALID_REQUEST,
    );
    add(
        "non-ASCII byte in the token",
        authz([format!("Bearer {access}").as_bytes(), "é".as_bytes()].concat()),
        INVALID_REQUEST,
    );
    add(
        "quoted token",
        authz(format!("Bearer \"{access}\"")),
        INVALID_REQUEST,
    );

    // Size.
    add(
        "token just over 8 KiB",
        bearer(&format!("{access}{}", "A".repeat(8 * 1024))),
        INVALID_REQUEST,
    );
    for (name, size) in [("100 KB", 100 * 1024), ("1 MB", 1024 * 1024)] {
        let mut req = bearer(&format!("{access}{}", "A".repeat(size)));
        req.raw_tcp = true;
        add(&format!("{name} Authorization header"), req, CLEAN_4XX);
    }
    let mut many = get((0..2000)
        .map(|i| ("x-filler", format!("{i:0>60}").into_bytes()))
        .collect());
    many.headers
        .push(("authorization", format!("Bearer {access}").into_bytes()));
    many.raw_tcp = true;
    add(
        "2000 filler headers (~130 KB) and a valid token",
        many,
        CLEAN_4XX,
    );

    // Several Authorization headers.
    let two = |a: String, b: String| {
        get(vec![
            ("authorization", a.into()),
            ("authorization", b.into()),
        ])
    };
    add(
        "two identical Authorization headers",
        two(format!("Bearer {access}"), format!("Bearer {access}")),
        INVALID_REQUEST,
    );
    add(
        "Authorization alice then root",
        two(format!("Bearer {access}"), format!("Bearer {root_access}")),
        INVALID_REQUEST,
    );
    add(
        "Authorization Basic then Bearer",
        two("Basic YQ==".into(), format!("Bearer {access}")),
        INVALID_REQUEST,
    );
    add(
        "Authorization garbage then valid",
        two("Bearer x.y.z".into(), format!("Bearer {access}")),
        INVALID_REQUEST,
    );

    // Bearer and cookie with different tokens: bearer only, never the cookie.
    let cookies = format!(
        "access_token={root_access}; token={root_access}; jwt={root_access}; \
         auth={root_access}; refresh_token={root_refresh}"
    );
    add(
        "bearer alice, cookies carry root",
        get(vec![
            ("authorization", format!("Bearer {access}").into_bytes()),
            ("cookie", cookies.clone().into_bytes()),
        ]),
        ok("alice"),
    );
    add(
        "no bearer, cookies carry root",
        get(vec![("cookie", cookies.clone().into_bytes())]),
        MISSING,
    );
    add(
        "bad bearer, cookies carry root",
        get(vec![
            ("authorization", b"Bearer x.y.z".to_vec()),
            ("cookie", cookies.clone().into_bytes()),
        ]),
        INVALID_TOKEN,
    );
    let mut admin_by_cookie = get(vec![
        ("authorization", format!("Bearer {access}").into_bytes()),
        ("cookie", cookies.into_bytes()),
    ]);
    admin_by_cookie.path = "/admin";
    add(
        "bearer alice, root cookies, on /admin",
        admin_by_cookie,
        Expect {
            status: &[403],
            challenge: Challenge::Code("insufficient_scope"),
            body: BodyIs::Any,
        },
    );

    // HS256 signed with the public key of an RS256 / ES256 server.
    for (target, instance, public_pem) in [
        (Target::Rsa, &rsa, key_file("rsa2048.pub.pem")),
        (Target::Ec, &ec, key_file("es256.pub.pem")),
    ] {
        let (tok, _) = instance.login("alice", "alice-password").await;
        let (th, tp) = parts(&tok);
        let jwks = instance.client.get("/.well-known/jwks.json", None).await;
        assert_eq!(jwks.status, 200);
        let jwks_text = jwks.json.to_string();
        let jwk_text = jwks.json["keys"][0].to_string();
        let pem = std::fs::read(&public_pem).expect("public pem");
        let hs = with(&th, "alg", json!("HS256"));
        let alg = th["alg"].as_str().expect("alg").to_owned();
        let mut add = |name: String, req: Req, expect: Expect| {
            rows.push(row(name, target, req, expect));
        };
        add(
            format!("control: {alg} login token"),
            bearer(&tok),
            ok("alice"),
        );
        for (what, secret) in [
            ("the public PEM", pem.clone()),
            (
                "the public PEM without its newline",
                pem.trim_ascii_end().to_vec(),
            ),
            ("the JWKS document", jwks_text.into_bytes()),
            ("the JWK", jwk_text.into_bytes()),
        ] {
            add(
                format!("{alg} server, HS256 token signed with {what}"),
                bearer(&sign_raw(&hs.to_string(), &tp.to_string(), &secret)),
                INVALID_TOKEN,
            );
        }
        add(
            format!("{alg} server, HS256 signed with the PEM, no kid"),
            bearer(&sign_raw(
                &without(&hs, "kid").to_string(),
                &tp.to_string(),
                &pem,
            )),
            INVALID_TOKEN,
        );
        add(
            format!("{alg} server, alg none"),
            bearer(&unsigned(&with(&th, "alg", json!("none")), &tp)),
            INVALID_TOKEN,
        );
        add(
            format!("{alg} server, main's HS256 token"),
            bearer(&access),
            INVALID_TOKEN,
        );
    }

    // An issuer and audience configured: anything else is refused.
    let (ia_access, _) = iss_aud.login("alice", "alice-password").await;
    let (ih, ip) = parts(&ia_access);
    assert_eq!(
        (ip["iss"].as_str(), ip["aud"].as_str()),
        (Some(ISS), Some(AUD))
    );
    let mut add = |name: &str, req: Req, expect: Expect| {
        rows.push(row(name, Target::IssAud, req, expect));
    };
    add(
        "iss/aud: control, login token",
        bearer(&ia_access),
        ok("alice"),
    );
    add(
        "iss/aud: control, aud array holding ours",
        bearer(&forge(&ih, &with(&ip, "aud", json!(["other", AUD])))),
        ok("alice"),
    );
    for (claim, value) in [
        ("iss", json!("https://evil.test")),
        ("iss", json!(format!("{ISS}/"))),
        ("iss", json!(ISS.to_uppercase())),
        ("iss", json!("")),
        ("iss", json!(null)),
        ("iss", json!([ISS])),
        ("aud", json!("evil.test")),
        ("aud", json!(AUD.to_uppercase())),
        ("aud", json!(["other", "evil.test"])),
        ("aud", json!([])),
        ("aud", json!("")),
        ("aud", json!(42)),
    ] {
        add(
            &format!("iss/aud: {claim} {value}"),
            bearer(&forge(&ih, &with(&ip, claim, value.clone()))),
            INVALID_TOKEN,
        );
    }
    for claim in ["iss", "aud"] {
        add(
            &format!("iss/aud: {claim} missing"),
            bearer(&forge(&ih, &without(&ip, claim))),
            INVALID_TOKEN,
        );
    }
    add(
        "iss/aud: main's token (its own iss and aud)",
        bearer(&access),
        INVALID_TOKEN,
    );

    // Send every row; collect, then report the whole table.
    let http: Http = HyperClient::builder(TokioExecutor::new()).build_http();
    let mut table = String::new();
    let mut failures = 0;
    for r in &rows {
        let addr = match r.target {
            Target::Main => main.addr(),
            Target::Rsa => rsa.addr(),
            Target::Ec => ec.addr(),
            Target::IssAud => iss_aud.addr(),
        };
        let got = send(&http, addr, &r.req).await;
        let verdict = got.mismatch(&r.expect);
        if verdict.is_some() {
            failures += 1;
        }
        let _ = writeln!(
            table,
            "{} {:<62} {:>4} {:<18} {}",
            if verdict.is_some() { "FAIL" } else { "ok  " },
            r.name.chars().take(62).collect::<String>(),
            got.status.map_or("-".into(), |s| s.to_string()),
            got.error_code().unwrap_or("-"),
            verdict.unwrap_or_default(),
        );
    }
    println!("{} rows in {:?}\n{table}", rows.len(), started.elapsed());
    assert_eq!(
        failures,
        0,
        "{failures} of {} rows failed:\n{table}",
        rows.len()
    );

    // The server took all that and still serves.
    for (instance, token) in [(&main, &access), (&iss_aud, &ia_access)] {
        let r = instance.client.get("/profile", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["sub"], "alice");
    }
    let r = main.client.get("/profile", Some(&root_access)).await;
    assert_eq!(r.json["sub"], "root");
    let r = main.client.refresh_body(&refresh).await;
    assert_eq!(
        r.status, 200,
        "alice's refresh token still works: {}",
        r.json
    );
}
