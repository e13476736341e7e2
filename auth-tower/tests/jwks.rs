//! The JWKS client (feature `jwks`) against a real HTTP server on loopback
//! whose answers the test controls: fail closed until the first fetch and
//! recover without a restart, unknown `kid`s refetched once per interval,
//! unfit keys skipped, the last good set kept, discovery, size limits.
#![cfg(feature = "jwks")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::{Algorithm, Clock, Key, KeySet, NoClaims, TokenAuthority, Validator};
use auth_tower::AuthLayer;
use auth_tower::jwks::{DEFAULT_REFETCH_INTERVAL, Jwks};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// What the JWKS server answers, and how often it was asked.
#[derive(Default)]
struct Served {
    status: Mutex<Option<StatusCode>>,
    body: Mutex<Vec<u8>>,
    cache_control: Mutex<Option<&'static str>>,
    discovery: Mutex<Option<Value>>,
    jwks_hits: AtomicUsize,
}

type Shared = Arc<Served>;

impl Served {
    fn set_jwks(&self, doc: &Value) {
        *self.body.lock().unwrap() = serde_json::to_vec(doc).unwrap();
    }
}

async fn jwks(State(s): State<Shared>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let status = s.status.lock().unwrap().unwrap_or(StatusCode::OK);
    let mut res = (status, s.body.lock().unwrap().clone()).into_response();
    if let Some(cc) = *s.cache_control.lock().unwrap() {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    res
}

async fn discovery(State(s): State<Shared>) -> Response {
    match s.discovery.lock().unwrap().clone() {
        Some(doc) => axum::Json(doc).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn router(served: Shared) -> Router {
    Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(served)
}

async fn serve_on(listener: TcpListener, served: Shared) {
    tokio::spawn(async move { axum::serve(listener, router(served)).await });
}

async fn serve(served: Shared) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, served).await;
    addr
}

/// An issuer whose rotated keys sign at once (no publication delay): these
/// tests are about what the client does with a key it does not have yet.
fn issuer(alg: Algorithm) -> TokenAuthority {
    TokenAuthority::builder(KeySet::new(Key::generate(alg).unwrap()).unwrap())
        .issuer("https://issuer.example")
        .key_publication_delay(Duration::ZERO)
        .build()
        .unwrap()
}

fn jwks_of(authority: &TokenAuthority) -> Value {
    serde_json::to_value(authority.keys().jwks()).unwrap()
}

/// An issuer whose JWKS the test server publishes, a client of it (ready,
/// refetching at most once per `refetch`), and the app it protects.
struct Running {
    authority: TokenAuthority,
    served: Shared,
    jwks: Jwks,
    app: Router,
}

async fn running(alg: Algorithm, refetch: Duration) -> Running {
    let authority = issuer(alg);
    let served = Shared::default();
    served.set_jwks(&jwks_of(&authority));
    let addr = serve(served.clone()).await;
    let jwks = Jwks::builder(format!("http://{addr}/jwks"))
        .refetch_interval(refetch)
        .build()
        .unwrap();
    assert!(jwks.wait_ready(Duration::from_secs(5)).await);
    let app = app_of(jwks.clone());
    Running {
        authority,
        served,
        jwks,
        app,
    }
}

/// The protected app: the layer on a validator of `jwks`.
fn app_of(jwks: Jwks) -> Router {
    let validator = Validator::builder(jwks)
        .issuer("https://issuer.example")
        .without_revocation_checks()
        .build()
        .unwrap();
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::<NoClaims>::new(validator))
}

/// Status and `error` code of `GET /` with `token`.
async fn call(app: &Router, token: &str) -> (u16, String) {
    let req = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

async fn token(authority: &TokenAuthority) -> String {
    authority
        .issue("alice", &NoClaims {})
        .await
        .unwrap()
        .access_token
}

/// A well-formed token header naming `kid`, with garbage after it.
fn forged(kid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid })
            .to_string()
            .as_bytes(),
    );
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]))
}

#[tokio::test]
async fn it_fails_closed_until_the_issuer_answers_then_recovers_by_itself() {
    let authority = issuer(Algorithm::ES256);
    // A port with nothing on it yet.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let jwks = Jwks::builder(format!("http://{addr}/jwks"))
        .build()
        .unwrap();
    let app = app_of(jwks.clone());
    let t = token(&authority).await;
    assert_eq!(
        call(&app, &t).await,
        (503, "temporarily_unavailable".into())
    );
    assert!(!jwks.ready());

    let served = Shared::default();
    served.set_jwks(&jwks_of(&authority));
    serve_on(TcpListener::bind(addr).await.unwrap(), served.clone()).await;
    assert!(
        jwks.wait_ready(Duration::from_secs(15)).await,
        "never recovered"
    );
    assert_eq!(call(&app, &t).await.0, 200);
}

