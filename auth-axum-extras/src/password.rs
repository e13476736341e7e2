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

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
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
/// At most [`MAX_CONCURRENT_HASHES`] verifications run at once (each takes
/// 19 MiB); the others wait their turn, so a flood of logins costs time, not
/// memory.
pub async fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static PERMITS: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);
    let Ok(_permit) = PERMITS.acquire().await else {
        return false;
    };
    let password = password.to_owned();
    let stored = stored.map(str::to_owned);
    let verdict =
        tokio::task::spawn_blocking(move || verify_blocking(&password, stored.as_deref()));
    verdict.await.unwrap_or(false)
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

/// [`verify_password`] on the calling thread.
pub fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(hash) => match Argon2::default().verify_password(password.as_bytes(), hash) {
            Ok(()) => true,
            Err(argon2::password_hash::Error::PasswordInvalid) => false,
            Err(e) => {
                tracing::error!(error = %e, "stored password hash is unusable");
                false
            }
        },
        None => {
            if let Some(dummy) = dummy_hash() {
                let _ = Argon2::default().verify_password(password.as_bytes(), dummy);
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
