//! The Lua scripts: every write of the Redis store is one of them, so it is
//! atomic across instances. Each script's work is bounded (by the session
//! cap, a batch size, or a fixed prune limit), because Redis serves nobody
//! else while a script runs. Each touches the keys of one bucket only (one
//! hash slot; see `keys.rs`), declares in `KEYS` those known before the call,
//! and gets the bucket's key base as `ARGV[1]`.

use ::redis::Script;

macro_rules! script {
    ($body:literal) => {
        concat!(include_str!("common.lua"), "\n", $body)
    };
}

/// `KEYS`: `jti:{jti}`, `idx`. `ARGV`: base, jti, until, now, channel.
const REVOKE_TOKEN: &str = script!(
    r#"
local u, now = tonumber(ARGV[3]), tonumber(ARGV[4])
deny(ARGV[1], 'jti', ARGV[2], u, now, ARGV[5], 'j ' .. ARGV[2] .. ' ' .. int(u))
return 1
"#
);

/// `KEYS`: `sess:{sid}`, `subj:{subject}`, `rsid:{sid}`, `idx`.
/// `ARGV`: base, sid, until, now, channel, subject. The session is removed
/// only if it is the subject's; the sid is denylisted either way. Returns
/// `{live, until}`.
const REVOKE_SESSION: &str = script!(
    r#"
local live, u = revoke_sid(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6])
return {int(live), int(u)}
"#
);

/// `KEYS`: `cut:{subject}`, `idx`, `subj:{subject}`.
/// `ARGV`: base, subject, cutoff, until, now, channel, batch, first.
/// On the first call records the cut-off; every call revokes up to `batch`
/// of the subject's indexed sessions, oldest first. Returns `{revoked,
/// cutoff, until, left, sid, until, ...}`: the caller calls again while
/// `left` is not 0.
const REVOKE_SUBJECT: &str = script!(
    r#"
local p, sub, c, u, now, ch = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local batch, first = tonumber(ARGV[7]), ARGV[8] == '1'
if first then
  local ck = p .. 'cut:' .. sub
  local old = redis.call('GET', ck)
  if old then
    local oc, ou = string.match(old, '^(%d+) (%d+)$')
    if oc then
      c = math.max(c, tonumber(oc))
      u = math.max(u, tonumber(ou))
    end
  end
  if u > now then
    redis.call('SET', ck, int(c) .. ' ' .. int(u), 'EX', int(u - now))
    index(p, 'cut', sub, u, now)
  end
  redis.call('PUBLISH', ch, 'c ' .. int(c) .. ' ' .. int(u) .. ' ' .. sub)
end
local sk = p .. 'subj:' .. sub
local popped = redis.call('ZPOPMIN', sk, batch)
local n = 0
local out = {'', int(c), int(u), ''}
for i = 1, #popped, 2 do
  local live, su = revoke_sid(p, popped[i], u, now, ch)
  n = n + live
  table.insert(out, popped[i])
  table.insert(out, int(su))
end
out[1] = int(n)
out[4] = int(redis.call('ZCARD', sk))
return out
"#
);

/// `KEYS`: `sess:{sid}`, `subj:{subject}`, `idx`.
/// `ARGV`: base, sid, subject, refresh jti, created, refresh expiry,
/// expiry, revoke-until, claims, now, created (ms), now (ms), cap, channel,
/// device label ('' for none).
/// Returns the sessions the cap revoked: `{sid, until, ...}`.
const CREATE_SESSION: &str = script!(
    r#"
-- How many index entries one login examines past the cap, and how many
-- sessions it revokes at most: enough for the usual one, and an oversized
-- index (left by a version without the cap, or a lowered cap) shrinks by
-- that much per login instead of in one long script.
local SWEEP = 128
local p, sid, sub, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[10])
local nowms, max, ch = tonumber(ARGV[12]), math.max(tonumber(ARGV[13]), 1), ARGV[14]
local sk = p .. 'sess:' .. sid
redis.call('HSET', sk, 'sub', sub, 'cur', ARGV[4], 'prev', '', 'created', ARGV[5], 'last', ARGV[5],
  'lastms', ARGV[11], 'rexp', ARGV[6], 'exp', ARGV[7], 'ru', ARGV[8], 'claims', ARGV[9],
  'dev', ARGV[15])
