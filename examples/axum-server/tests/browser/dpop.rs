//! DPoP in the browser: auth-client.js signs its login, refreshes and calls
//! with a key of its own, made by WebCrypto, kept in IndexedDB and never
//! exportable, and the server binds the session to it. A refresh cookie
//! copied without the key refreshes nothing; the key survives a reload; the
//! tabs share one key and one session; a page whose clock is off still
//! signs in.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::harness::{Browser, Sent, browser_installed, ec_thumbprint, jws_part};
use crate::server::{expire_access_tokens, refreshes, rotations, server};

/// The demo page's line for a bound session.
const BOUND: &str = "DPoP, bound to this browser's key";

/// The keys auth-client.js keeps in IndexedDB (database `auth-client-dpop`,
/// store `keys`), each with what the page can learn of its private half:
/// `{ jwk, type, extractable, algorithm, usages, exported }`, `exported`
/// telling whether WebCrypto gave its PKCS#8 bytes out.
const STORED_KEYS: &str = "return (async () => { \
      const db = await new Promise((ok, fail) => { \
        const open = indexedDB.open('auth-client-dpop'); \
        open.onsuccess = () => ok(open.result); open.onerror = () => fail(open.error); }); \
      const records = await new Promise((ok, fail) => { \
        const all = db.transaction('keys').objectStore('keys').getAll(); \
        all.onsuccess = () => ok(all.result); all.onerror = () => fail(all.error); }); \
      db.close(); \
      const keys = []; \
      for (const { jwk, privateKey: k } of records) { \
        const exported = await crypto.subtle.exportKey('pkcs8', k).then(() => true, () => false); \
        keys.push({ jwk, type: k.type, extractable: k.extractable, \
          algorithm: k.algorithm, usages: k.usages, exported }); \
      } \
      return keys; \
    })()";

/// Seconds since the epoch.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The requests of `sent` to `method` `path`, oldest first.
fn to<'a>(sent: &'a [Sent], method: &str, path: &str) -> Vec<&'a Sent> {
    sent.iter()
        .filter(|s| s.method == method && s.path() == path)
        .collect()
}

/// The last request of `sent` to `method` `path`.
fn last<'a>(sent: &'a [Sent], method: &str, path: &str) -> &'a Sent {
    to(sent, method, path)
        .pop()
        .unwrap_or_else(|| panic!("no {method} {path} among {sent:#?}"))
}

/// Checks the DPoP proof `s` carried against `s` itself (RFC 9449 §4.2):
/// `typ`, ES256, a public P-256 `jwk`, a `jti`, `htm` and `htu` of the
/// request (no query nor fragment), `iat` within a minute of `clock`, and
/// `ath` exactly when an access token went with it. Answers the `jwk`.
fn checked_proof(s: &Sent, access_token: Option<&str>, clock: i64) -> Value {
    let proof = s
        .dpop
        .as_deref()
        .unwrap_or_else(|| panic!("no DPoP proof: {s:?}"));
    let header = jws_part(proof, 0);
    assert_eq!(header["typ"], "dpop+jwt", "{header}");
    assert_eq!(header["alg"], "ES256", "{header}");
    let jwk = header["jwk"].clone();
    let mut members: Vec<&str> = jwk
        .as_object()
        .expect("a jwk")
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["crv", "kty", "x", "y"], "public members only");
    assert_eq!((&jwk["kty"], &jwk["crv"]), (&json!("EC"), &json!("P-256")));
    let claims = jws_part(proof, 1);
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    assert_eq!(claims["htm"], s.method.as_str(), "{claims}");
    let htu = s.url.split(['?', '#']).next().unwrap_or_default();
    assert_eq!(claims["htu"], htu, "{claims}");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((iat - clock).abs() < 60, "iat {iat}, clock {clock}");
    match access_token {
        Some(token) => assert_eq!(
            claims["ath"],
            auth_core::dpop::access_token_hash(token).as_str()
        ),
        None => assert_eq!(claims.get("ath"), None, "{claims}"),
    }
    jwk
}

