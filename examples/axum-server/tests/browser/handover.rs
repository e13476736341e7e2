//! A token another tab hands over, refused: the client refreshes and retries.

use serde_json::json;

use crate::harness::{Browser, browser_installed, page_client};
use crate::server::{rotations, server};

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
    b.open_signed_in(&s.base).await;
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
