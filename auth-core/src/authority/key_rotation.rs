//! Rotating, replacing and withdrawing the signing key while serving.

use crate::clock::Clock;
use crate::error::KeyError;
use crate::keys::Key;

use super::TokenAuthority;

/// A scheduled rotation of the signing key
/// ([`TokenAuthority::rotate_signing_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRotation {
    /// The new key's `kid`, published now.
    pub kid: String,
    /// From when (Unix seconds) it signs.
    pub signs_from: u64,
    /// When (Unix seconds) the key signing until then stops verifying.
    pub previous_retires_at: u64,
}

impl TokenAuthority {
    /// Rotates the signing key while serving, with no gap at resource
    /// servers and nobody logged out:
    ///
    /// 1. now, `key`'s public half joins the JWKS ([`keys`](Self::keys)),
    ///    and the current key goes on signing;
    /// 2. after the [publication delay](crate::AuthorityBuilder::key_publication_delay)
    ///    (10 min by default: resource servers refresh their JWKS copy at
    ///    least that often), `key` signs every new token;
    /// 3. the previous key verifies until the last token it signed has
    ///    expired (the refresh lifetime plus the leeway after step 2), then
    ///    stops verifying and leaves the JWKS.
    ///
    /// An HMAC key is never published: it signs at once. A second rotation
    /// before the first key signs replaces it (that key signed nothing).
    /// Fails with [`KeyError::TooManyKeys`] when
    /// [`MAX_RING_KEYS`](crate::MAX_RING_KEYS) keys still wait for their
    /// tokens to expire; [`withdraw_key`](Self::withdraw_key) and
    /// [`replace_signing_key`](Self::replace_signing_key) never do.
    ///
    /// Each instance has its own key ring: with several instances of one
    /// issuer, give every instance the same keys and roll them in two steps
    /// (see the README's "Several services").
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let first = Key::generate(Algorithm::ES256).unwrap();
    /// let authority = TokenAuthority::builder(KeySet::new(first.clone()).unwrap())
    ///     .key_publication_delay(Duration::from_secs(600))
    ///     .build()
    ///     .unwrap();
    /// let next = Key::generate(Algorithm::ES256).unwrap();
    /// let rotation = authority.rotate_signing_key(next.clone()).unwrap();
    /// // Published at once, signing in ten minutes.
    /// assert_eq!(authority.keys().jwks().keys.len(), 2);
    /// assert_eq!(rotation.signs_from, authority.clock().now() + 600);
    /// let pair = authority.issue("alice", &NoClaims {}).await.unwrap();
    /// let v = authority.validator();
    /// assert!(v.validate_access::<NoClaims>(&pair.access_token).await.is_ok());
    /// # }
    /// ```
    pub fn rotate_signing_key(&self, key: Key) -> Result<KeyRotation, KeyError> {
        let s = self.shared();
        let now = s.clock.now();
        let delay = if key.algorithm().is_symmetric() {
            0
        } else {
            s.config.key_publication_delay.as_secs()
        };
        let signs_from = now.saturating_add(delay);
        let previous_retires_at = signs_from
            .saturating_add(s.config.refresh_ttl.as_secs())
            .saturating_add(s.config.leeway.as_secs());
        let kid = key.kid().to_owned();
        self.keys.schedule(key, signs_from, previous_retires_at)?;
        tracing::info!(%kid, signs_from, previous_retires_at, "signing key rotation scheduled");
        Ok(KeyRotation {
            kid,
            signs_from,
            previous_retires_at,
        })
    }

    /// Withdraws the key `kid` at once (a leaked verification key, or a
    /// rotated key that must not start signing): every token it signed is
    /// refused from now on, tokens already cached included. Sessions whose
    /// current refresh token it signed end (their users log in again);
    /// other sessions go on. Resource servers stop accepting it at their
    /// next JWKS refresh. Returns whether the ring held it. The signing key
    /// is replaced instead: [`replace_signing_key`](Self::replace_signing_key).
    pub fn withdraw_key(&self, kid: &str) -> Result<bool, KeyError> {
        let withdrawn = self.keys.withdraw(kid)?;
        if withdrawn {
            tracing::warn!(%kid, "key withdrawn: its tokens are refused from now on");
        }
        Ok(withdrawn)
    }

    /// The answer to a leaked signing key: `key` signs from now on, and the
    /// previous signing key (and any rotation still pending) is withdrawn
    /// at once, as by [`withdraw_key`](Self::withdraw_key). Never refused
    /// for the number of keys in the ring. Resource servers fetch the new
    /// key with the first token that names it.
    pub fn replace_signing_key(&self, key: Key) -> Result<(), KeyError> {
        let kid = key.kid().to_owned();
        let previous = self.keys.replace_signing_key(key)?;
        tracing::warn!(%kid, withdrawn = previous.as_ref().map(Key::kid), "signing key replaced at once");
        Ok(())
    }
}