/// The access token `s` sent with the `DPoP` scheme.
fn dpop_token(s: &Sent) -> &str {
    s.authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("DPoP "))
        .unwrap_or_else(|| panic!("not the DPoP scheme: {s:?}"))
}

/// The access token of a token answer, bound: `tokenType` DPoP, and no
/// refresh token in the body.
fn bound_answer(s: &Sent) -> String {
    let body = s.json();
    assert_eq!(s.status, Some(200), "{s:?}");
    assert_eq!(body["tokenType"], "DPoP", "{body}");
    assert_eq!(body.get("refreshToken"), None, "{body}");
    body["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// The login's proof binds the session: the answer is `DPoP`, both tokens
/// name the key (`cnf.jkt`), and calls go as `DPoP` with a proof of that
/// key. The key is WebCrypto's, non-extractable, and the only one stored.
/// After a reload the page refreshes and calls with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_is_bound_to_a_key_that_survives_a_reload() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m"], "http").await;
    let http = contract_tests::Client::new(s.addr);
    let mut b = Browser::start(&[], "dpop-bound").await;
    b.record_requests().await;
    b.open_signed_in(&s.base).await;
    assert_eq!(b.text("token-type").await, BOUND);
    b.screenshot("bound").await;

    let sent = b.sent().await;
    let login = last(&sent, "POST", "/auth/login");
    let jwk = checked_proof(login, None, now());
    let jkt = ec_thumbprint(&jwk);
    let access = bound_answer(login);
    assert_eq!(jws_part(&access, 1)["cnf"]["jkt"], jkt.as_str());
    let call = last(&sent, "GET", "/profile");
    assert_eq!(call.status, Some(200));
    assert_eq!(dpop_token(call), access);
    assert_eq!(checked_proof(call, Some(&access), now()), jwk);

    // The key: one, stored, private, ECDSA P-256 for signing only, and
    // WebCrypto gives none of it out.
    let keys = b.js(STORED_KEYS).await;
    assert_eq!(
        keys,
        json!([{
            "jwk": jwk,
            "type": "private",
            "extractable": false,
            "algorithm": { "name": "ECDSA", "namedCurve": "P-256" },
            "usages": ["sign"],
            "exported": false,
        }])
    );

    // The access token alone is refused, as Bearer and as DPoP without a
    // proof.
    let as_bearer = http.get("/profile", Some(&access)).await;
    assert_eq!(as_bearer.status, 401);
    assert_eq!(as_bearer.json["error"], "invalid_dpop_proof");
    let scheme = format!("DPoP {access}");
    let unproven = http
        .send(
            http::Method::GET,
            "/profile",
            &[("authorization", &scheme)],
            None,
        )
        .await;
    assert_eq!(unproven.status, 401);
    assert_eq!(unproven.json["error"], "invalid_dpop_proof");
    let challenge = unproven.headers["www-authenticate"].to_str().unwrap_or("");
    assert!(challenge.starts_with("DPoP "), "{challenge}");

    // A reload: the page refreshes with the cookie and a proof of the same
    // key, and calls with it.
    let before = rotations(&b, &s.base).await;
    b.client.refresh().await.expect("reload");
    b.ready().await;
    b.until_alice("the profile after a reload").await;
    assert_eq!(b.text("token-type").await, BOUND);
    b.screenshot("reloaded").await;
    assert_eq!(rotations(&b, &s.base).await, before + 1);
    let sent = b.sent().await;
    let refresh = last(&sent, "POST", "/auth/refresh");
    assert_eq!(checked_proof(refresh, None, now()), jwk, "another key");
    let renewed = bound_answer(refresh);
    assert_ne!(renewed, access);
    assert_eq!(jws_part(&renewed, 1)["cnf"]["jkt"], jkt.as_str());
    let call = last(&sent, "GET", "/profile");
    assert_eq!(call.status, Some(200));
    assert_eq!(dpop_token(call), renewed);
    assert_eq!(checked_proof(call, Some(&renewed), now()), jwk);
    assert_eq!(b.js(STORED_KEYS).await.as_array().map(Vec::len), Some(1));

    // Every proof was a new one.
    let proofs: Vec<&str> = sent.iter().filter_map(|s| s.dpop.as_deref()).collect();
    let jtis: HashSet<String> = proofs
        .iter()
        .map(|p| jws_part(p, 1)["jti"].to_string())
        .collect();
    assert_eq!(jtis.len(), proofs.len(), "a jti was used twice");

    // Sign out: the logout proves the key (a bound session is revoked only
    // so), and the session is gone from the user's list.
    b.click("logout").await;
    b.until(
        "return !document.getElementById('signin').hidden",
        "the sign-in form",
    )
    .await;
    let sent = b.sent().await;
    let logout = last(&sent, "POST", "/auth/logout");
    assert_eq!(dpop_token(logout), renewed);
    assert_eq!(checked_proof(logout, Some(&renewed), now()), jwk);
    let mine = http.login("alice", "alice-password").await;
    let listed = http
        .get("/auth/sessions", Some(&mine.field("accessToken")))
        .await;
    let sid = jws_part(&renewed, 1)["sid"].clone();
    let ids: Vec<&Value> = listed.json["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert!(
        !ids.contains(&&sid),
        "the bound session outlived its logout: {}",
        listed.json
    );
    b.client.close().await.expect("the session ends");
}

/// The refresh cookie of a bound session, copied, refreshes nothing: not
/// from a plain HTTP client (no proof), not with a proof of another key,
/// not from the page in another browser profile (which has a key of its
/// own). Each is 401 `invalid_dpop_proof`, and nothing changes: the owner's
/// page refreshes afterwards as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_refresh_cookie_cannot_refresh_without_the_key() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m"], "http").await;
    let http = contract_tests::Client::new(s.addr);
    let b = Browser::start(&[], "dpop-owner").await;
    b.open_signed_in(&s.base).await;
    assert_eq!(b.text("token-type").await, BOUND);
    let cookie = b.refresh_cookie(&s.base).await.expect("the refresh cookie");
    b.ready().await;
    let before = rotations(&b, &s.base).await;

    // A plain HTTP client with the cookie, no proof.
    let refused = http.refresh_by_cookie(&cookie).await;
    assert_eq!(refused.status, 401, "{}", refused.json);
    assert_eq!(refused.json["error"], "invalid_dpop_proof");
    let challenge = refused.headers["www-authenticate"].to_str().unwrap_or("");
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert_eq!(refused.set_cookie(), None, "a refused proof clears nothing");

    // The same with a valid proof of another key.
    let other = auth_core::testing::DpopKey::generate(auth_core::Algorithm::ES256).expect("a key");
    let proof = other.proof("POST", &format!("http://{}/auth/refresh", s.addr), None);
    let jar = format!("{}={}", cookie.name(), cookie.value());
    let refused = http
        .post("/auth/refresh", &[("cookie", &jar), ("dpop", &proof)], None)
        .await;
    assert_eq!(refused.status, 401, "{}", refused.json);
    assert_eq!(refused.json["error"], "invalid_dpop_proof");

    // Another browser profile with the cookie: the page makes its own key,
    // its refresh is refused, and it shows the sign-in form.
    let mut thief = Browser::start(&[], "dpop-thief").await;
    thief.record_requests().await;
    thief
        .client
        .goto(&format!("{}/healthz", s.base))
        .await
        .expect("a page of the origin");
    thief
        .client
        .add_cookie(cookie.clone())
        .await
        .expect("the copied cookie is set");
    thief
        .client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    thief.ready().await;
    assert!(thief.visible("signin").await, "the copy signed in");
    thief.screenshot("copied-cookie-refused").await;
    let sent = thief.sent().await;
    let refresh = last(&sent, "POST", "/auth/refresh");
    assert_eq!(refresh.status, Some(401), "{refresh:?}");
    assert_eq!(refresh.json()["error"], "invalid_dpop_proof");
    let thief_key = checked_proof(refresh, None, now());
    assert_eq!(
        thief
            .refresh_cookie(&s.base)
            .await
            .map(|c| c.value().to_owned()),
        Some(cookie.value().to_owned()),
        "the copy's cookie was changed"
    );
    thief.client.close().await.expect("the session ends");
    assert_eq!(
        rotations(&b, &s.base).await,
        before,
        "a copy without the key rotated the session"
    );

    // The owner's page goes on: a reload refreshes with its own key.
    b.record_requests().await;
    b.client.refresh().await.expect("reload");
    b.ready().await;
    b.until_alice("the owner after the attempts").await;
    assert_eq!(rotations(&b, &s.base).await, before + 1);
    let sent = b.sent().await;
    let refresh = last(&sent, "POST", "/auth/refresh");
    assert_ne!(checked_proof(refresh, None, now()), thief_key);
    bound_answer(refresh);
    assert_eq!(refreshes(&http, "reused").await, 0);
    b.client.close().await.expect("the session ends");
}

