//! Fetching: failing closed until the issuer answers, refetches for
//! unknown kids, keys that do not fit, failed refreshes, discovery, bad
//! URLs, runtimes.

use super::*;

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
