//! [`KeyRing`]: a key set that changes while serving.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::clock::{Clock, SystemClock};
use crate::error::KeyError;
use crate::key_set::{KeyLookup, KeySet, KeySource, Pending, Schedule};
use crate::keys::Key;

/// The most keys a [`KeyRing`] holds after a scheduled rotation: 32. A
/// rotation that would pass it is refused ([`KeyError::TooManyKeys`]);
/// withdrawals and emergency replacements never are.
pub const MAX_RING_KEYS: usize = 32;

/// A [`KeySet`] that changes while serving: rotation without a gap,
/// retirement on time, withdrawal at once. Readers see the old set or the
/// new one, never a mix.
///
/// A [`KeyRing`] holds the keys of a [`TokenAuthority`](crate::TokenAuthority)
/// (or of a verifier that loads keys itself). A rotation goes through three
/// instants:
///
/// 1. **Published** ([`schedule`](KeyRing::schedule)): the next key joins the set as a
///    verification key, so it is in the JWKS at once; the current key goes
///    on signing.
/// 2. **Signing** (`signs_from`): the next key signs every new token; the
///    previous one only verifies. By then every resource server that
///    refreshes its JWKS on time has the new key, so no token it receives is
///    signed by a key it does not know.
/// 3. **Retired** (`retire_previous_at`, for an authority the refresh
///    lifetime plus the leeway after step 2): the previous key stops
///    verifying, on the verification path itself (a time comparison, under
///    the read lock the lookup takes anyway), whether or not anyone reads
///    the set.
///
/// In an emergency, [`KeyRing::withdraw`] removes a key at once and
/// [`KeyRing::replace_signing_key`] puts a new signing key in place of the
/// current one at once; neither is ever refused for the number of keys the
/// ring holds.
///
/// ```
/// use auth_core::{Algorithm, Clock, Key, KeyRing, KeySet, SystemClock};
///
/// let first = Key::generate(Algorithm::EdDSA).unwrap();
/// let ring = KeyRing::new(KeySet::new(first.clone()).unwrap());
/// let now = SystemClock.now();
/// let second = Key::generate(Algorithm::EdDSA).unwrap();
/// // Published now, signing in 10 minutes, `first` retired a day later.
/// ring.schedule(second.clone(), now + 600, now + 600 + 86_400).unwrap();
/// assert_eq!(ring.current().signing_key().unwrap().kid(), first.kid());
/// assert!(ring.current().get(second.kid()).is_some());
/// assert_eq!(ring.pending(), Some((second.kid().to_owned(), now + 600)));
///
/// // A leaked key is withdrawn at once.
/// assert!(ring.withdraw(second.kid()).unwrap());
/// assert!(ring.current().get(second.kid()).is_none());
/// ```
///
/// # Key files
///
/// A ring lives in memory: to keep its keys and the rotation under way
/// across restarts, [`save`](KeyRing::save) it after every change and
/// start from [`KeySet::load`]. The same file serves every restart:
///
/// ```
/// use std::path::Path;
/// use auth_core::{Algorithm, Key, KeySet, TokenAuthority};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("auth-core-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("keys.json");
/// // First start: a new key, saved at once. Later starts: the saved keys.
/// let keys = if path.exists() {
///     KeySet::load(&path)?
/// } else {
///     KeySet::new(Key::generate(Algorithm::ES256)?)?
/// };
/// let authority = TokenAuthority::builder(keys).build()?;
/// authority.key_ring().save(&path)?;
///
/// // A rotation (now published, signing after the publication delay) is
/// // saved too: a restart carries it on.
/// let rotation = authority.rotate_signing_key(Key::generate(Algorithm::ES256)?)?;
/// authority.key_ring().save(&path)?;
/// let restarted = TokenAuthority::builder(KeySet::load(&path)?).build()?;
/// assert_eq!(restarted.key_ring().pending(), Some((rotation.kid, rotation.signs_from)));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
///
/// The file is a JWK Set (RFC 7517) whose keys carry their private
/// members (`d`, RFC 7518 §6; `k` for HMAC secrets), plus two members of
/// this crate's own where a rotation is under way (other readers ignore
/// them, RFC 7517 §4):
///
/// ```json
/// {
///   "keys": [
///     { "kid": "…", "alg": "ES256", "use": "sig", "key_ops": ["sign", "verify"],
///       "retires_at": 1767225600, "kty": "EC", "crv": "P-256", "x": "…", "y": "…", "d": "…" },
///     { "kid": "…", "alg": "ES256", "use": "sig", "key_ops": ["verify"],
///       "signs_from": 1766016600, "kty": "EC", "crv": "P-256", "x": "…", "y": "…", "d": "…" },
///     { "kid": "…", "alg": "EdDSA", "use": "sig", "key_ops": ["verify"],
///       "retires_at": 1766620800, "kty": "OKP", "crv": "Ed25519", "x": "…", "d": "…" }
///   ]
/// }
/// ```
///
/// - **`"key_ops": ["sign", "verify"]`** marks the one key that signs;
///   every other key has `["verify"]`. A file in which no key signs loads
///   as a [verifying](KeySet::verifying) set; two signing keys are refused.
/// - **`signs_from`** (Unix seconds): a rotated key, already published,
///   that signs from then on. At most one key has it.
/// - **`retires_at`** (Unix seconds): when the key stops verifying. The
///   signing key has one only while a rotation is pending: it signs until
///   the next key takes over, then verifies until `retires_at`.
/// - Every key names its `kid` and `alg`. Keys without `d` (or `k`) only
///   verify. RSA private keys carry all of `d`, `p`, `q`, `dp`, `dq`, `qi`.
///
/// The schedule goes on where it was: when the file is loaded after a
/// key's `signs_from`, that key signs; retiring keys past their
/// `retires_at` are dropped at the ring's first look at its clock (and
/// stay in the file until the next save). A key withdrawn is gone from
/// the file at the next save: save at once after a withdrawal.
///
/// **Keep the file secret: it holds every signing key.** [`save`](KeyRing::save)
/// creates it readable and writable by its owner only (mode 0600 on Unix)
/// and replaces the previous file in one rename (a reader sees the old
/// file or the new one, never a mix), so the service writes into the
/// directory: keep it owned by the service's user and closed to others
/// (mode 0700). On other systems, restrict it yourself. Backups of the
/// file are copies of every key.
#[derive(Debug)]
pub struct KeyRing {
    state: RwLock<RingState>,
    /// Bumped when a key leaves ([`KeySource::generation`]).
    generation: AtomicU64,
    /// The earliest instant (Unix seconds) at which a pending key starts
    /// signing or a key retires; `u64::MAX` when nothing is due.
    next_due: AtomicU64,
    clock: Arc<dyn Clock>,
    /// Held while saving, so that saves reach the file in the order of
    /// their snapshots.
    saving: Mutex<()>,
}

