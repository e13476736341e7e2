//! Adversarial requests against the example server, over real HTTP on
//! loopback: a table of forged, malformed and confused tokens and headers,
//! each with the exact status, `WWW-Authenticate` error code and body it must
//! get. Every row must be answered cleanly (never a 5xx, never a dropped
//! connection), and the server must still serve a valid token afterwards.
//!
//! Tokens are forged with the server's own HS256 secret, so a refusal is
//! caused by the one thing each row changes, not by a bad signature.
//!
//! The rows are built by concept, each in the module named after it:
//! [`header`], [`claims`], [`request`], [`key_confusion`] and [`issuer`];
//! [`table`] holds what a row is and how it is sent, [`forge`] how tokens
//! are forged, [`instance`] the servers.

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

mod claims;
mod forge;
mod header;
mod instance;
mod issuer;
mod key_confusion;
mod request;
mod table;

use forge::*;
use instance::*;
use table::*;

/// The HS256 secret of the main instance (what `AUTH_JWT_SECRET` would hold).
const SECRET: &str = "adversarial-test-secret-of-more-than-32-bytes";
/// Issuer and audience of the instance that requires them.
const ISS: &str = "https://issuer.test";
const AUD: &str = "api.test";

/// The main instance's logins that rows start from, and the time they were
/// taken.
pub(crate) struct Logins {
    /// alice's access token.
    pub(crate) access: String,
    /// alice's refresh token.
    pub(crate) refresh: String,
    /// root's access token.
    pub(crate) root_access: String,
    /// root's refresh token.
    pub(crate) root_refresh: String,
    /// The decoded header of `access`.
    pub(crate) h: Value,
    /// The decoded payload of `access`.
    pub(crate) p: Value,
    /// Now, in seconds since the Unix epoch.
    pub(crate) t: u64,
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
    let logins = Logins {
        access: access.clone(),
        refresh: refresh.clone(),
        root_access: root_access.clone(),
        root_refresh,
        h,
        p,
        t: now(),
    };
    let (ia_access, _) = iss_aud.login("alice", "alice-password").await;

    let mut rows: Vec<Row> = Vec::new();
    rows.extend(header::rows(&logins));
    rows.extend(claims::rows(&logins));
    rows.extend(request::rows(&logins));
    rows.extend(key_confusion::rows(&rsa, &ec, &access).await);
    rows.extend(issuer::rows(&ia_access, &access));

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
