//! DPoP (RFC 9449) on the request path, per proof algorithm (ES256, EdDSA):
//!
//! - `dpop/<alg>/bearer_cached`: what the layer does for a Bearer token it
//!   has verified before: [`TokenCache::decode_access`] (a cache hit) and
//!   the store's check;
//! - `dpop/<alg>/bound_cached`: the same for a DPoP-bound token, plus its
//!   proof: [`DpopVerifier::verify`] (the proof parsed, its `jwk` read, its
//!   signature checked, `htm`, `htu`, `iat` and `ath` compared, its
//!   thumbprint computed) and the replay cache's insert;
//! - `dpop/<alg>/proof_verify`: [`DpopVerifier::verify`] alone;
//! - `dpop/<alg>/signature_only`: one bare signature check of the same
//!   proof (`jsonwebtoken::crypto::verify`, its key already parsed), the
//!   floor any proof check stands on.
//!
//! Each proof is fresh (signed outside the measurement), so every
//! verification is a first use, as in service. The access tokens are HS256
//! (the proof's algorithm is what differs). After Criterion's figures the
//! same four run interleaved, in blocks of 50 calls, round after round, and
//! the ratios printed are medians over the rounds: on a shared machine,
//! load that comes and goes then weighs on all four alike.
//!
//! The replay cache itself, `replay/memory/<live>/<n>_thread(s)`:
//! [`MemoryReplayCache::insert`] of new keys (80 bytes, a thumbprint and a
//! UUID, as the verifier makes them) at the default capacity, in steady
//! state: a manual clock moves a second per so many inserts, so that about
//! 10 000 or about 650 000 entries are live (a server taking 150 or 10 000
//! proofs per second), and the sweeps of expired entries are part of the
//! cost. With 2 threads the inserts share one cache.
//!
//! And, when `redis-server` is installed, `replay/redis/*`: the Redis store's
//! insert (`SET … NX PX`) one at a time against a `PING` and the same `SET`
//! sent by hand on the same kind of connection (a `ConnectionManager`; one
//! round trip each), and 64 in flight; the memory one entry takes in Redis
//! is printed.
//!
//! `cargo bench -p auth-core --bench dpop`
//!
//! [`TokenCache::decode_access`]: auth_core::cache::TokenCache::decode_access
//! [`DpopVerifier::verify`]: auth_core::dpop::DpopVerifier::verify
//! [`MemoryReplayCache::insert`]: auth_core::dpop::MemoryReplayCache::insert

// The proof algorithms here are two of the token ones: not every helper is used.
#[allow(dead_code)]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::cache::TokenCache;
use auth_core::dpop::{DpopNonces, DpopVerifier, MemoryReplayCache, ProofRequest, ReplayCache};
use auth_core::store::{RedisStore, Verdict};
use auth_core::testing::DpopKey;
use auth_core::testing::redis_server::RedisServer;
use auth_core::{Algorithm, Clock, ManualClock, RoleClaims, SystemClock};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;

const URL: &str = "https://api.example/orders";

