package redislimit

import "github.com/redis/go-redis/v9"

// gcraScript is the generic cell rate algorithm run atomically inside Redis,
// so that every gateway instance draws from one budget. The key holds the
// theoretical arrival time (TAT) in microseconds. A request is allowed when
// TAT + interval - burst*interval <= now; then TAT moves on by one interval.
//
// KEYS[1]: the key. ARGV[1]: the emission interval in µs. ARGV[2]: the
// burst. ARGV[3]: now in µs, or 0 for the Redis server's clock (one clock
// for all instances).
//
// Returns {allowed (0/1), remaining, retry_after_us, reset_after_us}.
// Numbers are written with %d: Lua's default %.14g would round
// microsecond timestamps.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval
local diff = now - (new_tat - tolerance)
if diff < 0 then
  return {0, 0, -diff, tat - now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
return {1, math.floor(diff / interval), 0, new_tat - now}
`)