#[tokio::test]
async fn an_unknown_kid_is_refetched_once_per_interval() {
    let Running {
        authority,
        served,
        app,
        ..
    } = running(Algorithm::ES256, Duration::from_secs(2)).await;
    let before = token(&authority).await;
    assert_eq!(call(&app, &before).await.0, 200);
    assert_eq!(served.jwks_hits.load(Ordering::SeqCst), 1);

    // The issuer rotates: the first token with the new kid is accepted at
    // once, after one refetch.
    authority
        .rotate_signing_key(Key::generate(Algorithm::ES256).unwrap())
        .unwrap();
    served.set_jwks(&jwks_of(&authority));
    let after = token(&authority).await;
    assert_eq!(call(&app, &after).await.0, 200);
    assert_eq!(call(&app, &before).await.0, 200);
    assert_eq!(served.jwks_hits.load(Ordering::SeqCst), 2);

    // Within the interval, made-up kids are refused at once, with no fetch.
    let start = Instant::now();
    let burst = (0..50).map(|i| {
        let app = app.clone();
        async move { call(&app, &forged(&format!("made-up-{i}"))).await }
    });
    for r in futures_join_all(burst).await {
        assert_eq!(r, (401, "invalid_token".into()));
    }
    assert_eq!(served.jwks_hits.load(Ordering::SeqCst), 2);

    // Over three intervals, at most one fetch per interval.
    let mut refused = 0;
    while start.elapsed() < Duration::from_secs(6) {
        for i in 0..25 {
            assert_eq!(call(&app, &forged(&format!("garbage-{i}"))).await.0, 401);
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let fetched = served.jwks_hits.load(Ordering::SeqCst) - 2;
    let allowed = (elapsed / 2.0).ceil() as usize;
    eprintln!("{refused} made-up kids in {elapsed:.1} s: {fetched} fetches (at most {allowed})");
    assert!(fetched <= allowed, "{fetched} fetches in {elapsed:.1} s");
    assert!(fetched >= 1, "an unknown kid after the interval refetches");
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn keys_that_do_not_fit_are_skipped_and_hmac_never_comes_from_a_jwks() {
    let es = issuer(Algorithm::ES256);
    let good = es.keys().jwks().keys[0].clone();
    let good = serde_json::to_value(good).unwrap();
    let mut encryption = good.clone();
    encryption["use"] = "enc".into();
    encryption["kid"] = "enc".into();
    let mut no_verify = good.clone();
    no_verify["key_ops"] = json!(["encrypt"]);
    no_verify["kid"] = "ops".into();
    let mut wrong_alg = good.clone();
    wrong_alg["alg"] = "ES384".into();
    wrong_alg["kid"] = "wrong-alg".into();
    let mut rs_without_alg =
        serde_json::to_value(issuer(Algorithm::RS256).keys().jwks().keys[0].clone()).unwrap();
    rs_without_alg.as_object_mut().unwrap().remove("alg");
    let secret = [9u8; 32];
    let hs =
        TokenAuthority::builder(KeySet::new(Key::hmac(Algorithm::HS256, secret).unwrap()).unwrap())
            .issuer("https://issuer.example")
            .build()
            .unwrap();
    let hs_kid = hs.keys().keys()[0].kid().to_owned();
    let oct =
        json!({ "kty": "oct", "alg": "HS256", "kid": hs_kid, "k": URL_SAFE_NO_PAD.encode(secret) });
    let oct_as_es = json!({ "kty": "oct", "alg": "ES256", "kid": "oct-es", "k": URL_SAFE_NO_PAD.encode(secret) });
    let mut no_alg_ec = good.clone();
    no_alg_ec.as_object_mut().unwrap().remove("alg");
    no_alg_ec["kid"] = "inferred".into();

    let served = Shared::default();
    served.set_jwks(&json!({ "keys": [
        encryption, no_verify, wrong_alg, rs_without_alg, oct, oct_as_es, "not an object", no_alg_ec, good,
    ]}));
    let addr = serve(served.clone()).await;
    let jwks = Jwks::builder(format!("http://{addr}/jwks"))
        .build()
        .unwrap();
    assert!(jwks.wait_ready(Duration::from_secs(5)).await);
    let kids: Vec<String> = jwks
        .keys()
        .unwrap()
        .keys()
        .iter()
        .map(|k| k.kid().to_owned())
        .collect();
    let good_kid = es.keys().keys()[0].kid().to_owned();
    assert_eq!(kids, ["inferred".to_owned(), good_kid]);

    let app = app_of(jwks);
    assert_eq!(call(&app, &token(&es).await).await.0, 200);
    assert_eq!(
        call(&app, &token(&hs).await).await,
        (401, "invalid_token".into())
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let Running {
        authority,
        served,
        jwks,
        app,
    } = running(Algorithm::EdDSA, Duration::from_millis(100)).await;
    let t = token(&authority).await;
    assert_eq!(call(&app, &t).await.0, 200);

    // Broken answers: an error status, garbage, an empty set, a huge body.
    for (status, body) in [
        (StatusCode::INTERNAL_SERVER_ERROR, b"oops".to_vec()),
        (StatusCode::OK, b"{not json".to_vec()),
        (StatusCode::OK, br#"{"keys":[]}"#.to_vec()),
        (StatusCode::OK, vec![b' '; 600 * 1024]),
    ] {
        *served.status.lock().unwrap() = Some(status);
        *served.body.lock().unwrap() = body;
        let hits = served.jwks_hits.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // An unknown kid makes it fetch the broken document...
        assert_eq!(call(&app, &forged("unknown")).await.0, 401);
        assert!(served.jwks_hits.load(Ordering::SeqCst) > hits);
        // ...and the keys loaded before still verify.
        assert_eq!(call(&app, &t).await.0, 200);
    }
    assert!(jwks.ready());
}

#[tokio::test]
async fn discovery_finds_the_jwks_of_the_named_issuer_only() {
    let authority = issuer(Algorithm::ES256);
    let served = Shared::default();
    served.set_jwks(&jwks_of(&authority));
    let addr = serve(served.clone()).await;
    let issuer_url = format!("http://{addr}");

    // A document naming another issuer is not followed.
    *served.discovery.lock().unwrap() = Some(json!({
        "issuer": "http://elsewhere.example",
        "jwks_uri": format!("{issuer_url}/jwks"),
    }));
    let wrong = Jwks::discover(&issuer_url).build().unwrap();
    assert!(!wrong.wait_ready(Duration::from_secs(1)).await);
    assert_eq!(served.jwks_hits.load(Ordering::SeqCst), 0);

    *served.discovery.lock().unwrap() = Some(json!({
        "issuer": issuer_url,
        "jwks_uri": format!("{issuer_url}/jwks"),
    }));
    let right = Jwks::discover(format!("{issuer_url}/")).build().unwrap();
    assert!(right.wait_ready(Duration::from_secs(5)).await);
    assert_eq!(call(&app_of(right), &token(&authority).await).await.0, 200);
}

#[tokio::test]
async fn bad_urls_are_clear_errors() {
    for url in ["ftp://x/jwks", "jwks.json", ""] {
        let err = Jwks::builder(url).build().unwrap_err();
        assert!(err.to_string().contains("URL"), "{url}: {err}");
    }
    // Never fetched in the clear: without TLS support, https is refused.
    if !cfg!(feature = "jwks-tls") {
        let err = Jwks::builder("https://issuer.example/jwks")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("jwks-tls"), "{err}");
    }
    assert!(Jwks::discover("not a url").build().is_err());
}

#[test]
fn building_outside_a_runtime_is_a_clear_error() {
    let err = Jwks::builder("http://127.0.0.1:1/jwks")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("Tokio"), "{err}");
}

/// Serves `served` over TLS on localhost with a fresh self-signed
/// certificate; returns the port and the certificate (PEM).
#[cfg(feature = "jwks-tls")]
async fn serve_tls(served: Shared) -> (u16, String) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = router(served);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                }
            });
        }
    });
    (port, cert.pem())
}

