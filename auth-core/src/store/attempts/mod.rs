//! The login throttle's counters, as every store keeps them: the policy,
//! an attempt's keys, the decision, and the [`AttemptStore`] contract the
//! memory and Redis stores implement. The throttle that applies them lives
//! in [`crate::throttle`], above the store.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use super::BoxFuture;
use crate::error::StoreError;

mod memory;
mod tally;

pub use memory::{DEFAULT_MAX_TRACKED, MemoryAttempts};
pub(crate) use tally::Tally;

/// Failures a pair (or device) makes before it must wait: 5.
pub const DEFAULT_FREE_FAILURES: u32 = 5;
/// The longest wait any counter imposes: 15 minutes.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// How long a pair's (or device's) failures are remembered after the last
/// one: 24 hours.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Failures from one address, all accounts, within
/// [`DEFAULT_ADDRESS_WINDOW`] before the address waits: 50.
pub const DEFAULT_ADDRESS_FAILURES: u32 = 50;
/// The address counter's window: 10 minutes.
pub const DEFAULT_ADDRESS_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Failures per account, all addresses, checked within
/// [`DEFAULT_ACCOUNT_WINDOW`]: 100.
pub const DEFAULT_ACCOUNT_FAILURES: u32 = 100;
/// The account counter's window: 15 minutes.
pub const DEFAULT_ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The throttle's limits; every default is a `DEFAULT_*` constant of this
/// module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub(crate) free_failures: u32,
    pub(crate) max_wait: Duration,
    pub(crate) forget_after: Duration,
    pub(crate) address_failures: u32,
    pub(crate) address_window: Duration,
    pub(crate) account_failures: u32,
    pub(crate) account_window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: DEFAULT_FREE_FAILURES,
            max_wait: DEFAULT_MAX_WAIT,
            forget_after: DEFAULT_FORGET_AFTER,
            address_failures: DEFAULT_ADDRESS_FAILURES,
            address_window: DEFAULT_ADDRESS_WINDOW,
            account_failures: DEFAULT_ACCOUNT_FAILURES,
            account_window: DEFAULT_ACCOUNT_WINDOW,
        }
    }
}

impl ThrottlePolicy {
    /// Consecutive failures of a pair (or device) before its first wait
    /// (default 5); at least 1. The `n`th failure, `n ≥ free`, costs
    /// 2^(n−free) seconds.
    pub fn free_failures(mut self, n: u32) -> Self {
        self.free_failures = n.max(1);
        self
    }

    /// The cap on every doubling wait (default 15 min); at least 1 s.
    pub fn max_wait(mut self, max: Duration) -> Self {
        self.max_wait = max.max(Duration::from_secs(1));
        self
    }

    /// How long a pair's or device's failures are remembered after its last
    /// one (default 24 h); at least 1 s.
    pub fn forget_after(mut self, after: Duration) -> Self {
        self.forget_after = after.max(Duration::from_secs(1));
        self
    }

    /// More than `failures` failures from one address within `window`
    /// (default 50 per 10 min) make the address wait, for every account.
    pub fn address_failures(mut self, failures: u32, window: Duration) -> Self {
        self.address_failures = failures.max(1);
        self.address_window = window.max(Duration::from_secs(1));
        self
    }

    /// At most `failures` failures per account within `window` (default 100
    /// per 15 min) are checked from unknown devices.
    pub fn account_failures(mut self, failures: u32, window: Duration) -> Self {
        self.account_failures = failures.max(1);
        self.account_window = window.max(Duration::from_secs(1));
        self
    }

