-- The gate's one round trip: is this the user's live place, and is it admitted? Changes nothing.
-- ARGV: user id, stamp (from the token), abandonment ms.
-- Returns {0} invalid | {1} active | {2, position} waiting.
local uid, stamp, abandon_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local state = live_place(uid, stamp, now_ms(), abandon_ms, true)
if state == 'active' then
  return {1}
elseif state == 'waiting' then
  return {2, position(uid)}
end
return {0}
