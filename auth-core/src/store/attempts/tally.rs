//! One counter's state and its rules, as the memory store applies them. The
//! Redis store's scripts (`store/redis/attempts.rs`) apply the same rules;
//! the store suite checks both.
//!
//! Every counter counts an attempt when it **begins** (so concurrent
//! attempts cannot slip past a limit while earlier ones are being hashed);
//! a success or an attempt without a verdict takes its count back.

use super::{Counter, Decision, ThrottlePolicy, millis};

/// A counter: `n` attempts since `since`, a wait until `wait_until`, all of
/// it forgotten at `expires` (times in ms since the Unix epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) n: u32,
    pub(crate) since: u64,
    pub(crate) wait_until: u64,
    pub(crate) expires: u64,
}

impl Tally {
    /// The tally as of `now`: an expired one is a fresh one.
    pub(crate) fn at(self, now: u64) -> Tally {
        if now >= self.expires {
            Tally::default()
        } else {
            self
        }
    }

    /// A refusal while a wait runs.
    pub(crate) fn waiting(&self, counter: Counter, now: u64) -> Option<Decision> {
        (self.wait_until > now).then(|| Decision::wait(counter, self.wait_until - now))
    }

    /// Whether the counter holds nothing worth keeping.
    pub(crate) fn is_idle(&self) -> bool {
        self.n == 0 && self.wait_until == 0
    }

    /// A pair or device counter's begin: refused during a wait, else the
    /// attempt counts as a failure until it succeeds; the `free`th and later
    /// start a doubling wait.
    pub(crate) fn begin_consecutive(
        &mut self,
        policy: &ThrottlePolicy,
        counter: Counter,
        now: u64,
    ) -> Decision {
        if let Some(wait) = self.waiting(counter, now) {
            return wait;
        }
        self.n = self.n.saturating_add(1);
        let wait = policy.doubling_ms(self.n, policy.free_failures);
        self.wait_until = if wait > 0 {
            now.saturating_add(wait)
        } else {
            0
        };
        self.expires = self
            .wait_until
            .max(now)
            .saturating_add(millis(policy.forget_after));
        Decision::Go
    }

    /// Takes back a pair or device begin's count, and its wait if the count
    /// no longer reaches one.
    pub(crate) fn take_back(&mut self, policy: &ThrottlePolicy) {
        self.n = self.n.saturating_sub(1);
        if self.n < policy.free_failures {
            self.wait_until = 0;
        }
    }

    /// A windowed counter's refusal, if it refuses.
    pub(crate) fn window_verdict(
        &self,
        policy: &ThrottlePolicy,
        kind: Window,
        now: u64,
    ) -> Option<Decision> {
        match kind {
            Window::Address => self.waiting(Counter::Address, now),
            Window::Account => {
                let ends = self.since.saturating_add(kind.length(policy));
                (self.n >= policy.account_failures && now < ends)
                    .then(|| Decision::wait(Counter::Account, ends - now))
            }
        }
    }

    /// Counts one attempt in a fixed window starting at the window's first
    /// attempt. An address past its limit starts a doubling wait; an
    /// account at its limit is marked waiting until the window ends (so
    /// that a full table spares it).
    pub(crate) fn count_in_window(&mut self, policy: &ThrottlePolicy, kind: Window, now: u64) {
        let window = kind.length(policy);
        if self.n == 0 || now >= self.since.saturating_add(window) {
            self.n = 0;
            self.since = now;
        }
        self.n = self.n.saturating_add(1);
        let first = kind.first_wait(policy);
        match kind {
            Window::Address => {
                let wait = policy.doubling_ms(self.n, first);
                if wait > 0 {
                    self.wait_until = now.saturating_add(wait);
                }
            }
            Window::Account if self.n >= first => {
                self.wait_until = self.since.saturating_add(window);
            }
            Window::Account => {}
        }
        self.expires = self.since.saturating_add(window).max(self.wait_until);
    }

    /// Takes back a windowed count, and the wait if the count no longer
    /// reaches one.
    pub(crate) fn take_back_in_window(&mut self, policy: &ThrottlePolicy, kind: Window) {
        self.n = self.n.saturating_sub(1);
        if self.n < kind.first_wait(policy) {
            self.wait_until = 0;
        }
    }
}

/// The two windowed counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// One address, all accounts: a doubling wait past its limit.
    Address,
    /// One account, all addresses: unknown devices wait out the window.
    Account,
}

impl Window {
    /// The window's length in ms.
    pub(crate) fn length(self, policy: &ThrottlePolicy) -> u64 {
        match self {
            Window::Address => millis(policy.address_window),
            Window::Account => millis(policy.account_window),
        }
    }

    /// The count from which the counter refuses.
    pub(crate) fn first_wait(self, policy: &ThrottlePolicy) -> u32 {
        match self {
            Window::Address => policy.address_failures.saturating_add(1),
            Window::Account => policy.account_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_pair_waits_from_its_fifth_failure_and_refusals_are_not_counted() {
        let p = ThrottlePolicy::default();
        let mut t = Tally::default();
        for _ in 0..4 {
            assert_eq!(t.begin_consecutive(&p, Counter::Pair, 0), Decision::Go);
        }
        assert_eq!(t.wait_until, 0);
        assert_eq!(t.begin_consecutive(&p, Counter::Pair, 0), Decision::Go);
        assert_eq!(t.wait_until, 1000);
        assert_eq!(
            t.begin_consecutive(&p, Counter::Pair, 400),
            Decision::wait(Counter::Pair, 600)
        );
        assert_eq!(t.n, 5, "a refused attempt is not counted");
        assert_eq!(t.begin_consecutive(&p, Counter::Pair, 1000), Decision::Go);
        assert_eq!(t.wait_until, 3000, "the sixth failure costs 2 s");
        t.take_back(&p);
        assert_eq!((t.n, t.wait_until), (5, 3000), "still past the free ones");
    }

    #[test]
    fn a_window_starts_at_its_first_attempt_and_restarts_after_it() {
        let p = ThrottlePolicy::default().address_failures(2, Duration::from_secs(10));
        let mut t = Tally::default();
        t.count_in_window(&p, Window::Address, 5);
        t.count_in_window(&p, Window::Address, 6);
        assert_eq!((t.n, t.since, t.wait_until), (2, 5, 0));
        t.count_in_window(&p, Window::Address, 7);
        assert_eq!(t.wait_until, 1007);
        t.take_back_in_window(&p, Window::Address);
        assert_eq!((t.n, t.wait_until), (2, 0), "taken back with its wait");
        let t = t.at(10_005);
        assert_eq!(t, Tally::default(), "forgotten when the window ends");
    }

    #[test]
    fn an_account_at_its_limit_is_marked_waiting_until_its_window_ends() {
        let p = ThrottlePolicy::default().account_failures(2, Duration::from_secs(10));
        let mut t = Tally::default();
        t.count_in_window(&p, Window::Account, 0);
        assert_eq!(t.window_verdict(&p, Window::Account, 1), None);
        t.count_in_window(&p, Window::Account, 1);
        assert_eq!(t.wait_until, 10_000);
        assert_eq!(
            t.window_verdict(&p, Window::Account, 4000),
            Some(Decision::wait(Counter::Account, 6000))
        );
    }
}
