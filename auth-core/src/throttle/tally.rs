//! One counter's state and its rules, as the memory store applies them. The
//! Redis store's scripts (`store/redis/attempts.rs`) apply the same rules;
//! the store suite checks both.

use super::{Counter, Decision, ThrottlePolicy, millis};

/// A counter: `n` failures since `since`, a wait until `wait_until`, all of
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

    /// Takes back a begin's count, and its wait if the count no longer
    /// reaches one.
    pub(crate) fn take_back(&mut self, policy: &ThrottlePolicy) {
        self.n = self.n.saturating_sub(1);
        if self.n < policy.free_failures {
            self.wait_until = 0;
        }
    }

    /// The account counter's verdict: past its limit within its window,
    /// unknown devices wait until the window ends.
    pub(crate) fn account_verdict(&self, policy: &ThrottlePolicy, now: u64) -> Option<Decision> {
        let ends = self.since.saturating_add(millis(policy.account_window));
        (self.n >= policy.account_failures && now < ends)
            .then(|| Decision::wait(Counter::Account, ends - now))
    }

    /// One more failure in a fixed window of `window` ms starting at the
    /// first failure; with `first_wait`, the `first_wait`th failure of the
    /// window and later start a doubling wait.
    pub(crate) fn fail_in_window(
        &mut self,
        policy: &ThrottlePolicy,
        window: u64,
        first_wait: Option<u32>,
        now: u64,
    ) {
        if self.n == 0 || now >= self.since.saturating_add(window) {
            self.n = 0;
            self.since = now;
        }
        self.n = self.n.saturating_add(1);
        if let Some(first) = first_wait {
            let wait = policy.doubling_ms(self.n, first);
            if wait > 0 {
                self.wait_until = now.saturating_add(wait);
            }
        }
        self.expires = self.since.saturating_add(window).max(self.wait_until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn a_window_starts_at_its_first_failure_and_restarts_after_it() {
        let p = ThrottlePolicy::default();
        let mut t = Tally::default();
        t.fail_in_window(&p, 10_000, Some(3), 5);
        t.fail_in_window(&p, 10_000, Some(3), 6);
        assert_eq!((t.n, t.since, t.wait_until), (2, 5, 0));
        t.fail_in_window(&p, 10_000, Some(3), 7);
        assert_eq!(t.wait_until, 1007);
        let t = t.at(10_005);
        assert_eq!(t, Tally::default(), "forgotten when the window ends");
    }
}
