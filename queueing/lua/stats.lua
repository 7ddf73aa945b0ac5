-- Figures for the operator console. Changes nothing.
-- Returns {waiting, active, admissions per second, head-of-line wait ms | -1, admitted total}.
local now = now_ms()
local head_wait = -1
local head = redis.call('ZRANGE', WAITING, 0, 0)
if head[1] then
  local entry = redis.call('HGET', USERS, head[1])
  if entry then
    local _, issued = split_entry(entry)
    head_wait = now - issued
  end
end
return {
  redis.call('ZCARD', WAITING),
  redis.call('ZCOUNT', ACTIVE, '(' .. now, '+inf'),
  rate(),
  head_wait,
  tonumber(redis.call('HGET', STATS, 'admitted_total') or '0'),
}
