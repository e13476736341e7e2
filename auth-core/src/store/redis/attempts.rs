//! The login throttle's counters in Redis, shared by every instance: each
//! counter is a hash (`n`, `since`, `wait`, times in ms) with a TTL, so all
//! of it expires. The rules are those of `throttle/tally.rs`.
//!
//! An account's pair, device and account counters share the account's
//! bucket (one hash slot), so one script decides a begin atomically; the
//! address counter lives in the address's bucket and is read first.
//! Throttling fails closed: when Redis cannot answer, the login is refused
//! with the store's error (a 503), never let through unchecked.

use ::redis::Script;

use super::{RedisStore, error, keys};
use crate::error::StoreError;
use crate::store::BoxFuture;
use crate::throttle::{Attempt, AttemptStore, Counter, Decision, ThrottlePolicy, millis};

/// `KEYS`: the pair (or device) counter, the account counter.
/// `ARGV`: now, known device (`1`/`0`), free failures, max wait, forget
/// after, account limit, account window. Returns `{0, 0}` to go, else
/// `{1, ms}` (the pair or device waits) or `{2, ms}` (the account waits).
const BEGIN: &str = r#"
local now = tonumber(ARGV[1])
if ARGV[2] == '0' then
  local c = redis.call('HMGET', KEYS[2], 'n', 'since')
  local n, since = tonumber(c[1] or '0'), tonumber(c[2] or '0')
  local ends = since + tonumber(ARGV[7])
  if n >= tonumber(ARGV[6]) and now < ends then
    return {2, ends - now}
  end
end
local t = redis.call('HMGET', KEYS[1], 'n', 'wait')
local wait = tonumber(t[2] or '0')
if wait > now then
  return {1, wait - now}
end
local n = tonumber(t[1] or '0') + 1
local free = tonumber(ARGV[3])
wait = 0
if n >= free then
  wait = now + math.min(1000 * 2 ^ math.min(n - free, 30), tonumber(ARGV[4]))
end
redis.call('HSET', KEYS[1], 'n', n, 'wait', string.format('%d', wait))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(wait, now) + tonumber(ARGV[5]) - now))
return {0, 0}
"#;

/// `KEYS`: a windowed counter (address or account). `ARGV`: now, window,
/// the failure of the window that starts waiting (0: never), max wait.
/// Returns the window's failures.
const FAIL_IN_WINDOW: &str = r#"
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('HMGET', KEYS[1], 'n', 'since', 'wait')
local n, since, wait = tonumber(t[1] or '0'), tonumber(t[2] or '0'), tonumber(t[3] or '0')
if n == 0 or now >= since + window then
  n = 0
  since = now
end
n = n + 1
local first = tonumber(ARGV[3])
if first > 0 and n >= first then
  wait = now + math.min(1000 * 2 ^ math.min(n - first, 30), tonumber(ARGV[4]))
end
redis.call('HSET', KEYS[1], 'n', n, 'since', string.format('%d', since),
  'wait', string.format('%d', wait))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(since + window, wait) - now))
return n
"#;

/// `KEYS`: the pair (or device) counter. `ARGV`: free failures. Takes back
/// a begin's count, and its wait if the count no longer reaches one.
const TAKE_BACK: &str = r#"
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n <= 0 then
  return 0
end
n = redis.call('HINCRBY', KEYS[1], 'n', -1)
if n < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'wait', '0')
end
return n
"#;

pub(super) struct AttemptScripts {
    begin: Script,
    fail_in_window: Script,
    take_back: Script,
}

impl AttemptScripts {
    pub(super) fn new() -> Self {
        AttemptScripts {
            begin: Script::new(BEGIN),
            fail_in_window: Script::new(FAIL_IN_WINDOW),
            take_back: Script::new(TAKE_BACK),
        }
    }
}

impl RedisStore {
    fn pair_key(&self, a: &Attempt) -> String {
        let p = keys::base_of(&self.inner.prefix, a.account());
        match a.device() {
            Some(device) => format!("{p}thr:d:{device}"),
            None => format!("{p}thr:p:{}|{}", a.address(), a.account()),
        }
    }

