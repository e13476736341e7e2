//! The demo page walked through over HTTP and over HTTPS, and HSTS on every
//! HTTPS answer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Browser, browser_installed, test_cert};
use crate::server::{
    cross_site_page, expire_access_tokens, https_answer, https_server, rotations, server,
};

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
