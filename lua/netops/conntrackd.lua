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
-- EOF in time: daemon busy or hung), "toolarge" (reply longer than
-- max_reply), "io" (a socket error, or a reply conntrackd does not give: the
-- connection reset before the request was read, the daemon exiting while
-- answering, a reply cut mid-line, an empty answer to a statistics request).  Messages for an unreachable
-- socket say whether a conntrackd process runs at all.
-- @module netops.conntrackd
local core = require "netops.core"
local C = core.conntrackd

local M = {}

M.DEFAULT_SOCKET = "/var/run/conntrackd.ctl"
M.DEFAULT_TIMEOUT = 5
M.DEFAULT_MAX_REPLY = 256 * 1024 * 1024

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
-- (seconds, default 5) bounds each request, opts.max_reply (bytes, default
-- M.DEFAULT_MAX_REPLY, 256 MiB: a dump of about a million entries) each reply:
-- a longer one fails with class "toolarge".  Nothing is connected yet: each
-- request opens its own connection, as conntrackd expects.
function M.open(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #1 to 'open' (table expected)", 2) end
  local path = opts.socket or M.DEFAULT_SOCKET
  if type(path) ~= "string" then error("bad argument #1 to 'open' (socket must be a string)", 2) end
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  if type(timeout) ~= "number" then error("bad argument #1 to 'open' (timeout must be a number)", 2) end
  local max_reply = opts.max_reply or M.DEFAULT_MAX_REPLY
  if math.type(max_reply) ~= "integer" then
    error("bad argument #1 to 'open' (max_reply must be an integer)", 2)
  end
  return C.open(path, timeout, max_reply)
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
-- @function Conntrackd:commit
function methods:commit(timeout) return simple(self, codes.ALL_COMMIT, timeout) end

local flush_codes = { all = codes.ALL_FLUSH_CACHE, internal = codes.CT_FLUSH_INT_CACHE,
                      external = codes.CT_FLUSH_EXT_CACHE }
--- Flush the caches (`-f`): which = "all" (default), "internal" or "external".
-- @function Conntrackd:flush
function methods:flush(which, timeout)
  local code = flush_codes[which or "all"]
  if not code then error("bad argument #1 to 'flush' (all, internal or external expected)", 2) end
  return simple(self, code, timeout)
end

--- Resync the internal cache from the kernel table (`-R`).
-- @function Conntrackd:resync
function methods:resync(timeout) return simple(self, codes.ALL_RESYNC_MASTER, timeout) end
--- Send a bulk update of the internal cache to the peers (`-B`).
-- @function Conntrackd:bulk_send
function methods:bulk_send(timeout) return simple(self, codes.SEND_BULK, timeout) end
--- Ask the peer for a full resync (`-n`).
-- @function Conntrackd:request_resync
function methods:request_resync(timeout) return simple(self, codes.REQUEST_DUMP, timeout) end
--- Schedule the purge of unsynced kernel entries after PurgeTimeout (`-t`).
-- @function Conntrackd:reset_timers
function methods:reset_timers(timeout) return simple(self, codes.RESET_TIMERS, timeout) end

local stats_codes = { general = codes.STATS, network = codes.STATS_NETWORK, cache = codes.STATS_CACHE,
                      runtime = codes.STATS_RUNTIME, link = codes.STATS_LINK,
                      rsqueue = codes.STATS_RSQUEUE, process = codes.STATS_PROCESS,
                      queue = codes.STATS_QUEUE, expect = codes.EXP_STATS }

--- Parse conntrackd's statistics text into { [section] = { [field] = number } }.
-- Sections are the lines ending in ":" ("cache internal:" -> cache_internal);
-- fields are "label: N" pairs and "N Label" pairs ("824 Bytes sent" ->
-- bytes_sent); a "failed: N" after "label: N" becomes label_failed.  Lines
-- that are not statistics are listed in `bad` ({ n = count, { line =, text =,
-- reason = }, ... } for the first 16); none raises.  Linear time (in C).
M.parse_stats = C.parse_stats

--- Statistics (`-s [which]`), parsed: which = nil|"general"|"network"|"cache"|
-- "runtime"|"link"|"rsqueue"|"process"|"queue"|"expect".  Returns the table
-- and the raw text.
-- @function Conntrackd:stats
function methods:stats(which, timeout)
  local code = stats_codes[which or "general"]
  if not code then error("bad argument #1 to 'stats' (unknown statistics kind '" .. tostring(which) .. "')", 2) end
  local text, secs, cls = self:request(code, timeout)
  if not text then return nil, secs, cls end
  return M.parse_stats(text), text
end

--- Parse one line of conntrackd's (or conntrack -L's) plain dump into an entry
-- of the netops.conntrack shape; nil, reason for a line that is not an entry
-- (a bad address, port or number, a field such as status=1 that would
-- overwrite the entry's own, a control byte).  Linear time (in C).
M.parse_entry = C.parse_entry

--- Parse a whole dump: an array of entries, with `bad` as in parse_stats.
M.parse_dump = C.parse_dump

local function dump(self, code, timeout)
  local text, secs, cls = self:request(code, timeout)
  if not text then return nil, secs, cls end
  return C.parse_dump(text), secs
end

--- The internal cache (`-i`) as an array of entries (netops.conntrack shape).
-- @function Conntrackd:dump_internal
function methods:dump_internal(timeout) return dump(self, codes.CT_DUMP_INTERNAL, timeout) end
--- The external cache (`-e`) as an array of entries.
-- @function Conntrackd:dump_external
function methods:dump_external(timeout) return dump(self, codes.CT_DUMP_EXTERNAL, timeout) end

--- Ask the daemon to exit (`-k`).
-- @function Conntrackd:kill
function methods:kill(timeout) return simple(self, codes.KILL, timeout) end

return M
