-- Shared by every queue script (prepended to each). KEYS follow queueing.keys.QueueKeys.as_list().
local WAITING, ACTIVE, POLLED, TOKENS, USERS, ARRIVALS, ADMISSIONS, STATS =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]

-- Redis's clock, not the callers': web and beat processes on several hosts agree on one time.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- USERS values are "<token>:<issued at ms>" (tokens are URL-safe base64, so never contain ':').
local function split_entry(entry)
  local token, issued = string.match(entry, '^(.*):(%d+)$')
  return token, tonumber(issued)
end

-- Remove every trace of a user's place, waiting or active, and of their token.
local function forget(uid, token)
  redis.call('ZREM', WAITING, uid)
  redis.call('ZREM', POLLED, uid)
  redis.call('ZREM', ACTIVE, uid)
  redis.call('HDEL', USERS, uid)
  if token then
    redis.call('HDEL', TOKENS, token)
  end
end

-- 'active', expiry | 'waiting', last poll | nil when the place is lost (session over or abandoned).
local function live_state(uid, now, abandon_ms)
  local expires = redis.call('ZSCORE', ACTIVE, uid)
  if expires then
    if tonumber(expires) > now then
      return 'active', tonumber(expires)
    end
    return nil
  end
  local polled = redis.call('ZSCORE', POLLED, uid)
  if polled and tonumber(polled) > now - abandon_ms then
    return 'waiting', tonumber(polled)
  end
  return nil
end

local function rate()
  return redis.call('HGET', STATS, 'rate') or '0'
end
