//! Password hashing with argon2id (feature `argon2`, on by default).
//!
//! [`hash_password`] makes a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`)
//! with the OWASP-recommended parameters; [`verify_password`] checks one off
//! the async workers and, for a user that does not exist, checks against a
//! dummy hash of the same cost, so a login takes as long for an unknown user
//! as for a wrong password.
//!
//! ```
//! use auth_axum_extras::password::{hash_password, verify_password};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let stored = hash_password("correct horse").unwrap();
//! assert!(verify_password("correct horse", Some(&stored)).await);
//! assert!(!verify_password("wrong", Some(&stored)).await);
//! assert!(!verify_password("correct horse", None).await); // unknown user
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::Semaphore;

/// Hashing failed (the system random source was unavailable).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes `password` with argon2id, default parameters (m = 19 MiB, t = 2,
/// p = 1) and a random salt. This is slow on purpose (tens of
/// milliseconds): call it off the async workers, e.g. in
/// `tokio::task::spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `stored`. `None` (no such user)
/// still costs one verification against a dummy hash and returns `false`.
/// An unparsable stored hash is logged and returns `false`. Runs on tokio's
/// blocking pool.
///
/// At most [`MAX_CONCURRENT_HASHES`] verifications run at once, *whatever
/// the callers do*: the permit travels with the blocking job, so a client
/// that disconnects (dropping this future) does not free a slot until its
/// hash is done. Each verification works in one of
/// [`MAX_CONCURRENT_HASHES`] memory buffers kept for reuse instead of
/// allocating 19 MiB per attempt, so the memory that password checks hold
/// is bounded by `MAX_CONCURRENT_HASHES × m_cost` (152 MiB with the default
/// parameters) however many logins come in. Only buffers of the default
/// size are kept: a stored hash with a larger `m_cost` (an older or newer
/// parameter set) gets its own buffer, freed after use. Callers beyond the limit wait
/// their turn (a login flood costs time, not memory).
pub async fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let Ok(permit) = hashing().permits.clone().acquire_owned().await else {
        return false;
    };
    let password = password.to_owned();
    let stored = stored.map(str::to_owned);
    let job = tokio::task::spawn_blocking(move || {
        let verdict = verify_blocking(&password, stored.as_deref());
        drop(permit);
        verdict
    });
    job.await.unwrap_or(false)
}

/// How many password verifications are running right now, for metrics:
/// never more than [`MAX_CONCURRENT_HASHES`] through [`verify_password`],
/// plus any [`verify_blocking`] calls the application makes itself.
pub fn hashes_in_flight() -> usize {
    hashing().in_flight.load(Ordering::Relaxed)
}

/// The hashing slots: permits, reusable memory, and a gauge.
struct Hashing {
    permits: Arc<Semaphore>,
    /// Argon2 working memory, one buffer per slot, reused (never freed):
    /// allocating 19 MiB per attempt lets the allocator keep the freed blocks
    /// and RSS grow with the number of logins.
    buffers: Mutex<Vec<Vec<Block>>>,
    in_flight: AtomicUsize,
}

fn hashing() -> &'static Hashing {
    static HASHING: OnceLock<Hashing> = OnceLock::new();
    HASHING.get_or_init(|| Hashing {
        permits: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
        buffers: Mutex::new(Vec::with_capacity(MAX_CONCURRENT_HASHES)),
        in_flight: AtomicUsize::new(0),
    })
}

/// The largest `m_cost` (KiB) a stored hash may ask for: 256 MiB. A stored
/// hash is the application's own data, but one corrupt row must not make a
/// login allocate gigabytes.
const MAX_M_COST_KIB: u32 = 256 * 1024;

/// Counts a running hash and lends it a buffer; both are returned on drop,
/// also if the hash panics.
struct Slot {
    buffer: Vec<Block>,
}

impl Slot {
    fn take() -> Slot {
        let h = hashing();
        h.in_flight.fetch_add(1, Ordering::Relaxed);
        let buffer = h
            .buffers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        Slot { buffer }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let h = hashing();
        let default_size = Params::DEFAULT.block_count();
        if self.buffer.len() <= default_size
            && let Ok(mut pool) = h.buffers.lock()
            && pool.len() < MAX_CONCURRENT_HASHES
        {
            pool.push(std::mem::take(&mut self.buffer));
        }
        h.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a stored hash could not be checked.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("{0}")]
    Format(String),
    #[error("m_cost {0} KiB is over the {MAX_M_COST_KIB} KiB limit")]
    TooCostly(u32),
}