/// Two tabs share one key and one session: the second tab signs in from the
/// cookie with the first tab's key; both expired, both calling at once,
/// one rotation in all, no refresh superseded nor reused, every token of
/// one session bound to one key, and the user has one session of this
/// browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_share_one_key_and_one_session() {
    if !browser_installed() {
        return;
    }
    let s = server(&[], "http").await;
    let http = contract_tests::Client::new(s.addr);
    let mut b = Browser::start(&[], "dpop-tabs").await;
    b.record_requests().await;
    b.open_signed_in(&s.base).await;

    let first = b.client.window().await.expect("window");
    let second = b.client.new_window(true).await.expect("a tab").handle;
    b.client
        .switch_to_window(second.clone())
        .await
        .expect("switch");
    b.record_requests().await;
    b.client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    b.ready().await;
    b.until_alice("the second tab").await;
    assert_eq!(b.text("token-type").await, BOUND);

    // Both expired, both calling at once.
    expire_access_tokens().await;
    let before = rotations(&b, &s.base).await;
    let calls = "return [...document.querySelectorAll('#log li')]\
                 .filter(li => li.textContent.endsWith('GET /profile: 200')).length";
    let done_second = b.js(calls).await.as_u64().unwrap_or(0);
    b.client
        .switch_to_window(first.clone())
        .await
        .expect("switch");
    let done_first = b.js(calls).await.as_u64().unwrap_or(0);
    b.js("document.getElementById('call').click(); return true")
        .await;
    b.client
        .switch_to_window(second.clone())
        .await
        .expect("switch");
    b.js("document.getElementById('call').click(); return true")
        .await;
    b.until(&format!("{calls} > {done_second}"), "the second tab's call")
        .await;
    b.screenshot("second-tab").await;
    let sent_second = b.sent().await;
    b.client
        .switch_to_window(first.clone())
        .await
        .expect("switch");
    b.until(&format!("{calls} > {done_first}"), "the first tab's call")
        .await;
    b.screenshot("first-tab").await;
    let sent_first = b.sent().await;
    assert_eq!(
        rotations(&b, &s.base).await,
        before + 1,
        "two tabs after one expiry rotated more than once"
    );
    assert_eq!(refreshes(&http, "superseded").await, 0);
    assert_eq!(refreshes(&http, "reused").await, 0);

    // One key: every proof of both tabs carries it.
    let login = last(&sent_first, "POST", "/auth/login");
    let jwk = checked_proof(login, None, now());
    let jkt = ec_thumbprint(&jwk);
    let mut tokens = vec![bound_answer(login)];
    for r in sent_first.iter().chain(&sent_second) {
        if r.path().starts_with("/auth/") {
            assert_eq!(checked_proof(r, None, now()), jwk, "{r:?}");
            if r.path() == "/auth/refresh" && r.status == Some(401) {
                // The first tab's load, before the login: no cookie yet.
                assert_eq!(r.json()["error"], "invalid_token", "{r:?}");
            } else if r.path() == "/auth/refresh" {
                tokens.push(bound_answer(r));
            }
        } else if r.path() == "/profile" {
            let token = dpop_token(r);
            assert_eq!(checked_proof(r, Some(token), now()), jwk, "{r:?}");
            tokens.push(token.to_owned());
        }
    }
    // One session: every token of both tabs is of the login's session,
    // bound to the key; the user's other session is the one made here.
    let sid = jws_part(&tokens[0], 1)["sid"].clone();
    for token in &tokens {
        let claims = jws_part(token, 1);
        assert_eq!(claims["sid"], sid, "{claims}");
        assert_eq!(claims["cnf"]["jkt"], jkt.as_str(), "{claims}");
    }
    let mine = http.login("alice", "alice-password").await;
    let listed = http
        .get("/auth/sessions", Some(&mine.field("accessToken")))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    let others: Vec<&Value> = listed.json["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["current"] != json!(true))
        .collect();
    assert_eq!(others.len(), 1, "{}", listed.json);
    assert_eq!(others[0]["id"], sid, "{}", listed.json);
    b.client.close().await.expect("the session ends");
}

