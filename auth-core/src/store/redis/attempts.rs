//! The login throttle's counters in Redis, shared by every instance: each
//! counter is a hash (`n`, `since`, `wait`, times in ms) with a TTL, so all
//! of it expires, and a counter taken back to nothing is deleted. The rules
//! are those of `throttle/tally.rs`.
//!
//! An account's pair, device and account counters share the account's
//! bucket (one hash slot), so one script decides them atomically; the
//! address counter lives in the address's bucket and has a script of its
//! own, run first (an attempt it lets through and the account's script then
//! refuses is taken back there). Throttling fails closed: when Redis cannot
//! answer, the login is refused with the store's error (a 503), never let
//! through unchecked.

use ::redis::Script;

use super::{RedisStore, error, keys};
use crate::error::StoreError;
use crate::store::BoxFuture;
use crate::store::attempts::{Attempt, AttemptStore, Counter, Decision, ThrottlePolicy, millis};

/// Prepended to every script: counting one attempt in a fixed window, and
/// taking a count back (the key deleted when nothing is left).
const COMMON: &str = r#"
local function count_in_window(k, now, window, first, max_wait, address)
  local t = redis.call('HMGET', k, 'n', 'since', 'wait')
  local n, since, wait = tonumber(t[1] or '0'), tonumber(t[2] or '0'), tonumber(t[3] or '0')
  if n == 0 or now >= since + window then
    n = 0
    since = now
  end
  n = n + 1
  if address then
    if n >= first then
      wait = now + math.min(1000 * 2 ^ math.min(n - first, 30), max_wait)
    end
  elseif n >= first then
    wait = since + window
  end
  redis.call('HSET', k, 'n', n, 'since', string.format('%d', since),
    'wait', string.format('%d', wait))
  redis.call('PEXPIRE', k, string.format('%d', math.max(since + window, wait) - now))
end

local function take_back(k, first)
  local n = tonumber(redis.call('HGET', k, 'n') or '0')
  if n <= 0 then
    return
  end
  n = redis.call('HINCRBY', k, 'n', -1)
  if n <= 0 then
    redis.call('DEL', k)
  elseif n < first then
    redis.call('HSET', k, 'wait', '0')
  end
end
"#;

/// `KEYS`: the address counter. `ARGV`: now, window, the count from which
/// it waits, max wait. Returns `{0, 0}` (counted) or `{1, ms}` (waiting).
const BEGIN_ADDRESS: &str = r#"
local now = tonumber(ARGV[1])
local wait = tonumber(redis.call('HGET', KEYS[1], 'wait') or '0')
if wait > now then
  return {1, wait - now}
end
count_in_window(KEYS[1], now, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), true)
return {0, 0}
"#;

/// `KEYS`: the pair (or device) counter, the account counter.
/// `ARGV`: now, known device (`1`/`0`), free failures, max wait, forget
/// after, account limit, account window. Returns `{0, 0}` to go (counted),
/// else `{1, ms}` (the pair or device waits) or `{2, ms}` (the account
/// waits), counting nothing.
const BEGIN_ACCOUNT: &str = r#"
local now = tonumber(ARGV[1])
local known = ARGV[2] == '1'
local limit, window = tonumber(ARGV[6]), tonumber(ARGV[7])
if not known then
  local c = redis.call('HMGET', KEYS[2], 'n', 'since')
  local n, since = tonumber(c[1] or '0'), tonumber(c[2] or '0')
  local ends = since + window
  if n >= limit and now < ends then
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
if not known then
  count_in_window(KEYS[2], now, window, limit, 0, false)
end
return {0, 0}
"#;

/// `KEYS`: the pair (or device) counter, the account counter. `ARGV`:
/// succeeded (`1`/`0`), known device, free failures, account limit. A
/// success deletes the pair, anything else takes its count back; the
/// account count is taken back either way.
const SETTLE_ACCOUNT: &str = r#"
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
else
  take_back(KEYS[1], tonumber(ARGV[3]))
end
if ARGV[2] == '0' then
  take_back(KEYS[2], tonumber(ARGV[4]))
end
return 0
"#;

/// `KEYS`: a counter. `ARGV`: the count from which it waits.
const TAKE_BACK: &str = r#"
take_back(KEYS[1], tonumber(ARGV[1]))
return 0
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

