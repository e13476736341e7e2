//! The session side, on the memory store:
//!
//! - `issue/<alg>`: a login, [`TokenAuthority::issue`]: two tokens signed
//!   and a session created;
//! - `rotation/<alg>`: a refresh, [`TokenAuthority::refresh`]: the refresh
//!   token validated, the store's compare-and-swap, two tokens signed; each
//!   iteration presents the token the previous one returned;
//! - `store_check`: [`Validator::check`] of a valid access token, the
//!   lookup every request makes after validation, on a store holding some
//!   revocations.
//!
//! `cargo bench -p auth-core --bench store`
//!
//! [`TokenAuthority::issue`]: auth_core::TokenAuthority::issue
//! [`TokenAuthority::refresh`]: auth_core::TokenAuthority::refresh
//! [`Validator::check`]: auth_core::Validator::check

mod common;

use std::hint::black_box;
use std::time::Instant;

use auth_core::store::Verdict;
use auth_core::{Algorithm, LogoutTokens, RoleClaims};
use criterion::{Criterion, criterion_group, criterion_main};

/// Logins are spread over this many subjects, so that none reaches the
/// 100-session cap (past it, a login also revokes the oldest session).
const SUBJECTS: usize = 8192;

fn issue(c: &mut Criterion) {
    let rt = common::runtime();
    let claims = RoleClaims::with_roles(["user"]);
    let subjects: Vec<String> = (0..SUBJECTS).map(|i| format!("user-{i}")).collect();
    let mut group = c.benchmark_group("issue");
    for alg in common::ALGORITHMS {
        let key = common::key(alg);
        group.bench_function(alg.as_str(), |b| {
            b.iter_custom(|iters| {
                // A store per sample, so that it does not grow over the run.
                let authority = common::authority(key.clone());
                rt.block_on(async {
                    let start = Instant::now();
                    for subject in subjects.iter().cycle().take(iters as usize) {
                        let pair = authority.issue(black_box(subject), &claims).await;
                        black_box(pair.expect("issue"));
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn rotation(c: &mut Criterion) {
    let rt = common::runtime();
    let claims = RoleClaims::with_roles(["user"]);
    let mut group = c.benchmark_group("rotation");
    for alg in common::ALGORITHMS {
        let key = common::key(alg);
        group.bench_function(alg.as_str(), |b| {
            b.iter_custom(|iters| {
                let authority = common::authority(key.clone());
                rt.block_on(async {
                    let mut pair = authority.issue("alice", &claims).await.expect("issue");
                    let start = Instant::now();
                    for _ in 0..iters {
                        // Always the newest refresh token: a plain rotation,
                        // never reuse nor a superseded token.
                        pair = authority
                            .refresh(black_box(&pair.refresh_token))
                            .await
                            .expect("refresh");
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn store_check(c: &mut Criterion) {
    let rt = common::runtime();
    let claims = RoleClaims::with_roles(["user"]);
    let authority = common::authority(common::key(Algorithm::HS256));
    let validator = authority.validator();
    // Not an empty store: 1000 logouts (a denylisted `jti` and a revoked
    // session each) and 100 logout-all cut-offs of other subjects.
    rt.block_on(async {
        for i in 0..1000 {
            let pair = authority
                .issue(&format!("user-{i}"), &claims)
                .await
                .expect("issue");
            let tokens = LogoutTokens {
                refresh_token: Some(&pair.refresh_token),
                access_token: Some(&pair.access_token),
            };
            authority.logout(tokens).await.expect("logout");
        }
        for i in 0..100 {
            authority
                .logout_all(&format!("user-{i}"))
                .await
                .expect("logout all");
        }
    });
    let pair = rt
        .block_on(authority.issue("alice", &claims))
        .expect("issue");
    let access = validator
        .decode_access::<RoleClaims>(&pair.access_token)
        .expect("validation");
    let token = access.token_ref();
    let verdict = validator.check(&token).now().expect("answered at once");
    assert_eq!(verdict.expect("no store error"), Verdict::Allowed);

    c.bench_function("store_check", |b| {
        b.iter(|| validator.check(black_box(&token)).now())
    });
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = issue, rotation, store_check
}
criterion_main!(benches);