/// Recomputes `stored`'s hash of `password` in a reused buffer and compares
/// in constant time.
fn check(password: &[u8], stored: &str) -> Result<bool, Unusable> {
    let fmt = |e: &dyn std::fmt::Display| Unusable::Format(e.to_string());
    let hash = PasswordHash::new(stored).map_err(|e| fmt(&e))?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(|e| fmt(&e))?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).map_err(|e| fmt(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).map_err(|e| fmt(&e))?;
    if params.m_cost() > MAX_M_COST_KIB {
        return Err(Unusable::TooCostly(params.m_cost()));
    }
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err(Unusable::Format("no salt or no hash output".into()));
    };
    let mut out = [0u8; 64];
    let out = out
        .get_mut(..expected.len())
        .ok_or_else(|| Unusable::Format("hash output too long".into()))?;
    let mut slot = Slot::take();
    let blocks = params.block_count();
    if slot.buffer.len() < blocks {
        slot.buffer.resize(blocks, Block::new());
    }
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), out, &mut slot.buffer[..blocks])
        .map_err(|e| fmt(&e))?;
    Ok(constant_time_eq(out, expected.as_ref()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How many password verifications [`verify_password`] runs at once.
pub const MAX_CONCURRENT_HASHES: usize = 8;

/// Makes the dummy hash now rather than on the first unknown-user login, so
/// that login is not slower than the others.
/// [`InMemoryUsers::new`](crate::InMemoryUsers::new) calls it; custom
/// verifiers using [`verify_password`] may call it at start-up. Blocks for
/// one hash.
pub fn warm_up() {
    let _ = dummy_hash();
}

/// [`verify_password`] on the calling thread (no concurrency limit: the
/// caller bounds it). Uses the same reusable buffers.
pub fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(hash) => check(password.as_bytes(), hash).unwrap_or_else(|e| {
            tracing::error!(error = %e, "stored password hash is unusable");
            false
        }),
        None => {
            if let Some(dummy) = dummy_hash() {
                let _ = check(password.as_bytes(), dummy);
            }
            false
        }
    }
}

/// A hash of a random password with the default parameters, made once.
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password(&uuid_like()).ok())
        .as_deref()
}

/// A password no one knows; its value does not matter, only its cost.
fn uuid_like() -> String {
    format!("{:?}", std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Clients that give up after 5 ms, round after round, never get more
    /// than the cap of hashes running: the permit stays with the job.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_verifications_never_exceed_the_cap() {
        let stored = hash_password("right").expect("hash");
        let mut peak = 0;
        for _ in 0..6 {
            let batch: Vec<_> = (0..MAX_CONCURRENT_HASHES * 2)
                .map(|_| {
                    let stored = stored.clone();
                    tokio::spawn(async move { verify_password("wrong", Some(&stored)).await })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(5)).await;
            for task in &batch {
                task.abort();
            }
            for _ in 0..5 {
                peak = peak.max(hashes_in_flight());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        assert!(peak > 0, "no hash ever ran");
        assert!(
            peak <= MAX_CONCURRENT_HASHES,
            "{peak} hashes ran at once, cap {MAX_CONCURRENT_HASHES}"
        );
        // Everything finishes, and the buffers come back to the pool.
        for _ in 0..500 {
            if hashes_in_flight() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hashes_in_flight(), 0);
        let pooled = hashing().buffers.lock().map(|p| p.len()).unwrap_or(0);
        assert!(
            (1..=MAX_CONCURRENT_HASHES).contains(&pooled),
            "{pooled} buffers pooled"
        );
    }

    #[tokio::test]
    async fn verification_in_reused_buffers_is_exact() {
        let stored = hash_password("correct horse").expect("hash");
        for _ in 0..3 {
            assert!(verify_password("correct horse", Some(&stored)).await);
            assert!(!verify_password("correct horsf", Some(&stored)).await);
        }
        assert!(!verify_password("x", Some("$argon2id$v=19$garbage")).await);
        assert!(
            !verify_password(
                "x",
                Some("$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA")
            )
            .await
        );
        assert!(!verify_password("x", None).await);
    }
}
