//! The layer's cache of verified tokens, over real HTTP: on by default,
//! shared or turned off, and never a way around revocation or expiry.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::LogoutTokens;
use auth_core::RoleClaims;
use auth_core::cache::TokenCache;
use auth_tower::AuthLayer;
use common::*;
use http::StatusCode;

#[tokio::test]
async fn a_cached_token_is_refused_once_revoked_or_expired() {
    let app = app();
    let cache = Arc::new(TokenCache::<RoleClaims>::new(
        app.authority.validator().clone(),
    ));
    let layer = AuthLayer::new(app.authority.validator().clone()).cache(Some(cache.clone()));
    let addr = serve_axum(axum_app(layer)).await;

    let revoked = access(&app, &["user"]).await;
    assert_eq!(
        get_bearer(addr, "/profile", &revoked).await.status,
        StatusCode::OK
    );
    assert!(
        cache.contains(&revoked),
        "the layer caches what it verified"
    );
    app.authority
        .logout(LogoutTokens {
            refresh_token: None,
            access_token: Some(&revoked),
        })
        .await
        .unwrap();
    let r = get_bearer(addr, "/profile", &revoked).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("revoked"), "{}", r.body);

    let expiring = access(&app, &["user"]).await;
    assert_eq!(
        get_bearer(addr, "/profile", &expiring).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(15 * 60 + 5));
    let r = get_bearer(addr, "/profile", &expiring).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("expired"), "{}", r.body);
    assert!(!cache.contains(&expiring));
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let app = app();
    let layer = AuthLayer::<RoleClaims>::new(app.authority.validator().clone()).cache(None);
    let addr = serve_axum(axum_app(layer)).await;
    let token = access(&app, &["user"]).await;
    for _ in 0..3 {
        assert_eq!(
            get_bearer(addr, "/profile", &token).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        get_bearer(addr, "/profile", "x.y.z").await.status,
        StatusCode::UNAUTHORIZED
    );
}