#[derive(Debug)]
struct RingState {
    set: Arc<KeySet>,
    /// Verification keys and when they retire (Unix seconds), by `kid`.
    retiring: Vec<(String, u64)>,
    /// A published key that starts signing later.
    pending: Option<Pending>,
}

impl RingState {
    fn next_due(&self) -> u64 {
        self.retiring
            .iter()
            .map(|(_, at)| *at)
            .chain(self.pending.iter().map(|p| p.signs_from))
            .min()
            .unwrap_or(u64::MAX)
    }

    fn retires_at(&self, kid: &str) -> Option<u64> {
        self.retiring
            .iter()
            .find_map(|(k, at)| (k == kid).then_some(*at))
    }

    fn signing_kid(&self) -> Option<&str> {
        self.set.signing_key().map(Key::kid)
    }

    /// The pending key becomes the signing key; the one before it retires
    /// as scheduled.
    fn promote(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let mut keys = self.set.keys.clone();
        let Some(at) = keys.iter().position(|k| k.kid() == p.kid) else {
            return;
        };
        let next = keys.remove(at);
        if let Some(previous) = self.set.signing_key() {
            self.retiring
                .push((previous.kid().to_owned(), p.retire_previous_at));
        }
        keys.insert(0, next);
        self.set = Arc::new(KeySet {
            keys,
            signs: true,
            schedule: Schedule::default(),
        });
    }

    /// Removes the keys `gone` names from the set and the schedules.
    fn remove(&mut self, gone: impl Fn(&str) -> bool) {
        self.set = Arc::new(self.set.without(|k| gone(k.kid())));
        self.retiring.retain(|(kid, _)| !gone(kid));
        if self.pending.as_ref().is_some_and(|p| gone(&p.kid)) {
            self.pending = None;
        }
    }
}

impl KeyRing {
    /// A ring holding `set`, on the system clock.
    pub fn new(set: KeySet) -> KeyRing {
        KeyRing::with_clock(set, Arc::new(SystemClock))
    }

