//! Validation of one access token, per algorithm:
//!
//! - `cold`: [`Validator::decode_access`], every check but the store's,
//!   the signature included;
//! - `cached`: [`TokenCache::decode_access`] on a warm cache, a hit;
//! - `jsonwebtoken_decode`: jsonwebtoken's own `decode` of the same token
//!   with the same key into the same claims type, the reference (the issue's
//!   target: `cold` at most 1.05 times it; a cache hit at most 250 ns).
//!
//! `cargo bench -p auth-core --bench validation`
//!
//! [`Validator::decode_access`]: auth_core::Validator::decode_access

mod common;

use std::hint::black_box;

use auth_core::cache::TokenCache;
use auth_core::{AccessClaims, RoleClaims};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, Validation};

fn validation(c: &mut Criterion) {
    let rt = common::runtime();
    for alg in common::ALGORITHMS {
        // Built first: making a key installs jsonwebtoken's crypto provider.
        let key = common::key(alg);
        let decoding = match key.public_jwk() {
            Some(jwk) => DecodingKey::from_jwk(&jwk).expect("decoding key from the JWK"),
            None => DecodingKey::from_secret(common::HMAC_SECRET),
        };
        let authority = common::authority(key);
        let pair = rt
            .block_on(authority.issue("alice", &RoleClaims::with_roles(["user"])))
            .expect("issue");
        let token = pair.access_token.as_str();
        let validator = authority.validator();
        let cache = TokenCache::<RoleClaims>::new(validator.clone());
        // jsonwebtoken configured like the validator: the algorithm pinned,
        // `exp` required and checked with the same leeway, no issuer or
        // audience (none is configured on our side either).
        let mut reference = Validation::new(alg.as_str().parse().expect("algorithm"));
        reference.leeway = authority.config().leeway.as_secs();

        // All three accept the token and read the same claims.
        let cold = validator
            .decode_access::<RoleClaims>(token)
            .expect("cold validation");
        let cached = cache.decode_access(token).expect("cache warm-up");
        let decoded =
            jsonwebtoken::decode::<AccessClaims<RoleClaims>>(token, &decoding, &reference)
                .expect("jsonwebtoken decode");
        assert_eq!(*cached, cold);
        assert_eq!(decoded.claims, cold);
        assert!(cache.contains(token));
        println!("{alg}: access token of {} bytes", token.len());

        let mut group = c.benchmark_group(format!("validate/{alg}"));
        group.bench_function("cold", |b| {
            b.iter(|| validator.decode_access::<RoleClaims>(black_box(token)))
        });
        group.bench_function("cached", |b| {
            b.iter(|| cache.decode_access(black_box(token)))
        });
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims<RoleClaims>>(
                    black_box(token),
                    &decoding,
                    &reference,
                )
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = validation
}
criterion_main!(benches);