    /// The wait after the `n`th counted failure when waits start at the
    /// `first`th, in ms: 0 before it, then 1 s, 2 s, … capped.
    pub(crate) fn doubling_ms(&self, n: u32, first: u32) -> u64 {
        if n < first {
            return 0;
        }
        let exp = (n - first).min(30);
        (1000u64 << exp).min(millis(self.max_wait))
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Which counter made an attempt wait; also the `counter` label of the
/// metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// One account from one client address.
    Pair,
    /// One client address, all accounts.
    Address,
    /// One account, all addresses (unknown devices only).
    Account,
    /// One known device of an account.
    Device,
}

impl Counter {
    /// `pair`, `address`, `account` or `device`.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Pair => "pair",
            Counter::Address => "address",
            Counter::Account => "account",
            Counter::Device => "device",
        }
    }
}

/// What [`LoginThrottle::begin`](crate::throttle::LoginThrottle::begin) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Check the password, then report [`LoginThrottle::failed`](crate::throttle::LoginThrottle::failed) or
    /// [`LoginThrottle::succeeded`](crate::throttle::LoginThrottle::succeeded).
    Go,
    /// Refuse unchecked: `counter` makes the attempt wait `retry_after` more.
    Wait {
        /// The counter that refused.
        counter: Counter,
        /// How long until it would allow the attempt.
        retry_after: Duration,
    },
}

impl Decision {
    /// A refusal for `ms` more milliseconds.
    pub(crate) fn wait(counter: Counter, ms: u64) -> Decision {
        Decision::Wait {
            counter,
            retry_after: Duration::from_millis(ms.max(1)),
        }
    }
}

/// One login attempt as the throttle keys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub(crate) account: String,
    pub(crate) address: String,
    pub(crate) device: Option<Uuid>,
}

impl Attempt {
    /// An attempt at `account` (the username exactly as sent) from
    /// `address`. IPv6 addresses are keyed by their /64 network (one host's
    /// usual allocation, so a client cannot step through addresses);
    /// IPv4-mapped IPv6 addresses as IPv4.
    pub fn new(account: &str, address: IpAddr) -> Attempt {
        Attempt {
            account: account.to_owned(),
            address: address_key(address),
            device: None,
        }
    }

    /// From the known device `device` (the id a verified device token
    /// carries, [`LoginThrottle::known_device`](crate::throttle::LoginThrottle::known_device)).
    pub fn from_device(mut self, device: Option<Uuid>) -> Attempt {
        self.device = device;
        self
    }

    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The address as keyed: an IPv4 address, or an IPv6 `/64` network.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The known device, if any.
    pub fn device(&self) -> Option<Uuid> {
        self.device
    }
}

fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Where throttle counters live: implemented by the memory and Redis stores
/// (reached through [`Store::attempts`](super::Store::attempts)). Each method is atomic per counter;
/// `now_ms` is the caller's clock in milliseconds since the Unix epoch.
/// Counts are made when an attempt begins; see [`AttemptStore::settle`].
pub trait AttemptStore: Send + Sync + fmt::Debug {
    /// Whether `attempt` may be checked; if so, counts it against its pair
    /// (or device) counter in the same atomic step, and against its address
    /// and account counters (unknown devices only).
    fn begin<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Decision, StoreError>>;

    /// Settles `attempt` (begun with [`Decision::Go`]) that did not fail:
    /// `succeeded` resets its pair (or device) counter; otherwise (no
    /// verdict: the credential backend or the store failed, the body was
    /// refused) its pair count is taken back. Either way its address and
    /// account counts are taken back, and a counter left empty is removed.
    /// A failure needs no call: its counts stand.
    fn settle<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        succeeded: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_by_host_or_v6_network() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
    }

    #[test]
    fn waits_double_from_the_first_and_are_capped() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.doubling_ms(4, 5), 0);
        assert_eq!(p.doubling_ms(5, 5), 1000);
        assert_eq!(p.doubling_ms(6, 5), 2000);
        assert_eq!(p.doubling_ms(14, 5), 512_000);
        assert_eq!(p.doubling_ms(15, 5), 900_000);
        assert_eq!(p.doubling_ms(u32::MAX, 5), 900_000);
    }
}
