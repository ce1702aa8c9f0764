-- Appends one topic message to the log and to its topic's stream, as one
-- step (a script runs alone), then trims.
--
-- KEYS[1]: the log every instance follows ({rpc}:topics).
-- KEYS[2]: the topic's stream ({rpc}:topic:NAME), for replay.
-- ARGV: topic, message, log cap (entries), keep (messages per topic),
--       age (ms), bytes (per stream), every (appends between trims),
--       idle (ms a topic's stream outlives its last append).
--
-- The log gives the id; the topic's stream takes the same one, so an event
-- id names the message in both. A topic's stream keeps at least its last
-- `keep` messages or those younger than `age`, whichever is more, checked
-- every `every` appends; on every append, either stream is cut, oldest
-- first, to about `bytes` as Redis estimates its memory (MEMORY USAGE
-- samples a few nodes: cheap). A topic's stream that nobody appends to for
-- `idle` goes, so that topics used once do not pile up.

local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 't', ARGV[1], 'm', ARGV[2])
local bytes = tonumber(ARGV[6])
local every = tonumber(ARGV[7])

local function within_bytes(key, len)
  local used = redis.call('MEMORY', 'USAGE', key)
  if used and used > bytes and len > 1 then
    redis.call('XTRIM', key, 'MAXLEN', math.max(1, math.floor(len * bytes / used)))
  end
end

within_bytes(KEYS[1], redis.call('XLEN', KEYS[1]))

-- Only a topic stream holding a later id (a clock gone back) refuses it:
-- the message is still in the log, delivered live, just not replayable.
local added = redis.pcall('XADD', KEYS[2], id, 'm', ARGV[2])
if type(added) == 'table' and added.err then
  redis.log(redis.LOG_WARNING, 'rpc: cannot add to ' .. KEYS[2] .. ': ' .. added.err)
  return id
end

redis.call('PEXPIRE', KEYS[2], ARGV[8])

local len = redis.call('XLEN', KEYS[2])
local keep = tonumber(ARGV[4])
if len % every == 0 and len > keep then
  -- Ids start with their time in ms: the oldest id to keep is the older of
  -- the keep-th newest and the first younger than `age`.
  local now = redis.call('TIME')
  local young = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[5])
  if young < 0 then
    young = 0
  end
  local min_id = string.format('%.0f-0', young)
  if keep > 0 then
    local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', keep)
    local kept = newest[#newest][1]
    if tonumber(string.match(kept, '^%d+')) <= young then
      min_id = kept
    end
  end
  redis.call('XTRIM', KEYS[2], 'MINID', min_id)
  len = redis.call('XLEN', KEYS[2])
end
within_bytes(KEYS[2], len)
return id