    /// A ring holding `set`, whose schedules follow `clock`. A set
    /// [loaded](KeySet::load) from a file brings the schedule it was saved
    /// with: a rotation saved while pending goes on, retiring keys retire
    /// when they were due to.
    pub fn with_clock(mut set: KeySet, clock: Arc<dyn Clock>) -> KeyRing {
        let schedule = std::mem::take(&mut set.schedule);
        let state = RingState {
            set: Arc::new(set),
            retiring: schedule.retiring,
            pending: schedule.pending,
        };
        KeyRing {
            next_due: AtomicU64::new(state.next_due()),
            state: RwLock::new(state),
            generation: AtomicU64::new(0),
            clock,
            saving: Mutex::new(()),
        }
    }

    /// The set as it is now: a pending key whose time has come signs, and
    /// keys whose retirement has come are gone.
    pub fn current(&self) -> Arc<KeySet> {
        self.tidy();
        self.read().set.clone()
    }

    /// The published key waiting to sign, and from when (Unix seconds).
    pub fn pending(&self) -> Option<(String, u64)> {
        self.tidy();
        self.read()
            .pending
            .as_ref()
            .map(|p| (p.kid.clone(), p.signs_from))
    }

    /// When the key `kid` stops verifying (Unix seconds), if it is retiring.
    pub fn retires_at(&self, kid: &str) -> Option<u64> {
        self.read().retires_at(kid)
    }

    /// Replaces the whole set, and the scheduled rotations and
    /// retirements with those of `set` (none, unless it was
    /// [loaded](KeySet::load) from a file). A key that leaves, or whose
    /// `kid` now names other key material, no longer vouches for what it
    /// verified (see [`KeySource::generation`]).
    pub fn replace(&self, mut set: KeySet) {
        let schedule = std::mem::take(&mut set.schedule);
        let mut state = self.write();
        if set.withdraws_from(&state.set) {
            self.bump();
        }
        state.set = Arc::new(set);
        state.retiring = schedule.retiring;
        state.pending = schedule.pending;
        self.next_due.store(state.next_due(), Ordering::Release);
    }

    /// Held by [`save`](KeyRing::save) from its snapshot until its file
    /// is in place.
    pub(crate) fn saving(&self) -> MutexGuard<'_, ()> {
        self.saving.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The set and its schedule as they are now (what is due applied).
    pub(crate) fn snapshot(&self) -> (Arc<KeySet>, Schedule) {
        self.tidy();
        let state = self.read();
        let schedule = Schedule {
            retiring: state.retiring.clone(),
            pending: state.pending.clone(),
        };
        (state.set.clone(), schedule)
    }

    /// Publishes `next` now as a verification key; from `signs_from` (Unix
    /// seconds) it signs, and the key signing until then verifies until
    /// `retire_previous_at`. A rotation still pending is replaced (its key
    /// signed nothing, and is dropped at once). Fails if `next` cannot
    /// sign, its `kid` is already in the ring, or the ring already holds
    /// [`MAX_RING_KEYS`] keys.
    pub fn schedule(
        &self,
        next: Key,
        signs_from: u64,
        retire_previous_at: u64,
    ) -> Result<(), KeyError> {
        if !next.can_sign() {
            return Err(KeyError::NotASigningKey);
        }
        // A pending key whose time has come signs already: it is not
        // replaced but rotated away like any signing key.
        self.tidy();
        let mut state = self.write();
        let replaced = state.pending.as_ref().map(|p| p.kid.clone());
        let mut keys: Vec<Key> = state
            .set
            .keys
            .iter()
            .filter(|k| Some(k.kid()) != replaced.as_deref())
            .cloned()
            .collect();
        if keys.iter().any(|k| k.kid() == next.kid()) {
            return Err(KeyError::DuplicateKid(next.kid().to_owned()));
        }
        if keys.len() >= MAX_RING_KEYS {
            return Err(KeyError::TooManyKeys(keys.len()));
        }
        if replaced.is_some() {
            self.bump();
        }
        let kid = next.kid().to_owned();
        // After the signing key (if any), which goes on signing until then.
        keys.insert(usize::from(state.set.signs).min(keys.len()), next);
        state.set = Arc::new(KeySet {
            keys,
            signs: state.set.signs,
            schedule: Schedule::default(),
        });
        state.pending = Some(Pending {
            kid,
            signs_from,
            retire_previous_at,
        });
        if signs_from <= self.clock.now() {
            state.promote();
        }
        self.next_due.store(state.next_due(), Ordering::Release);
        Ok(())
    }

    /// Makes `signing` the signing key now; the previous one verifies until
    /// `retire_old_at` (Unix seconds; pass the expiry of the last token it
    /// may have signed). [`schedule`](Self::schedule) with `signs_from` now:
    /// for HMAC keys, which are never published, or keys every verifier
    /// already has.
    pub fn rotate(&self, signing: Key, retire_old_at: u64) -> Result<(), KeyError> {
        self.schedule(signing, self.clock.now(), retire_old_at)
    }

