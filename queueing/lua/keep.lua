-- An admitted user's slot after their holds changed: holding, it lasts to the session's end;
-- holding nothing, it lapses `idle ms` from now (never past that end). A slot already lapsed
-- stays lapsed.
-- ARGV: user id, holding 1|0, idle ms (0: none).
-- Returns the slot's new deadline ms, or 0 when the user has no live slot.
local uid, holding, idle_ms = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local now = now_ms()
local deadline = tonumber(redis.call('ZSCORE', ACTIVE, uid) or '0')
local ends = tonumber(redis.call('HGET', ENDS, uid) or '0')
if deadline <= now or ends == 0 then
  return 0
end
if holding then
  deadline = ends
else
  deadline = slot_deadline(now, ends, idle_ms)
end
redis.call('ZADD', ACTIVE, 'XX', deadline, uid)
return deadline
