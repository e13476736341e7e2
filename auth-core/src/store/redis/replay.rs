//! The DPoP replay cache in Redis: the proofs every instance has accepted,
//! so that a proof is accepted once across all of them.
//!
//! One proof costs one command, `SET <key> 1 NX PX <ms>`: it records the
//! proof and says whether it was recorded already, atomically, in one round
//! trip. Nothing else is asked of Redis on a request's path: the revocation
//! check is answered by the local mirror. With
//! [`wait_for_replicas`](super::RedisStoreBuilder::wait_for_replicas) a
//! first use also waits for the replicas (`WAIT`, a second round trip), so a
//! failover cannot forget it.
//!
//! The key is `{prefix}{bbb}:dpop:<digest>`: the digest is the first 128
//! bits of the SHA-256 of what the verifier records (the key's thumbprint
//! and the proof's `jti`), base64url, so a key is short and bounded (22
//! characters after `dpop:`) whatever the client put in its `jti`, and holds
//! nothing the client chose. `bbb` is the digest's bucket, as for every
//! other key (`keys.rs`), so the entries spread over a cluster's primaries.
//! Each key lives until the proof's `iat` would be refused anyway (the TTL
//! computed from the store's clock), so Redis holds at most one key per
//! proof accepted in the last window: about 65 s of proofs with the
//! verifier's defaults.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::replies::{cap_ms, malformed};
use super::{Inner, RedisStore, error, keys};
use crate::error::StoreError;
use crate::store::BoxFuture;
use crate::store::ReplayCache;

/// How many bytes of the SHA-256 digest name an entry: 16 (128 bits). A
/// collision would refuse one proof as replayed (a 401, retried with a new
/// proof), never accept one; finding one on purpose takes 2^64 work for
/// two proofs of the attacker's own, 2^128 against a given proof.
const DIGEST_BYTES: usize = 16;

/// The Redis key of the replay entry `key` under `prefix`.
fn replay_key(prefix: &str, key: &str) -> String {
    let digest = crate::crypto::sha256(key.as_bytes());
    let digest = &digest[..DIGEST_BYTES];
    let base = keys::base(prefix, keys::bucket(digest));
    format!("{base}dpop:{}", URL_SAFE_NO_PAD.encode(digest))
}

impl Inner {
    async fn first_use(&self, key: &str, until: u64) -> Result<bool, StoreError> {
        let key = replay_key(&self.prefix, key);
        // Relative to the store's clock, like every TTL the store sets, so
        // Redis's own clock does not matter; at least 1 ms (`PX 0` is an
        // error), for a proof whose window has just closed.
        let ttl_ms = cap_ms(until.saturating_mul(1000))
            .saturating_sub(self.clock.now_millis())
            .max(1);
        let set: Option<String> = ::redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(error)?;
        match set.as_deref() {
            None => Ok(false),
            Some("OK") => {
                self.durable(&key).await?;
                Ok(true)
            }
            Some(_) => Err(malformed()),
        }
    }
}

/// The DPoP replay cache shared by every instance on this Redis (or Redis
/// Cluster): a proof accepted by one instance is refused as replayed by all
/// the others. One round trip per proof (`SET … NX PX`), two with
/// [`wait_for_replicas`](super::RedisStoreBuilder::wait_for_replicas); the
/// layer's revocation check adds none, being answered by the local mirror.
/// Bounded by expiry: each entry lives until its proof would be refused for
/// its `iat` anyway (the verifier's window, 65 s by default).
///
/// Errors are [`StoreError::Unavailable`] for anything about reaching Redis
/// (the verifier answers 503, and nothing is accepted unchecked). A
/// [`read_only`](super::RedisStoreBuilder::read_only) store records proofs
/// too (a resource server checks them): give its ACL user `SET` on the
/// replay keys only, e.g. `+set %W~myapp:auth:{???}:dpop:*` beside its read
/// rules, where `myapp:auth:` is the prefix.
///
/// ```no_run
/// use std::sync::Arc;
/// use auth_core::dpop::DpopVerifier;
/// use auth_core::store::RedisStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let redis_store = RedisStore::builder("redis://127.0.0.1:6379").build().await?;
/// // The same store serves as the authority's store and as the replay cache.
/// let verifier = DpopVerifier::new(Arc::new(redis_store.clone()));
/// # Ok(()) }
/// ```
impl ReplayCache for RedisStore {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.inner.first_use(key, until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keys_are_short_tagged_and_free_of_client_bytes() {
        let jti = format!("jkt:{}", "{x}\r\n".repeat(50));
        let k = replay_key("auth:", &jti);
        assert_eq!(k.len(), "auth:{000}:dpop:".len() + 22, "{k}");
        let digest = crate::crypto::sha256(jti.as_bytes());
        let bucket = keys::bucket(&digest[..DIGEST_BYTES]);
        assert!(
            k.starts_with(&format!("auth:{{{bucket:03x}}}:dpop:")),
            "{k}"
        );
        // Only the bucket's braces: the hash tag is always the bucket.
        assert_eq!(k.matches('{').count(), 1, "{k}");
        assert!(!k.contains('\r'), "{k}");
        assert_ne!(replay_key("auth:", "a:1"), replay_key("auth:", "a:2"));
        assert_eq!(replay_key("auth:", "a:1"), replay_key("auth:", "a:1"));
    }
}
