// The Lua scripts the sync runs in Redis (docs/SYNC.md, "What Redis holds").
// Each runs atomically: a change, its stream entry and the origin's position
// are written together.

#ifndef ZCIPC_SYNC_SCRIPTS_H_
#define ZCIPC_SYNC_SCRIPTS_H_

namespace zcipc {
namespace sync_internal {

// KEYS: data, log, pos. ARGV: origin, maxlen, seq ("" keeps pos), the push
// session's token (the call fails with STALE unless pos[origin#session]
// holds it: a call still queued from an earlier session of the origin never
// runs after the new session read the position), then groups (op, key, value,
// local change number: the entry's field s, by which the origin's pull knows
// its own entries) with op "put" (value), "del" (value ignored) or "add"
// (value: an 8-byte little-endian delta, added in 64-bit two's complement to
// the hash's value; a missing or non-8-byte value counts as 0) or "radd" (a
// resync of a counter; value: the local value then the delta since the last
// value the sync saw, 8 bytes each: the delta is added if the hash holds an
// 8-byte value, else the value is stored; the entry is an "add"). Returns the
// stream ids of the entries, in order.
inline constexpr char kPushScript[] = R"lua(
local function add64(a, d)
  if (not a) or #a ~= 8 then a = string.rep('\0', 8) end
  local out = {}
  local carry = 0
  for j = 1, 8 do
    local s = string.byte(a, j) + string.byte(d, j) + carry
    out[j] = string.char(s % 256)
    carry = math.floor(s / 256)
  end
  return table.concat(out)
end
local origin, maxlen, seq = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', KEYS[3], origin .. '#session') ~= ARGV[4] then
  return redis.error_reply('STALE push session')
end
local ids = {}
for i = 5, #ARGV, 4 do
  local op, k, v, s = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local id
  if op == 'put' then
    redis.call('HSET', KEYS[1], k, v)
    id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*',
                    'k', k, 'op', 'put', 'v', v, 'o', origin, 's', s)
  elseif op == 'del' then
    redis.call('HDEL', KEYS[1], k)
    id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*',
                    'k', k, 'op', 'del', 'o', origin, 's', s)
  elseif op == 'radd' then
    local cur = redis.call('HGET', KEYS[1], k)
    local new = string.sub(v, 1, 8)
    if cur and #cur == 8 then new = add64(cur, string.sub(v, 9, 16)) end
    redis.call('HSET', KEYS[1], k, new)
    id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*',
                    'k', k, 'op', 'add', 'v', new, 'o', origin, 's', s)
  else
    local new = add64(redis.call('HGET', KEYS[1], k), v)
    redis.call('HSET', KEYS[1], k, new)
    id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*',
                    'k', k, 'op', 'add', 'v', new, 'd', v, 'o', origin,
                    's', s)
  end
  ids[#ids + 1] = id
end
if seq ~= '' then redis.call('HSET', KEYS[3], origin, seq) end
return ids
)lua";

// KEYS: pos. ARGV: origin, token. Starts a push session: records the token
// and returns the origin's position (nil if none).
inline constexpr char kSessionScript[] = R"lua(
redis.call('HSET', KEYS[1], ARGV[1] .. '#session', ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
)lua";

// KEYS: data, log. Returns {last stream id or "0-0", HGETALL of data}.
inline constexpr char kSnapshotScript[] = R"lua(
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {id, redis.call('HGETALL', KEYS[1])}
)lua";

// KEYS: log. ARGV: position, count. Returns {"gap"} if the position is not
// "0-0" and its entry is gone (trimmed, or Redis lost it), else
// {"ok", entries after the position (at most count), the last id}.
inline constexpr char kReadScript[] = R"lua(
local pos = ARGV[1]
if pos ~= '0-0' and #redis.call('XRANGE', KEYS[1], pos, pos) == 0 then
  return {'gap'}
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
return {'ok', redis.call('XRANGE', KEYS[1], '(' .. pos, '+', 'COUNT', ARGV[2]),
        last_id}
)lua";

}  // namespace sync_internal
}  // namespace zcipc

#endif  // ZCIPC_SYNC_SCRIPTS_H_
