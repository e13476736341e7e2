-- Shared by every script of the Redis store (prepended to each).
-- Times are integer seconds, or milliseconds where the name says `ms`; `now`
-- is the caller's clock, so entries get a relative TTL (`until - now`) and
-- carry their absolute `until` as value.
--
-- `p` is the base of one bucket's keys, `{prefix}{bbb}:`: the braces make
-- `bbb` the hash tag, so every key a script builds from `p` is in the slot
-- of the keys it declares in KEYS (which Redis Cluster routes it by and
-- checks are local). Keys known before the call are declared; the rest
-- (other sessions of the same subject) share the tag.

local function int(x)
  return string.format('%d', x)
end

-- At most this many expired entries are dropped from a revocation index per
-- write: the index shrinks faster than it grows, and no call does unbounded
-- work.
local PRUNE = 32

-- Records the revocation `{kind}:{id}` (`kind`: `jti`, `rsid` or `cut`)
-- until `u` in the bucket's revocation index: a sorted set scored by
-- `until`, whose members are the revocation keys' names, so a resync reads
-- the live revocations and nothing else, however many sessions there are.
-- Drops a few expired entries, and keeps the index as long as its longest
-- entry.
local function index(p, kind, id, u, now)
  local ik = p .. 'idx'
  redis.call('ZADD', ik, 'GT', int(u), kind .. ':' .. id)
  local dead = redis.call('ZRANGEBYSCORE', ik, '-inf', int(now), 'LIMIT', 0, PRUNE)
  if #dead > 0 then
    redis.call('ZREM', ik, unpack(dead))
  end
  local last = redis.call('ZRANGE', ik, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('EXPIRE', ik, int(math.max(tonumber(last[2]) - now, 1)))
  end
end

-- Keeps `{p}{kind}:{id}` (value: its `until`) until the larger of the old and
-- `u`, indexes it, and tells every instance. A `u` already past is published
-- but not stored.
local function deny(p, kind, id, u, now, ch, msg)
  local key = p .. kind .. ':' .. id
  local old = tonumber(redis.call('GET', key) or '0') or 0
  if u > old and u > now then
    redis.call('SET', key, int(u), 'EX', int(u - now))
  end
  if u > now then
    index(p, kind, id, u, now)
  end
  redis.call('PUBLISH', ch, msg)
end

-- Removes a live session (if any, and only if it belongs to `owner` when
-- one is given) and denylists its id; returns 1 when a live session was
-- removed, and the `until` of its revocation.
local function revoke_sid(p, sid, u, now, ch, owner)
  local sk = p .. 'sess:' .. sid
  local f = redis.call('HMGET', sk, 'ru', 'sub')
  local live = 0
  if f[1] and (owner == nil or f[2] == owner) then
    u = math.max(u, tonumber(f[1]) or 0)
    redis.call('DEL', sk)
    if f[2] then
      redis.call('ZREM', p .. 'subj:' .. f[2], sid)
    end
    live = 1
  end
  deny(p, 'rsid', sid, u, now, ch, 's ' .. sid .. ' ' .. int(u))
  return live, u
end