/// Two clients making the key at the same moment end up with one: two
/// instances of the module (each with its own memory, as two tabs have,
/// sharing only IndexedDB) sign in at once on a profile without a key; both
/// make a key, one is stored, and both sign with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_making_the_key_at_once_share_one() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m"], "http").await;
    let b = Browser::start(&[], "dpop-key-race").await;
    b.record_requests().await;
    b.client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    b.ready().await;
    // The page made its key on load: remove it (the page keeps no
    // connection open), so that the two clients find none.
    let removed = b
        .js("return new Promise(done => { \
               const del = indexedDB.deleteDatabase('auth-client-dpop'); \
               del.onsuccess = () => done('deleted'); \
               del.onerror = () => done(String(del.error)); \
               del.onblocked = () => done('blocked'); })")
        .await;
    assert_eq!(removed, json!("deleted"));
    let made = b
        .js("return (async () => { \
               let made = 0; \
               const generate = crypto.subtle.generateKey.bind(crypto.subtle); \
               crypto.subtle.generateKey = (...args) => { made += 1; return generate(...args); }; \
               const [one, two] = await Promise.all([ \
                 import(`${location.origin}/auth-client.js?one`), \
                 import(`${location.origin}/auth-client.js?two`)]); \
               const clients = [new one.AuthClient(), new two.AuthClient()]; \
               await Promise.all(clients.map(c => c.login('alice', 'alice-password'))); \
               return made; \
             })()")
        .await;
    let sent = b.sent().await;
    let logins = to(&sent, "POST", "/auth/login");
    assert_eq!(logins.len(), 2, "{sent:#?}");
    let jwks: Vec<Value> = logins
        .iter()
        .map(|s| {
            bound_answer(s);
            checked_proof(s, None, now())
        })
        .collect();
    assert_eq!(jwks[0], jwks[1], "two keys, after {made} made");
    assert_eq!(made, json!(2), "the two clients did not race");
    let keys = b.js(STORED_KEYS).await;
    let stored: Vec<&Value> = keys
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| &k["jwk"])
        .collect();
    assert_eq!(stored, [&jwks[0]]);
    b.client.close().await.expect("the session ends");
}

