-- An admitted user's slot after their holds changed: it lasts until the last of them runs out,
-- then `idle ms` more (never past the session's end), so one who holds nothing makes way for the
-- next. A slot already lapsed stays lapsed.
-- ARGV: user id, the holds' last expiry ms (0: none), idle ms (0: none).
-- Returns the slot's new deadline ms, or 0 when the user has no live slot.
local uid, held_until, idle_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local deadline = tonumber(redis.call('ZSCORE', ACTIVE, uid) or '0')
local ends = tonumber(redis.call('HGET', ENDS, uid) or '0')
if deadline <= now or ends == 0 then
  return 0
end
deadline = slot_deadline(math.max(now, held_until), ends, idle_ms)
redis.call('ZADD', ACTIVE, 'XX', int(deadline), uid)
return deadline
