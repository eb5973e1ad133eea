--- netops.conntrack: the kernel connection tracking table.
--
--   local ct = assert(netops.conntrack.open { netns = "fw1" })
--   for e in ct:dump { proto = "tcp" } do ... end       -- streams
--   local r = ct:commit(entries, { timeout = 180 })    -- batched
--
-- The handle's methods are in C (csrc/lua_conntrack.c); this file adds
-- diff, save and load, which need no kernel.  See README "netops.conntrack".
-- Errors: misuse raises; failures of the world return nil, message, errno.
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

-- status bits that `conntrack -L -o save` writes and `conntrack -I -u` reads
local SAVE_STATUS = { "SEEN_REPLY", "ASSURED", "FIXED_TIMEOUT", "EXPECTED" }

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
-- reads back).  netops adds `-m MARK` when the mark is not zero.  Raises
-- when e is not a valid entry (C.check's reason): a line that cannot be read
-- back, or that says something else than e (a state with a NUL byte or a
-- space in it), is never written.
function M.format(e)
  local good, why = C.check(e)
  if not good then error("format: " .. why, 2) end
  local t = { "-A" }
  local function add(...) for _, v in ipairs { ... } do t[#t + 1] = tostring(v) end end
  if e.timeout then add("-t", e.timeout) end
  local st = {}
  for _, n in ipairs(SAVE_STATUS) do
    if e.status and e.status[n] then st[#st + 1] = n end
  end
  add("-u", #st > 0 and table.concat(st, ",") or "UNSET")
  if e.zone and e.zone ~= 0 then add("-w", e.zone) end
  local rs, rd, rsp, rdp = reply_of(e)
  add("-s", e.src, "-d", e.dst)
  -- NAT as conntrack-tools writes it: -g (destination NAT to the reply
  -- source) instead of -r, -n (source NAT to the reply destination) instead
  -- of -q: given -r/-q for a NATed side, `conntrack -R` would create the
  -- entry with its translated reply but without the NAT set up.  The side
  -- without NAT keeps its -r/-q: without it `conntrack -R` completes the
  -- reply tuple itself and drops the translated reply port.
  add(rs ~= e.dst and "-g" or "-r", rs, rd ~= e.src and "-n" or "-q", rd)
  add("-p", e.proto)
  if e.sport then
    add("--sport", e.sport, "--dport", e.dport, "--reply-port-src", rsp, "--reply-port-dst", rdp)
  end
  if e.state then add("--state", e.state) end
  if e.vtag then add("--orig-vtag", e.vtag.orig or 0, "--reply-vtag", e.vtag.reply or 0) end
  if e.icmp then
    local p = e.proto == "icmpv6" and "--icmpv6-" or "--icmp-"
    add(p .. "type", e.icmp.type, p .. "code", e.icmp.code or 0, p .. "id", e.icmp.id or 0)
  end
  if e.mark and e.mark ~= 0 then add("-m", e.mark) end
  return table.concat(t, " ")
end

-- A number as conntrack writes it: decimal digits, or 0x and hex digits.
-- Read exactly: Lua's tonumber wraps hex modulo 2^64 (0x10000000000000016
-- would be 22) and takes floats and exponents, which change a line's meaning.
local function num(v, what, lo, hi)
  local s = tostring(v)
  local digits, base = s:match("^0[xX](%x+)$"), 16
  if not digits then digits, base = s:match("^(%d+)$"), 10 end
  if not digits then error(what .. ": bad number '" .. s .. "'", 0) end
  digits = digits:gsub("^0+(.)", "%1")
  -- hi is at most 2^32-1: ten decimal or eight hex digits are plenty
  local n = #digits <= (base == 16 and 8 or 10) and tonumber(digits, base) or nil
  if not n or n < lo or n > hi then
    error(what .. ": " .. s .. " out of range " .. lo .. ".." .. hi, 0)
  end
  return n
end

local OPTS = {
  ["-t"] = "timeout", ["--timeout"] = "timeout",
  ["-u"] = "status", ["--status"] = "status",
  ["-w"] = "zone", ["--zone"] = "zone",
  ["-s"] = "src", ["--src"] = "src", ["--orig-src"] = "src",
  ["-d"] = "dst", ["--dst"] = "dst", ["--orig-dst"] = "dst",
  ["-r"] = "rsrc", ["--reply-src"] = "rsrc",
  ["-q"] = "rdst", ["--reply-dst"] = "rdst",
  ["-p"] = "proto", ["--proto"] = "proto", ["--protonum"] = "proto",
  ["--sport"] = "sport", ["--orig-port-src"] = "sport",
  ["--dport"] = "dport", ["--orig-port-dst"] = "dport",
  ["--reply-port-src"] = "rsport", ["--reply-port-dst"] = "rdport",
  ["--state"] = "state",
  ["--icmp-type"] = "itype", ["--icmp-code"] = "icode", ["--icmp-id"] = "iid",
  ["--icmpv6-type"] = "itype", ["--icmpv6-code"] = "icode", ["--icmpv6-id"] = "iid",
  ["-m"] = "mark", ["--mark"] = "mark",
  ["-f"] = "family", ["--family"] = "family",
  ["--orig-vtag"] = "vtag_orig", ["--reply-vtag"] = "vtag_reply",
  ["-n"] = "snat", ["--src-nat"] = "snat", ["-g"] = "dnat", ["--dst-nat"] = "dnat",
  ["-c"] = "ignore", ["--secmark"] = "ignore",
  ["--orig-zone"] = "ignore", ["--reply-zone"] = "ignore",
}

local proto_by_number = {}
for n, v in pairs(names.protos) do proto_by_number[v] = n end

--- Parse one `conntrack -L -o save` / `conntrack -I` style line into an
-- entry.  Returns the entry, or nil and the reason.
function M.parse(line)
  assert(type(line) == "string", "parse: line must be a string")
  if line:find("\0", 1, true) then return nil, "line contains a NUL byte" end
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local cmd = words[1]
  if cmd ~= "-A" and cmd ~= "-I" and cmd ~= "-U" and cmd ~= "--create" then
    return nil, "line does not start with -A, -I or -U"
  end
  local v = {}
  local i = 2
  while i <= #words do
    local o = words[i]
    local f = OPTS[o]
    if not f then return nil, "unknown option '" .. o .. "'" end
    local a = words[i + 1]
    if a == nil then return nil, "option " .. o .. " needs a value" end
    v[f] = a
    i = i + 2
  end
  local ok, e = pcall(function()
    local e = {}
    local p = v.proto or error("missing -p (protocol)", 0)
    if names.protos[p] then
      e.proto = p
    else
      local pn = num(p, "-p", 0, 255)
      e.proto = proto_by_number[pn] or pn
    end
    e.src = v.src or error("missing -s (source address)", 0)
    e.dst = v.dst or error("missing -d (destination address)", 0)
    e.family = inet.family(e.src) == 6 and "ipv6" or "ipv4"
    if v.family and v.family ~= e.family then error("-f " .. v.family .. " does not match -s", 0) end
    if v.timeout then e.timeout = num(v.timeout, "-t", 0, 0xffffffff) end
    e.status = {}
    if v.status then
      for s in v.status:gmatch("[^,]+") do
        if s ~= "UNSET" then e.status[s] = true end
      end
    end
    e.zone = v.zone and num(v.zone, "-w", 0, 65535) or 0
    e.mark = v.mark and num(v.mark, "-m", 0, 0xffffffff) or 0
    if v.sport or v.dport then
      e.sport = num(v.sport or error("missing --sport", 0), "--sport", 0, 65535)
      e.dport = num(v.dport or error("missing --dport", 0), "--dport", 0, 65535)
    end
    e.reply = {
      src = v.rsrc or v.dnat or e.dst, dst = v.rdst or v.snat or e.src,
      sport = v.rsport and num(v.rsport, "--reply-port-src", 0, 65535) or e.dport,
      dport = v.rdport and num(v.rdport, "--reply-port-dst", 0, 65535) or e.sport,
    }
    if v.state then e.state = v.state end
    if v.itype then
      e.icmp = { type = num(v.itype, "icmp type", 0, 255),
                 code = v.icode and num(v.icode, "icmp code", 0, 255) or 0,
                 id = v.iid and num(v.iid, "icmp id", 0, 65535) or 0 }
    end
    if v.vtag_orig or v.vtag_reply then
      e.vtag = { orig = num(v.vtag_orig or 0, "--orig-vtag", 0, 0xffffffff),
                 reply = num(v.vtag_reply or 0, "--reply-vtag", 0, 0xffffffff) }
    end
    return e
  end)
  if not ok then return nil, e end
  local good, why = C.check(e)
  if not good then return nil, why end
  return e
end

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

--- Read a snapshot written by save or by `conntrack -L -o save`.  Returns
-- entries, bad where bad lists { line =, text =, message = } for each line
-- that could not be read (blank lines and # comments are skipped); or nil,
-- message, errno when the file cannot be read.
function M.load(path)
  assert(type(path) == "string", "load: path must be a string")
  if path:find("\0", 1, true) then error("load: path contains a NUL byte", 2) end
  local f, err, code = io.open(path, "r")
  if not f then return nil, "conntrack load: " .. err, code end
  local entries, bad = {}, {}
  local n = 0
  for line in f:lines() do
    n = n + 1
    if line:match("%S") and not line:match("^%s*#") then
      local e, why = M.parse(line)
      if e then
        entries[#entries + 1] = e
      else
        bad[#bad + 1] = { line = n, text = line, message = path .. ":" .. n .. ": " .. why }
      end
    end
  end
  f:close()
  return entries, bad
end

return M
