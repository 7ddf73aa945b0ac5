-- Give a user a place, or their live one again.
-- ARGV: user id, draw key (their pre-queue score), abandonment ms, sale start ms (0: on sale),
-- mode, session ms, idle ms (0: none).
-- Returns {'closed'} or {state 'waiting'|'active', stamp, position|false, expires ms, rate,
-- created 0|1, free seats, active count}.
local uid, draw_key, abandon_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local starts, mode, session_ms = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local idle_ms = tonumber(ARGV[7] or '0')
local now = now_ms()

local state, score, stamp = live_place(uid, nil, now, abandon_ms)
if state == 'active' then
  return {'active', stamp, false, score, rate(), 0, free_seats(), 0}
elseif state == 'waiting' then
  -- Asking again is a sign of life, like a poll (its own limit spends no poll allowance).
  poll_take(uid, now, -1)
  return {
    'waiting', stamp, position(uid), now + abandon_ms, rate(), 0, free_seats(),
    redis.call('ZCARD', ACTIVE),
  }
end

if mode == 'closed' then
  return {'closed'}
end
if starts > now then
  -- The pre-queue: the place's score is its draw key, so the order is the draw's from the
  -- start; the user id is the member, so one user never holds two places.
  stamp = draw_key
else
  stamp = FIFO_BASE + redis.call('INCR', ARRIVALS)
end
if mode == 'passthrough' and starts <= now and free_seats() ~= 0 then
  local deadline = admit(uid, int(stamp), now, session_ms, idle_ms)
  redis.call('HINCRBY', STATS, 'admitted_total', 1)
  history_admitted(now, 1)
  return {'active', stamp, false, deadline, rate(), 1, free_seats(), 0}
end
redis.call('ZADD', WAITING, int(stamp), uid)
poll_set(uid, now, now)
return {
  'waiting', stamp, position(uid), now + abandon_ms, rate(), 1, free_seats(),
  redis.call('ZCARD', ACTIVE),
}
