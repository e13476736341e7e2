//! A bounded cache of verified access tokens, so a client that sends the
//! same token on every request pays for its signature once.
//!
//! A [`TokenCache`] maps a whole token (its exact bytes) to the claims its
//! [`Validator`] accepted, shared through an [`Arc`]. Only tokens that
//! passed every check enter it. A hit is checked again for what changes with
//! time: `exp` (with the leeway) against the validator's clock; and the
//! caller still asks the store for its revocation verdict on every request
//! ([`Validator::check`]), so a revoked token is refused like a cold one.
//! When a key leaves the validator's key source (a rotated key retired, a
//! key dropped from a JWKS), every entry is dropped, so no token is accepted
//! on the word of a key that is gone.
//! The cache is bounded by entries and by bytes; its eviction (S3-FIFO)
//! keeps tokens seen more than once ahead of a flood of new ones, so many
//! distinct tokens cannot push the active clients out, nor grow it past its
//! bounds.
//!
//! [`AuthLayer`](https://docs.rs/auth-tower) keeps one per layer by default.
//!
//! | setting | default | why |
//! |---|---|---|
//! | entries | 32 768 ([`DEFAULT_CACHE_ENTRIES`]) | the access tokens of that many active clients |
//! | bytes | 32 MiB ([`DEFAULT_CACHE_BYTES`]) | about 1 KiB per entry: the token twice (key, decoded claims) and overhead |
//!
//! ```
//! use auth_core::cache::TokenCache;
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), auth_core::AuthError> {
//! let keys = KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let cache = TokenCache::<RoleClaims>::new(authority.validator().clone());
//! let pair = authority.issue("alice", &RoleClaims::with_roles(["user"])).await?;
//!
//! let cold = cache.decode_access(&pair.access_token)?; // verifies the signature
//! let warm = cache.decode_access(&pair.access_token)?; // a lookup
//! assert!(std::sync::Arc::ptr_eq(&cold, &warm));
//! // The store is still asked on every request:
//! authority.validator().check(&warm.token_ref()).await.unwrap();
//! # Ok(()) }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use serde::de::DeserializeOwned;

use crate::claims::AccessClaims;
use crate::error::AuthError;
use crate::validator::Validator;

/// The default bound on a [`TokenCache`]'s entries.
pub const DEFAULT_CACHE_ENTRIES: usize = 32_768;
/// The default bound on a [`TokenCache`]'s size, in bytes (as weighed: see
/// [`TokenCache::with_capacity`]).
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Fixed cost counted per entry: the map slot, the `Arc`, the claims' own
/// fields.
const ENTRY_OVERHEAD: u64 = 256;

/// Verified access tokens of one [`Validator`], with claims of type `E`.
/// Cheap to share (`Arc` it); every method takes `&self`.
pub struct TokenCache<E> {
    validator: Validator,
    /// The key source's generation the entries were verified under.
    generation: AtomicU64,
    map: quick_cache::sync::Cache<Box<str>, Arc<AccessClaims<E>>, Weight<E>>,
    max_entries: usize,
    max_bytes: u64,
}

/// Weighs an entry by its bytes, but never less than `floor`, so that the
/// byte bound also bounds the number of entries.
struct Weight<E> {
    floor: u64,
    _claims: PhantomData<fn() -> E>,
}

impl<E> Clone for Weight<E> {
    fn clone(&self) -> Self {
        Weight {
            floor: self.floor,
            _claims: PhantomData,
        }
    }
}

impl<E> Weighter<Box<str>, Arc<AccessClaims<E>>> for Weight<E> {
    fn weight(&self, token: &Box<str>, _: &Arc<AccessClaims<E>>) -> u64 {
        // The key, the claims decoded from a payload no longer than it, and
        // a fixed overhead.
        (2 * token.len() as u64 + ENTRY_OVERHEAD).max(self.floor)
    }
}

impl<E> TokenCache<E> {
    /// A cache for tokens that `validator` accepts, with the default bounds
    /// ([`DEFAULT_CACHE_ENTRIES`], [`DEFAULT_CACHE_BYTES`]).
    pub fn new(validator: Validator) -> Self {
        TokenCache::with_capacity(validator, DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_BYTES)
    }

    /// A cache holding at most `max_entries` tokens and about `max_bytes`
    /// bytes: each entry weighs twice its token's length plus 256 bytes, and
    /// at least `max_bytes / max_entries`, so neither bound is exceeded.
    /// Zero in either disables caching (every lookup misses).
    pub fn with_capacity(validator: Validator, max_entries: usize, max_bytes: u64) -> Self {
        let entries = max_entries.max(1);
        let floor = (max_bytes / entries as u64).max(1);
        let capacity = if max_entries == 0 { 0 } else { max_bytes };
        TokenCache {
            generation: AtomicU64::new(validator.keys_generation()),
            validator,
            map: quick_cache::sync::Cache::with_weighter(
                entries,
                capacity,
                Weight {
                    floor,
                    _claims: PhantomData,
                },
            ),
            max_entries,
            max_bytes,
        }
    }

    /// The validator whose verdicts are cached.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `token` is cached (a lookup that does not count as a use).
    pub fn contains(&self, token: &str) -> bool {
        self.map.peek(token).is_some()
    }

    /// The cached entries' weight in bytes (see
    /// [`with_capacity`](Self::with_capacity)).
    pub fn weight(&self) -> u64 {
        self.map.weight()
    }

    /// Drops every entry (after a change of keys, say).
    pub fn clear(&self) {
        self.map.clear();
    }
}

impl<E: DeserializeOwned> TokenCache<E> {
    /// [`Validator::decode_access`] through the cache: every check but the
    /// store's, the signature only on a miss. A hit is refused once `exp`
    /// (plus the leeway) has passed, and dropped. Ask the store next
    /// ([`Validator::check`]), hit or miss.
    pub fn decode_access(&self, token: &str) -> Result<Arc<AccessClaims<E>>, AuthError> {
        let v = &self.validator;
        // Before hashing: an oversized token is refused unread.
        let max = v.shared.config.max_token_bytes;
        if token.len() > max {
            return Err(AuthError::TokenTooLarge {
                len: token.len(),
                max,
            });
        }
        // One reading of the clock serves the key source and the expiry.
        let now = v.shared.clock.now();
        // A key left the validator's source: what it verified goes too.
        let generation = v.shared.keys.generation_at(now);
        if generation != self.generation.load(Ordering::Acquire) {
            self.map.clear();
            self.generation.store(generation, Ordering::Release);
        }
        if let Some(claims) = self.map.get(token) {
            if v.expired_at(claims.exp, now) {
                self.map.remove(token);
                return Err(AuthError::Expired);
            }
            return Ok(claims);
        }
        let claims = Arc::new(v.decode_access::<E>(token)?);
        self.map.insert(token.into(), claims.clone());
        // Verified by a key that left meanwhile: not kept.
        if v.keys_generation() != generation {
            self.map.remove(token);
        }
        Ok(claims)
    }
}

impl<E> fmt::Debug for TokenCache<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.map.len())
            .field("weight", &self.map.weight())
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}
