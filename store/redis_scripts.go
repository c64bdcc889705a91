package store

import "github.com/redis/go-redis/v9"

// Scripts. Each runs atomically; its keys share the bucket's hash slot. The
// value keys they build from ARGV (PREFIX{BUCKET}:ID) are in that slot too,
// which Redis Cluster accepts for keys a script does not declare.

// trimIndexLua drops sampled index entries whose value has expired, so an
// index of a bucket that is written but never listed (counters, one-time
// codes) stays near the number of live values instead of growing forever:
// when half of it is stale, each write removes one stale entry on average,
// as many as it may add.
const trimIndexLua = `
local function trim(index, base)
	for _, id in ipairs(redis.call('ZRANDMEMBER', index, 2)) do
		if redis.call('EXISTS', base .. id) == 0 then
			redis.call('ZREM', index, id)
		end
	end
end
`

// storeScript writes a value and indexes its ID; returns 1, or 0 when "nx"
// was asked and the key exists.
// KEYS: value, index. ARGV: value, TTL in ms ("0": none), "nx" or "", ID,
// value key base.
var storeScript = redis.NewScript(trimIndexLua + `
local set = {'SET', KEYS[1], ARGV[1]}
if ARGV[2] ~= '0' then
	set[#set + 1] = 'PX'
	set[#set + 1] = ARGV[2]
end
if ARGV[3] == 'nx' then
	set[#set + 1] = 'NX'
end
if not redis.call(unpack(set)) then
	return 0
end
redis.call('ZADD', KEYS[2], 0, ARGV[4])
trim(KEYS[2], ARGV[5])
return 1
`)

// deleteScript removes a value and its ID from the index.
// KEYS: value, index. ARGV: ID.
var deleteScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// takeScript is deleteScript returning the value: of concurrent callers one
// gets it, the others nil.
// KEYS: value, index. ARGV: ID.
var takeScript = redis.NewScript(`
local v = redis.call('GETDEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return v
`)

// incrScript adds to a counter, starting its window (and indexing it) when
// it is new; returns {count, PTTL}. An existing non-integer fails with an
// error starting "NOTCOUNTER".
// KEYS: counter, index. ARGV: delta, window in ms ("0": none), ID, value
// key base.
var incrScript = redis.NewScript(trimIndexLua + `
local new = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(n) == 'table' and n.err then
	return redis.error_reply('NOTCOUNTER ' .. n.err)
end
if new then
	if ARGV[2] ~= '0' then
		redis.call('PEXPIRE', KEYS[1], ARGV[2])
	end
	redis.call('ZADD', KEYS[2], 0, ARGV[3])
	trim(KEYS[2], ARGV[4])
end
return {n, redis.call('PTTL', KEYS[1])}
`)

// listScript pages through a bucket's index, returning {id, value, ...} of
// live values only and unindexing IDs whose value has expired; one script
// so a page is a consistent snapshot, as in Bolt.
// KEYS: index. ARGV: value key base, range start, range end, limit,
// "1" for descending.
var listScript = redis.NewScript(`
local out, found, from = {}, 0, ARGV[2]
local limit = tonumber(ARGV[4])
local cmd = 'ZRANGEBYLEX'
if ARGV[5] == '1' then
	cmd = 'ZREVRANGEBYLEX'
end
while found < limit do
	local want = limit - found
	local ids = redis.call(cmd, KEYS[1], from, ARGV[3], 'LIMIT', 0, want)
	for _, id in ipairs(ids) do
		local v = redis.call('GET', ARGV[1] .. id)
		if v then
			out[#out + 1] = id
			out[#out + 1] = v
			found = found + 1
		else
			redis.call('ZREM', KEYS[1], id)
		end
	end
	if #ids < want then
		break
	end
	from = '(' .. ids[#ids]
end
return out
`)

// casScript writes (or deletes) a value only if it is still what the
// caller read; returns 1, or 0 when it changed (Update then reads again).
// KEYS: value, index. ARGV: "1" if the caller saw a value ("0": absent),
// that value, "set" or "del", the new value, TTL in ms ("0": none), ID,
// value key base.
var casScript = redis.NewScript(trimIndexLua + `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
	if cur ~= ARGV[2] then
		return 0
	end
elseif cur then
	return 0
end
if ARGV[3] == 'del' then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', KEYS[2], ARGV[6])
	return 1
end
if ARGV[5] == '0' then
	redis.call('SET', KEYS[1], ARGV[4])
else
	redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
redis.call('ZADD', KEYS[2], 0, ARGV[6])
trim(KEYS[2], ARGV[7])
return 1
`)
