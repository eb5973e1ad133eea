--- netops.conntrack: the kernel connection tracking table.
--
--   local ct = assert(netops.conntrack.open { netns = "fw1" })
--   for e in ct:dump { proto = "tcp" } do ... end       -- streams
--   local r = ct:commit(entries, { timeout = 180 })    -- batched
--
-- The handle's methods are in C (csrc/lua_conntrack.c); this file adds
-- diff, save and load, which need no kernel.  See README "netops.conntrack".
-- Errors: misuse raises; failures of the world return nil, message, errno.
-- @module netops.conntrack
local core = require "netops.core"        -- shared things: file_new
local inet = require "netops.inet"
local C = require "netops.ctnetlink"      -- the C binding, with its libraries

local M = {}

--- Open a handle on the conntrack table, in `opts.netns` (a name under
-- /run/netns) or in the caller's namespace.  Returns the handle, or
-- nil, message, errno.
M.open = C.open

--- Validate an entry table without touching the kernel: true, or nil, why.
M.check = C.check

local names = C.names()
M.names = names

--- The key of an entry: zone and original tuple (what identifies it in the
-- kernel).
function M.key(e)
  local icmp = e.icmp or {}
  local family = e.family
  if not family and type(e.src) == "string" then
    family = inet.family(e.src) == 6 and "ipv6" or "ipv4"
  end
  return table.concat({
    tostring(e.zone or 0), tostring(family), tostring(e.proto),
    tostring(e.src), tostring(e.dst), tostring(e.sport or ""), tostring(e.dport or ""),
    tostring(icmp.type or ""), tostring(e.icmp and (icmp.code or 0) or ""),
    tostring(e.icmp and (icmp.id or 0) or ""),
  }, " ")
end

local function reply_of(e)
  local r = e.reply or {}
  return r.src or e.dst, r.dst or e.src, r.sport or e.dport, r.dport or e.sport
end

-- Fields compared by diff (timeouts always differ, ids are per table).
local function differences(a, b)
  local d = {}
  if (a.state or false) ~= (b.state or false) then d[#d + 1] = "state" end
  if (a.mark or 0) ~= (b.mark or 0) then d[#d + 1] = "mark" end
  local as, ad, asp, adp = reply_of(a)
  local bs, bd, bsp, bdp = reply_of(b)
  if as ~= bs or ad ~= bd or asp ~= bsp or adp ~= bdp then d[#d + 1] = "reply" end
  return d
end

--- Compare two sets of entries (e.g. a cache `a` and the kernel table `b`),
-- keyed by zone and original tuple.  Returns { missing = entries of a not in
-- b, extra = entries of b not in a, changed = { { key =, a =, b =, fields =
-- { "state" | "mark" | "reply" ... } } ... } }.  Either side may be an array
-- or an iterator function (such as ct:dump()).
function M.diff(a, b)
  local function each(x)
    if type(x) == "function" then return x end
    assert(type(x) == "table", "diff: expected an array of entries or an iterator")
    local i = 0
    return function() i = i + 1; return x[i] end
  end
  local index, order = {}, {}
  for e in each(a) do
    local k = M.key(e)
    if index[k] == nil then order[#order + 1] = k end
    index[k] = e
  end
  local seen = {}
  local out = { missing = {}, extra = {}, changed = {} }
  for e in each(b) do
    local k = M.key(e)
    local ea = index[k]
    if ea == nil then
      out.extra[#out.extra + 1] = e
    elseif not seen[k] then
      seen[k] = true
      local f = differences(ea, e)
      if #f > 0 then out.changed[#out.changed + 1] = { key = k, a = ea, b = e, fields = f } end
    end
  end
  for _, k in ipairs(order) do
    if not seen[k] then out.missing[#out.missing + 1] = index[k] end
  end
  return out
end

--- One entry as a line of `conntrack -L -o save` (which `conntrack -R`
-- reads back), formatted in C (csrc/ct_text.c).  A mark or zone of 0 is
-- left out.  Raises when e is not a valid entry or cannot be written as a
-- line conntrack loads (no timeout, a TCP/SCTP/DCCP entry without state...).
M.format = C.format

--- Parse one `conntrack -L -o save` / `conntrack -I` style line into an
-- entry (csrc/ct_text.c: conntrack-tools' own syntax).  Returns the entry,
-- or nil and the reason (a blank line or # comment: nil, "no entry: ...").
M.parse = C.parse

--- Write entries (an array or an iterator such as ct:dump()) to path in the
-- format of `conntrack -L -o save`.  The lines go to a new file (mode 0600,
-- created beside path under a unique name, never through an existing name or
-- symlink), which is synced and renamed over path: readers see the old
-- snapshot or the whole new one.  On any failure, an entry that cannot be
-- formatted or an iterator that raises included, the new file is removed and
-- the old snapshot stays as it was.  Returns the number written, or nil,
-- message, errno; raises on misuse and re-raises what the iterator raised.
function M.save(entries, path)
  assert(type(path) == "string", "save: path must be a string")
  local each = entries
  if type(entries) == "table" then
    local i = 0
    each = function() i = i + 1; return entries[i] end
  end
  assert(type(each) == "function", "save: entries must be an array or an iterator")
  local f, err, code = core.file_new(path, 384)   -- 0600
  if not f then return nil, "conntrack save: " .. err, code end
  local buf, n = {}, 0
  local ok, res, rerr, rcode = pcall(function()
    for e in each do
      local fine, line = pcall(M.format, e)
      if not fine then error("save: entry " .. (n + 1) .. ": " .. tostring(line), 0) end
      n = n + 1
      buf[#buf + 1] = line
      buf[#buf + 1] = "\n"
      if #buf >= 1024 then
        local w, werr, wcode = f:write(table.concat(buf))
        if not w then return nil, werr, wcode end
        buf = {}
      end
    end
    local w, werr, wcode = f:write(table.concat(buf))
    if not w then return nil, werr, wcode end
    return f:commit()
  end)
  f:discard()   -- nothing left behind once committed; else the new file goes
  if not ok then error(res, 2) end
  if not res then return nil, "conntrack save: " .. rerr, rcode end
  return n
end

--- Read a snapshot written by save or by `conntrack -L -o save`, in C,
-- block by block.  Returns entries, bad where bad lists { line =, text =,
-- message = } for each line that could not be read (blank lines and #
-- comments are skipped); or nil, message, errno when the file cannot be
-- read.  To commit a snapshot without a Lua table per entry: ct:restore.
M.load = C.load

return M
