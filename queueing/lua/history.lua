-- The console's chart of the last hour. Changes nothing.
-- Returns {the current minute (since the epoch, by Redis's clock), {field, value, ...}}.
return {math.floor(now_ms() / 60000), redis.call('HGETALL', HISTORY)}
