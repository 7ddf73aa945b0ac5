-- A token's fresh state; a poll keeps a waiting place alive. A lost place is cleaned up here.
-- ARGV: token, user id, abandonment ms.
-- Returns {'invalid'} or {'waiting'|'active', position|false, expires ms, rate}.
local token, uid, abandon_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', TOKENS, token) ~= uid then
  return {'invalid'}
end
local now = now_ms()
local state, score = live_state(uid, now, abandon_ms)
if state == 'active' then
  return {'active', false, score, rate()}
elseif state == 'waiting' then
  redis.call('ZADD', POLLED, 'XX', now, uid)
  return {'waiting', redis.call('ZRANK', WAITING, uid) + 1, now + abandon_ms, rate()}
end
forget(uid, token)
return {'invalid'}
