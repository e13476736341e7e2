//! Setup shared by the Criterion benchmarks: the algorithms measured, their
//! keys, an authority on a memory store, a runtime, and the measurement
//! settings that keep `cargo bench -p auth-core` to a few minutes.

use std::sync::Arc;
use std::time::Duration;

use auth_core::store::MemoryStore;
use auth_core::{Algorithm, Key, KeySet, TokenAuthority};
use criterion::Criterion;

/// One algorithm of each family: HMAC, the two curves, RSA.
pub const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
];

/// The HS256 secret (at least 32 bytes, the hash output size).
pub const HMAC_SECRET: &[u8] = b"auth-core benchmark secret, 32 bytes or more";

/// A signing key for `alg`: [`HMAC_SECRET`] for HMAC, a fresh key otherwise.
pub fn key(alg: Algorithm) -> Key {
    if alg.is_symmetric() {
        Key::hmac(alg, HMAC_SECRET)
    } else {
        Key::generate(alg)
    }
    .expect("benchmark key")
}

/// An authority with the default settings signing with `key`, on a memory
/// store without the background purge (nothing expires during a run).
pub fn authority(key: Key) -> TokenAuthority {
    let store = MemoryStore::builder().purge_interval(None).build();
    TokenAuthority::builder(KeySet::new(key).expect("key set"))
        .store(Arc::new(store))
        .build()
        .expect("authority")
}

/// The runtime the async calls (issue, refresh) run on: one thread, as the
/// memory store answers at once.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Short runs: 1 s of warm-up and 3 s of measurement in 30 samples per
/// benchmark, enough for stable means on these sub-millisecond operations.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}
