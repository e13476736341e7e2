//! Key rotation while serving: a new key is published before it signs,
//! old keys retire on time on the verification path itself, a key is
//! withdrawn at once in an emergency, and a key replaced under the same
//! `kid` stops vouching for what it verified, cached tokens included.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::cache::TokenCache;
use auth_core::{
    Algorithm, AuthError, Clock, DEFAULT_KEY_PUBLICATION_DELAY, Key, KeyError, KeyRing, KeySet,
    KeySource, MAX_RING_KEYS, ManualClock, NoClaims, TokenAuthority, Validator,
};
use common::*;

fn kid_of(token: &str) -> String {
    parts(token).0["kid"].as_str().expect("kid").to_owned()
}

/// A rotation publishes the new key at once and signs with it only after
/// the publication delay: every token issued in between is signed by a key
/// that every verifier already has.
#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs() {
    let f = fixture_with(Key::generate(Algorithm::ES256).unwrap(), |b| b);
    let old = f.authority.keys().signing_key().unwrap().kid().to_owned();
    let next = Key::generate(Algorithm::ES256).unwrap();
    let rotation = f.authority.rotate_signing_key(next.clone()).unwrap();
    let now = f.clock.now();
    assert_eq!(rotation.kid, next.kid());
    assert_eq!(
        rotation.signs_from,
        now + DEFAULT_KEY_PUBLICATION_DELAY.as_secs()
    );
    let published: Vec<String> = f
        .authority
        .keys()
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(published, [old.clone(), next.kid().to_owned()]);

    // Until then, every token is still signed by the old key.
    f.clock
        .advance(DEFAULT_KEY_PUBLICATION_DELAY - Duration::from_secs(1));
    let before = f.login("alice").await;
    assert_eq!(kid_of(&before.access_token), old);
    assert_eq!(kid_of(&before.refresh_token), old);
    f.clock.advance(Duration::from_secs(1));
    let after = f.login("alice").await;
    assert_eq!(kid_of(&after.access_token), next.kid());
    let v = f.authority.validator();
    for token in [&before.access_token, &after.access_token] {
        v.validate_access::<NoClaims>(token).await.expect("valid");
    }
    // The old key's refresh token still rotates, into the new key's tokens.
    let refreshed = f.authority.refresh(&before.refresh_token).await.unwrap();
    assert_eq!(kid_of(&refreshed.refresh_token), next.kid());
}

/// HMAC keys are never published, so there is nothing to wait for.
#[tokio::test]
async fn an_hmac_key_signs_at_once() {
    let f = fixture();
    let next = Key::generate(Algorithm::HS256).unwrap();
    let rotation = f.authority.rotate_signing_key(next.clone()).unwrap();
    assert_eq!(rotation.signs_from, f.clock.now());
    assert_eq!(kid_of(&f.login("alice").await.access_token), next.kid());
}

/// The old key verifies until the refresh lifetime plus the leeway after
/// the new key started signing, and not a second longer, whether or not
/// anyone reads the key set (HS256: no JWKS is ever served).
#[tokio::test]
async fn an_old_key_retires_on_time_on_the_verification_path() {
    let f = fixture(); // HS256, 14 days refresh, 5 s leeway
    let before = f.login("alice").await;
    let old = hs256();
    // A token forged with the old key (its holder is the attacker): valid
    // while the key is.
    let forge = |clock: &ManualClock| {
        let (header, mut payload, _) = parts(&before.access_token);
        let now = clock.now();
        payload["iat"] = serde_json::json!(now);
        payload["nbf"] = serde_json::json!(now);
        payload["exp"] = serde_json::json!(now + 600);
        forge_hs256(&header, &payload, SECRET)
    };
    let rotation = f
        .authority
        .rotate_signing_key(Key::generate(Algorithm::HS256).unwrap())
        .unwrap();
    let c = f.authority.config().clone();
    assert_eq!(
        rotation.previous_retires_at,
        rotation.signs_from + (c.refresh_ttl + c.leeway).as_secs()
    );
    let v = f.authority.validator().clone();
    let cache = TokenCache::<NoClaims>::new(v.clone());
    f.clock
        .advance(c.refresh_ttl + c.leeway - Duration::from_secs(1));
    let forged = forge(&f.clock);
    v.decode_access::<NoClaims>(&forged)
        .expect("the old key verifies until its retirement");
    cache.decode_access(&forged).expect("and is cached");
    assert_eq!(
        f.authority.key_ring().retires_at(old.kid()),
        Some(rotation.previous_retires_at)
    );
    f.clock.advance(Duration::from_secs(1));
    // Nobody read the JWKS or rotated again: the lookup itself refuses.
    assert!(matches!(
        f.authority.key_ring().key(old.kid()),
        auth_core::KeyLookup::Unknown
    ));
    assert!(matches!(
        v.decode_access::<NoClaims>(&forge(&f.clock)),
        Err(AuthError::UnknownKey)
    ));
    assert!(matches!(
        cache.decode_access(&forged),
        Err(AuthError::UnknownKey)
    ));
}

