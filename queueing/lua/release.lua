-- End a user's place: leaving the queue (with their token) or giving up an active slot.
-- ARGV: user id, token ('' = whatever the user holds), only active ('1' leaves waiters alone).
-- Returns 1 if a place ended, else 0.
local uid, token, only_active = ARGV[1], ARGV[2], ARGV[3]
local entry = redis.call('HGET', USERS, uid)
if not entry then
  return 0
end
local current = split_entry(entry)
if token ~= '' and token ~= current then
  return 0
end
if only_active == '1' and not redis.call('ZSCORE', ACTIVE, uid) then
  return 0
end
forget(uid, current)
return 1
