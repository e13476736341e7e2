//! Throttle counters in this process's memory: the [`MemoryStore`]'s, and
//! the fallback of stores without counters.
//!
//! [`MemoryStore`]: crate::store::MemoryStore

use dashmap::DashMap;

use super::tally::Window;
use super::{Attempt, AttemptStore, Counter, Decision, Tally, ThrottlePolicy};
use crate::error::StoreError;
use crate::store::BoxFuture;

/// Counters a [`MemoryAttempts`] tracks at most: 100 000 (about 100 bytes
/// each with short usernames, 315 with the longest, 256 bytes: 10 to 32 MiB
/// at the cap; the `throttle_memory` benchmark measures it).
pub const DEFAULT_MAX_TRACKED: usize = 100_000;

/// Throttle counters in a concurrent map, bounded: every entry expires, and
/// at [`MemoryAttempts::new`]'s cap, the expired entries go first, then
/// entries not in a wait (a flood of new names or addresses can make a few
/// counters forget their failures, never grow memory or refuse logins).
#[derive(Debug)]
pub struct MemoryAttempts {
    table: DashMap<Box<str>, Tally>,
    max: usize,
}

impl MemoryAttempts {
    /// At most `max` counters (at least 16).
    pub fn new(max: usize) -> MemoryAttempts {
        MemoryAttempts {
            table: DashMap::new(),
            max: max.max(16),
        }
    }

    /// How many counters are tracked.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no counter is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Drops the counters expired at `now_ms`; returns how many went.
    pub fn purge(&self, now_ms: u64) -> usize {
        let before = self.table.len();
        self.table.retain(|_, t| now_ms < t.expires);
        before.saturating_sub(self.table.len())
    }

    /// Applies `f` to the counter `key` (fresh if absent or expired) and
    /// keeps the result, making room first if the table is full.
    fn update<T>(&self, key: String, now: u64, f: impl FnOnce(&mut Tally) -> T) -> T {
        if self.table.len() >= self.max && !self.table.contains_key(key.as_str()) {
            self.make_room(now);
        }
        let mut entry = self.table.entry(key.into_boxed_str()).or_default();
        let mut tally = entry.at(now);
        let out = f(&mut tally);
        *entry = tally;
        out
    }

    /// Frees a sixteenth of the table: expired counters, then counters
    /// without a running wait, then any.
    fn make_room(&self, now: u64) {
        let target = self.max - self.max / 16;
        self.purge(now);
        for spare_waits in [true, false] {
            if self.table.len() <= target {
                return;
            }
            let mut excess = self.table.len() - target;
            self.table.retain(|_, t| {
                if excess == 0 || (spare_waits && t.wait_until > now) {
                    return true;
                }
                excess -= 1;
                false
            });
        }
    }
}

fn pair_key(a: &Attempt) -> String {
    match a.device {
        Some(device) => format!("d\0{device}"),
        None => format!("p\0{}\0{}", a.address, a.account),
    }
}

fn address_key(a: &Attempt) -> String {
    format!("a\0{}", a.address)
}

fn account_key(a: &Attempt) -> String {
    format!("c\0{}", a.account)
}

impl MemoryAttempts {
    /// Applies `f` to the counter `key` if it exists, and drops it when
    /// that leaves it idle: an attempt taken back leaves nothing behind.
    fn take_back(&self, key: &str, now: u64, f: impl FnOnce(&mut Tally)) {
        let idle = match self.table.get_mut(key) {
            Some(mut entry) => {
                let mut tally = entry.at(now);
                f(&mut tally);
                *entry = tally;
                tally.is_idle()
            }
            None => false,
        };
        if idle {
            self.table.remove_if(key, |_, t| t.is_idle());
        }
    }

    /// Checks the windowed counter at `key` and, unless it refuses, counts
    /// the attempt in it: one step under the counter's lock.
    fn count_in_window(
        &self,
        key: &str,
        p: &ThrottlePolicy,
        window: Window,
        now: u64,
    ) -> Option<Decision> {
        self.update(key.to_owned(), now, |t| {
            let verdict = t.window_verdict(p, window, now);
            if verdict.is_none() {
                t.count_in_window(p, window, now);
            }
            verdict
        })
    }