fn request_path(c: &mut Criterion) {
    let rt = common::runtime();
    // The access token: HS256, issued and cached like any other.
    let authority = common::authority(common::key(Algorithm::HS256));
    let pair = rt
        .block_on(authority.issue("alice", &RoleClaims::with_roles(["user"])))
        .expect("issue");
    let token = pair.access_token.as_str();
    let validator = authority.validator();
    let cache = TokenCache::<RoleClaims>::new(validator.clone());
    cache.decode_access(token).expect("cache warm-up");
    let request = ProofRequest::new("GET", URL).with_access_token(token);

    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = DpopKey::generate(alg).expect("DPoP key");
        let verifier = DpopVerifier::new(Arc::new(MemoryReplayCache::default()));
        // The same with server nonces (an hour's slot: the bench never sees
        // the nonce go stale).
        let nonces = DpopNonces::new([7u8; 32])
            .expect("nonces")
            .lifetime(std::time::Duration::from_secs(3600));
        let nonce = nonces.current();
        let nonced = DpopVerifier::new(Arc::new(MemoryReplayCache::default())).nonces(nonces);
        let jwk: Jwk = serde_json::from_value(key.jwk().clone()).expect("jwk");
        let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");
        let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().expect("algorithm");
        let proof = key.proof("GET", URL, Some(token));
        let (message, signature) = proof.rsplit_once('.').expect("a compact JWS");
        // What is measured works: the proof verifies, once.
        assert!(
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &decoding, jwt_alg)
                .expect("verify")
        );
        let verified = rt
            .block_on(verifier.verify(&proof, &request))
            .expect("a first use");
        assert_eq!(verified.jkt, key.jkt());
        assert!(rt.block_on(verifier.verify(&proof, &request)).is_err());
        let header = URL_SAFE_NO_PAD
            .decode(proof.split('.').next().unwrap_or_default())
            .unwrap_or_default();
        println!(
            "{alg}: proof of {} bytes (header {} bytes)",
            proof.len(),
            header.len()
        );

        let fresh = || key.proof("GET", URL, Some(token));
        let fresh_nonced = || key.proof_with_nonce("GET", URL, Some(token), Some(&nonce));
        let bearer = || {
            let claims = cache.decode_access(black_box(token)).expect("cached");
            let verdict = validator.check_token(&claims.token_ref(), token).now();
            assert!(matches!(verdict, Ok(Ok(Verdict::Allowed))));
        };
        let verify = |proof: &str| {
            let verified = rt.block_on(verifier.verify(black_box(proof), &request));
            black_box(verified.expect("a first use"));
        };
        let bound = |proof: &str| {
            bearer();
            verify(proof);
        };
        let bound_nonced = |proof: &str| {
            bearer();
            let verified = rt.block_on(nonced.verify(black_box(proof), &request));
            black_box(verified.expect("a first use"));
        };
        let signature_only = || {
            let valid = jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(message.as_bytes()),
                &decoding,
                jwt_alg,
            );
            black_box(valid.expect("verify"));
        };
        let mut group = c.benchmark_group(format!("dpop/{alg}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("bearer_cached", |b| b.iter(bearer));
        group.bench_function("bound_cached", |b| {
            b.iter_batched_ref(fresh, |p| bound(p), BatchSize::SmallInput)
        });
        group.bench_function("bound_cached_nonce", |b| {
            b.iter_batched_ref(fresh_nonced, |p| bound_nonced(p), BatchSize::SmallInput)
        });
        group.bench_function("proof_verify", |b| {
            b.iter_batched_ref(fresh, |p| verify(p), BatchSize::SmallInput)
        });
        group.bench_function("signature_only", |b| b.iter(signature_only));
        group.finish();

        // The same, interleaved: short blocks of each, round after round,
        // so that a load that comes and goes on a shared machine weighs on
        // all of them alike; the ratios are medians over the rounds.
        let mut ratios = [const { Vec::new() }; 4];
        for _ in 0..ROUNDS {
            let proofs: Vec<String> = (0..2 * CALLS).map(|_| fresh()).collect();
            let nonced_proofs: Vec<String> = (0..CALLS).map(|_| fresh_nonced()).collect();
            let timed = |f: &mut dyn FnMut()| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            };
            let sig = timed(&mut || (0..CALLS).for_each(|_| signature_only()));
            let ver = timed(&mut || proofs[..CALLS].iter().for_each(|p| verify(p)));
            let bnd = timed(&mut || proofs[CALLS..].iter().for_each(|p| bound(p)));
            let brr = timed(&mut || (0..CALLS * 100).for_each(|_| bearer())) / 100.0;
            let non = timed(&mut || nonced_proofs.iter().for_each(|p| bound_nonced(p)));
            ratios[0].push(ver / sig);
            ratios[1].push(bnd / sig);
            ratios[2].push(bnd / brr);
            ratios[3].push(non / bnd);
        }
        let [ver_sig, bnd_sig, bnd_brr, non_bnd] = ratios.map(median);
        println!(
            "dpop/{alg} interleaved (median of {ROUNDS} rounds of {CALLS} calls): \
             proof_verify {ver_sig:.2}x signature_only; \
             bound_cached {bnd_sig:.2}x signature_only, {bnd_brr:.0}x bearer_cached; \
             bound_cached_nonce {non_bnd:.3}x bound_cached"
        );
    }
}

/// Rounds of the interleaved comparison, and calls of each kind per round
/// (a hundred times more of the cached Bearer path, which is that much
/// shorter).
const ROUNDS: usize = 40;
const CALLS: usize = 50;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Live set sizes measured, as new keys per clock second: with the
/// verifier's 65 s window, 150 per second keep about 10 000 entries live
/// (a table that stays in the CPU's caches), 10 000 per second about 650 000
/// (a server taking 10 000 proofs per second; under the default capacity,
/// 1 000 000).
const RATES: [(&str, u64); 2] = [("10k_live", 150), ("650k_live", 10_000)];

/// Distinct keys per thread: more than are live at once, so a key comes
/// back only once its entry has expired.
const KEYS_PER_THREAD: usize = 1 << 20;

/// Keys as the verifier makes them: `<thumbprint>:<jti>` (43 + 1 + 36 bytes).
fn keys(thread: usize) -> Vec<String> {
    let jkt = URL_SAFE_NO_PAD.encode([thread as u8; 32]);
    (0..KEYS_PER_THREAD)
        .map(|i| format!("{jkt}:{:08x}-0000-4000-8000-{:012x}", thread, i))
        .collect()
}

/// Inserts `n` keys of `keys` from `next` on, moving `clock` a second per
/// `per_second` of them; every insert must be a first use.
fn insert_run(
    cache: &MemoryReplayCache,
    clock: &ManualClock,
    keys: &[String],
    next: &mut usize,
    n: u64,
    per_second: u64,
) {
    for _ in 0..n {
        let i = *next % keys.len();
        *next += 1;
        if (*next as u64).is_multiple_of(per_second) {
            clock.advance(Duration::from_secs(1));
        }
        let until = clock.now() + 66;
        let first = cache.insert(black_box(&keys[i]), until);
        assert!(matches!(first, Ok(true)), "{first:?}");
    }
}

