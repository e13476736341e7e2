//! Server-provided DPoP nonces: [`DpopNonces`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::algorithm::Algorithm;
use crate::clock::{Clock, SystemClock};
use crate::crypto;
use crate::error::KeyError;

/// Default for [`DpopNonces::lifetime`]: 5 minutes. A nonce is accepted
/// during the slot it was made in and the next one: between 5 and 10
/// minutes after the client received it.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The shortest secret [`DpopNonces::new`] takes: 32 bytes.
pub const MIN_NONCE_SECRET_BYTES: usize = 32;
/// How long a nonce is, in characters (16 bytes of HMAC, base64url).
pub const NONCE_LEN: usize = 22;

/// Server-provided DPoP nonces (RFC 9449 §8 and §9): values the server
/// hands out in a `DPoP-Nonce` header and then requires in each proof's
/// `nonce` claim, so that a proof cannot be signed ahead of time (by
/// malware that has the key's use for a moment, not the key) and used later.
///
/// The nonces are stateless: the HMAC-SHA256 of the current time slot under
/// a server secret. Nothing is stored, every instance that shares the
/// secret accepts the others' nonces, and a nonce is accepted during its
/// slot and the next one.
///
/// ```
/// use std::time::Duration;
/// use auth_core::dpop::DpopNonces;
///
/// # fn main() -> Result<(), auth_core::KeyError> {
/// // Instances that share the secret accept each other's nonces.
/// let nonces = DpopNonces::new(b"a secret of at least thirty-two bytes!!")?
///     .lifetime(Duration::from_secs(120));
/// let nonce = nonces.current();
/// assert!(nonces.accepts(&nonce));
/// assert!(!nonces.accepts("a nonce this server never gave"));
/// # Ok(()) }
/// ```
///
/// Cheap to clone (the secret is shared).
#[derive(Clone)]
pub struct DpopNonces {
    secret: Arc<[u8]>,
    lifetime: u64,
    clock: Arc<dyn Clock>,
}

impl DpopNonces {
    /// Nonces under `secret` (at least [`MIN_NONCE_SECRET_BYTES`]): give
    /// every instance behind one origin the same secret, or a client sent
    /// to another instance is asked for a new nonce each time.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_NONCE_SECRET_BYTES {
            return Err(KeyError::SecretTooShort {
                alg: Algorithm::HS256,
                min: MIN_NONCE_SECRET_BYTES,
                len: secret.len(),
            });
        }
        Ok(DpopNonces {
            secret: secret.into(),
            lifetime: DEFAULT_NONCE_LIFETIME.as_secs(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Nonces under a random secret of this process: for a single
    /// instance (nonces do not survive a restart, which costs each client
    /// one retry).
    pub fn random() -> Result<Self, KeyError> {
        let mut secret = [0u8; MIN_NONCE_SECRET_BYTES];
        crypto::fill_random(&mut secret)?;
        DpopNonces::new(secret)
    }

    /// How long one nonce slot lasts (default [`DEFAULT_NONCE_LIFETIME`],
    /// at least 1 s): a nonce is accepted in its slot and the next.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.as_secs().max(1);
        self
    }

    /// The clock (the system clock by default).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The nonce to hand out now (the `DPoP-Nonce` header).
    pub fn current(&self) -> String {
        self.of_slot(self.slot())
    }

    /// Whether `nonce` is this slot's or the previous one's, compared in
    /// constant time.
    pub fn accepts(&self, nonce: &str) -> bool {
        if nonce.len() != NONCE_LEN {
            return false;
        }
        let slot = self.slot();
        // Both compared, always: the time taken says nothing of which matched.
        let current = crypto::constant_time_eq(nonce.as_bytes(), self.of_slot(slot).as_bytes());
        let previous = slot.checked_sub(1).is_some_and(|previous| {
            crypto::constant_time_eq(nonce.as_bytes(), self.of_slot(previous).as_bytes())
        });
        current | previous
    }

    fn slot(&self) -> u64 {
        self.clock.now() / self.lifetime
    }

    fn of_slot(&self, slot: u64) -> String {
        let mut message = [0u8; 19];
        message[..11].copy_from_slice(b"dpop-nonce:");
        message[11..].copy_from_slice(&slot.to_be_bytes());
        let tag = crypto::hmac_sha256(&self.secret, &message);
        URL_SAFE_NO_PAD.encode(&tag[..16])
    }
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("DpopNonces")
            .field("lifetime", &Duration::from_secs(self.lifetime))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn at(clock: &Arc<ManualClock>, secret: &[u8]) -> DpopNonces {
        DpopNonces::new(secret)
            .unwrap()
            .lifetime(Duration::from_secs(60))
            .clock(clock.clone())
    }

    #[test]
    fn a_nonce_lives_its_slot_and_the_next() {
        let clock = Arc::new(ManualClock::new(1_700_000_000 / 60 * 60));
        let nonces = at(&clock, &[7u8; 32]);
        let nonce = nonces.current();
        assert_eq!(nonce.len(), NONCE_LEN);
        assert!(nonces.accepts(&nonce));
        clock.advance(Duration::from_secs(59));
        assert!(nonces.accepts(&nonce));
        clock.advance(Duration::from_secs(1));
        assert_ne!(nonces.current(), nonce, "a new slot has a new nonce");
        assert!(
            nonces.accepts(&nonce),
            "the previous slot's nonce still passes"
        );
        clock.advance(Duration::from_secs(60));
        assert!(!nonces.accepts(&nonce), "two slots later it is stale");
    }

    #[test]
    fn another_secret_or_a_changed_nonce_is_refused() {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let ours = at(&clock, &[1u8; 32]);
        let theirs = at(&clock, &[2u8; 32]);
        let same = at(&clock, &[1u8; 32]);
        assert!(!ours.accepts(&theirs.current()));
        assert!(ours.accepts(&same.current()), "a shared secret: one nonce");
        let mut changed = ours.current().into_bytes();
        changed[0] = if changed[0] == b'A' { b'B' } else { b'A' };
        assert!(!ours.accepts(std::str::from_utf8(&changed).unwrap()));
        assert!(!ours.accepts(""));
        assert!(!ours.accepts(&format!("{}x", ours.current())));
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(matches!(
            DpopNonces::new([0u8; 31]),
            Err(KeyError::SecretTooShort {
                min: 32,
                len: 31,
                ..
            })
        ));
        let random = DpopNonces::random().unwrap();
        assert!(random.accepts(&random.current()));
        assert!(!format!("{random:?}").contains("secret"));
    }
}
