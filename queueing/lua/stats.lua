-- Figures for the operator console and the room's public page. Changes nothing.
-- Returns {waiting, pre-queued, active, admissions per second, head-of-line wait ms | -1,
-- admitted total, free seats | -1, {latest waits ms}, drawn size | -1, abandoned total}.
local now = now_ms()
local head_wait = -1
local head = redis.call('ZRANGE', WAITING, 0, 0)
if head[1] then
  local joined = poll_get(head[1])
  if joined then
    head_wait = now - joined
  end
end
return {
  redis.call('ZCARD', WAITING),
  redis.call('ZCOUNT', WAITING, '-inf', '(' .. int(FIFO_BASE)),
  redis.call('ZCOUNT', ACTIVE, '(' .. now, '+inf'),
  rate(),
  head_wait,
  tonumber(redis.call('HGET', STATS, 'admitted_total') or '0'),
  free_seats(),
  redis.call('LRANGE', WAITS, 0, -1),
  tonumber(redis.call('HGET', STATS, 'drawn_size') or '-1'),
  tonumber(redis.call('HGET', STATS, 'abandoned_total') or '0'),
}
