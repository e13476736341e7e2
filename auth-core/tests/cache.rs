//! The verified-token cache: only valid tokens enter, hits are refused once
//! expired, the bounds hold under a flood, and a hot token survives one.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::cache::TokenCache;
use auth_core::store::Verdict;
use auth_core::{AuthError, DEFAULT_MAX_TOKEN_BYTES, LogoutTokens, RevokedBy};
use common::*;

#[tokio::test]
async fn a_valid_token_is_verified_once_then_shared() {
    let f = fixture();
    let cache = TokenCache::<Roles>::new(f.authority.validator().clone());
    let pair = f.authority.issue("alice", &roles(&["user"])).await.unwrap();
    let cold = cache.decode_access(&pair.access_token).expect("valid");
    assert_eq!(cache.len(), 1);
    let warm = cache.decode_access(&pair.access_token).expect("cached");
    assert!(Arc::ptr_eq(&cold, &warm), "a hit shares the claims");
    assert_eq!(warm.extra.roles, ["user"]);
}

#[tokio::test]
async fn only_fully_valid_tokens_enter() {
    let f = fixture();
    let cache = TokenCache::<Roles>::new(f.authority.validator().clone());
    let pair = f.authority.issue("alice", &roles(&[])).await.unwrap();
    let (message, _) = pair.access_token.rsplit_once('.').unwrap();
    let forged = format!("{message}.{}", b64(b"not the signature"));
    for bad in [
        "garbage",
        forged.as_str(),
        pair.refresh_token.as_str(), // the wrong kind
    ] {
        assert!(cache.decode_access(bad).is_err(), "{bad}");
    }
    // Oversized: refused before it is even hashed.
    let huge = "a".repeat(DEFAULT_MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        cache.decode_access(&huge),
        Err(AuthError::TokenTooLarge { .. })
    ));
    assert!(cache.is_empty());
}

#[tokio::test]
async fn an_expired_token_is_refused_from_the_cache_and_dropped() {
    let f = fixture(); // 5 s leeway, 15 min access tokens
    let cache = TokenCache::<Roles>::new(f.authority.validator().clone());
    let pair = f.authority.issue("alice", &roles(&[])).await.unwrap();
    cache.decode_access(&pair.access_token).expect("valid");
    f.clock.advance(Duration::from_secs(15 * 60 + 4));
    cache
        .decode_access(&pair.access_token)
        .expect("still valid within the leeway");
    f.clock.advance(Duration::from_secs(1));
    assert!(matches!(
        cache.decode_access(&pair.access_token),
        Err(AuthError::Expired)
    ));
    assert!(!cache.contains(&pair.access_token));
}

#[tokio::test]
async fn a_cached_token_still_gets_the_stores_verdict() {
    let f = fixture();
    let cache = TokenCache::<Roles>::new(f.authority.validator().clone());
    let pair = f.authority.issue("alice", &roles(&[])).await.unwrap();
    let claims = cache.decode_access(&pair.access_token).unwrap();
    f.authority
        .logout(LogoutTokens {
            refresh_token: None,
            access_token: Some(&pair.access_token),
        })
        .await
        .unwrap();
    // The cache knows signatures, not revocations: the caller asks the store.
    let claims_again = cache.decode_access(&pair.access_token).unwrap();
    let verdict = f
        .authority
        .validator()
        .check(&claims_again.token_ref())
        .await
        .expect("the store answers");
    assert_eq!(verdict, Verdict::Revoked(RevokedBy::Token));
    assert_eq!(claims.jti, claims_again.jti);
}

#[tokio::test]
async fn a_flood_of_distinct_tokens_stays_within_the_bounds_and_keeps_the_hot_one() {
    let f = fixture();
    let cache = TokenCache::<Roles>::with_capacity(f.authority.validator().clone(), 100, 1 << 20);
    let hot = f
        .authority
        .issue("hot", &roles(&[]))
        .await
        .unwrap()
        .access_token;
    for _ in 0..3 {
        cache.decode_access(&hot).unwrap();
    }
    for i in 0..1_000 {
        let token = f
            .authority
            .issue(&format!("user-{i}"), &roles(&[]))
            .await
            .unwrap()
            .access_token;
        cache.decode_access(&token).unwrap();
        assert!(cache.len() <= 100, "{} entries", cache.len());
        assert!(cache.weight() <= 1 << 20, "{} bytes", cache.weight());
    }
    assert!(
        cache.contains(&hot),
        "a token used again and again outlives one-time ones"
    );
}

#[tokio::test]
async fn zero_capacity_caches_nothing() {
    let f = fixture();
    let cache = TokenCache::<Roles>::with_capacity(f.authority.validator().clone(), 0, 1 << 20);
    let pair = f.authority.issue("alice", &roles(&[])).await.unwrap();
    let a = cache.decode_access(&pair.access_token).unwrap();
    let b = cache.decode_access(&pair.access_token).unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    assert!(cache.is_empty());
}
