-- One promotion tick: end sessions, drop abandoned waiters, admit from the head.
-- Atomic, so any number of concurrent ticks can never push the active count past capacity.
-- ARGV: capacity, admit per tick, session ms, abandonment ms, paused 0|1, sweep limit.
-- Returns {admitted count, expired, abandoned, {admitted user ids in order}}.
local capacity, per_tick = tonumber(ARGV[1]), tonumber(ARGV[2])
local session_ms, abandon_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local paused, sweep_limit = ARGV[5] == '1', tonumber(ARGV[6])
local now = now_ms()
local cutoff = now - abandon_ms

local function forget_user(uid)
  local entry = redis.call('HGET', USERS, uid)
  forget(uid, entry and split_entry(entry))
end

-- Sessions past their end free their slot (the gate already refuses them).
local expired = redis.call('ZRANGEBYSCORE', ACTIVE, '-inf', now, 'LIMIT', 0, sweep_limit)
for _, uid in ipairs(expired) do
  forget_user(uid)
end

-- Waiters who stopped polling lose their place, wherever they stand.
local abandoned = redis.call('ZRANGEBYSCORE', POLLED, '-inf', cutoff, 'LIMIT', 0, sweep_limit)
for _, uid in ipairs(abandoned) do
  forget_user(uid)
end
local dropped = #abandoned

local admitted = {}
if not paused then
  local want = math.min(capacity - redis.call('ZCARD', ACTIVE), per_tick)
  -- More abandoned waiters than one sweep takes may sit at the head: skip them, within a bound.
  local skips = sweep_limit
  while want > 0 do
    local head = redis.call('ZPOPMIN', WAITING)
    if #head == 0 then
      break
    end
    local uid = head[1]
    local polled = redis.call('ZSCORE', POLLED, uid)
    redis.call('ZREM', POLLED, uid)
    if polled and tonumber(polled) > cutoff then
      redis.call('ZADD', ACTIVE, now + session_ms, uid)
      admitted[#admitted + 1] = uid
      want = want - 1
    else
      forget_user(uid)
      dropped = dropped + 1
      skips = skips - 1
      if skips <= 0 then
        break
      end
    end
  end
end

-- Admissions per second over the last minute: the basis of every estimated wait.
local second = math.floor(now / 1000)
if #admitted > 0 then
  redis.call('HINCRBY', ADMISSIONS, second, #admitted)
  redis.call('HINCRBY', STATS, 'admitted_total', #admitted)
end
local total, oldest = 0, second
local buckets = redis.call('HGETALL', ADMISSIONS)
for i = 1, #buckets, 2 do
  local at = tonumber(buckets[i])
  if at <= second - 60 then
    redis.call('HDEL', ADMISSIONS, buckets[i])
  else
    total = total + tonumber(buckets[i + 1])
    oldest = math.min(oldest, at)
  end
end
redis.call('HSET', STATS, 'rate', string.format('%.4f', total / (second - oldest + 1)))

return {#admitted, #expired, dropped, admitted}
