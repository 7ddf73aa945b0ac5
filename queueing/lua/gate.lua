-- The gate's one round trip: is this token the user's, and is it admitted? Changes nothing.
-- ARGV: token, user id. Returns {0} invalid | {1} active | {2, position} waiting.
local token, uid = ARGV[1], ARGV[2]
if redis.call('HGET', TOKENS, token) ~= uid then
  return {0}
end
local expires = redis.call('ZSCORE', ACTIVE, uid)
if expires then
  if tonumber(expires) > now_ms() then
    return {1}
  end
  return {0}
end
local rank = redis.call('ZRANK', WAITING, uid)
if rank then
  return {2, rank + 1}
end
return {0}