    fn account_key(&self, a: &Attempt) -> String {
        let p = keys::base_of(&self.inner.prefix, a.account());
        format!("{p}thr:c:{}", a.account())
    }

    fn address_key(&self, a: &Attempt) -> String {
        let p = keys::base_of(&self.inner.prefix, a.address());
        format!("{p}thr:a:{}", a.address())
    }

    async fn begin_attempt(
        &self,
        policy: &ThrottlePolicy,
        a: &Attempt,
        now: u64,
    ) -> Result<Decision, StoreError> {
        self.inner.writable("throttle logins")?;
        let mut conn = self.inner.conn.clone();
        if a.device().is_none() {
            let wait: Option<u64> = ::redis::cmd("HGET")
                .arg(self.address_key(a))
                .arg("wait")
                .query_async(&mut conn)
                .await
                .map_err(error)?;
            if let Some(wait) = wait.filter(|&w| w > now) {
                return Ok(Decision::wait(Counter::Address, wait - now));
            }
        }
        let (verdict, ms): (u8, u64) = self
            .inner
            .attempt_scripts
            .begin
            .key(self.pair_key(a))
            .key(self.account_key(a))
            .arg(now)
            .arg(if a.device().is_some() { "1" } else { "0" })
            .arg(policy.free_failures)
            .arg(millis(policy.max_wait))
            .arg(millis(policy.forget_after))
            .arg(policy.account_failures)
            .arg(millis(policy.account_window))
            .invoke_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(match (verdict, a.device()) {
            (0, _) => Decision::Go,
            (2, _) => Decision::wait(Counter::Account, ms),
            (_, Some(_)) => Decision::wait(Counter::Device, ms),
            (_, None) => Decision::wait(Counter::Pair, ms),
        })
    }

    async fn fail_in_window(
        &self,
        key: String,
        window: u64,
        first_wait: u32,
        policy: &ThrottlePolicy,
        now: u64,
    ) -> Result<(), StoreError> {
        let _: u64 = self
            .inner
            .attempt_scripts
            .fail_in_window
            .key(key)
            .arg(now)
            .arg(window)
            .arg(first_wait)
            .arg(millis(policy.max_wait))
            .invoke_async(&mut self.inner.conn.clone())
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn attempt_failed(
        &self,
        policy: &ThrottlePolicy,
        a: &Attempt,
        now: u64,
    ) -> Result<(), StoreError> {
        self.inner.writable("throttle logins")?;
        if a.device().is_some() {
            return Ok(());
        }
        let address = self.fail_in_window(
            self.address_key(a),
            millis(policy.address_window),
            policy.address_failures.saturating_add(1),
            policy,
            now,
        );
        let account = self.fail_in_window(
            self.account_key(a),
            millis(policy.account_window),
            0,
            policy,
            now,
        );
        let (address, account) = tokio::join!(address, account);
        address.and(account)
    }

    async fn attempt_abandoned(
        &self,
        policy: &ThrottlePolicy,
        a: &Attempt,
    ) -> Result<(), StoreError> {
        self.inner.writable("throttle logins")?;
        let _: i64 = self
            .inner
            .attempt_scripts
            .take_back
            .key(self.pair_key(a))
            .arg(policy.free_failures)
            .invoke_async(&mut self.inner.conn.clone())
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn attempt_succeeded(&self, a: &Attempt) -> Result<(), StoreError> {
        self.inner.writable("throttle logins")?;
        let _: u64 = ::redis::cmd("DEL")
            .arg(self.pair_key(a))
            .query_async(&mut self.inner.conn.clone())
            .await
            .map_err(error)?;
        Ok(())
    }
}

impl AttemptStore for RedisStore {
    fn begin<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(self.begin_attempt(policy, attempt, now_ms))
    }

    fn failed<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.attempt_failed(policy, attempt, now_ms))
    }

    fn succeeded<'a>(&'a self, attempt: &'a Attempt) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.attempt_succeeded(attempt))
    }

    fn abandoned<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        _now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.attempt_abandoned(policy, attempt))
    }
}