/// Over HTTPS (feature `jwks-tls`), the server's certificate is checked:
/// against the roots given, and a self-signed one is not trusted otherwise.
#[cfg(feature = "jwks-tls")]
#[tokio::test]
async fn https_servers_are_verified() {
    let authority = issuer(Algorithm::ES256);
    let served = Shared::default();
    served.set_jwks(&jwks_of(&authority));
    let (port, cert) = serve_tls(served.clone()).await;
    let url = format!("https://localhost:{port}/jwks");

    let trusted = Jwks::builder(&url)
        .root_certificates_pem(cert)
        .build()
        .unwrap();
    assert!(trusted.wait_ready(Duration::from_secs(5)).await);
    assert_eq!(
        call(&app_of(trusted), &token(&authority).await).await.0,
        200
    );

    // The system's trust store does not know this certificate.
    if let Ok(untrusted) = Jwks::builder(&url).build() {
        assert!(!untrusted.wait_ready(Duration::from_secs(1)).await);
    }
    assert_eq!(served.jwks_hits.load(Ordering::SeqCst), 1);
    // A PEM without certificates is a clear error.
    let err = Jwks::builder(&url)
        .root_certificates_pem(b"no certificates here".to_vec())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}

/// A key the issuer withdraws from its JWKS stops verifying at the next
/// fetch, also for tokens the layer's cache already verified with it.
#[tokio::test]
async fn a_withdrawn_key_is_no_longer_trusted_even_from_the_cache() {
    let Running {
        authority,
        served,
        app,
        ..
    } = running(Algorithm::ES256, Duration::from_millis(10)).await;
    let t = token(&authority).await;
    assert_eq!(call(&app, &t).await.0, 200);
    assert_eq!(call(&app, &t).await.0, 200); // now from the cache

    // The issuer replaces its key (a compromise): the old one is withdrawn.
    authority
        .key_ring()
        .replace(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap());
    served.set_jwks(&jwks_of(&authority));
    let fresh = token(&authority).await;
    assert_eq!(call(&app, &fresh).await.0, 200); // refetched for its kid
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(call(&app, &t).await, (401, "invalid_token".into()));
}

