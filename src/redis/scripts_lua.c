/* scripts_lua: the Lua texts of the broker scripts and their SHA-1s, as
 * constants: computing the SHA-1 on every EVALSHA cost 5-9 % of the
 * parent's CPU (issue 15). Pure data; tests/unit/test_scripts_lua.c fails,
 * naming the right value, when a text changes and its SHA-1 does not. */
#include "redis/scripts_lua.h"

#include <stddef.h>

/* Shared by the scripts that check types or dead-letter: Lua helpers,
 * prepended to each script's text (so each stays one self-contained EVAL).
 * kind(k): the key's type ('none' when missing).
 * refuse(k, t, want): the error a script returns, having moved nothing,
 *   when a key it would touch holds another type (control bytes in the key
 *   name are shown as '?': an error reply is one line).
 * jstr(s): s as an ASCII JSON string; bytes >= 0x80 as \udcXX, so Python's
 *   s.encode('utf-8', 'surrogateescape') gives the bytes back, as with the
 *   "message" of the other dead letters.
 * deadrec(queue, m, max, now, sha1): the dead-letter record of a message too
 *   big to take: its size, queue, first KiB and SHA-1, never the message.
 * queue_of(m): the routing key, as far as m's first or last KiB shows it
 *   (kombu writes "properties", with delivery_info, last), or ''. */
#define LUA_PRELUDE \
	"local function kind(k) return redis.call('TYPE', k)['ok'] end\n" \
	"local function refuse(k, t, want)\n" \
	"  return redis.error_reply('WRONGTYPE ' .. string.gsub(k, '%c', '?') .. ' holds a ' .. t .. ', not a ' .. want .. ': nothing moved')\n" \
	"end\n" \
	"local function jstr(s)\n" \
	"  return '\"' .. (string.gsub(s, '.', function(c)\n" \
	"    local b = string.byte(c)\n" \
	"    if c == '\"' or c == '\\\\' then return '\\\\' .. c end\n" \
	"    if b < 32 or b == 127 then return string.format('\\\\u%04x', b) end\n" \
	"    if b > 127 then return string.format('\\\\udc%02x', b) end\n" \
	"    return c\n" \
	"  end)) .. '\"'\n" \
	"end\n" \
	"local function deadrec(queue, m, max, now, sha1)\n" \
	"  return '{\"reason\": ' .. jstr('message of ' .. #m .. ' bytes exceeds TRYON_MAX_MESSAGE_BYTES (' .. max .. '): not taken') ..\n" \
	"    ', \"queue\": ' .. jstr(queue) .. ', \"received_at\": ' .. tonumber(now) .. ', \"size\": ' .. #m ..\n" \
	"    ', \"head\": ' .. jstr(string.sub(m, 1, 1024)) .. ', \"sha1\": \"' .. sha1 .. '\"}'\n" \
	"end\n" \
	"local function queue_of(m)\n" \
	"  local p = '\"routing_key\": *\"([^\"]*)\"'\n" \
	"  return string.match(string.sub(m, 1, 1024), p) or string.match(string.sub(m, -1024), p) or ''\n" \
	"end\n"

/* KEYS: the queue lists in kombu order..., in-flight list, dead-letter list.
 * ARGV: most messages to take, largest message (bytes), most bytes to
 * return (at least one message is), wall-clock now, then the queue of each
 * list. Every key's type is checked before anything moves: a list that is
 * not a list is left alone and named in the reply (the others are still
 * served); an in-flight key that is not a list moves nothing. A message
 * over the limit never leaves Redis: it becomes a dead-letter record
 * (deadrec) and counts against the number to take. Returns {taken,
 * refused, dead}: taken {list, msg, ...}, refused {key, type, ...}, dead
 * {queue, size, sha1, ...}. RPOP + LPUSH in one script is RPOPLPUSH, and
 * works on Redis 5 and 6.0 brokers. */
