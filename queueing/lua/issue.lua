-- Give a user a place at the back of the queue, or their live one again.
-- ARGV: user id, a fresh token (used only if the user has no live place), abandonment ms.
-- Returns {created 0|1, token, 'waiting'|'active', position|false, expires ms, rate}.
local uid, fresh, abandon_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()

local entry = redis.call('HGET', USERS, uid)
if entry then
  local token = split_entry(entry)
  local state, score = live_state(uid, now, abandon_ms)
  if state == 'active' then
    return {0, token, 'active', false, score, rate()}
  elseif state == 'waiting' then
    -- Asking again is a sign of life, like a poll.
    redis.call('ZADD', POLLED, now, uid)
    return {0, token, 'waiting', redis.call('ZRANK', WAITING, uid) + 1, now + abandon_ms, rate()}
  end
  forget(uid, token)
end

-- The user id is the member of every set, so one user can never hold two places.
local arrival = redis.call('INCR', ARRIVALS)
redis.call('ZADD', WAITING, arrival, uid)
redis.call('ZADD', POLLED, now, uid)
redis.call('HSET', TOKENS, fresh, uid)
redis.call('HSET', USERS, uid, fresh .. ':' .. now)
return {1, fresh, 'waiting', redis.call('ZRANK', WAITING, uid) + 1, now + abandon_ms, rate()}
