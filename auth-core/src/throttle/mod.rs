//! Login throttling: password guessing slowed down per account and address,
//! without letting strangers lock a user out.
//!
//! A [`LoginThrottle`] decides, **before** any password is hashed, whether a
//! login attempt may be checked ([`LoginThrottle::begin`]), and learns the
//! outcome afterwards ([`LoginThrottle::failed`], [`LoginThrottle::succeeded`],
//! or [`LoginThrottle::abandoned`] when there was no verdict).
//! Its state lives in the same [`Store`] as revocations
//! ([`Store::attempts`]): in memory for one instance, in Redis (single or
//! Cluster) for several, so all instances count together.
//!
//! Three counters, each with a default ([`ThrottlePolicy`] changes them):
//!
//! | counter | key | rule (default) |
//! |---|---|---|
//! | [`Counter::Pair`] | account and client address | the first 5 consecutive failures are free; from the 5th on the pair waits 2^(n−5) s (1 s, 2 s, 4 s, …, at most 15 min) before its next attempt is checked; a success resets it; forgotten 24 h after its last failure |
//! | [`Counter::Address`] | client address, all accounts | more than 50 failures within 10 min: the address waits (1 s, 2 s, … at most 15 min) for every account |
//! | [`Counter::Account`] | account, all addresses | at most 100 failures per 15 min are checked, then the account waits until the window ends, **for unknown devices only** |
//!
//! A *known device* presents a device token ([`LoginThrottle::device_token`],
//! set as a cookie after a successful login) naming the account. It is
//! exempt from the address and account counters and has a counter of its own
//! ([`Counter::Device`], the pair's rule), so an attacker can neither guess on
//! without limit nor lock the real user out of a device they used before. A
//! device token is never a credential: the password is still checked.
//!
//! Attempts refused by a wait are not checked and not counted. Every counter
//! counts an attempt when it begins, so concurrent attempts cannot slip past
//! a limit while earlier ones are being hashed; a success takes the counts
//! back (and resets the pair), and so does an attempt without a verdict on
//! the password, which leaves no counter behind. Unknown usernames are
//! counted exactly like known ones.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::store::MemoryStore;
//! use auth_core::throttle::{Attempt, Counter, Decision, LoginThrottle};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let throttle = LoginThrottle::new(Arc::new(MemoryStore::new()));
//! let attempt = Attempt::new("alice", "192.0.2.7".parse().unwrap());
//! for _ in 0..5 {
//!     assert_eq!(throttle.begin(&attempt).await.unwrap(), Decision::Go);
//!     throttle.failed(&attempt).await.unwrap(); // a wrong password
//! }
//! // The fifth failure costs the pair a second.
//! let Decision::Wait { counter, retry_after } = throttle.begin(&attempt).await.unwrap() else {
//!     panic!("the pair waits");
//! };
//! assert_eq!(counter, Counter::Pair);
//! assert!(retry_after <= std::time::Duration::from_secs(1));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::store::Store;

mod device;

pub use crate::store::attempts::{
    Attempt, AttemptStore, Counter, DEFAULT_ACCOUNT_FAILURES, DEFAULT_ACCOUNT_WINDOW,
    DEFAULT_ADDRESS_FAILURES, DEFAULT_ADDRESS_WINDOW, DEFAULT_FORGET_AFTER, DEFAULT_FREE_FAILURES,
    DEFAULT_MAX_TRACKED, DEFAULT_MAX_WAIT, Decision, MemoryAttempts, ThrottlePolicy,
};
pub use device::{DEFAULT_DEVICE_TTL, DeviceKey};

/// The login throttle: a [`ThrottlePolicy`] applied to counters in a
/// [`Store`]; cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct LoginThrottle {
    store: Arc<dyn Store>,
    /// For stores without counters of their own.
    fallback: Arc<MemoryAttempts>,
    policy: ThrottlePolicy,
    devices: DeviceKey,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("store", &self.store)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle {
    /// The default policy over `store`'s counters (a store without them,
    /// [`Store::attempts`] `None`, gets counters in this process's memory),
    /// a random device key, and the system clock.
    pub fn new(store: Arc<dyn Store>) -> LoginThrottle {
        LoginThrottle {
            store,
            fallback: Arc::new(MemoryAttempts::new(DEFAULT_MAX_TRACKED)),
            policy: ThrottlePolicy::default(),
            devices: DeviceKey::random(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the policy.
    pub fn policy(mut self, policy: ThrottlePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The key device tokens are signed with (default: random, so devices
    /// are forgotten on restart; instances behind one load balancer must
    /// share it).
    pub fn device_key(mut self, key: DeviceKey) -> Self {
        self.devices = key;
        self
    }

    /// The clock (default: the system clock). Use the authority's.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The policy in force.
    pub fn current_policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    fn counters(&self) -> &dyn AttemptStore {
        match self.store.attempts() {
            Some(store) => store,
            None => &*self.fallback,
        }
    }

    /// Whether `attempt` may be checked now; see [`AttemptStore::begin`].
    pub async fn begin(&self, attempt: &Attempt) -> Result<Decision, StoreError> {
        let now = self.clock.now_millis();
        let decision = self.counters().begin(&self.policy, attempt, now).await?;
        if let Decision::Wait {
            counter,
            retry_after,
        } = decision
        {
            crate::metrics::throttled(counter.as_str(), retry_after);
        }
        Ok(decision)
    }

    /// A begun attempt failed (wrong password, unknown user): the counts
    /// its begin made stand. Nothing to write; here so that every begun
    /// attempt is settled by one of `failed`, `succeeded`, `abandoned`.
    pub async fn failed(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let _ = attempt;
        Ok(())
    }

    /// A begun attempt succeeded: its pair (or device) counter is reset and
    /// its other counts taken back.
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        self.counters()
            .settle(&self.policy, attempt, true, now)
            .await
    }

    /// A begun attempt ended without a verdict on the password (the
    /// credential backend or the store failed, the body was refused): it
    /// does not count, and leaves no counter behind.
    pub async fn abandoned(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        self.counters()
            .settle(&self.policy, attempt, false, now)
            .await
    }

    /// A device token for `account`, to set as a long-lived cookie after a
    /// successful login: `device` keeps a known device's id, `None` names a
    /// new device.
    pub fn device_token(&self, account: &str, device: Option<Uuid>) -> Result<String, StoreError> {
        let now = self.clock.now();
        self.devices
            .sign(account, device.unwrap_or_else(Uuid::new_v4), now)
            .map_err(|e| StoreError::Unavailable(format!("cannot sign a device token: {e}")))
    }

    /// The device id of `token` if it is a valid device token of `account`,
    /// else `None` (an unknown device).
    pub fn known_device(&self, token: &str, account: &str) -> Option<Uuid> {
        self.devices.verify(token, account, self.clock.now())
    }

    /// How long device tokens live.
    pub fn device_ttl(&self) -> Duration {
        self.devices.lifetime()
    }
}
