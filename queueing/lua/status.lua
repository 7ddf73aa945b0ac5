-- A place's fresh state; a poll keeps a waiting place alive. A lost place is cleaned up here.
-- ARGV: user id, stamp (from the token), abandonment ms.
-- Returns {'invalid'} or, as issue.lua, {'waiting'|'active', stamp, position|false, expires ms,
-- rate, created 0, free seats, active count}.
local uid, stamp, abandon_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local state, score = live_place(uid, stamp, now, abandon_ms)
if state == 'active' then
  return {'active', stamp, false, score, rate(), 0, free_seats(), 0}
elseif state == 'waiting' then
  local joined = poll_get(uid)
  poll_set(uid, joined, now)
  return {
    'waiting', stamp, position(uid), now + abandon_ms, rate(), 0, free_seats(),
    redis.call('ZCARD', ACTIVE),
  }
end
return {'invalid'}
