--- netops-conntrack: the kernel's connection tracking table from the shell:
-- count, save, restore, diff, flush, list and metrics, in this namespace or
-- in a named one (--netns NAME, a name under /run/netns).
local cli = require "netops.cli"
local json = require "dkjson"
local core = require "netops.core"
local inet = require "netops.inet"
local C = require "netops.conntrack"

local NAME = "netops-conntrack"
local M = {}

local FILTER_HELP = [[A FILTER is KEY=VALUE; an entry must match all of them:
  family=ipv4|ipv6  proto=tcp|udp|icmp|...|N  src=ADDR[/LEN]  dst=ADDR[/LEN]
  sport=N  dport=N  zone=N  mark=V[/MASK]  status=ASSURED,SEEN_REPLY,...
  state=ESTABLISHED (TCP/SCTP state)
e.g. proto=tcp dport=443 src=2001:db8::/32 state=ESTABLISHED mark=0x10/0xff]]

local parser = cli.parser(NAME,
  "The kernel's connection tracking table: count, save, restore, diff, flush, list, metrics.",
  FILTER_HELP .. [[


A FILE is what `conntrack -L -o save` writes and `conntrack -R` reads; save
writes it (mode 0600, atomically: readers see the old file or the new one).
On a terminal, a save or restore that takes longer than a second shows its
progress (entries, rate) on stderr (NETOPS_PROGRESS_AFTER=SECONDS changes the
second); never when stderr is not a terminal.
Exit status: 0 done (diff: no difference); 1 a failure (restore: some lines
not committed; diff: the snapshot and the table differ); 2 a usage error or
an unreadable FILE (diff: also bad lines in FILE).
`netops-conntrack COMMAND --help` shows one command's options.]])
  :usage([=[Usage: netops-conntrack [--netns NAME] count
       netops-conntrack [--netns NAME] save FILE [FILTER...]
       netops-conntrack [--netns NAME] restore FILE [--timeout S] [--replace]
       netops-conntrack [--netns NAME] diff FILE [--json]
       netops-conntrack [--netns NAME] flush FILTER... | --all
       netops-conntrack [--netns NAME] list [FILTER...] [--json]
       netops-conntrack [--netns NAME] metrics [--output FILE]]=])
  :command_target("command")
  :require_command(false)
parser:option("--netns", "Work on the table of network namespace NAME (/run/netns/NAME).")
  :argname("<name>")

--- The option parser (the Makefile generates the bash completion from it).
function M.parser() return parser end

-- A command: its own -h/--help (answered by main: cli.parse answers the
-- top-level one), usage line and help.
local commands = {}
local function command(name, usage, description, epilog)
  local c = parser:command(name, description, epilog):add_help(false):help_max_width(79)
    :usage("Usage: " .. NAME .. " [--netns NAME] " .. usage)
  c:flag("-h --help", "Show this help and exit."):target("command_help")
  commands[name] = c
  return c
end

command("count", "count", "Print the number of entries.")
local c = command("save", "save FILE [FILTER...]",
  "Write the entries (those matching the filters) to FILE; - is stdout.", FILTER_HELP)
c:argument("file", "The snapshot file, or - for stdout."):args("?")
c:argument("filter", "KEY=VALUE."):args("*")
c = command("restore", "restore FILE [--timeout S] [--replace]",
  "Commit the entries of FILE (- is stdin) into the table: each refused line on stderr "
  .. "with its line number, then a summary.",
  "Exit status: 0 every entry went in; 1 some did not; 2 a usage error or FILE unreadable.")
c:argument("file", "The snapshot file, or - for stdin."):args("?")
c:option("--timeout", "Give every entry this timeout instead of the saved one."):argname("<s>")
c:flag("--replace", "Delete entries that exist and create them anew (as conntrackd does), "
  .. "instead of updating them.")
c = command("diff", "diff FILE [--json]",
  "Compare a snapshot with the live table, by zone and original tuple: state, mark and reply "
  .. "tuple (timeouts are not compared).",
  [[Text: -LINE only in FILE, +LINE only in the table; an entry that differs as
-LINE and +LINE.  --json: { "missing": [entries only in FILE], "extra":
[entries only in the table], "changed": [{ "key", "fields", "file", "table" }] }.
Exit status: 0 the same, 1 different, 2 trouble (FILE unreadable or with bad
lines, reported on stderr).]])
c:argument("file", "The snapshot file (- for stdin)."):args("?")
c:flag("--json", "The differences as JSON.")
c = command("flush", "flush FILTER... | --all",
  "Delete the entries matching the filters; with --all, every entry.", FILTER_HELP)
c:argument("filter", "KEY=VALUE."):args("*")
c:flag("--all", "Delete every entry (refused without it when no filter is given).")
c = command("list", "list [FILTER...] [--json]",
  "Print the entries (those matching the filters), one a line as `conntrack -L` does.",
  FILTER_HELP)
c:argument("filter", "KEY=VALUE."):args("*")
c:flag("--json", "A JSON array of entries.")
c = command("metrics", "metrics [--output FILE]",
  "Print netops_conntrack_entries and netops_conntrack_max in Prometheus' text format "
  .. "(for node-exporter's textfile collector).")
c:option("--output", "Write them to FILE atomically (mode 0644) instead of stdout.")
  :argname("<file>")

local function warn(...)
  io.stderr:write(NAME, ": ", ...)
  io.stderr:write("\n")
end

-- Filters ---------------------------------------------------------------------

-- The filter keys, in help order; mark_mask is there as ct:dump has it.
local KEYS = { "family", "proto", "src", "dst", "sport", "dport", "zone", "mark", "mark_mask",
               "status", "state" }

-- The closest key to a typo (edit distance at most 2), or nil.
local function suggest(word, list)
  local best, bestd = nil, 3
  for _, cand in ipairs(list) do
    local prev = {}
    for j = 0, #cand do prev[j] = j end
    for i = 1, #word do
      local cur = { [0] = i }
      for j = 1, #cand do
        local cost = word:byte(i) == cand:byte(j) and 0 or 1
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      end
      prev = cur
    end
    if prev[#cand] < bestd then best, bestd = cand, prev[#cand] end
  end
  return best
end

-- A number as conntrack writes one (decimal or 0x hex) in lo..hi, or nil.
local function number(s, lo, hi)
  local n = (s:match("^%d+$") and #s <= 10 and tonumber(s))
    or (s:match("^0[xX]%x+$") and #s <= 10 and tonumber(s:sub(3), 16))
  return n and n >= lo and n <= hi and n or nil
end

-- An address or prefix: the address for the C filter when it is one
-- address; else the prefix, matched here (ct:dump's filter takes only
-- whole addresses).
local function address(key, v, f, post)
  local fam, err = inet.family(v)
  if not fam then return key .. ": " .. err end
  if v:find("%", 1, true) then return key .. ": a zone has no meaning here: " .. v end
  local family = fam == 4 and "ipv4" or "ipv6"
  if f.family and f.family ~= family then return key .. "=" .. v .. " is not " .. f.family end
  f.family = family
  local bare, len = v:match("^(.-)/(%d+)$")
  if not bare or tonumber(len) == (fam == 4 and 32 or 128) then
    f[key] = bare or v
    return
  end
  post[#post + 1] = function(e) return inet.contains(v, e[key]) == true end
end

local names = C.names
local function names_of(list)
  local set = {}
  for _, n in pairs(list) do set[n] = true end
  return set
end
local STATES = {}
for _, list in pairs(names.states) do for _, n in pairs(list) do STATES[n] = true end end
local STATUS = names_of(names.status)

-- One KEY=VALUE into the C filter f or a Lua test in post; an error message
-- when it is wrong.
local SET = {
  family = function(v, f)
    if v ~= "ipv4" and v ~= "ipv6" then return "family is ipv4 or ipv6, not '" .. v .. "'" end
    if f.family and f.family ~= v then return "family=" .. v .. " but an " .. f.family .. " address" end
    f.family = v
  end,
  proto = function(v, f)
    local p = v:lower()
    if names.protos[p] then f.proto = p; return end
    f.proto = number(v, 0, 255)
    if not f.proto then return "unknown protocol '" .. v .. "'" end
  end,
  src = function(v, f, post) return address("src", v, f, post) end,
  dst = function(v, f, post) return address("dst", v, f, post) end,
  sport = function(v, f) f.sport = number(v, 0, 65535); if not f.sport then return "bad port '" .. v .. "'" end end,
  dport = function(v, f) f.dport = number(v, 0, 65535); if not f.dport then return "bad port '" .. v .. "'" end end,
  zone = function(v, f) f.zone = number(v, 0, 65535); if not f.zone then return "bad zone '" .. v .. "'" end end,
  mark = function(v, f)
    local val, mask = v:match("^([^/]+)/(.+)$")
    f.mark = number(val or v, 0, 0xffffffff)
    if mask then f.mark_mask = number(mask, 0, 0xffffffff) end
    if not f.mark or (mask and not f.mark_mask) then return "bad mark '" .. v .. "' (V or V/MASK)" end
  end,
  mark_mask = function(v, f)
    f.mark_mask = number(v, 0, 0xffffffff)
    if not f.mark_mask then return "bad mark mask '" .. v .. "'" end
  end,
  status = function(v, f)
    f.status = {}
    for s in v:gmatch("[^,]+") do
      s = s:upper()
      if not STATUS[s] then return "unknown status '" .. s .. "'" end
      f.status[s] = true
    end
  end,
  state = function(v, _, post)
    local s = v:upper()
    if not STATES[s] then return "unknown state '" .. v .. "'" end
    post[#post + 1] = function(e) return e.state == s end
  end,
}

--- The filters of args: the filter for ct:dump (nil when none), a test for
-- what it cannot say (nil when none), or nil and a usage message.
local function filters(args)
  local f, post = {}, {}
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if not k then return nil, nil, "a filter is KEY=VALUE, not '" .. a .. "'" end
    if not SET[k] then
      local s = suggest(k, KEYS)
      return nil, nil, "unknown filter key '" .. k .. "'" .. (s and ("; did you mean '" .. s .. "'?") or "")
        .. " (keys: " .. table.concat(KEYS, ", ") .. ")"
    end
    local err = SET[k](v, f, post)
    if err then return nil, nil, err end
  end
  if f.mark_mask and not f.mark then return nil, nil, "mark_mask without mark" end
  local test = nil
  if #post > 0 then
    test = function(e)
      for _, t in ipairs(post) do if not t(e) then return false end end
      return true
    end
  end
  return next(f) and f or nil, test
end

-- The entries of h matching filter and test, as an iterator; or nil, message.
local function entries(h, filter, test)
  local it, err = h:dump(filter)
  if not it then return nil, err end
  if not test then return it end
  return function()
    for e in it do if test(e) then return e end end
  end
end

-- Progress ----------------------------------------------------------------------

-- A progress line on stderr for a long save or restore: only on a terminal
-- and once the work has taken NETOPS_PROGRESS_AFTER seconds (default 1),
-- at most four times a second.  Returns update(done) and finish().
local function progress(what)
  if not core.isatty(2) then return function() end, function() end end
  local after = tonumber(os.getenv("NETOPS_PROGRESS_AFTER") or "") or 1
  local t0, last, shown = core.monotime(), nil, false
  local function update(done)
    local now = core.monotime()
    if now - t0 < after or (last and now - last < 0.25) then return end
    last, shown = now, true
    io.stderr:write(("\r%s: %s: %d entries, %.0f/s\27[K"):format(NAME, what, done,
                                                                 done / math.max(now - t0, 1e-3)))
  end
  local function finish()
    if shown then io.stderr:write("\r\27[K") end
  end
  return update, finish
end

-- Snapshots: one function each, for ct:save / ct:restore to replace ------------

-- Write the entries of h (matching filter and test) to path, or to stdout
-- when path is "-".  Returns the number written, or nil, message.
local function do_save(h, path, filter, test, update)
  if path ~= "-" and not test then
    -- nothing to test in Lua: the dump goes straight to the file in C
    local n, skipped, code = h:save(path, filter)
    if not n then return nil, skipped, code end
    update(n)
    if skipped > 0 then
      return nil, ("%d written, %d left out: no snapshot line describes them"):format(n, skipped)
    end
    return n
  end
  local it, err = entries(h, filter, test)
  if not it then return nil, err end
  local n = 0
  local function counted()
    local e = it()
    if e then
      n = n + 1
      if n % 256 == 0 then update(n) end
    end
    return e
  end
  if path ~= "-" then
    local ok, w, werr = pcall(C.save, counted, path)
    if not ok then return nil, tostring(w) end
    if w then update(n) end
    return w, werr
  end
  local buf = {}
  for e in counted do
    local ok, line = pcall(C.format, e)
    if not ok then return nil, "entry " .. n .. ": " .. tostring(line) end
    buf[#buf + 1] = line
    if #buf >= 512 then io.stdout:write(table.concat(buf, "\n"), "\n"); buf = {} end
  end
  if #buf > 0 then io.stdout:write(table.concat(buf, "\n"), "\n") end
  local ok, ferr = io.stdout:flush()
  if not ok then return nil, "stdout: " .. tostring(ferr) end
  update(n)
  return n
end


-- Commit the entries of the snapshot at path: the result of ct:commit
-- summed over the batches, with errors { line =, text =, message = } for
-- every line refused (unreadable or by the kernel); or nil, message, "open"
-- when path cannot be read, nil, message, errno, result when the commit
-- stopped (the table full, a socket failure).  Lines are read one at a
-- time with C.parse, so every refusal keeps its line number.
local function do_restore(h, path, o, update)
  local f, oerr = io.open(path, "r")
  if not f then return nil, oerr, "open" end
  f:close()
  local r, err, code, partial = h:restore(path, { timeout = o.timeout, replace = o.replace or nil,
                                                  progress = update })
  local res = r or partial
  -- lines that could not be read and entries the kernel refused: both refused lines here
  if res then res.failed = res.failed + res.bad end
  if not r then return nil, err, code, res end
  return res
end

-- Text output ---------------------------------------------------------------------

local function tuple(t, icmp)
  local s = "src=" .. t.src .. " dst=" .. t.dst
  if t.sport then s = s .. " sport=" .. t.sport .. " dport=" .. t.dport end
  if icmp then s = s .. " type=" .. icmp.type .. " code=" .. (icmp.code or 0) .. " id=" .. (icmp.id or 0) end
  return s
end

-- An entry as `conntrack -L` shows it (without its use count).
local function entry_text(e)
  local r = e.reply or {}
  local t = { e.proto, tostring(names.protos[e.proto] or e.proto), tostring(e.timeout or 0) }
  if e.state then t[#t + 1] = e.state end
  t[#t + 1] = tuple(e, e.icmp)
  local st = e.status or {}
  if not st.SEEN_REPLY then t[#t + 1] = "[UNREPLIED]" end
  t[#t + 1] = tuple({ src = r.src or e.dst, dst = r.dst or e.src, sport = r.sport, dport = r.dport })
  if st.ASSURED then t[#t + 1] = "[ASSURED]" end
  t[#t + 1] = "mark=" .. (e.mark or 0)
  if (e.zone or 0) ~= 0 then t[#t + 1] = "zone=" .. e.zone end
  return table.concat(t, " ")
end

-- JSON: status as a sorted array of names (an empty set would be []
-- anyway), the keys in a fixed order.
local KEYORDER = { "family", "proto", "src", "dst", "sport", "dport", "type", "code", "icmp", "reply", "state",
                   "status", "timeout", "mark", "zone", "id", "key", "fields", "file", "table",
                   "missing", "extra", "changed" }
local function entry_json(e)
  local o = {}
  for k, v in pairs(e) do o[k] = v end
  local st = {}
  for s, on in pairs(e.status or {}) do if on then st[#st + 1] = s end end
  table.sort(st)
  o.status = setmetatable(st, { __jsontype = "array" })
  return o
end
local function encode(v)
  return json.encode(v, { keyorder = KEYORDER })
end

-- A snapshot line for e, or its key when it cannot be written as one.
local function line_of(e)
  local ok, line = pcall(C.format, e)
  return ok and line or C.key(e)
end

-- Commands ------------------------------------------------------------------------

local run = {}

function run.count(h)
  local n, err = h:count()
  if not n then warn(err); return 1 end
  io.stdout:write(n, "\n")
  return 0
end

function run.save(h, o)
  local update, finish = progress("save")
  local n, err = do_save(h, o.file, o.filter_c, o.filter_test, update)
  finish()
  if not n then warn("save: ", err); return 1 end
  warn("save: ", n, n == 1 and " entry" or " entries", " written to ",
       o.file == "-" and "stdout" or o.file)
  return 0
end

function run.restore(h, o)
  local path = o.file == "-" and "/dev/stdin" or o.file
  local t0 = core.monotime()
  local update, finish = progress("restore")
  local r, err, code, partial = do_restore(h, path, o, update)
  finish()
  if not r and code == "open" then warn("restore: ", err); return 2 end
  local res = r or partial
  if not res then warn("restore: ", err); return 1 end
  for _, e in ipairs(res.errors) do
    warn(o.file, ":", e.line, ": ", e.message, ": ", e.text)
  end
  if (res.omitted or 0) > 0 then warn(o.file, ": ", res.omitted, " more refused lines not shown") end
  warn(("restore: %s: %d created, %d updated, %d failed (%.2f s)"):format(
    o.file, res.created, res.updated, res.failed, core.monotime() - t0))
  if not r then warn("restore: ", err); return 1 end
  return res.failed > 0 and 1 or 0
end

function run.diff(h, o)
  local snap, bad = C.load(o.file == "-" and "/dev/stdin" or o.file)
  if not snap then warn("diff: ", bad); return 2 end
  for _, b in ipairs(bad) do warn(b.message, ": ", b.text) end
  local it, err = h:dump()
  if not it then warn("diff: ", err); return 2 end
  local d = C.diff(snap, it)
  local differ = #d.missing + #d.extra + #d.changed > 0
  if o.json then
    local out = { missing = {}, extra = {}, changed = {} }
    for i, e in ipairs(d.missing) do out.missing[i] = entry_json(e) end
    for i, e in ipairs(d.extra) do out.extra[i] = entry_json(e) end
    for i, ch in ipairs(d.changed) do
      out.changed[i] = { key = ch.key, fields = ch.fields, file = entry_json(ch.a), table = entry_json(ch.b) }
    end
    for _, k in ipairs { "missing", "extra", "changed" } do
      setmetatable(out[k], { __jsontype = "array" })
    end
    io.stdout:write(encode(out), "\n")
  else
    for _, e in ipairs(d.missing) do io.stdout:write("-", line_of(e), "\n") end
    for _, e in ipairs(d.extra) do io.stdout:write("+", line_of(e), "\n") end
    for _, ch in ipairs(d.changed) do
      io.stdout:write("-", line_of(ch.a), "\n", "+", line_of(ch.b), "\n")
    end
  end
  if #bad > 0 then return 2 end
  return differ and 1 or 0
end

function run.flush(h, o)
  local n, err
  if not o.filter_test then
    n, err = h:flush(o.filter_c)
  else
    -- what ct:flush's filter cannot say (prefixes, state): entry by entry
    local list
    list, err = h:list(o.filter_c)
    if list then
      n = 0
      for _, e in ipairs(list) do
        if o.filter_test(e) then
          local ok, derr, code = h:delete(e)
          if ok then n = n + 1 elseif code ~= 2 then err = derr; break end   -- 2: ENOENT, gone
        end
      end
      if err then n = nil end
    end
  end
  if not n then warn("flush: ", err); return 1 end
  warn("flush: ", n, n == 1 and " entry" or " entries", " deleted")
  return 0
end

function run.list(h, o)
  local it, err = entries(h, o.filter_c, o.filter_test)
  if not it then warn("list: ", err); return 1 end
  if o.json then io.stdout:write("[") end
  local n = 0
  for e in it do
    n = n + 1
    if o.json then
      io.stdout:write(n > 1 and ",\n" or "\n", encode(entry_json(e)))
    else
      io.stdout:write(entry_text(e), "\n")
    end
  end
  if o.json then io.stdout:write(n > 0 and "\n]\n" or "]\n") end
  return 0
end

-- A Prometheus label value: \, " and newline escaped.
local function label(v)
  return (v:gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

function run.metrics(h, o)
  local n, max = h:count()
  if not n then warn("metrics: ", max); return 1 end
  local l = o.netns and ('{netns="' .. label(o.netns) .. '"}') or ""
  local text = table.concat({
    "# HELP netops_conntrack_entries Entries in the connection tracking table (nf_conntrack_count).",
    "# TYPE netops_conntrack_entries gauge",
    "netops_conntrack_entries" .. l .. " " .. n,
    "# HELP netops_conntrack_max The table's size limit (nf_conntrack_max).",
    "# TYPE netops_conntrack_max gauge",
    "netops_conntrack_max" .. l .. " " .. max,
    "" }, "\n")
  if not o.output then io.stdout:write(text); return 0 end
  -- a new file renamed over the old one: the collector never reads half
  local f, err = core.file_new(o.output, 420)   -- 0644: node-exporter reads it
  local ok = f ~= nil
  if ok then ok, err = f:write(text) end
  if ok then ok, err = f:commit() end
  if f then f:discard() end
  if not ok then warn("metrics: ", err); return 1 end
  return 0
end

-- main --------------------------------------------------------------------------

-- What each command needs besides its options: a usage message when missing.
local function need_file(o)
  if not o.file then return "no FILE given" .. (o.command == "save" and " (- for stdout)" or " (- for stdin)") end
  if o.file:find("%z") then return "FILE contains a NUL byte" end
end
local checks = {
  save = need_file, restore = need_file, diff = need_file,
  flush = function(o)
    if o.all and #o.filter > 0 then return "--all takes no FILTER" end
    if not o.all and #o.filter == 0 then return "no FILTER given (--all deletes every entry)" end
  end,
}

--- The command line, checked: the options, or nil and the exit status.
local function options(args)
  local o, status = cli.parse(parser, args)
  if not o then return nil, status end
  if o.command_help then
    io.stdout:write(commands[o.command]:get_help(), "\n")
    return nil, 0
  end
  if not o.command then return nil, cli.usage_error(parser, "no command given") end
  if o.netns and (o.netns == "" or o.netns:find("[/%z]") or o.netns == "." or o.netns == "..") then
    return nil, cli.usage_error(parser, "--netns: '" .. o.netns .. "' is not a name under /run/netns")
  end
  if o.timeout then
    local t = o.timeout:match("^%d+$") and tonumber(o.timeout)
    if not t or t < 1 or t > 0xffffffff then
      return nil, cli.usage_error(parser, "--timeout: '" .. o.timeout .. "' is not a number of seconds (1..4294967295)")
    end
    o.timeout = t
  end
  o.filter = o.filter or {}
  local err = checks[o.command] and checks[o.command](o)
  if err then return nil, cli.usage_error(parser, o.command .. ": " .. err) end
  local f, test
  f, test, err = filters(o.filter)
  if err then return nil, cli.usage_error(parser, o.command .. ": " .. err) end
  o.filter_c, o.filter_test = f, test
  return o
end

function M.main(args)
  local o, status = options(args)
  if not o then return status end
  local h <close>, err = C.open { netns = o.netns }
  if not h then
    warn(err)
    return o.command == "diff" and 2 or 1   -- diff: trouble, as diff(1)
  end
  return run[o.command](h, o)
end

return M