static const char fetch_lua[] = LUA_PRELUDE
	"local nq = #KEYS - 2\n"
	"local inflight, dead = KEYS[nq + 1], KEYS[nq + 2]\n"
	"local n, max, budget, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]\n"
	"local taken, refused, dl = {}, {}, {}\n"
	"local t = kind(inflight)\n"
	"if t ~= 'list' and t ~= 'none' then return refuse(inflight, t, 'list') end\n"
	"t = kind(dead)\n"
	"local dead_ok = t == 'list' or t == 'none'\n"
	"if not dead_ok then refused[#refused + 1] = dead; refused[#refused + 1] = t end\n"
	"local ok = {}\n"
	"for i = 1, nq do\n"
	"  t = kind(KEYS[i])\n"
	"  ok[i] = t == 'list'\n"
	"  if t ~= 'list' and t ~= 'none' then refused[#refused + 1] = KEYS[i]; refused[#refused + 1] = t end\n"
	"end\n"
	"local bytes = 0\n"
	"for i = 1, nq do\n"
	"  while ok[i] and n > 0 and bytes < budget do\n"
	"    local m = redis.call('RPOP', KEYS[i])\n"
	"    if not m then break end\n"
	"    if #m > max then\n"
	"      if not dead_ok then redis.call('RPUSH', KEYS[i], m); break end\n"
	"      local h = redis.sha1hex(m)\n"
	"      redis.call('LPUSH', dead, deadrec(ARGV[4 + i], m, max, now, h))\n"
	"      dl[#dl + 1] = ARGV[4 + i]; dl[#dl + 1] = #m; dl[#dl + 1] = h\n"
	"    else\n"
	"      redis.call('LPUSH', inflight, m)\n"
	"      taken[#taken + 1] = KEYS[i]; taken[#taken + 1] = m\n"
	"      bytes = bytes + #m\n"
	"    end\n"
	"    n = n - 1\n"
	"  end\n"
	"  if n == 0 or bytes >= budget then break end\n"
	"end\n"
	"return {taken, refused, dl}\n";

/* KEYS: in-flight list, unacked, unacked_index, held set.
 * ARGV[1]: delivery time; then triples (message, delivery_tag, the unacked
 * value's tail after the message: kombu_unacked_tail), so that the message
 * is sent once.
 * A message no longer in our in-flight list was recovered by another node:
 * it is not recorded (0) and must not run here. Types are checked first:
 * an error moves nothing (the messages stay in the in-flight list). */
static const char record_lua[] = LUA_PRELUDE
	"local want = {'list', 'hash', 'zset', 'set'}\n"
	"for i = 1, 4 do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= want[i] and t ~= 'none' then return refuse(KEYS[i], t, want[i]) end\n"
	"end\n"
	"local res = {}\n"
	"for i = 2, #ARGV, 3 do\n"
	"  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then\n"
	"    redis.call('ZADD', KEYS[3], ARGV[1], ARGV[i + 1])\n"
	"    redis.call('HSET', KEYS[2], ARGV[i + 1], '[' .. ARGV[i] .. ARGV[i + 2])\n"
	"    redis.call('SADD', KEYS[4], ARGV[i + 1])\n"
	"    res[#res + 1] = 1\n"
	"  else\n"
	"    res[#res + 1] = 0\n"
	"  end\n"
	"end\n"
	"return res\n";

/* KEYS: in-flight list, target list. ARGV: message as in the in-flight list,
 * what to push (a dead-letter record, or the message), 'lpush'|'rpush'.
 * Both keys' types are checked first, so an error never drops a message
 * from the in-flight list without pushing it. */
static const char drop_inflight_lua[] = LUA_PRELUDE
	"for i = 1, 2 do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= 'list' and t ~= 'none' then return refuse(KEYS[i], t, 'list') end\n"
	"end\n"
	"if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then\n"
	"  redis.call(ARGV[3] == 'rpush' and 'RPUSH' or 'LPUSH', KEYS[2], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/* KEYS: unacked, unacked_index, held set, result key ('' if none), target list ('' if none).
 * ARGV: delivery_tag, meta JSON ('' = store nothing), result expiry (s),
 *       result db (-1 = same db), broker db, action, message to push,
 *       and optionally 'any' (below).
 * action: 'ack' | 'lpush' | 'rpush' | 'none'. The result is written first
 * and never over a stored SUCCESS (as Celery 5.2.6); then, only if the tag
 * is still in the given held set (SREM == 1) and still recorded (HDEL ==
 * 1), the ack and the push happen. The held-set test matters when a node
 * was cut off and comes back: another node has meanwhile requeued the
 * message under the same tag, and a third may hold it now; the late node
 * must neither delete that holder's unacked entry nor push a copy. 'any'
 * skips the test, for recovery of tags that are in no held set (parked,
 * or restored by visibility timeout with the holder unknown). Returns
 * {stored, held}. The script selects the broker DB back itself, so it does
 * not matter whether the server keeps a script's SELECT local to it. The
 * broker keys' types are checked before anything is written, so a
 * wrong-typed key fails the step whole (it is retried) rather than acking
 * without the push; a result key of another type is overwritten, as SET
 * would. */
