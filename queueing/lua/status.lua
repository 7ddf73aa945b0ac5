-- A place's fresh state; a poll keeps a waiting place alive. A lost place is cleaned up here.
-- ARGV: user id, stamp (from the token), abandonment ms, polls allowed ahead of one per POLL_MS
-- (below 0: no limit).
-- Returns {'invalid'}, {'limited', ms to wait} (a poll too soon changes nothing) or, as
-- issue.lua, {'waiting'|'active', stamp, position|false, expires ms, rate, created 0, free seats,
-- active count}.
local uid, stamp, abandon_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local now = now_ms()
local state, score = live_place(uid, stamp, now, abandon_ms)
if not state then
  return {'invalid'}
end
local wait = poll_take(uid, now, burst)
if wait > 0 then
  return {'limited', wait}
end
if state == 'active' then
  return {'active', stamp, false, score, rate(), 0, free_seats(), 0}
end
return {
  'waiting', stamp, position(uid), now + abandon_ms, rate(), 0, free_seats(),
  redis.call('ZCARD', ACTIVE),
}
