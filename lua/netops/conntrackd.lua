--- netops.conntrackd: a client for conntrackd's control socket.
-- Speaks the UNIX-socket protocol directly (one native int per request,
-- text until EOF); no conntrackd process is forked.
--
--     local ctd = assert(netops.conntrackd.open{ socket = "/run/conntrackd.ctl", timeout = 5 })
--     assert(ctd:commit())
--
-- Every request method returns `true, seconds` (or a parsed value) on success
-- and `nil, message, class` on failure; class is one of "nosocket" (path
-- missing), "refused" (stale socket), "denied" (not root), "timeout" (no
-- EOF in time: daemon busy or hung), "io".  Messages for an unreachable
-- socket say whether a conntrackd process runs at all.
local core = require "netops.core"
local C = core.conntrackd

local M = {}

M.DEFAULT_SOCKET = "/var/run/conntrackd.ctl"
M.DEFAULT_TIMEOUT = 5

--- Request codes (include/conntrackd.h, conntrack-tools 1.4.7).
M.codes = {
  CT_FLUSH_MASTER = 0, CT_RESYNC_MASTER = 1, CT_DUMP_INTERNAL = 16,
  CT_DUMP_EXTERNAL = 17, CT_COMMIT = 18, CT_FLUSH_CACHE = 19, KILL = 20,
  STATS = 21, SEND_BULK = 22, REQUEST_DUMP = 23, CT_DUMP_INT_XML = 24,
  CT_DUMP_EXT_XML = 25, RESET_TIMERS = 26, STATS_NETWORK = 28, STATS_CACHE = 29,
  STATS_RUNTIME = 30, STATS_LINK = 31, STATS_RSQUEUE = 32, CT_FLUSH_INT_CACHE = 33,
  CT_FLUSH_EXT_CACHE = 34, STATS_PROCESS = 35, STATS_QUEUE = 36, EXP_STATS = 37,
  ALL_FLUSH_MASTER = 43, ALL_RESYNC_MASTER = 44, ALL_FLUSH_CACHE = 45, ALL_COMMIT = 46,
}
local codes = M.codes