    pub(crate) fn begin_now(&self, p: &ThrottlePolicy, a: &Attempt, now: u64) -> Decision {
        if a.device.is_some() {
            return self.update(pair_key(a), now, |t| {
                t.begin_consecutive(p, Counter::Device, now)
            });
        }
        // Each counter checks and counts in one step under its own lock; a
        // counter refusing after others counted takes their counts back.
        let address = address_key(a);
        if let Some(wait) = self.count_in_window(&address, p, Window::Address, now) {
            return wait;
        }
        let take_back_address =
            || self.take_back(&address, now, |t| t.take_back_in_window(p, Window::Address));
        let account = account_key(a);
        if let Some(wait) = self.count_in_window(&account, p, Window::Account, now) {
            take_back_address();
            return wait;
        }
        let decision = self.update(pair_key(a), now, |t| {
            t.begin_consecutive(p, Counter::Pair, now)
        });
        if decision != Decision::Go {
            take_back_address();
            self.take_back(&account, now, |t| t.take_back_in_window(p, Window::Account));
        }
        decision
    }

    /// Settles a begun attempt: a success resets its pair (or device)
    /// counter, an attempt without a verdict takes its count back; both
    /// take back the windowed counts (a failure keeps every count).
    pub(crate) fn settle_now(&self, p: &ThrottlePolicy, a: &Attempt, succeeded: bool, now: u64) {
        if succeeded {
            self.table.remove(pair_key(a).as_str());
        } else {
            self.take_back(&pair_key(a), now, |t| t.take_back(p));
        }
        if a.device.is_none() {
            self.take_back(&address_key(a), now, |t| {
                t.take_back_in_window(p, Window::Address)
            });
            self.take_back(&account_key(a), now, |t| {
                t.take_back_in_window(p, Window::Account)
            });
        }
    }
}

impl AttemptStore for MemoryAttempts {
    fn begin<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        let decision = self.begin_now(policy, attempt, now_ms);
        Box::pin(std::future::ready(Ok(decision)))
    }

    fn settle<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        succeeded: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.settle_now(policy, attempt, succeeded, now_ms);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(account: &str, ip: u8) -> Attempt {
        Attempt::new(account, std::net::IpAddr::from([10, 0, 0, ip]))
    }

    #[test]
    fn a_flood_of_names_stays_within_the_cap_and_keeps_the_waits() {
        let p = ThrottlePolicy::default();
        let m = MemoryAttempts::new(1000);
        let victim = attempt("alice", 1);
        for _ in 0..5 {
            m.begin_now(&p, &victim, 0);
        }
        for i in 0..10_000 {
            m.begin_now(&p, &attempt(&format!("user{i}"), 2), 0);
            assert!(m.len() <= 1000);
        }
        assert!(matches!(
            m.begin_now(&p, &victim, 10),
            Decision::Wait {
                counter: Counter::Pair,
                ..
            }
        ));
    }

    #[test]
    fn purge_drops_what_expired() {
        let p = ThrottlePolicy::default();
        let m = MemoryAttempts::new(100);
        m.begin_now(&p, &attempt("a", 1), 0);
        assert_eq!(m.len(), 3);
        let forget = u64::try_from(p.forget_after.as_millis()).unwrap();
        assert_eq!(m.purge(forget + 1), 3);
        assert!(m.is_empty());
    }

    #[test]
    fn attempts_taken_back_or_succeeded_leave_nothing() {
        let p = ThrottlePolicy::default();
        let m = MemoryAttempts::new(100);
        for i in 0..50 {
            let a = attempt(&format!("user{i}"), 1);
            assert_eq!(m.begin_now(&p, &a, 0), Decision::Go);
            m.settle_now(&p, &a, i % 2 == 0, 0);
        }
        assert!(m.is_empty(), "{} counters left", m.len());
    }
}
