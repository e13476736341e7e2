//! Sets of keys looked up by `kid`, and where a validator finds its keys:
//! a [`KeySet`] (fixed), a [`KeyRing`](crate::KeyRing) (changing while
//! serving) or a JWKS client, all behind [`KeySource`].
//!
//! ```
//! use auth_core::{Algorithm, Key, KeySet};
//!
//! let signer = Key::generate(Algorithm::EdDSA).unwrap();
//! let keys = KeySet::new(signer.clone()).unwrap();
//! assert_eq!(keys.signing_key().unwrap().kid(), signer.kid());
//! assert_eq!(keys.jwks().keys.len(), 1);
//! ```

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;

use crate::error::KeyError;
use crate::keys::Key;
use crate::store::BoxFuture;

/// Keys looked up by `kid`: one active signing key (for an authority) plus
/// verification keys, or verification keys only (for a service that only
/// checks tokens, see [`KeySet::verifying`]). An immutable value: a set that
/// changes while serving lives in a [`KeyRing`](crate::KeyRing).
#[derive(Clone, Debug)]
pub struct KeySet {
    /// With `signs`, `keys[0]` is the signing key.
    pub(crate) keys: Vec<Key>,
    pub(crate) signs: bool,
    /// The schedule of a set [loaded](KeySet::load) from a file, until a
    /// [`KeyRing`](crate::KeyRing) takes it; empty otherwise.
    pub(crate) schedule: Schedule,
}

/// When keys start signing or stop verifying: what a
/// [`KeyRing`](crate::KeyRing) follows, and a key file keeps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schedule {
    /// Verification keys and when they retire (Unix seconds), by `kid`.
    pub(crate) retiring: Vec<(String, u64)>,
    /// A published key that starts signing later.
    pub(crate) pending: Option<Pending>,
}

/// A published key that starts signing at `signs_from`; the key signing
/// until then verifies until `retire_previous_at` (Unix seconds).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) kid: String,
    pub(crate) signs_from: u64,
    pub(crate) retire_previous_at: u64,
}

impl KeySet {
    /// A set whose active signing key is `signing`. Fails if it cannot sign.
    pub fn new(signing: Key) -> Result<KeySet, KeyError> {
        if !signing.can_sign() {
            return Err(KeyError::NotASigningKey);
        }
        Ok(KeySet {
            keys: vec![signing],
            signs: true,
            schedule: Schedule::default(),
        })
    }

    /// A set that only verifies, such as another service's public keys for a
    /// verify-only [`Validator`](crate::Validator). Private keys are accepted
    /// (and only used to verify). Fails on a duplicate `kid`. An empty set
    /// verifies nothing.
    ///
    /// ```
    /// use auth_core::{Algorithm, Key, KeySet};
    ///
    /// let issuer = Key::generate(Algorithm::ES256).unwrap();
    /// let public = Key::from_jwk(&issuer.public_jwk().unwrap()).unwrap();
    /// let keys = KeySet::verifying([public]).unwrap();
    /// assert!(keys.signing_key().is_none());
    /// assert!(keys.get(issuer.kid()).is_some_and(|k| !k.can_sign()));
    /// ```
    pub fn verifying(keys: impl IntoIterator<Item = Key>) -> Result<KeySet, KeyError> {
        keys.into_iter().try_fold(
            KeySet {
                keys: Vec::new(),
                signs: false,
                schedule: Schedule::default(),
            },
            KeySet::with_key,
        )
    }

    /// Adds a key that verifies (but does not sign) tokens, such as the
    /// previous signing key during a rotation. Fails on a duplicate `kid`.
    pub fn with_key(mut self, key: Key) -> Result<KeySet, KeyError> {
        if self.get(key.kid()).is_some() {
            return Err(KeyError::DuplicateKid(key.kid().to_owned()));
        }
        self.keys.push(key);
        Ok(self)
    }

    /// The active signing key; `None` for a [verifying](KeySet::verifying) set.
    pub fn signing_key(&self) -> Option<&Key> {
        self.keys.first().filter(|_| self.signs)
    }