/// A stolen admin token rotating in a loop replaces the pending key each
/// time (it signed nothing): the ring does not grow. Rotations that each
/// wait for their key to sign are bounded; withdrawal and replacement work
/// however full the ring is.
#[tokio::test]
async fn a_rotation_storm_cannot_block_an_incident_response() {
    let f = fixture_with(Key::generate(Algorithm::EdDSA).unwrap(), |b| b);
    for _ in 0..100 {
        f.authority
            .rotate_signing_key(Key::generate(Algorithm::EdDSA).unwrap())
            .unwrap();
    }
    assert_eq!(f.authority.keys().keys().len(), 2);
    for _ in 2..MAX_RING_KEYS {
        f.clock.advance(DEFAULT_KEY_PUBLICATION_DELAY);
        f.authority
            .rotate_signing_key(Key::generate(Algorithm::EdDSA).unwrap())
            .unwrap();
    }
    assert_eq!(f.authority.keys().keys().len(), MAX_RING_KEYS);
    // The last one pending would be replaced; once it signs, the ring is full.
    f.clock.advance(DEFAULT_KEY_PUBLICATION_DELAY);
    let full = f
        .authority
        .rotate_signing_key(Key::generate(Algorithm::EdDSA).unwrap())
        .unwrap_err();
    assert!(matches!(full, KeyError::TooManyKeys(n) if n == MAX_RING_KEYS));

    let keys = f.authority.keys();
    let signing = keys.signing_key().unwrap().kid().to_owned();
    let old = keys.keys().last().unwrap().kid().to_owned();
    assert!(f.authority.withdraw_key(&old).unwrap());
    assert!(!f.authority.withdraw_key(&old).unwrap(), "already gone");
    assert!(matches!(
        f.authority.withdraw_key(&signing),
        Err(KeyError::SigningKeyWithdrawal)
    ));
    let fresh = Key::generate(Algorithm::EdDSA).unwrap();
    f.authority.replace_signing_key(fresh.clone()).unwrap();
    let keys = f.authority.keys();
    assert_eq!(keys.signing_key().unwrap().kid(), fresh.kid());
    assert!(keys.get(&signing).is_none(), "the leaked key is gone");
}

/// Withdrawing a key refuses its tokens at once, cached ones included, and
/// ends the sessions whose refresh token it signed; a replaced signing key
/// likewise, while the new key signs at once.
#[tokio::test]
async fn withdrawn_keys_verify_nothing_from_that_moment() {
    let f = fixture_with(Key::generate(Algorithm::ES256).unwrap(), |b| b);
    let first = f.login("alice").await;
    let v = f.authority.validator().clone();
    let cache = TokenCache::<NoClaims>::new(v.clone());
    cache.decode_access(&first.access_token).expect("cached");

    // The leaked signing key is replaced at once.
    let fresh = Key::generate(Algorithm::ES256).unwrap();
    f.authority.replace_signing_key(fresh.clone()).unwrap();
    assert!(matches!(
        cache.decode_access(&first.access_token),
        Err(AuthError::UnknownKey)
    ));
    assert!(matches!(
        f.authority.refresh(&first.refresh_token).await,
        Err(AuthError::UnknownKey)
    ));
    let second = f.login("alice").await;
    assert_eq!(kid_of(&second.access_token), fresh.kid());
    v.validate_access::<NoClaims>(&second.access_token)
        .await
        .unwrap();

    // A pending key that must not start signing is withdrawn too.
    let next = Key::generate(Algorithm::ES256).unwrap();
    f.authority.rotate_signing_key(next.clone()).unwrap();
    assert!(f.authority.withdraw_key(next.kid()).unwrap());
    f.clock.advance(DEFAULT_KEY_PUBLICATION_DELAY);
    assert_eq!(kid_of(&f.login("alice").await.access_token), fresh.kid());
}

/// A key set reloaded with another key (or another algorithm) under the
/// same `kid` stops vouching for the tokens the old key verified: the
/// cache drops them, also on a second reload.
#[tokio::test]
async fn a_key_replaced_under_the_same_kid_stops_verifying_cached_tokens() {
    let clock = Arc::new(ManualClock::starting_now());
    let a = Key::generate(Algorithm::ES256).unwrap().with_kid("k1");
    let issuer = TokenAuthority::builder(KeySet::new(a.clone()).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = issuer
        .issue("alice", &NoClaims {})
        .await
        .unwrap()
        .access_token;
    let public = |k: &Key| Key::from_jwk(&k.public_jwk().unwrap()).unwrap();
    let ring = Arc::new(KeyRing::with_clock(
        KeySet::verifying([public(&a)]).unwrap(),
        clock.clone(),
    ));
    let validator = Validator::builder(ring.clone())
        .without_revocation_checks()
        .clock(clock.clone())
        .build()
        .unwrap();
    let cache = TokenCache::<NoClaims>::new(validator.clone());
    cache.decode_access(&token).expect("verified and cached");
    assert!(cache.contains(&token));

    let b = Key::generate(Algorithm::ES256).unwrap().with_kid("k1");
    assert!(!a.same_material(&b));
    ring.replace(KeySet::verifying([public(&b)]).unwrap());
    assert!(matches!(
        cache.decode_access(&token),
        Err(AuthError::InvalidSignature)
    ));
    assert!(!cache.contains(&token));
    ring.replace(KeySet::verifying([public(&b)]).unwrap());
    assert!(matches!(
        cache.decode_access(&token),
        Err(AuthError::InvalidSignature)
    ));

    // The same material under the same kid (a reload of the same file)
    // keeps the cache.
    let b_token = {
        let tokens = TokenAuthority::builder(KeySet::new(b.clone()).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap();
        tokens
            .issue("bob", &NoClaims {})
            .await
            .unwrap()
            .access_token
    };
    cache.decode_access(&b_token).expect("b's token");
    ring.replace(KeySet::verifying([public(&b)]).unwrap());
    assert!(cache.contains(&b_token));
    // Another algorithm under the same kid is another key.
    let c = Key::generate(Algorithm::EdDSA).unwrap().with_kid("k1");
    ring.replace(KeySet::verifying([public(&c)]).unwrap());
    assert!(matches!(
        cache.decode_access(&b_token),
        Err(AuthError::AlgorithmMismatch)
    ));
}