/// A page whose clock is ten minutes ahead: its first proof is refused
/// (`iat`), and the client signs again once with the server's time (its
/// `Date`): the login is bound, and a reload, whose client starts from its
/// own clock again, refreshes the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_clock_is_off_signs_with_the_servers_time() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m"], "http").await;
    let mut b = Browser::start(&[], "dpop-clock").await;
    b.before_scripts(
        "const realNow = Date.now.bind(Date); Date.now = () => realNow() + 10 * 60 * 1000;",
    )
    .await;
    b.record_requests().await;
    b.open_signed_in(&s.base).await;
    assert_eq!(b.text("token-type").await, BOUND);
    let sent = b.sent().await;
    let login = last(&sent, "POST", "/auth/login");
    checked_proof(login, None, now());
    bound_answer(login);

    b.client.refresh().await.expect("reload");
    b.ready().await;
    b.until_alice("the profile after a reload").await;
    b.screenshot("clock-off").await;
    let sent = b.sent().await;
    let refreshes = to(&sent, "POST", "/auth/refresh");
    assert_eq!(refreshes.len(), 2, "{sent:#?}");
    assert_eq!(refreshes[0].status, Some(401));
    assert_eq!(refreshes[0].json()["error"], "invalid_dpop_proof");
    checked_proof(refreshes[0], None, now() + 600);
    checked_proof(refreshes[1], None, now());
    bound_answer(refreshes[1]);
    assert_eq!(last(&sent, "GET", "/profile").status, Some(200));

    // The logout signs with the server's time too, and is taken.
    b.click("logout").await;
    b.until(
        "return !document.getElementById('signin').hidden",
        "the sign-in form",
    )
    .await;
    let sent = b.sent().await;
    let logouts = to(&sent, "POST", "/auth/logout");
    assert_eq!(
        logouts.last().and_then(|s| s.status),
        Some(204),
        "{sent:#?}"
    );
    let logout = logouts[logouts.len() - 1];
    checked_proof(logout, Some(dpop_token(logout)), now());
    b.client.close().await.expect("the session ends");
}

