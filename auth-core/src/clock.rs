//! Where the current time comes from.
//!
//! Every time check in this crate (`exp`, `nbf`, session lifetimes, the purge of
//! expired store entries) reads a [`Clock`], so tests move time forward instead
//! of sleeping. Production code uses [`SystemClock`], the default.
//!
//! ```
//! use auth_core::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now > 1_600_000_000, "seconds since the Unix epoch");
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch (the
/// resolution of the JWT `exp`, `nbf` and `iat` claims).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock set before 1970 reads as the epoch: every token then looks
        // not-yet-valid, which fails closed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that only moves when told to, for tests (feature `testing`).
///
/// ```
/// use std::time::Duration;
/// use auth_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_700_000_000);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), 1_700_000_090);
/// ```
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct ManualClock {
    now: std::sync::atomic::AtomicU64,
}

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock that reads `now` (seconds since the Unix epoch) until moved.
    pub fn new(now: u64) -> Self {
        Self {
            now: std::sync::atomic::AtomicU64::new(now),
        }
    }

    /// A clock that starts at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward by `by` (whole seconds; fractions are dropped).
    pub fn advance(&self, by: std::time::Duration) {
        self.now
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Sets the clock to `now` seconds since the Unix epoch.
    pub fn set(&self, now: u64) {
        self.now.store(now, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
