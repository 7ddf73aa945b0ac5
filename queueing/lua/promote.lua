-- One promotion tick of one room: end sessions, drop abandoned waiters, admit from the head.
-- Atomic, so any number of concurrent ticks can never push the active count past capacity
-- (passthrough goes past it on purpose).
-- ARGV: capacity, admit per tick, session ms, abandonment ms, admitting 0|1, sale start ms
-- (0: on sale), sweep limit, passthrough 0|1, draw kept ms, idle ms (0: none).
-- Returns {admitted count, expired, abandoned, {admitted user ids in order}, sold out 0|1}.
-- Also keeps the all-time abandoned count and the console's per-minute history.
local capacity, per_tick = tonumber(ARGV[1]), tonumber(ARGV[2])
local session_ms, abandon_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local admitting, starts, sweep_limit = ARGV[5] == '1', tonumber(ARGV[6]), tonumber(ARGV[7])
local passthrough, draw_kept_ms = ARGV[8] == '1', tonumber(ARGV[9])
local idle_ms = tonumber(ARGV[10] or '0')
local now = now_ms()
local cutoff = now - abandon_ms

-- Sessions past their end, or idle past their deadline, free their slot (the gate already
-- refuses them).
local expired = redis.call('ZRANGEBYSCORE', ACTIVE, '-inf', now, 'LIMIT', 0, sweep_limit)
for _, uid in ipairs(expired) do
  forget(uid)
end

-- Waiters who stopped polling lose their place. The queue is walked a slice per tick from where
-- the last tick stopped; the head is checked again when it is admitted.
local dropped = 0
local cursor = tonumber(redis.call('GET', SWEEP) or '0')
local slice = redis.call('ZRANGE', WAITING, cursor, cursor + sweep_limit - 1)
for _, uid in ipairs(slice) do
  local _, polled = poll_get(uid)
  if not polled or polled <= cutoff then
    forget(uid)
    dropped = dropped + 1
  end
end
if #slice < sweep_limit then
  redis.call('SET', SWEEP, 0)
else
  redis.call('SET', SWEEP, cursor + #slice - dropped)
end

-- The draw: the first tick after the start keeps the pre-queue's order for publication, before
-- anyone is admitted from it.
if starts > 0 and now >= starts and redis.call('HGET', STATS, 'drawn') ~= tostring(starts) then
  redis.call('DEL', DRAW)
  redis.call('ZRANGESTORE', DRAW, WAITING, '-inf', '(' .. int(FIFO_BASE), 'BYSCORE')
  redis.call('PEXPIRE', DRAW, draw_kept_ms)
  redis.call('HSET', STATS, 'drawn', tostring(starts), 'drawn_size', redis.call('ZCARD', DRAW))
end

-- A concert whose every seat is sold or held admits nobody until seats come back; short of
-- that, no more than the free seats those already choosing leave.
local free = free_seats()
local sold_out = free == 0
local admitted = {}
if admitting and not sold_out and (starts == 0 or now >= starts) then
  local active = redis.call('ZCARD', ACTIVE)
  local want = per_tick
  if not passthrough then
    want = math.min(capacity - active, per_tick)
  end
  if free > 0 then
    want = math.min(want, free - active)
  end
  -- Abandoned waiters at the head are skipped, within a bound.
  local skips = sweep_limit
  while want > 0 do
    local head = redis.call('ZPOPMIN', WAITING)
    if #head == 0 then
      break
    end
    local uid, score = head[1], head[2]
    local joined, polled = poll_get(uid)
    redis.call('HDEL', poll_key(uid), uid)
    if polled and polled > cutoff then
      admit(uid, score, now, session_ms, idle_ms)
      -- The wait counts from the sale's start for a pre-queue place.
      redis.call('LPUSH', WAITS, now - math.max(joined, starts))
      admitted[#admitted + 1] = uid
      want = want - 1
    else
      dropped = dropped + 1
      skips = skips - 1
      if skips <= 0 then
        break
      end
    end
  end
  if #admitted > 0 then
    redis.call('LTRIM', WAITS, 0, 999)
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
if dropped > 0 then
  redis.call('HINCRBY', STATS, 'abandoned_total', dropped)
end

-- The console's chart: per minute, the waiting count as the minute's last tick left it and the
-- admissions in it. When a minute begins, entries older than the kept hour go.
local minute = math.floor(now / 60000)
if #admitted > 0 then
  history_admitted(now, #admitted)
end
if redis.call('HSET', HISTORY, 'w' .. minute, redis.call('ZCARD', WAITING)) == 1 then
  for _, field in ipairs(redis.call('HKEYS', HISTORY)) do
    if tonumber(string.sub(field, 2)) <= minute - HISTORY_MINUTES then
      redis.call('HDEL', HISTORY, field)
    end
  end
  -- A room whose ticks stop leaves nothing behind.
  redis.call('PEXPIRE', HISTORY, (HISTORY_MINUTES + 1) * 60000)
end

return {#admitted, #expired, dropped, admitted, sold_out and 1 or 0}