    /// Withdraws the key `kid` at once, whatever its schedule: tokens it
    /// signed are refused from now on, cached ones included. Returns whether
    /// the ring held it. The signing key cannot be withdrawn alone
    /// ([`KeyError::SigningKeyWithdrawal`]): use
    /// [`replace_signing_key`](Self::replace_signing_key).
    pub fn withdraw(&self, kid: &str) -> Result<bool, KeyError> {
        self.tidy();
        let mut state = self.write();
        if state.signing_kid() == Some(kid) {
            return Err(KeyError::SigningKeyWithdrawal);
        }
        if state.set.get(kid).is_none() {
            return Ok(false);
        }
        state.remove(|k| k == kid);
        self.bump();
        self.next_due.store(state.next_due(), Ordering::Release);
        Ok(true)
    }

    /// Puts `signing` in place of the signing key at once, withdrawing the
    /// previous signing key (its tokens are refused from now on) and any
    /// pending rotation: the answer to a leaked signing key. Returns the
    /// key withdrawn. Never refused for the number of keys. Verifiers that
    /// fetch the JWKS learn the new key at their next fetch (one for a
    /// token with an unknown `kid`).
    pub fn replace_signing_key(&self, signing: Key) -> Result<Option<Key>, KeyError> {
        if !signing.can_sign() {
            return Err(KeyError::NotASigningKey);
        }
        self.tidy();
        let mut state = self.write();
        let previous = state.set.signing_key().cloned();
        let leaving = |kid: &str, state: &RingState| {
            Some(kid) == state.signing_kid() || state.pending.as_ref().is_some_and(|p| p.kid == kid)
        };
        let duplicate = state
            .set
            .keys
            .iter()
            .any(|k| k.kid() == signing.kid() && !leaving(k.kid(), &state));
        if duplicate {
            return Err(KeyError::DuplicateKid(signing.kid().to_owned()));
        }
        let gone: Vec<String> = state
            .set
            .keys
            .iter()
            .map(|k| k.kid().to_owned())
            .filter(|kid| leaving(kid, &state))
            .collect();
        state.remove(|kid| gone.iter().any(|g| g == kid));
        let mut keys = vec![signing];
        keys.extend(state.set.keys.iter().cloned());
        state.set = Arc::new(KeySet {
            keys,
            signs: true,
            schedule: Schedule::default(),
        });
        self.bump();
        self.next_due.store(state.next_due(), Ordering::Release);
        Ok(previous)
    }

    /// Applies what is due at `now` (Unix seconds): a pending key whose time
    /// has come starts signing, and verification keys whose retirement has
    /// come are dropped. Returns how many keys were dropped. Reading the
    /// ring applies this by itself; retired keys stop verifying on time
    /// even before.
    pub fn retire_expired(&self, now: u64) -> usize {
        if now < self.next_due.load(Ordering::Acquire) {
            return 0;
        }
        let mut state = self.write();
        if state.pending.as_ref().is_some_and(|p| p.signs_from <= now) {
            state.promote();
        }
        let due: Vec<String> = state
            .retiring
            .iter()
            .filter(|(kid, at)| *at <= now && Some(kid.as_str()) != state.signing_kid())
            .map(|(kid, _)| kid.clone())
            .collect();
        let before = state.set.keys.len();
        state.remove(|kid| due.iter().any(|d| d == kid));
        let dropped = before - state.set.keys.len();
        if dropped > 0 {
            self.bump();
        }
        self.next_due.store(state.next_due(), Ordering::Release);
        dropped
    }

    /// Applies what is due now, if anything is (one atomic load otherwise).
    fn tidy(&self) {
        self.tidy_at(self.clock.now());
    }

    fn tidy_at(&self, now: u64) {
        if now >= self.next_due.load(Ordering::Acquire) {
            self.retire_expired(now);
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn read(&self) -> RwLockReadGuard<'_, RingState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, RingState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeySource for KeyRing {
    fn key(&self, kid: &str) -> KeyLookup {
        let state = self.read();
        let Some(key) = state.set.get(kid) else {
            return KeyLookup::Unknown;
        };
        // Retired on time, even before anyone tidies the ring.
        if state
            .retires_at(kid)
            .is_some_and(|at| self.clock.now() >= at)
        {
            return KeyLookup::Unknown;
        }
        KeyLookup::Found(key.clone())
    }

    fn generation(&self) -> u64 {
        self.generation_at(self.clock.now())
    }

    fn generation_at(&self, now: u64) -> u64 {
        self.tidy_at(now);
        self.generation.load(Ordering::Acquire)
    }
}
