//! Where the current time comes from.
//!
//! Every time check in this crate (`exp`, `nbf`, session lifetimes, the reuse
//! grace, the purge of expired store entries) reads a [`Clock`], so tests move
//! time forward instead of sleeping. Production code uses [`SystemClock`], the
//! default.
//!
//! ```
//! use auth_core::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now > 1_600_000_000, "seconds since the Unix epoch");
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time since the Unix epoch: whole seconds (the
/// resolution of the JWT `exp`, `nbf` and `iat` claims) and milliseconds (the
/// resolution of the reuse grace).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> u64;

    /// The current time in milliseconds since the Unix epoch; `now()` must
    /// equal `now_millis() / 1000`. The default, `now() * 1000`, suits a
    /// clock that only knows seconds, but then a reuse grace is only as
    /// precise as a second: implement it when the clock knows better.
    fn now_millis(&self) -> u64 {
        self.now().saturating_mul(1000)
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        self.now_millis() / 1000
    }

    fn now_millis(&self) -> u64 {
        // A clock set before 1970 reads as the epoch: every token then looks
        // not-yet-valid, which fails closed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to, for tests (feature `testing`). It
/// keeps milliseconds, so a test can step across a reuse grace by one.
///
/// ```
/// use std::time::Duration;
/// use auth_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_700_000_000);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), 1_700_000_090);
/// clock.advance(Duration::from_millis(999));
/// assert_eq!(clock.now(), 1_700_000_090);
/// assert_eq!(clock.now_millis(), 1_700_000_090_999);
/// ```
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct ManualClock {
    /// Milliseconds since the Unix epoch.
    now_ms: std::sync::atomic::AtomicU64,
}

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock that reads `now` (seconds since the Unix epoch) until moved.
    pub fn new(now: u64) -> Self {
        Self {
            now_ms: std::sync::atomic::AtomicU64::new(now.saturating_mul(1000)),
        }
    }

    /// A clock that starts at the current system time (to the millisecond).
    pub fn starting_now() -> Self {
        let clock = Self::new(0);
        clock.set_millis(SystemClock.now_millis());
        clock
    }

    /// Moves the clock forward by `by` (whole milliseconds; finer fractions
    /// are dropped).
    pub fn advance(&self, by: std::time::Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self.now_ms.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |now| Some(now.saturating_add(ms)),
        );
    }

    /// Sets the clock to `now` seconds since the Unix epoch (on the second).
    pub fn set(&self, now: u64) {
        self.set_millis(now.saturating_mul(1000));
    }

    /// Sets the clock to `now_ms` milliseconds since the Unix epoch.
    pub fn set_millis(&self, now_ms: u64) {
        self.now_ms
            .store(now_ms, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now_millis() / 1000
    }

    fn now_millis(&self) -> u64 {
        self.now_ms.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }

    fn now_millis(&self) -> u64 {
        (**self).now_millis()
    }
}