static const char finish_lua[] = LUA_PRELUDE
	"if ARGV[6] ~= 'none' then\n"
	"  local want = {'hash', 'zset', 'set'}\n"
	"  for i = 1, 3 do\n"
	"    local t = kind(KEYS[i])\n"
	"    if t ~= want[i] and t ~= 'none' then return refuse(KEYS[i], t, want[i]) end\n"
	"  end\n"
	"  if ARGV[6] ~= 'ack' then\n"
	"    local t = kind(KEYS[5])\n"
	"    if t ~= 'list' and t ~= 'none' then return refuse(KEYS[5], t, 'list') end\n"
	"  end\n"
	"end\n"
	"local stored = 0\n"
	"if ARGV[2] ~= '' then\n"
	"  if ARGV[4] ~= '-1' then redis.call('SELECT', ARGV[4]) end\n"
	"  local cur = kind(KEYS[4]) == 'string' and redis.call('GET', KEYS[4])\n"
	"  if not (cur and string.find(cur, '\"status\": \"SUCCESS\"', 1, true)) then\n"
	"    if tonumber(ARGV[3]) > 0 then redis.call('SETEX', KEYS[4], ARGV[3], ARGV[2])\n"
	"    else redis.call('SET', KEYS[4], ARGV[2]) end\n"
	"    redis.call('PUBLISH', KEYS[4], ARGV[2])\n"
	"    stored = 1\n"
	"  end\n"
	"  if ARGV[4] ~= '-1' then redis.call('SELECT', ARGV[5]) end\n"
	"end\n"
	"local held = 0\n"
	"if ARGV[6] ~= 'none' then\n"
	"  local ours = redis.call('SREM', KEYS[3], ARGV[1]) == 1 or ARGV[8] == 'any'\n"
	"  if ours then\n"
	"    held = redis.call('HDEL', KEYS[1], ARGV[1])\n"
	"    redis.call('ZREM', KEYS[2], ARGV[1])\n"
	"  end\n"
	"  if held == 1 and ARGV[6] == 'lpush' then redis.call('LPUSH', KEYS[5], ARGV[7])\n"
	"  elseif held == 1 and ARGV[6] == 'rpush' then redis.call('RPUSH', KEYS[5], ARGV[7]) end\n"
	"end\n"
	"return {stored, held}\n";

/* KEYS: result key. ARGV: meta JSON, expiry. Returns 1 stored, 0 kept
 * SUCCESS. A key of another type is overwritten, as SET would. */
static const char store_result_lua[] = LUA_PRELUDE
	"local cur = kind(KEYS[1]) == 'string' and redis.call('GET', KEYS[1])\n"
	"if cur and string.find(cur, '\"status\": \"SUCCESS\"', 1, true) then return 0 end\n"
	"if tonumber(ARGV[2]) > 0 then redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])\n"
	"else redis.call('SET', KEYS[1], ARGV[1]) end\n"
	"redis.call('PUBLISH', KEYS[1], ARGV[1])\n"
	"return 1\n";

/* KEYS: unacked_index, unacked, and optionally our parked set. ARGV[1]:
 * now; ARGV[2..]: tags we hold. Gives a fresh score to each tag still
 * recorded, and to every parked one, so kombu's restore_visible never
 * redelivers a message we are still holding. */
static const char renew_lua[] = LUA_PRELUDE
	"local want = {'zset', 'hash', 'zset'}\n"
	"for i = 1, #KEYS do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= want[i] and t ~= 'none' then return refuse(KEYS[i], t, want[i]) end\n"
	"end\n"
	"local n = 0\n"
	"local function renew(tag)\n"
	"  if redis.call('HEXISTS', KEYS[2], tag) == 1 then\n"
	"    redis.call('ZADD', KEYS[1], ARGV[1], tag)\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"for i = 2, #ARGV do renew(ARGV[i]) end\n"
	"if KEYS[3] then\n"
	"  for _, tag in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do renew(tag) end\n"
	"end\n"
	"return n\n";

/* KEYS: in-flight list, dead-letter list. ARGV: largest message, now.
 * One step of walking the in-flight list without reading it whole: the
 * oldest element moves to the front (RPOPLPUSH onto itself, so it never
 * leaves the list) and comes back if it is small enough: {1, msg}; if not,
 * it is dead-lettered here and only facts come back: {0, size, queue,
 * sha1}, the queue being its routing key (queue_of); {} when the list is
 * empty. Called LLEN times, this visits each element once even while
 * others are removed (they are visited ones, at the front). */
static const char inflight_next_lua[] = LUA_PRELUDE
	"for i = 1, 2 do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= 'list' and t ~= 'none' then return refuse(KEYS[i], t, 'list') end\n"
	"end\n"
	"local m = redis.call('RPOPLPUSH', KEYS[1], KEYS[1])\n"
	"if not m then return {} end\n"
	"local max = tonumber(ARGV[1])\n"
	"if #m <= max then return {1, m} end\n"
	"redis.call('LREM', KEYS[1], 1, m)\n"
	"local q, h = queue_of(m), redis.sha1hex(m)\n"
	"redis.call('LPUSH', KEYS[2], deadrec(q, m, max, ARGV[2], h))\n"
	"return {0, #m, q, h}\n";