/// An issuer that replaces its key by another under the same `kid` (and
/// withdraws nothing by name): once the client has the new set, a token the
/// old key signed is refused, also from the layer's cache.
#[tokio::test]
async fn a_key_replaced_under_the_same_kid_is_no_longer_trusted_from_the_cache() {
    let issuer_with = |key: Key| {
        TokenAuthority::builder(KeySet::new(key.with_kid("k1")).unwrap())
            .issuer("https://issuer.example")
            .build()
            .unwrap()
    };
    let a = issuer_with(Key::generate(Algorithm::ES256).unwrap());
    let served = Shared::default();
    served.set_jwks(&jwks_of(&a));
    let addr = serve(served.clone()).await;
    let jwks = Jwks::builder(format!("http://{addr}/jwks"))
        .refetch_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    assert!(jwks.wait_ready(Duration::from_secs(5)).await);
    let app = app_of(jwks.clone());
    let t = token(&a).await;
    assert_eq!(call(&app, &t).await.0, 200);
    assert_eq!(call(&app, &t).await.0, 200); // now from the cache

    let b = issuer_with(Key::generate(Algorithm::ES256).unwrap());
    served.set_jwks(&jwks_of(&b));
    // A token naming an unknown kid makes the client fetch the new set.
    let fetched = jwks.fetches();
    assert_eq!(call(&app, &forged("made-up")).await.0, 401);
    let start = Instant::now();
    while jwks.fetches() == fetched
        || !jwks
            .keys()
            .is_some_and(|k| k.keeps(b.keys().keys().first().unwrap()))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "no refetch");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(call(&app, &t).await, (401, "invalid_token".into()));
    assert_eq!(call(&app, &token(&b).await).await.0, 200);
}

/// The issuer rotates with its default publication delay: a client that has
/// just spent its refetch allowance on a made-up `kid` still accepts every
/// new login's token, since the new key signs only once published long
/// enough for every client's scheduled refresh.
#[tokio::test]
async fn a_rotation_leaves_no_gap_for_a_client_whose_refetch_was_spent() {
    let clock = Arc::new(auth_core::ManualClock::starting_now());
    let authority =
        TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap())
            .issuer("https://issuer.example")
            .clock(clock.clone())
            .build()
            .unwrap();
    let served = Shared::default();
    served.set_jwks(&jwks_of(&authority));
    let addr = serve(served.clone()).await;
    let jwks = Jwks::builder(format!("http://{addr}/jwks"))
        .build()
        .unwrap();
    assert!(jwks.wait_ready(Duration::from_secs(5)).await);
    let app = app_of(jwks.clone());
    assert_eq!(call(&app, &forged("made-up")).await.0, 401);
    let hits = served.jwks_hits.load(Ordering::SeqCst);

    let next = Key::generate(Algorithm::ES256).unwrap();
    let rotation = authority.rotate_signing_key(next.clone()).unwrap();
    served.set_jwks(&jwks_of(&authority));
    for _ in 0..5 {
        let fresh = token(&authority).await;
        assert_eq!(call(&app, &fresh).await, (200, String::new()));
    }
    assert_eq!(
        served.jwks_hits.load(Ordering::SeqCst),
        hits,
        "no refetch needed"
    );
    // The key that will sign is published from the start, for the client's
    // next scheduled refresh.
    assert!(
        jwks_of(&authority)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == next.kid())
    );
    assert!(rotation.signs_from >= clock.now() + auth_tower::jwks::MIN_REFRESH.as_secs());
}

