-- End a user's place: leaving the queue (with their token) or giving up an active slot.
-- ARGV: user id, stamp ('' = whatever place the user holds), only active ('1' leaves waiters).
-- Returns 1 if a place ended, else 0.
local uid, stamp, only_active = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local held = redis.call('HGET', PLACES, uid)
if held then
  if stamp and tonumber(held) ~= stamp then
    return 0
  end
  forget(uid)
  return 1
end
if only_active == '1' then
  return 0
end
local score = redis.call('ZSCORE', WAITING, uid)
if not score or (stamp and tonumber(score) ~= stamp) then
  return 0
end
forget(uid)
return 1
