-- Shared by every script of the Redis store (prepended to each).
-- Times are integer seconds; `now` is the caller's clock, so entries get a
-- relative TTL (`until - now`) and carry their absolute `until` as value.

local function int(x)
  return string.format('%d', x)
end

-- Keeps `key` (value: its `until`) until the larger of the old and `u`, and
-- tells every instance. A `u` already past is published but not stored.
local function deny(key, u, now, ch, msg)
  local old = tonumber(redis.call('GET', key) or '0') or 0
  if u > old and u > now then
    redis.call('SET', key, int(u), 'EX', int(u - now))
  end
  redis.call('PUBLISH', ch, msg)
end

-- Removes a live session (if any) and denylists its id; returns 1 when a
-- live session was removed.
local function revoke_sid(p, sid, u, now, ch)
  local sk = p .. 'sess:' .. sid
  local f = redis.call('HMGET', sk, 'ru', 'sub')
  local live = 0
  if f[1] then
    u = math.max(u, tonumber(f[1]))
    redis.call('DEL', sk)
    redis.call('ZREM', p .. 'subj:' .. f[2], sid)
    live = 1
  end
  deny(p .. 'rsid:' .. sid, u, now, ch, 's ' .. sid .. ' ' .. int(u))
  return live, u
end
