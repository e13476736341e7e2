//! The access token goes to its own origin and the allowed ones only.

use serde_json::json;

use crate::harness::{Browser, browser_installed, jws_part, page_client, page_fetch};
use crate::server::{Credentials, api_elsewhere, rotations, server};

/// Whether a request came with a token or a proof.
fn credentialed(seen: &[Credentials]) -> Vec<bool> {
    seen.iter()
        .map(|c| c.authorization.is_some() || c.dpop.is_some())
        .collect()
}

/// `auth.fetch` sends the access token to the page's own origin and to the
/// origins listed in `allowedOrigins` only: another origin gets no token
/// and no proof, and its 401 triggers no refresh. The session is bound
/// (DPoP): an allowed origin gets the token with a proof for its own URL.
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
    b.open_signed_in(&s.base).await;

    // The default client: its own origin only.
    page_client(&b, json!({})).await;
    let own = format!("{}/profile", s.base);
    assert_eq!(page_fetch(&b, &own).await, json!(200), "its own origin");
    let before = rotations(&b, &s.base).await;
    assert_eq!(page_fetch(&b, &api).await, json!(401));
    let bearers = credentialed(&seen.lock().expect("the record"));
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
    let bearers = credentialed(&seen.lock().expect("the record"));
    assert_eq!(
        bearers,
        [false, false],
        "a <base> or a Request's own url sent the token to the other origin"
    );

    // Listed in allowedOrigins: the token goes there with a proof for that
    // URL, and its 401 is refreshed and retried once.
    seen.lock().expect("the record").clear();
    page_client(&b, json!({ "allowedOrigins": [elsewhere] })).await;
    let before = rotations(&b, &s.base).await;
    assert_eq!(page_fetch(&b, &api).await, json!(401));
    let bearers = seen.lock().expect("the record").clone();
    assert_eq!(bearers.len(), 2, "{bearers:?}");
    for c in &bearers {
        let token = c
            .authorization
            .as_deref()
            .and_then(|h| h.strip_prefix("DPoP "))
            .unwrap_or_else(|| panic!("not the DPoP scheme: {c:?}"));
        let claims = jws_part(c.dpop.as_deref().expect("a proof"), 1);
        assert_eq!(claims["htm"], "GET", "{claims}");
        assert_eq!(claims["htu"], api.as_str(), "{claims}");
        assert_eq!(
            claims["ath"],
            auth_core::dpop::access_token_hash(token).as_str()
        );
    }
    assert_ne!(
        bearers[0].authorization, bearers[1].authorization,
        "the retry carries the new token"
    );
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
    let bearers = credentialed(&seen.lock().expect("the record"));
    assert_eq!(bearers, [true, true]);
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
