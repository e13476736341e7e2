//! Trust: TLS, withdrawn and replaced keys, rotations without a gap, and
//! never fetching keys in the clear.

use super::*;

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
