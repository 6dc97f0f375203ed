package redisbus

import "github.com/redis/go-redis/v9"

// The steps that read the pending entries list (PEL) and then change it
// run as Lua scripts, so that no other consumer's command falls between
// the read and the change. Times are the server's (TIME), so that the
// clocks of the clients do not matter.

// claimScript claims, for consumer ARGV[2] of group ARGV[1], up to ARGV[4]
// entries of stream KEYS[1] idle for at least ARGV[3] ms, scanning the PEL
// from cursor ARGV[5]. XAUTOCLAIM takes them with JUSTID, which leaves
// their delivery counters alone; an entry whose delayed redelivery
// (a score in KEYS[2]) is not due yet is kept idle for just as long as it
// has to wait, and the others are claimed again with XCLAIM, which counts
// the delivery and returns the entry. It returns the next cursor and, per
// delivered entry, {id, fields, delivery count}.
var claimScript = redis.NewScript(`
local stream, delayed = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local minIdle = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local res = redis.call('XAUTOCLAIM', stream, group, consumer, minIdle, ARGV[5], 'COUNT', ARGV[4], 'JUSTID')
local out = {}
for _, id in ipairs(res[2]) do
  local due = redis.call('ZSCORE', delayed, id)
  if due and tonumber(due) > now then
    local wait = tonumber(due) - now
    local idle = 0
    if wait < minIdle then idle = minIdle - wait end
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', idle, 'JUSTID')
  else
    if due then redis.call('ZREM', delayed, id) end
    local e = redis.call('XCLAIM', stream, group, consumer, 0, id)
    if e[1] then
      local p = redis.call('XPENDING', stream, group, id, id, 1, consumer)
      out[#out + 1] = {e[1][1], e[1][2], p[1][4]}
    end
  end
end
return {res[1], out}
`)

// nackScript hands entry ARGV[3], pending for consumer ARGV[2] of group
// ARGV[1], back to the group after ARGV[4] ms. It marks the entry idle
// for the claim min idle ARGV[5] less the delay, so that a claim looks at
// it once the delay has passed (at once without a delay), and records a
// delay in the sorted set KEYS[2], which claimScript respects even when
// the entry changes hands before (its consumer closes, a longer delay
// than the min idle). It returns 0, changing nothing, if the entry is no
// longer this consumer's (another one claimed it, or it was acknowledged).
var nackScript = redis.NewScript(`
local stream, delayed = KEYS[1], KEYS[2]
local group, consumer, id = ARGV[1], ARGV[2], ARGV[3]
local delay, minIdle = tonumber(ARGV[4]), tonumber(ARGV[5])
local p = redis.call('XPENDING', stream, group, id, id, 1)
if not p[1] or p[1][2] ~= consumer then return 0 end
if delay > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', delayed, now + delay, id)
end
local idle = 0
if delay < minIdle then idle = minIdle - delay end
redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', idle, 'JUSTID')
return 1
`)

// releaseScript hands every entry pending for consumer ARGV[2] of group
// ARGV[1] over to the consumer ARGV[4], marked idle for the claim min idle
// ARGV[3] so that any instance claims it at once (its delivery counter
// unchanged: the claim counts the redelivery), and then deletes the
// consumer, which owns nothing any more. It returns how many entries it
// handed over.
var releaseScript = redis.NewScript(`
local stream = KEYS[1]
local group, consumer, minIdle, heir = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = 0
while true do
  local p = redis.call('XPENDING', stream, group, '-', '+', 500, consumer)
  if #p == 0 then break end
  local args = {stream, group, heir, 0}
  for _, e in ipairs(p) do args[#args + 1] = e[1] end
  args[#args + 1] = 'IDLE'
  args[#args + 1] = minIdle
  args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
  n = n + #p
end
redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
return n
`)

// reapScript deletes the consumers of group ARGV[1] on stream KEYS[1] that
// own no pending entry and have not been seen for ARGV[2] ms: those of
// processes that died (a closing subscription deletes its own). A live
// consumer is seen at each of its reads; one deleted all the same comes
// back with its next read, having owned nothing. It returns how many it
// deleted.
var reapScript = redis.NewScript(`
local stream, group, idleMs = KEYS[1], ARGV[1], tonumber(ARGV[2])
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] >= idleMs then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, f['name'])
    n = n + 1
  end
end
return n
`)