pub(super) struct AttemptScripts {
    begin_address: Script,
    begin_account: Script,
    settle_account: Script,
    take_back: Script,
}

impl AttemptScripts {
    pub(super) fn new() -> Self {
        AttemptScripts {
            begin_address: script(BEGIN_ADDRESS),
            begin_account: script(BEGIN_ACCOUNT),
            settle_account: script(SETTLE_ACCOUNT),
            take_back: script(TAKE_BACK),
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

    async fn take_back_address(&self, p: &ThrottlePolicy, a: &Attempt) -> Result<(), StoreError> {
        let _: i64 = self
            .inner
            .attempt_scripts
            .take_back
            .key(self.address_key(a))
            .arg(p.address_failures.saturating_add(1))
            .invoke_async(&mut self.inner.conn.clone())
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn begin_attempt(
        &self,
        p: &ThrottlePolicy,
        a: &Attempt,
        now: u64,
    ) -> Result<Decision, StoreError> {
        self.inner.writable("throttle logins")?;
        let mut conn = self.inner.conn.clone();
        let known = a.device().is_some();
        if !known {
            let answer: Result<(u8, u64), StoreError> = self
                .inner
                .attempt_scripts
                .begin_address
                .key(self.address_key(a))
                .arg(now)
                .arg(millis(p.address_window))
                .arg(p.address_failures.saturating_add(1))
                .arg(millis(p.max_wait))
                .invoke_async(&mut conn)
                .await
                .map_err(error);
            match answer {
                Ok((0, _)) => {}
                Ok((_, ms)) => return Ok(Decision::wait(Counter::Address, ms)),
                Err(e) => {
                    // A script that timed out may still run: what it counted
                    // goes back (after it, on the same connection).
                    let _ = self.take_back_address(p, a).await;
                    return Err(e);
                }
            }
        }
        let answer: Result<(u8, u64), StoreError> = self
            .inner
            .attempt_scripts
            .begin_account
            .key(self.pair_key(a))
            .key(self.account_key(a))
            .arg(now)
            .arg(if known { "1" } else { "0" })
            .arg(p.free_failures)
            .arg(millis(p.max_wait))
            .arg(millis(p.forget_after))
            .arg(p.account_failures)
            .arg(millis(p.account_window))
            .invoke_async(&mut conn)
            .await
            .map_err(error);
        let decision = match answer {
            Ok((0, _)) => return Ok(Decision::Go),
            Ok((2, ms)) => Ok(Decision::wait(Counter::Account, ms)),
            Ok((_, ms)) if known => Ok(Decision::wait(Counter::Device, ms)),
            Ok((_, ms)) => Ok(Decision::wait(Counter::Pair, ms)),
            Err(e) => {
                // As above: the pair and account counts it may have made go
                // back too.
                let _ = self.settle_account(p, a, false).await;
                Err(e)
            }
        };
        // Refused (or failed) past the address counter: its count goes back.
        if !known {
            self.take_back_address(p, a).await?;
        }
        decision
    }

    /// Settles the account slot's counters: a success deletes the pair
    /// (or device) counter, anything else takes its count back; the
    /// account count goes back either way.
    async fn settle_account(
        &self,
        p: &ThrottlePolicy,
        a: &Attempt,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        let known = a.device().is_some();
        let _: i64 = self
            .inner
            .attempt_scripts
            .settle_account
            .key(self.pair_key(a))
            .key(self.account_key(a))
            .arg(if succeeded { "1" } else { "0" })
            .arg(if known { "1" } else { "0" })
            .arg(p.free_failures)
            .arg(p.account_failures)
            .invoke_async(&mut self.inner.conn.clone())
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn settle_attempt(
        &self,
        p: &ThrottlePolicy,
        a: &Attempt,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        self.inner.writable("throttle logins")?;
        let account = self.settle_account(p, a, succeeded);
        let address = async {
            if a.device().is_some() {
                return Ok(());
            }
            self.take_back_address(p, a).await
        };
        let (account, address) = tokio::join!(account, address);
        account.and(address)
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

    fn settle<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        succeeded: bool,
        _now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.settle_attempt(policy, attempt, succeeded))
    }
}
