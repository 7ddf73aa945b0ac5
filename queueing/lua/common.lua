-- Shared by every queue script (prepended to each, after the constants from queueing.keys).
-- KEYS follow queueing.keys.RoomKeys.as_list().
local WAITING, ACTIVE, PLACES, ARRIVALS, ADMISSIONS, STATS, DRAW, FREE, WAITS, SWEEP, ENDS =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
  KEYS[11]
local HISTORY = KEYS[12]
-- The poll hashes' names are made here, as queueing.keys.RoomKeys.poll makes them: they share
-- the room's hash tag, so a made name stays on the room's Redis Cluster slot.
local POLLS = string.sub(WAITING, 1, -9) .. ':poll:'

-- Redis's clock, not the callers': web and beat processes on several hosts agree on one time.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Redis turns a Lua number into text with 14 digits; scores here need all of theirs.
local function int(x)
  return string.format('%d', x)
end

local function poll_key(uid)
  return POLLS .. math.floor(tonumber(uid) / POLL_BUCKET)
end

-- A place's "<joined ms>:<last poll ms>[:<ms its poll allowance runs ahead>]": joined, last
-- poll, ahead (0 when absent); nil when there is none.
local function poll_get(uid)
  local entry = redis.call('HGET', poll_key(uid), uid)
  if not entry then
    return nil
  end
  local joined, polled, ahead = string.match(entry, '^(%d+):(%d+):?(%d*)$')
  return tonumber(joined), tonumber(polled), tonumber(ahead) or 0
end

local function poll_set(uid, joined, polled, ahead)
  local entry = string.format('%d:%d', joined, polled)
  if ahead and ahead > 0 then
    entry = entry .. ':' .. string.format('%d', ahead)
  end
  redis.call('HSET', poll_key(uid), uid, entry)
end

-- A poll's allowance (GCRA): one poll per POLL_MS, `burst` polls ahead of that; a burst below 0
-- lifts the limit. Returns the ms to wait (the poll is refused and nothing changes), or 0 once
-- the poll is recorded as the place's sign of life.
local function poll_take(uid, now, burst)
  local joined, polled, ahead = poll_get(uid)
  local due = now
  if polled then
    due = math.max(now, polled + ahead)
  end
  if burst >= 0 then
    if due - now > burst * POLL_MS then
      return due - now - burst * POLL_MS
    end
    due = due + POLL_MS
  end
  poll_set(uid, joined or now, now, due - now)
  return 0
end

-- When an admitted user's slot lapses: `idle_ms` from now while they hold nothing (0: never
-- sooner than the session's end), never past the session's end `ends`.
local function slot_deadline(now, ends, idle_ms)
  if idle_ms > 0 then
    return math.min(ends, now + idle_ms)
  end
  return ends
end

-- Admit a user: a slot until the idle deadline, the session's end kept for a hold to extend to.
local function admit(uid, stamp, now, session_ms, idle_ms)
  local ends = now + session_ms
  local deadline = slot_deadline(now, ends, idle_ms)
  redis.call('ZADD', ACTIVE, int(deadline), uid)
  redis.call('HSET', PLACES, uid, stamp)
  redis.call('HSET', ENDS, uid, int(ends))
  return deadline
end

-- Remove every trace of a user's place, waiting or active.
local function forget(uid)
  redis.call('ZREM', WAITING, uid)
  redis.call('ZREM', ACTIVE, uid)
  redis.call('HDEL', PLACES, uid)
  redis.call('HDEL', ENDS, uid)
  redis.call('HDEL', poll_key(uid), uid)
end

-- 'active', session end | 'waiting', last poll | nil when the user has no live place with
-- `stamp` (any place when stamp is nil). A place whose time ran out is removed here unless
-- `keep` (the gate changes nothing; the tick sweeps it).
local function live_place(uid, stamp, now, abandon_ms, keep)
  local held = redis.call('HGET', PLACES, uid)
  if held then
    if stamp and tonumber(held) ~= stamp then
      return nil
    end
    local ends = tonumber(redis.call('ZSCORE', ACTIVE, uid) or '0')
    if ends > now then
      return 'active', ends, tonumber(held)
    end
    if not keep then
      forget(uid)
    end
    return nil
  end
  local score = redis.call('ZSCORE', WAITING, uid)
  if not score or (stamp and tonumber(score) ~= stamp) then
    return nil
  end
  local _, polled = poll_get(uid)
  if polled and polled > now - abandon_ms then
    return 'waiting', polled, tonumber(score)
  end
  if not keep then
    forget(uid)
    redis.call('HINCRBY', STATS, 'abandoned_total', 1)
  end
  return nil
end

local function position(uid)
  return redis.call('ZRANK', WAITING, uid) + 1
end

local function rate()
  return redis.call('HGET', STATS, 'rate') or '0'
end

-- The console's chart: admissions counted in the current minute's entry.
local function history_admitted(now, count)
  redis.call('HINCRBY', HISTORY, 'a' .. math.floor(now / 60000), count)
end

-- Free seats as booking last counted them; -1 when unknown (no count, or the site-wide room).
local function free_seats()
  return tonumber(redis.call('GET', FREE) or '-1')
end
