-- The gate's one round trip: is this token the user's, and is it admitted? Changes nothing.
-- ARGV: token, user id. Returns {0} invalid | {1} active | {2, position} waiting.
-- With an empty user id the token's owner is checked, whoever it is, and the reply always
-- names them: {verdict, position or 0, owner or ''} (the caller compares the owner with the
-- user it authenticates in the same round trip).
local token, uid = ARGV[1], ARGV[2]
local owner = redis.call('HGET', TOKENS, token)
local function answer(verdict, position)
  if uid == '' then
    return {verdict, position or 0, owner or ''}
  end
  if position then
    return {verdict, position}
  end
  return {verdict}
end
if not owner or (uid ~= '' and owner ~= uid) then
  return answer(0)
end
local expires = redis.call('ZSCORE', ACTIVE, owner)
if expires then
  if tonumber(expires) > now_ms() then
    return answer(1)
  end
  return answer(0)
end
local rank = redis.call('ZRANK', WAITING, owner)
if rank then
  return answer(2, rank + 1)
end
return answer(0)