local exp = tonumber(ARGV[7])
redis.call('EXPIRE', sk, int(math.max(math.min(tonumber(ARGV[6]), exp) - now, 1)))
-- The subject's index, in login order: scored in milliseconds, one past the
-- newest on a tie, so the oldest session is first. (Millisecond scores also
-- stay above the seconds that older versions scored by and pruned below.)
local subj = p .. 'subj:' .. sub
local top = redis.call('ZRANGE', subj, -1, -1, 'WITHSCORES')
redis.call('ZADD', subj, int(math.max(nowms, (tonumber(top[2]) or 0) + 1)), sid)
-- The index lives as long as its longest session.
if redis.call('TTL', subj) < exp - now then
  redis.call('EXPIRE', subj, int(math.max(exp - now, 1)))
end
local out = {}
local n = redis.call('ZCARD', subj)
if n <= max then
  return out
end
-- Past the cap: drop the entries of sessions that ended by themselves, then
-- revoke the oldest live ones.
local sids = redis.call('ZRANGE', subj, 0, math.min(n, max + SWEEP) - 1)
local live = {}
for _, s in ipairs(sids) do
  local f = redis.call('HMGET', p .. 'sess:' .. s, 'rexp', 'exp')
  if now >= math.min(tonumber(f[1]) or 0, tonumber(f[2]) or 0) then
    redis.call('ZREM', subj, s)
    redis.call('DEL', p .. 'sess:' .. s)
    n = n - 1
  elseif s ~= sid then
    table.insert(live, s)
  end
end
local i = 1
while n > max and i <= #live and i <= SWEEP do
  local _, su = revoke_sid(p, live[i], 0, now, ch)
  redis.call('ZREM', subj, live[i])
  table.insert(out, live[i])
  table.insert(out, int(su))
  n = n - 1
  i = i + 1
end
return out
"#
);

/// `KEYS`: `sess:{sid}`, `subj:{subject}`, `rsid:{sid}`, `idx`.
/// `ARGV`: base, sid, presented, next, now, refresh ttl, grace (ms),
/// channel, now (ms), subject, claims ('' keeps the session's). A session of
/// another subject is unknown.
const ROTATE: &str = script!(
    r#"
local p, sid, presented, nxt, ch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[8]
local now, ttl, grace, nowms = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[9])
local sk = p .. 'sess:' .. sid
local f = redis.call('HMGET', sk, 'cur', 'prev', 'last', 'rexp', 'exp', 'ru', 'sub', 'lastms')
if not f[1] or f[7] ~= ARGV[10] then
  return {'unknown'}
end
local rexp, exp = tonumber(f[4]), tonumber(f[5])
-- The last rotation in ms; `last` (seconds) is still written for older
-- versions, and counts when one of them rotated last.
local lastms = math.max(tonumber(f[8] or '') or 0, (tonumber(f[3]) or 0) * 1000)
if f[1] ~= presented then
  if math.max(nowms - lastms, 0) < grace and f[2] == presented then
    return {'superseded'}
  end
  local _, u = revoke_sid(p, sid, 0, now, ch)
  return {'reused', int(u)}
end
if now >= math.min(rexp, exp) then
  redis.call('DEL', sk)
  redis.call('ZREM', p .. 'subj:' .. f[7], sid)
  return {'expired'}
end
local nrexp = math.min(now + ttl, exp)
redis.call('HSET', sk, 'cur', nxt, 'prev', presented, 'last', int(now), 'lastms', int(nowms),
  'rexp', int(nrexp))
if ARGV[11] ~= '' then
  redis.call('HSET', sk, 'claims', ARGV[11])
end
redis.call('EXPIRE', sk, int(math.max(nrexp - now, 1)))
local out = redis.call('HGETALL', sk)
table.insert(out, 1, 'rotated')
return out
"#
);

pub(super) struct Scripts {
    pub(super) revoke_token: Script,
    pub(super) revoke_session: Script,
    pub(super) revoke_subject: Script,
    pub(super) create_session: Script,
    pub(super) rotate: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            revoke_token: Script::new(REVOKE_TOKEN),
            revoke_session: Script::new(REVOKE_SESSION),
            revoke_subject: Script::new(REVOKE_SUBJECT),
            create_session: Script::new(CREATE_SESSION),
            rotate: Script::new(ROTATE),
        }
    }
}
