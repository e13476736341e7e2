//! Services that only verify: a validator from public keys, its explicit
//! revocation choice, accepted audiences, key sources that change or fetch,
//! and the issuer's live key rotation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::store::BoxFuture;
use auth_core::{
    Algorithm, AuthError, ConfigError, Key, KeyLookup, KeySet, KeySource, LogoutTokens,
    ManualClock, NoClaims, RevokedBy, TokenAuthority, Validator,
};

fn issuer(clock: Arc<ManualClock>) -> TokenAuthority {
    TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap())
        .issuer("https://issuer.example")
        .audience("orders")
        .clock(clock)
        .build()
        .unwrap()
}

/// The issuer's public keys, as another service would load them.
fn public_keys(authority: &TokenAuthority) -> KeySet {
    KeySet::verifying(
        authority
            .keys()
            .jwks()
            .keys
            .iter()
            .map(|jwk| Key::from_jwk(jwk).unwrap()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_validator_from_public_keys_checks_everything_the_issuer_does() {
    let clock = Arc::new(ManualClock::starting_now());
    let authority = issuer(clock.clone());
    let pair = authority.issue("alice", &NoClaims {}).await.unwrap();
    let validator = Validator::builder(public_keys(&authority))
        .issuer("https://issuer.example")
        .audiences(["billing", "orders"])
        .store(authority.store().clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let claims = validator
        .validate_access::<NoClaims>(&pair.access_token)
        .await
        .unwrap();
    assert_eq!(claims.sub, "alice");
    assert!(matches!(
        validator
            .validate_access::<NoClaims>(&pair.refresh_token)
            .await,
        Err(AuthError::WrongTokenType { .. })
    ));

    // Audiences: one of them must be named; the issuer is exact.
    let billing_only = Validator::builder(public_keys(&authority))
        .audience("billing")
        .without_revocation_checks()
        .build()
        .unwrap();
    assert!(matches!(
        billing_only
            .validate_access::<NoClaims>(&pair.access_token)
            .await,
        Err(AuthError::InvalidAudience)
    ));
    let other_issuer = Validator::builder(public_keys(&authority))
        .issuer("https://other.example")
        .without_revocation_checks()
        .build()
        .unwrap();
    assert!(matches!(
        other_issuer
            .validate_access::<NoClaims>(&pair.access_token)
            .await,
        Err(AuthError::InvalidIssuer)
    ));

    // A logout at the issuer is seen through the shared store.
    authority
        .logout(LogoutTokens {
            refresh_token: Some(&pair.refresh_token),
            access_token: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        validator
            .validate_access::<NoClaims>(&pair.access_token)
            .await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
    // Without revocation checks, by choice, it is not.
    let unchecked = Validator::builder(public_keys(&authority))
        .without_revocation_checks()
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(
        unchecked
            .validate_access::<NoClaims>(&pair.access_token)
            .await
            .is_ok()
    );
    // Expiry still applies.
    clock.advance(Duration::from_secs(16 * 60));
    assert!(matches!(
        unchecked
            .validate_access::<NoClaims>(&pair.access_token)
            .await,
        Err(AuthError::Expired)
    ));
}

/// A verify-only validator accepts access tokens living at most an hour by
/// default (`max_lifetime` moves it): an issuer with a day-long access
/// lifetime, or a forged month-long token, is refused whatever its
/// signature.
#[tokio::test]
async fn a_verify_only_validator_refuses_tokens_living_longer_than_its_limit() {
    let clock = Arc::new(ManualClock::starting_now());
    let long_lived =
        TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap())
            .access_ttl(Duration::from_secs(24 * 3600))
            .clock(clock.clone())
            .build()
            .unwrap();
    let pair = long_lived.issue("alice", &NoClaims {}).await.unwrap();
    let strict = Validator::builder(public_keys(&long_lived))
        .without_revocation_checks()
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(matches!(
        strict.validate_access::<NoClaims>(&pair.access_token).await,
        Err(AuthError::LifetimeTooLong {
            lifetime: 86_400,
            max: 3600
        })
    ));
    let lenient = Validator::builder(public_keys(&long_lived))
        .max_lifetime(Duration::from_secs(24 * 3600))
        .without_revocation_checks()
        .clock(clock)
        .build()
        .unwrap();
    lenient
        .validate_access::<NoClaims>(&pair.access_token)
        .await
        .expect("within the configured limit");
}

#[test]
fn revocation_checks_are_an_explicit_choice() {
    let keys = KeySet::verifying([]).unwrap();
    assert!(matches!(
        Validator::builder(keys).issuer("x").build(),
        Err(ConfigError::RevocationChecksUnset)
    ));
    // An authority cannot sign with a verifying set.
    let public = Key::from_jwk(
        &Key::generate(Algorithm::EdDSA)
            .unwrap()
            .public_jwk()
            .unwrap(),
    )
    .unwrap();
    assert!(matches!(
        TokenAuthority::builder(KeySet::verifying([public]).unwrap()).build(),
        Err(ConfigError::NoSigningKey)
    ));
}

/// A source that has no keys until `load`, and finds new ones only when
/// asked to refetch, counting the refetches.
#[derive(Debug, Default, Clone)]
struct Source(Arc<Fetching>);

#[derive(Debug, Default)]
struct Fetching {
    published: Mutex<Option<KeySet>>,
    loaded: Mutex<Option<KeySet>>,
    refetches: AtomicUsize,
}

impl KeySource for Source {
    fn key(&self, kid: &str) -> KeyLookup {
        match &*self.0.loaded.lock().unwrap() {
            None => KeyLookup::Unavailable,
            Some(set) => set.key(kid),
        }
    }

    fn refetch(&self) -> Option<BoxFuture<'static, ()>> {
        let this = self.0.clone();
        Some(Box::pin(async move {
            this.refetches.fetch_add(1, Ordering::SeqCst);
            let published = this.published.lock().unwrap().clone();
            *this.loaded.lock().unwrap() = published;
        }))
    }
}

#[tokio::test]
async fn an_unknown_kid_waits_for_one_refetch_and_no_keys_fails_closed() {
    let clock = Arc::new(ManualClock::starting_now());
    let authority = issuer(clock.clone());
    let source = Source::default();
    let validator = Validator::builder(source.clone())
        .without_revocation_checks()
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = authority.issue("alice", &NoClaims {}).await.unwrap();
    assert!(matches!(
        validator.decode_access::<NoClaims>(&first.access_token),
        Err(AuthError::KeysUnavailable)
    ));
    assert_eq!(AuthError::KeysUnavailable.class().http_status(), 503);

    *source.0.published.lock().unwrap() = Some(public_keys(&authority));
    *source.0.loaded.lock().unwrap() = Some(public_keys(&authority));
    assert!(
        validator
            .validate_access::<NoClaims>(&first.access_token)
            .await
            .is_ok()
    );
    assert_eq!(source.0.refetches.load(Ordering::SeqCst), 0);

    // The issuer rotates; once the new key signs, the next token's kid is
    // new to the validator (which did not refresh meanwhile).
    authority
        .rotate_signing_key(Key::generate(Algorithm::ES256).unwrap())
        .unwrap();
    clock.advance(auth_core::DEFAULT_KEY_PUBLICATION_DELAY);
    let second = authority.issue("alice", &NoClaims {}).await.unwrap();
    assert!(matches!(
        validator.decode_access::<NoClaims>(&second.access_token),
        Err(AuthError::UnknownKey)
    ));
    *source.0.published.lock().unwrap() = Some(public_keys(&authority));
    assert!(
        validator
            .validate_access::<NoClaims>(&second.access_token)
            .await
            .is_ok()
    );
    assert_eq!(source.0.refetches.load(Ordering::SeqCst), 1);
    assert!(
        validator
            .validate_access::<NoClaims>(&first.access_token)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_rotated_key_verifies_until_its_last_token_expires() {
    let clock = Arc::new(ManualClock::starting_now());
    let authority = issuer(clock.clone());
    let old_kid = authority.keys().signing_key().unwrap().kid().to_owned();
    let before = authority.issue("alice", &NoClaims {}).await.unwrap();

    let next = Key::generate(Algorithm::ES256).unwrap();
    authority.rotate_signing_key(next.clone()).unwrap();
    // A key that cannot sign is refused.
    let public = Key::from_jwk(&next.public_jwk().unwrap()).unwrap();
    assert!(authority.rotate_signing_key(public).is_err());

    clock.advance(auth_core::DEFAULT_KEY_PUBLICATION_DELAY);
    // A key already in the ring (here: signing) is refused.
    assert!(matches!(
        authority.rotate_signing_key(next.clone()),
        Err(auth_core::KeyError::DuplicateKid(_))
    ));
    let kids: Vec<_> = authority
        .keys()
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, [next.kid().to_owned(), old_kid.clone()]);
    let after = authority.issue("alice", &NoClaims {}).await.unwrap();
    let v = authority.validator();
    for token in [&before.access_token, &after.access_token] {
        assert!(v.validate_access::<NoClaims>(token).await.is_ok());
    }
    // The refresh token signed by the old key still rotates...
    let refreshed = authority.refresh(&before.refresh_token).await.unwrap();
    assert!(
        v.validate_access::<NoClaims>(&refreshed.access_token)
            .await
            .is_ok()
    );

    // ...until the last token the old key can have signed has expired.
    let c = authority.config();
    clock.advance(c.refresh_ttl + c.leeway - Duration::from_secs(1));
    assert!(authority.keys().get(&old_kid).is_some());
    clock.advance(Duration::from_secs(1));
    assert!(authority.keys().get(&old_kid).is_none());
    assert_eq!(authority.keys().jwks().keys.len(), 1);
}

#[test]
fn a_jwk_that_is_not_a_key_is_refused() {
    let good = Key::generate(Algorithm::ES256)
        .unwrap()
        .public_jwk()
        .unwrap();
    let mut v = serde_json::to_value(&good).unwrap();
    assert!(Key::from_jwk(&serde_json::from_value(v.clone()).unwrap()).is_ok());
    // Coordinates of the wrong size.
    v["x"] = "AAAA".into();
    let short: auth_core::jwk::Jwk = serde_json::from_value(v.clone()).unwrap();
    assert!(Key::from_jwk(&short).is_err());
    // The right size, off the curve (every byte of y flipped).
    let mut v = serde_json::to_value(&good).unwrap();
    let y: Vec<u8> = base64_decode(v["y"].as_str().unwrap())
        .into_iter()
        .map(|b| !b)
        .collect();
    v["y"] = base64_encode(&y).into();
    let off_curve: auth_core::jwk::Jwk = serde_json::from_value(v).unwrap();
    if cfg!(feature = "aws-lc-rs") {
        assert!(Key::from_jwk(&off_curve).is_err());
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