/// A server that requires nonces (`--dpop-nonces`): the page's first
/// request is asked for one (400 `use_dpop_nonce`) and signs again with the
/// nonce of the answer's `DPoP-Nonce`; the login carries it and is bound;
/// its calls carry the nonce; a
/// reload (which forgets the nonce) is asked again once and refreshes; the
/// logout with the nonce ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_nonces_gets_them_in_every_proof() {
    if !browser_installed() {
        return;
    }
    let s = server(&["--access-ttl", "10m", "--dpop-nonces"], "http").await;
    let http = contract_tests::Client::new(s.addr);
    let b = Browser::start(&[], "dpop-nonce").await;
    b.record_requests().await;
    b.open_signed_in(&s.base).await;
    assert_eq!(b.text("token-type").await, BOUND);
    let sent = b.sent().await;
    let nonce_in = |s: &Sent| jws_part(s.dpop.as_deref().expect("a proof"), 1)["nonce"].clone();
    // The page's first request (its refresh on load, without a cookie yet)
    // is asked for a nonce and signed again with it; the login then
    // carries it from the start.
    let restores = to(&sent, "POST", "/auth/refresh");
    assert_eq!(restores.len(), 2, "{sent:#?}");
    assert_eq!(restores[0].status, Some(400));
    assert_eq!(restores[0].json()["error"], "use_dpop_nonce");
    assert_eq!(nonce_in(restores[0]), Value::Null);
    let nonce = nonce_in(restores[1]);
    assert_eq!(nonce.as_str().map(str::len), Some(22), "{nonce}");
    assert_eq!(restores[1].status, Some(401), "no cookie yet");
    let logins = to(&sent, "POST", "/auth/login");
    assert_eq!(logins.len(), 1, "{sent:#?}");
    assert_eq!(nonce_in(logins[0]), nonce);
    let access = bound_answer(logins[0]);
    let call = last(&sent, "GET", "/profile");
    assert_eq!(call.status, Some(200));
    assert_eq!(nonce_in(call), nonce);

    b.client.refresh().await.expect("reload");
    b.ready().await;
    b.until_alice("the profile after a reload").await;
    let sent = b.sent().await;
    let refreshes = to(&sent, "POST", "/auth/refresh");
    let refreshes = &refreshes[refreshes.len().saturating_sub(2)..];
    assert_eq!(refreshes.len(), 2, "{sent:#?}");
    assert_eq!(refreshes[0].status, Some(400));
    assert_eq!(refreshes[0].json()["error"], "use_dpop_nonce");
    assert_eq!(nonce_in(refreshes[1]), nonce);
    let renewed = bound_answer(refreshes[1]);
    assert_ne!(renewed, access);

    b.click("logout").await;
    b.until(
        "return !document.getElementById('signin').hidden",
        "the sign-in form",
    )
    .await;
    let sent = b.sent().await;
    let logout = last(&sent, "POST", "/auth/logout");
    assert_eq!(logout.status, Some(204));
    assert_eq!(nonce_in(logout), nonce);
    let mine = http.login("alice", "alice-password").await;
    let listed = http
        .get("/auth/sessions", Some(&mine.field("accessToken")))
        .await;
    let sid = jws_part(&renewed, 1)["sid"].clone();
    assert!(
        !listed.json["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .any(|s| s["id"] == sid),
        "the bound session outlived its logout: {}",
        listed.json
    );
    b.client.close().await.expect("the session ends");
}