fn replay_memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay/memory");
    group.throughput(Throughput::Elements(1));
    for (live, rate) in RATES {
        for threads in [1usize, 2] {
            let clock = Arc::new(ManualClock::new(SystemClock.now()));
            let cache = MemoryReplayCache::default().clock(clock.clone());
            let mut pools: Vec<Vec<String>> = Vec::new();
            let mut next = vec![0usize; threads];
            // Each thread moves the clock after its share, so the cache sees
            // `rate` new keys per second whatever the thread count.
            let per_second = rate / threads as u64;
            let mut steady = false;
            let name = match threads {
                1 => format!("{live}/1_thread"),
                n => format!("{live}/{n}_threads"),
            };
            group.bench_function(name, |b| {
                // Into steady state first, past a full window (here, so that
                // a run filtered to other benchmarks skips it).
                if !steady {
                    pools = (0..threads).map(keys).collect();
                    for (t, pool) in pools.iter().enumerate() {
                        insert_run(&cache, &clock, pool, &mut next[t], 800_000, per_second);
                    }
                    steady = true;
                }
                b.iter_custom(|iters| {
                    let share = iters.div_ceil(threads as u64);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for (pool, next) in pools.iter().zip(next.iter_mut()) {
                            let (cache, clock) = (&cache, &clock);
                            s.spawn(move || {
                                insert_run(cache, clock, pool, next, share, per_second)
                            });
                        }
                    });
                    start.elapsed()
                })
            });
            if steady {
                println!(
                    "replay/memory/{live}, {threads} thread(s): {} entries held",
                    cache.len()
                );
            }
        }
    }
    group.finish();
}

/// `used_memory` of the Redis `conn` is connected to, in bytes.
async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Calls in flight in the concurrent Redis measurement.
const IN_FLIGHT: usize = 64;

fn replay_redis(c: &mut Criterion) {
    let Some(server) = RedisServer::start() else {
        println!("replay/redis: skipped (no redis-server)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt
        .block_on(RedisStore::builder(server.url()).build())
        .expect("store");
    let mut conn = rt.block_on(async {
        redis::Client::open(server.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connection")
    });
    let jkt = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let mut n = 0u64;
    let mut key = move || {
        n += 1;
        format!("{jkt}:{n:036}")
    };
    // The memory one entry takes.
    let entries = 100_000;
    let before = rt.block_on(used_memory(&mut conn));
    let until = SystemClock.now() + 600;
    rt.block_on(async {
        for _ in 0..entries {
            assert!(store.first_use(&key(), until).await.expect("insert"));
        }
    });
    let after = rt.block_on(used_memory(&mut conn));
    println!(
        "replay/redis: {} bytes of Redis memory per entry ({entries} entries)",
        after.saturating_sub(before) / entries
    );

    let mut group = c.benchmark_group("replay/redis");
    group.throughput(Throughput::Elements(1));
    // The reference round trip, on the kind of connection the store uses.
    let mut manager = rt.block_on(async {
        let client = redis::Client::open(server.url()).expect("client");
        redis::aio::ConnectionManager::new(client)
            .await
            .expect("connection")
    });
    group.bench_function("ping", |b| {
        b.iter(|| {
            rt.block_on(async {
                let pong: String = redis::cmd("PING")
                    .query_async(&mut manager)
                    .await
                    .expect("ping");
                black_box(pong)
            })
        })
    });
    // The same command sent by hand: what the store adds to it.
    group.bench_function("set_nx_px", |b| {
        b.iter_batched_ref(
            &mut key,
            |k| {
                rt.block_on(async {
                    let set: Option<String> = redis::cmd("SET")
                        .arg(format!("raw:{k}"))
                        .arg(1)
                        .arg("NX")
                        .arg("PX")
                        .arg(600_000)
                        .query_async(&mut manager)
                        .await
                        .expect("set");
                    assert!(set.is_some());
                })
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("first_use", |b| {
        b.iter_batched_ref(
            &mut key,
            |k| assert!(rt.block_on(store.first_use(k, until)).expect("insert")),
            BatchSize::SmallInput,
        )
    });
    group.bench_function(format!("first_use_{IN_FLIGHT}_in_flight"), |b| {
        b.iter_custom(|iters| {
            let keys: Vec<String> = (0..iters).map(|_| key()).collect();
            let start = Instant::now();
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for chunk in keys.chunks(keys.len().div_ceil(IN_FLIGHT).max(1)) {
                    let (store, chunk) = (store.clone(), chunk.to_vec());
                    tasks.spawn(async move {
                        for k in &chunk {
                            assert!(store.first_use(k, until).await.expect("insert"));
                        }
                    });
                }
                while let Some(done) = tasks.join_next().await {
                    done.expect("task");
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = request_path, replay_memory, replay_redis
}
criterion_main!(benches);