    /// The key with this `kid`, if any.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        // A handful of keys: a scan beats hashing the kid.
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// Every key, the signing key (if any) first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Whether this set still verifies what `key` verified: it holds a key
    /// with `key`'s `kid` and [the same material](Key::same_material).
    pub fn keeps(&self, key: &Key) -> bool {
        self.get(key.kid()).is_some_and(|k| k.same_material(key))
    }

    /// Whether replacing `earlier` by this set takes a key away: a `kid`
    /// gone, or a `kid` now naming other key material or another
    /// algorithm. What such a key verified must not be trusted any more
    /// (see [`KeySource::generation`]).
    pub fn withdraws_from(&self, earlier: &KeySet) -> bool {
        earlier.keys.iter().any(|k| !self.keeps(k))
    }

    /// The public keys as a JWKS document (RFC 7517), for
    /// `/.well-known/jwks.json`. HMAC keys are never included.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().filter_map(Key::public_jwk).collect(),
        }
    }

    /// This set without the keys `drop` names.
    pub(crate) fn without(&self, mut drop: impl FnMut(&Key) -> bool) -> KeySet {
        let signs = self.signs && self.keys.first().is_some_and(|k| !drop(k));
        KeySet {
            keys: self.keys.iter().filter(|k| !drop(k)).cloned().collect(),
            signs,
            schedule: Schedule::default(),
        }
    }
}

/// What a [`KeySource`] knows about a `kid`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeyLookup {
    /// The key to verify with.
    Found(Key),
    /// No key has this `kid` (the token is refused as
    /// [`AuthError::UnknownKey`](crate::AuthError::UnknownKey), unless a
    /// [refetch](KeySource::refetch) finds it).
    Unknown,
    /// The source has no keys yet (a key set not fetched since start): the
    /// token is refused as
    /// [`AuthError::KeysUnavailable`](crate::AuthError::KeysUnavailable),
    /// HTTP 503, failing closed.
    Unavailable,
}

/// Where a [`Validator`](crate::Validator) finds verification keys: a fixed
/// [`KeySet`], a [`KeyRing`](crate::KeyRing) that changes while serving, or a JWKS client
/// (auth-tower's `jwks` feature) that fetches another service's keys.
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The key with this `kid`. Called for every token that is decoded (not
    /// for the verified-token cache's hits): keep it to a lookup.
    fn key(&self, kid: &str) -> KeyLookup;

    /// Asked when a token names a `kid` that [`key`](KeySource::key) does
    /// not know, as after the issuer started signing with a new key: a
    /// future that completes once the source has looked again (the token is
    /// then decoded once more), or `None` when it will not look now. A
    /// source that fetches must rate-limit this itself: every token with a
    /// made-up `kid` asks. The default never looks again.
    fn refetch(&self) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// A number that changes whenever a key leaves the source (or its `kid`
    /// comes to name other key material), so caches of verified tokens
    /// ([`TokenCache`](crate::cache::TokenCache)) drop what such a key
    /// verified. Read on every cached request: keep it to an
    /// atomic load. The default (a fixed set) never changes.
    fn generation(&self) -> u64 {
        0
    }

    /// [`generation`](KeySource::generation) as of `now` (Unix seconds,
    /// read by the caller): a source whose keys retire on time answers for
    /// that instant without reading a clock of its own. The default asks
    /// [`generation`](KeySource::generation).
    fn generation_at(&self, now: u64) -> u64 {
        let _ = now;
        self.generation()
    }
}

impl KeySource for KeySet {
    fn key(&self, kid: &str) -> KeyLookup {
        self.get(kid)
            .map_or(KeyLookup::Unknown, |k| KeyLookup::Found(k.clone()))
    }
}

impl<T: KeySource + ?Sized> KeySource for Arc<T> {
    fn key(&self, kid: &str) -> KeyLookup {
        (**self).key(kid)
    }

    fn refetch(&self) -> Option<BoxFuture<'static, ()>> {
        (**self).refetch()
    }

    fn generation(&self) -> u64 {
        (**self).generation()
    }

    fn generation_at(&self, now: u64) -> u64 {
        (**self).generation_at(now)
    }
}
