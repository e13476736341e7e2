//! A resource server without the issuer's store: it verifies tokens with
//! the issuer's public key and asks the issuer's introspection endpoint
//! whether they are still active, so a logout at the issuer is refused
//! there too, within the documented cache time.

use std::time::Instant;

use auth_core::Validator;
use auth_core::introspection::{Introspection as Clients, IntrospectionClients};
use auth_tower::introspection::Introspection;

use super::*;

const ID: &str = "orders-service";
const SECRET: &str = "orders+service/secret-0123";

/// The issuer, with introspection for the orders service.
async fn issuer() -> Server {
    server_with(Algorithm::EdDSA, |r| {
        let clients = IntrospectionClients::new().client(ID, SECRET).unwrap();
        r.introspection(Clients::new(clients))
    })
    .await
}

/// A validator with `issuer`'s keys, asking `introspection` about every
/// token.
fn introspecting_validator(issuer: &Server, introspection: Introspection) -> Validator {
    Validator::builder(issuer.authority.keys())
        .store(Arc::new(introspection))
        .build()
        .unwrap()
}

/// A resource server verifying with `issuer`'s keys and asking its
/// introspection endpoint, with answers kept `cache_for`.
async fn resource_server(issuer: &Server, secret: &str, cache_for: Duration) -> Client {
    let endpoint = format!("http://{}/auth/introspect", issuer.addr);
    let introspection = Introspection::builder(&endpoint, ID, secret)
        .cache_for(cache_for)
        .build()
        .unwrap();
    let validator = introspecting_validator(issuer, introspection);
    let app = Router::new()
        .route("/profile", get(profile))
        .layer(AuthLayer::<RoleClaims>::new(validator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Client::new(addr)
}

#[tokio::test]
async fn a_logout_at_the_issuer_is_refused_by_an_introspecting_resource_server() {
    let issuer = issuer().await;
    // Asked on every request.
    let rs = resource_server(&issuer, SECRET, Duration::ZERO).await;
    let alice = issuer.login_ok("alice").await;
    let access = alice.field("accessToken");
    assert_eq!(rs.get("/profile", Some(&access)).await.status, 200);
    let r = issuer
        .bearer(http::Method::POST, "/auth/logout", &access)
        .await;
    assert_eq!(r.status, 204);
    let r = rs.get("/profile", Some(&access)).await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(r.json["error"], "invalid_token");
}

#[tokio::test]
async fn answers_are_kept_for_the_cache_time_and_no_longer() {
    let issuer = issuer().await;
    let cache_for = Duration::from_millis(1500);
    let rs = resource_server(&issuer, SECRET, cache_for).await;
    let alice = issuer.login_ok("alice").await;
    let access = alice.field("accessToken");
    // The answer is kept from when it came, which is after this.
    let asked = Instant::now();
    assert_eq!(rs.get("/profile", Some(&access)).await.status, 200);
    let r = issuer
        .bearer(http::Method::POST, "/auth/logout", &access)
        .await;
    assert_eq!(r.status, 204);
    // Within the cache time the answer kept says active (the documented
    // revocation delay); after it, the token is refused.
    loop {
        let r = rs.get("/profile", Some(&access)).await;
        if r.status == 401 {
            assert!(
                asked.elapsed() >= cache_for,
                "refused before the answer kept ran out"
            );
            break;
        }
        assert_eq!(r.status, 200);
        assert!(
            asked.elapsed() < cache_for + Duration::from_secs(10),
            "still accepted long after the cache time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn wrong_credentials_or_an_unreachable_issuer_fail_closed() {
    let issuer = issuer().await;
    let alice = issuer.login_ok("alice").await;
    let access = alice.field("accessToken");
    // The issuer refuses the resource server itself (401): 503 here, never
    // an "inactive" the resource server could not tell from a logout.
    let wrong = resource_server(&issuer, "not-the-secret-0123456", Duration::ZERO).await;
    let r = wrong.get("/profile", Some(&access)).await;
    assert_eq!(r.status, 503, "{}", r.json);
    assert_eq!(r.json["error"], "temporarily_unavailable");

    // Nothing listens at the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/auth/introspect", closed.local_addr().unwrap());
    drop(closed);
    let introspection = Introspection::builder(&endpoint, ID, SECRET)
        .build()
        .unwrap();
    let validator = introspecting_validator(&issuer, introspection);
    assert!(matches!(
        validator.validate_access::<RoleClaims>(&access).await,
        Err(auth_core::AuthError::Store(_))
    ));
}

#[test]
fn the_secret_is_never_sent_in_the_clear_to_another_host() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // Without jwks-tls plain http is all there is; with it, only loopback.
    let built =
        Introspection::builder("http://auth.example.com/auth/introspect", ID, SECRET).build();
    let loopback = Introspection::builder("http://127.0.0.1:9/auth/introspect", ID, SECRET).build();
    assert!(loopback.is_ok());
    // Whether this build has TLS (jwks-tls, which other crates of the
    // workspace may turn on).
    let tls = Introspection::builder("https://auth.example.com/x", ID, SECRET)
        .build()
        .map_or_else(|e| !e.to_string().contains("jwks-tls"), |_| true);
    assert_eq!(
        built.is_ok(),
        !tls,
        "plain http to another host: refused when https is available"
    );
    assert!(
        Introspection::builder("ftp://x/introspect", ID, SECRET)
            .build()
            .is_err()
    );
    assert!(!format!("{:?}", loopback.unwrap()).contains(SECRET));
}

/// An answer that left the issuer before a logout is kept only from when
/// it was asked, and never replaces the newer "inactive": a slow "active"
/// cannot bring a logged-out token back.
#[tokio::test]
async fn a_slow_active_answer_does_not_outlive_a_newer_inactive_one() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let issuer = issuer().await;
    let token = issuer.login_ok("alice").await.field("accessToken");
    // A fake issuer: the first question is answered "active" after 800 ms,
    // every later one "inactive" at once (the token was logged out).
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let fake = Router::new().route(
        "/introspect",
        axum::routing::post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    axum::Json(json!({ "active": true }))
                } else {
                    axum::Json(json!({ "active": false }))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, fake).await });
    let introspection = Introspection::builder(&format!("http://{addr}/introspect"), ID, SECRET)
        .cache_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let validator = introspecting_validator(&issuer, introspection);
    let slow = tokio::spawn({
        let (validator, token) = (validator.clone(), token.clone());
        async move { validator.validate_access::<RoleClaims>(&token).await }
    });
    // The second question, asked while the first is on its way: inactive.
    while asked.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        validator
            .validate_access::<RoleClaims>(&token)
            .await
            .is_err()
    );
    // The first answer arrives late, saying active: that request goes
    // through (its question left before the logout was known)...
    assert!(slow.await.unwrap().is_ok());
    // ... but the token stays refused.
    for _ in 0..3 {
        assert!(
            validator
                .validate_access::<RoleClaims>(&token)
                .await
                .is_err(),
            "the slow active answer replaced the newer inactive one"
        );
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "answers came from the cache"
    );
}