/* KEYS: unacked, unacked_index, held set, dead-letter list. ARGV: tag,
 * largest value, now. HGET that refuses what is too big to read: {1,
 * value}; {0, size, queue, sha1} when the value is larger than the limit
 * (it is then dead-lettered here, and the tag removed from all three,
 * which is how recovery would end it anyway); {} when it is not recorded. */
static const char unacked_get_lua[] = LUA_PRELUDE
	"local want = {'hash', 'zset', 'set', 'list'}\n"
	"for i = 1, 4 do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= want[i] and t ~= 'none' then return refuse(KEYS[i], t, want[i]) end\n"
	"end\n"
	"local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
	"if not v then return {} end\n"
	"local max = tonumber(ARGV[2])\n"
	"if #v <= max then return {1, v} end\n"
	"redis.call('HDEL', KEYS[1], ARGV[1])\n"
	"redis.call('ZREM', KEYS[2], ARGV[1])\n"
	"redis.call('SREM', KEYS[3], ARGV[1])\n"
	"local q, h = queue_of(v), redis.sha1hex(v)\n"
	"redis.call('LPUSH', KEYS[4], deadrec(q, v, max, ARGV[3], h))\n"
	"return {0, #v, q, h}\n";

/* KEYS: held set, parked set. ARGV: tag, eta (wall clock). An ETA message
 * beyond what the worker keeps in memory stays recorded in unacked but
 * moves from our held set to our parked set, scored by its ETA. 1 parked,
 * 0 not held any more (recovered meanwhile: nothing to park). */
static const char park_lua[] = LUA_PRELUDE
	"local want = {'set', 'zset'}\n"
	"for i = 1, 2 do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= want[i] and t ~= 'none' then return refuse(KEYS[i], t, want[i]) end\n"
	"end\n"
	"if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
	"redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
	"return 1\n";

/* KEYS: parked set, held set, unacked, unacked_index. ARGV: most messages,
 * most bytes (at least one message is returned), now. The earliest parked
 * messages go back to our held set, with a fresh unacked_index score (so a
 * maintenance reconcile that forked earlier leaves them to us), and come
 * back with their unacked values. Returns {parked left, tag, value, ...};
 * a tag no longer in unacked (recovered meanwhile) is dropped. */
static const char unpark_lua[] = LUA_PRELUDE
	"local want = {'zset', 'set', 'hash', 'zset'}\n"
	"for i = 1, 4 do\n"
	"  local t = kind(KEYS[i])\n"
	"  if t ~= want[i] and t ~= 'none' then return refuse(KEYS[i], t, want[i]) end\n"
	"end\n"
	"local n, budget, bytes = tonumber(ARGV[1]), tonumber(ARGV[2]), 0\n"
	"local out = {0}\n"
	"for _, tag in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - 1)) do\n"
	"  if bytes >= budget then break end\n"
	"  redis.call('ZREM', KEYS[1], tag)\n"
	"  local v = redis.call('HGET', KEYS[3], tag)\n"
	"  if v then\n"
	"    redis.call('SADD', KEYS[2], tag)\n"
	"    redis.call('ZADD', KEYS[4], ARGV[3], tag)\n"
	"    out[#out + 1] = tag; out[#out + 1] = v\n"
	"    bytes = bytes + #v\n"
	"  end\n"
	"end\n"
	"out[1] = redis.call('ZCARD', KEYS[1])\n"
	"return out\n";

static const char *const texts[SCRIPT_COUNT] = {
	fetch_lua, record_lua, drop_inflight_lua, finish_lua, store_result_lua, renew_lua,
	inflight_next_lua, unacked_get_lua, park_lua, unpark_lua,
};

/* SHA-1 of each text above, lower-case hex (what SCRIPT LOAD answers). */
static const char *const shas[SCRIPT_COUNT] = {
	"ff4ae04cdf9d0587ddc233797560054cfbefd5ba",
	"ab12a62d1ebd0758239326a4fb7f2a0f95ad307e",
	"3cf1cc893a9ff99c81eb87ada445d5cdb0a9a826",
	"7719670f684f70693477e471ad8805a9087a8206",
	"d97b47d2cba686ed0cae28bdca406ff0c81968f9",
	"375fe1e143d547408f651971e81437c621368bea",
	"8678e9ec4843e17e5c6dba50b86c7ad3b0f91767",
	"a490ac992313ba4920e954e4656d20423e066a1c",
	"251d0f69d9709479ec54da700fa1851667359243",
	"6134e9fc934f6b4c34f4d1ec3b122f01a5292240",
};

const char *scripts_text(enum script_id id)
{
	return (unsigned)id < SCRIPT_COUNT ? texts[id] : NULL;
}

const char *scripts_sha(enum script_id id)
{
	return (unsigned)id < SCRIPT_COUNT ? shas[id] : NULL;
}