--- Open a client.  opts.socket (default /var/run/conntrackd.ctl), opts.timeout
-- (seconds, default 5) bounds each request.  Nothing is connected yet: each
-- request opens its own connection, as conntrackd expects.
function M.open(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #1 to 'open' (table expected)", 2) end
  local path = opts.socket or M.DEFAULT_SOCKET
  if type(path) ~= "string" then error("bad argument #1 to 'open' (socket must be a string)", 2) end
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  if type(timeout) ~= "number" then error("bad argument #1 to 'open' (timeout must be a number)", 2) end
  return C.open(path, timeout)
end

--- pids of the processes named conntrackd on this host.
M.daemons = C.daemons

local methods = C.methods

local function simple(self, code, timeout)
  local text, secs, cls = self:request(code, timeout)
  if not text then return nil, secs, cls end
  return true, secs, text
end

--- Commit the external cache to the kernel (`conntrackd -c`).  Returns when
-- the commit has finished: true, seconds.  timeout overrides the handle's.
function methods:commit(timeout) return simple(self, codes.ALL_COMMIT, timeout) end

local flush_codes = { all = codes.ALL_FLUSH_CACHE, internal = codes.CT_FLUSH_INT_CACHE,
                      external = codes.CT_FLUSH_EXT_CACHE }
--- Flush the caches (`-f`): which = "all" (default), "internal" or "external".
function methods:flush(which, timeout)
  local code = flush_codes[which or "all"]
  if not code then error("bad argument #1 to 'flush' (all, internal or external expected)", 2) end
  return simple(self, code, timeout)
end

--- Resync the internal cache from the kernel table (`-R`).
function methods:resync(timeout) return simple(self, codes.ALL_RESYNC_MASTER, timeout) end
--- Send a bulk update of the internal cache to the peers (`-B`).
function methods:bulk_send(timeout) return simple(self, codes.SEND_BULK, timeout) end
--- Ask the peer for a full resync (`-n`).
function methods:request_resync(timeout) return simple(self, codes.REQUEST_DUMP, timeout) end
--- Schedule the purge of unsynced kernel entries after PurgeTimeout (`-t`).
function methods:reset_timers(timeout) return simple(self, codes.RESET_TIMERS, timeout) end

local stats_codes = { general = codes.STATS, network = codes.STATS_NETWORK, cache = codes.STATS_CACHE,
                      runtime = codes.STATS_RUNTIME, link = codes.STATS_LINK,
                      rsqueue = codes.STATS_RSQUEUE, process = codes.STATS_PROCESS,
                      queue = codes.STATS_QUEUE, expect = codes.EXP_STATS }

local function key(s)
  return (s:lower():gsub("[^%w]+", "_"):gsub("^_+", ""):gsub("_+$", ""))
end

--- Parse conntrackd's statistics text into { [section] = { [field] = number } }.
-- Sections are the lines ending in ":" ("cache internal:" -> cache_internal);
-- fields are "label: N" pairs and "N Label" pairs ("824 Bytes sent" ->
-- bytes_sent); a "failed: N" after "label: N" becomes label_failed.
function M.parse_stats(text)
  local out, section, sect = {}, "general", nil
  local function cur()
    if not sect then sect = out[section] or {}; out[section] = sect end
    return sect
  end
  for line in text:gmatch("[^\n]+") do
    local head = line:match("^(%S[^:]*):%s*$") or line:match("^(%S.-%b()):%s*$")
    if head and not line:find("%d%s*$") then
      local name, paren = head:match("^(.-)%s*(%b())$")
      section = key(name or head); sect = nil
      if paren then cur().info = paren:sub(2, -2) end
    else
      local prev
      local any = false
      for label, num in line:gmatch("([%a][%a%s%-/]-):%s*(%d+)") do
        local k = key(label)
        if k == "failed" and prev then k = prev .. "_failed" end
        cur()[k] = math.tointeger(tonumber(num)); prev = k; any = true
      end
      if not any then
        for field in (line:gsub("%s%s+", "\0") .. "\0"):gmatch("([^%z]*)%z") do
          local num, label = field:match("^%s*(%d+)%s+(%a[%a ]*)$")
          if num then cur()[key(label)] = math.tointeger(tonumber(num)) end
        end
      end
    end
  end
  return out
end

--- Statistics (`-s [which]`), parsed: which = nil|"general"|"network"|"cache"|
-- "runtime"|"link"|"rsqueue"|"process"|"queue"|"expect".  Returns the table
-- and the raw text.
function methods:stats(which, timeout)
  local code = stats_codes[which or "general"]
  if not code then error("bad argument #1 to 'stats' (unknown statistics kind '" .. tostring(which) .. "')", 2) end
  local text, secs, cls = self:request(code, timeout)
  if not text then return nil, secs, cls end
  return M.parse_stats(text), text
end

local status_words = { ASSURED = true, UNREPLIED = true, SEEN_REPLY = true, EXPECTED = true,
                       CONFIRMED = true, DYING = true, FIXED_TIMEOUT = true, OFFLOAD = true,
                       HW_OFFLOAD = true }

local tointeger, tonumber_ = math.tointeger, tonumber
local TUPLE = { src = true, dst = true, sport = true, dport = true }
local INTKEY = { sport = true, dport = true, mark = true, zone = true, use = true, id = true }

--- Parse one line of conntrackd's (or conntrack -L's) plain dump into an entry
-- of the netops.conntrack shape; nil, reason for a line that is not an entry.
function M.parse_entry(line)
  local fam, proto, pnum, rest = line:match("^(ipv[46])%s+%d+%s+(%S+)%s+(%d+)%s*(.*)$")
  if not fam then
    proto, pnum, rest = line:match("^(%a[%w-]*)%s+(%d+)%s*(.*)$")
    if not proto then return nil, "not an entry: " .. line end
  end
  local e = { family = fam, proto = proto, protonum = tointeger(tonumber_(pnum)), status = {} }
  local timeout, after = rest:match("^(%d+)%s+(.*)$")
  if timeout then e.timeout = tointeger(tonumber_(timeout)); rest = after end
  local state, after2 = rest:match("^([%u_]+)%s+(.*)$")
  if state then e.state = state; rest = after2 end
  local tuple, seen = e, {}
  local icmp = proto == "icmp" or proto == "icmpv6"
  for k, v in rest:gmatch("([%w_-]+)=(%S*)") do
    if TUPLE[k] or (icmp and (k == "type" or k == "code")) then
      if seen[k] then
        if tuple ~= e then break end     -- a third tuple (master of an expectation): stop
        tuple = {}; e.reply = tuple; seen = {}
      end
      seen[k] = true
      if TUPLE[k] then
        tuple[k] = INTKEY[k] and tointeger(tonumber_(v)) or v
      elseif tuple == e then
        e.icmp = e.icmp or {}
        e.icmp[k] = tointeger(tonumber_(v))
      end
    elseif k == "id" and icmp and (tuple ~= e or (e.icmp and e.icmp.id == nil)) then
      if tuple == e then e.icmp.id = tointeger(tonumber_(v)) end
    elseif INTKEY[k] then
      e[k] = tointeger(tonumber_(v)) or v
    elseif k ~= "type" and k ~= "code" then
      e[k] = tonumber_(v) or v
    end
  end
  for flag in rest:gmatch("%[([%u_]+)%]") do
    if status_words[flag] then e.status[flag] = true end
  end
  if not e.src or not e.dst then return nil, "not an entry: " .. line end
  if not e.family then e.family = e.src:find(":", 1, true) and "ipv6" or "ipv4" end
  if e.reply and e.reply.src then
    if not e.status.UNREPLIED then e.status.SEEN_REPLY = true end
  else
    -- conntrackd's caches print the original tuple only: the reply is its inverse
    e.reply = { src = e.dst, dst = e.src, sport = e.dport, dport = e.sport }
    e.reply_inferred = true
  end
  return e
end

local function dump(self, code, timeout)
  local text, secs, cls = self:request(code, timeout)
  if not text then return nil, secs, cls end
  local list = {}
  for line in text:gmatch("[^\n]+") do
    local e = M.parse_entry(line)
    if e then list[#list + 1] = e end
  end
  return list, secs
end

--- The internal cache (`-i`) as an array of entries (netops.conntrack shape).
function methods:dump_internal(timeout) return dump(self, codes.CT_DUMP_INTERNAL, timeout) end
--- The external cache (`-e`) as an array of entries.
function methods:dump_external(timeout) return dump(self, codes.CT_DUMP_EXTERNAL, timeout) end

--- Ask the daemon to exit (`-k`).
function methods:kill(timeout) return simple(self, codes.KILL, timeout) end

return M