/// An https issuer whose discovery document names a plain-http
/// `jwks_uri` (on this very host): the keys are not fetched, and a token
/// signed with the keys served there is refused (503: no keys), unless
/// plain http was explicitly allowed.
#[cfg(feature = "jwks-tls")]
#[tokio::test]
async fn an_https_issuer_never_has_its_keys_fetched_in_the_clear() {
    let authority = issuer(Algorithm::ES256);
    let plain = Shared::default();
    plain.set_jwks(&jwks_of(&authority));
    let plain_addr = serve(plain.clone()).await;
    let served = Shared::default();
    let (port, cert) = serve_tls(served.clone()).await;
    let issuer_url = format!("https://localhost:{port}");
    *served.discovery.lock().unwrap() = Some(json!({
        "issuer": issuer_url,
        "jwks_uri": format!("http://{plain_addr}/jwks"),
    }));
    let jwks = Jwks::discover(&issuer_url)
        .root_certificates_pem(cert.clone())
        .build()
        .unwrap();
    assert!(!jwks.wait_ready(Duration::from_secs(2)).await);
    assert_eq!(
        plain.jwks_hits.load(Ordering::SeqCst),
        0,
        "fetched in the clear"
    );
    let t = token(&authority).await;
    assert_eq!(call(&app_of(jwks), &t).await.0, 503);

    // Explicitly allowed (local development): fetched.
    let allowed = Jwks::discover(&issuer_url)
        .root_certificates_pem(cert)
        .allow_plain_http()
        .build()
        .unwrap();
    assert!(allowed.wait_ready(Duration::from_secs(5)).await);
    assert_eq!(call(&app_of(allowed), &t).await.0, 200);
}

/// With TLS available, plain http leaves the machine only by explicit
/// choice: a plain URL off the loopback interface is refused when building,
/// and a plain issuer on loopback cannot send the client elsewhere in the
/// clear.
#[cfg(feature = "jwks-tls")]
#[tokio::test]
async fn plain_http_off_the_loopback_interface_needs_an_explicit_choice() {
    let err = Jwks::builder("http://192.0.2.1/jwks").build().unwrap_err();
    assert!(err.to_string().contains("allow_plain_http"), "{err}");
    let err = Jwks::discover("http://192.0.2.1").build().unwrap_err();
    assert!(err.to_string().contains("allow_plain_http"), "{err}");
    assert!(
        Jwks::builder("http://192.0.2.1/jwks")
            .allow_plain_http()
            .build()
            .is_ok()
    );

    let served = Shared::default();
    let addr = serve(served.clone()).await;
    let issuer_url = format!("http://{addr}");
    *served.discovery.lock().unwrap() = Some(json!({
        "issuer": issuer_url,
        "jwks_uri": "http://192.0.2.1/jwks",
    }));
    let jwks = Jwks::discover(&issuer_url).build().unwrap();
    assert!(!jwks.wait_ready(Duration::from_secs(1)).await);
    assert_eq!(jwks.fetches(), 0, "the JWKS was requested in the clear");
}

/// A refetch asked from a thread outside any runtime (a validator used from
/// blocking code) runs on the client's runtime instead of panicking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refetch_from_outside_the_runtime_runs_on_the_clients_runtime() {
    use auth_core::KeySource;

    let Running { served, jwks, .. } = running(Algorithm::ES256, DEFAULT_REFETCH_INTERVAL).await;
    let source = jwks.clone();
    let refetch = std::thread::spawn(move || source.refetch())
        .join()
        .expect("no panic outside the runtime")
        .expect("a refetch");
    tokio::time::timeout(Duration::from_secs(5), refetch)
        .await
        .unwrap();
    assert_eq!(served.jwks_hits.load(Ordering::SeqCst), 2);
}
