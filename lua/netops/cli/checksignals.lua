--- checksignals: which signals a process blocks, ignores, catches and has
-- pending, by name; which processes ignore (catch, block) a signal; what a
-- mask pasted from `ps -o pending,blocked,ignored,caught` means.
local cli = require "netops.cli"
local proc = require "netops.proc"        -- the two areas it uses, not all of netops
local signals = require "netops.signals"

local M = {}
-- main leaves no object with a finalizer behind: the launcher exits without
-- closing the Lua state (lua/netops/cli/init.lua, "The launcher").
M.no_finalizers = true

local parser = cli.parser("checksignals",
  "Which signals processes block, ignore, catch and have pending, by name.",
  [[For each PID: Pnd (per-thread pending), Shd (process pending), Blk, Ign and
Cgt lines, each one only when non-empty, e.g. "Ign: SIGPIPE (13), SIGTERM (15)".
With --all: every process that matches all the filters given, one line each,
PID NAME (processes that exit meanwhile are skipped).  A SIG is TERM, SIGTERM,
15 or RTMIN+3; a comma list means all of them; the filters may repeat.
Names are shown as valid UTF-8 text, with each byte of a control or bidi
character or not UTF-8 as \xNN and \ as \\ (in JSON: \uXXXX escapes, a byte
that is not UTF-8 as \u0080..\u00ff).  --json takes no value (--json=no is a
usage error).
Exit status: 0 done; 1 a process missing or unreadable, a bad PID or mask,
or with --all no process matched (as pgrep) or some process could not be read
(the list is incomplete); 2 a usage error.]])
  :usage([=[Usage: checksignals [--threads] [--json] PID...
       checksignals --all [--ignoring SIG] [--catching SIG] [--blocking SIG]
                          [--pending SIG] [--user] [--json]
       checksignals --decode HEX... [--json]]=])
parser:argument("pid", "Processes (or threads) to show."):args("*")
parser:flag("--threads", "Also a block for each thread whose blocked or pending set "
  .. "differs from the main thread's.")
parser:flag("--all", "Every process that matches all the filters given.")
parser:option("--ignoring", "... that ignore SIG."):argname("<sig>"):count("*")
parser:option("--catching", "... that catch SIG."):argname("<sig>"):count("*")
parser:option("--blocking", "... whose main thread blocks SIG."):argname("<sig>"):count("*")
parser:option("--pending", "... with SIG pending (for the main thread or the process)."):argname("<sig>"):count("*")
parser:flag("--user", "Leave out kernel threads.")
parser:option("--decode", "The signals of masks such as 0000000000004a02 or 0x4a02.")
  :argname("<hex>"):args("*")
parser:flag("--json", "The same data as JSON.")

--- The option parser (the Makefile generates the bash completion from it).
function M.parser() return parser end

local FILTERS = { "ignoring", "catching", "blocking", "pending" }

--- The command line, checked: the options, or nil and the exit status.
local function options(args)
  local o, status = cli.parse(parser, args)
  if not o then return nil, status end
  o.filters = {}
  for _, field in ipairs(FILTERS) do
    for _, v in ipairs(o[field]) do
      for s in v:gmatch("[^,]+") do
        local n, err = signals.number(s)
        if not n then return nil, cli.usage_error(parser, "--" .. field .. ": " .. err) end
        o.filters[field] = o.filters[field] or {}
        table.insert(o.filters[field], n)
      end
    end
  end
  if o.decode then
    if o.all then return nil, cli.usage_error(parser, "--all and --decode do not mix") end
    table.move(o.pid, 1, #o.pid, #o.decode + 1, o.decode)
    if #o.decode == 0 then return nil, cli.usage_error(parser, "--decode needs a mask") end
  elseif o.all then
    if #o.pid > 0 then return nil, cli.usage_error(parser, "--all takes no PID") end
  elseif next(o.filters) then
    return nil, cli.usage_error(parser, "--ignoring, --catching, --blocking and --pending go with --all")
  elseif #o.pid == 0 then
    return nil, cli.usage_error(parser, "no PID given")
  end
  return o
end

-- Output ---------------------------------------------------------------------

-- A process name for a terminal: valid UTF-8 text as it is; every byte of a
-- control or bidi character, and every byte that is not UTF-8, as \xNN; \ as \\.
local printable = proc.printable

-- JSON: dkjson, with the keys in this order, empty tables as [], and names
-- (bytes) through name_json.
local KEYORDER = { "pid", "tid", "mask", "signal", "name", "state", "state_name", "kernel",
                   "pending", "shared_pending", "blocked", "ignored", "caught", "threads", "signals" }
local function encode(v)
  return require("dkjson").encode(v, { keyorder = KEYORDER })   -- loaded for --json only
end

-- A name as a JSON string: valid UTF-8 as it is, control and bidi
-- characters as \uXXXX, and each byte that is not UTF-8 as the code point of
-- the same value, \u0080..\u00ff (read as Latin-1): escaped by
-- proc.printable, handed to dkjson as it is (__tojson).
local NAME_JSON
do
  local esc = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
  local function escape(bytes, cp)
    return esc[bytes] or ("\\u%04x"):format(cp or bytes:byte())
  end
  NAME_JSON = { __tojson = function(self) return '"' .. printable(self[1], escape) .. '"' end }
end
local function name_json(s)
  return setmetatable({ s }, NAME_JSON)
end

local function sigobjs(list)
  local out = {}
  for i, n in ipairs(list) do
    out[i] = { signal = n, name = signals.name(n) or ("SIG" .. n) }
  end
  return out
end

local MASKS = {
  { "pending", "Pnd" }, { "shared_pending", "Shd" }, { "blocked", "Blk" },
  { "ignored", "Ign" }, { "caught", "Cgt" },
}

local function entry_json(e, threads)
  local o = { pid = e.pid, tid = e.tid, name = name_json(e.name), state = e.state,
              state_name = e.state_name, kernel = e.kernel }
  for _, m in ipairs(MASKS) do o[m[1]] = sigobjs(e[m[1]]) end
  if threads then
    o.threads = {}
    for i, t in ipairs(threads) do
      o.threads[i] = { tid = t.tid, pending = sigobjs(t.pending), blocked = sigobjs(t.blocked) }
    end
  end
  return o
end

local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- Threads of e whose pending or blocked set differs from the main thread's.
local function differing_threads(e)
  local out = {}
  local tids = proc.threads(e.pid)
  for _, tid in ipairs(tids or {}) do
    if tid ~= e.pid then
      local t = proc.signals(e.pid, tid)   -- a thread that ended meanwhile is skipped
      if t and not (same(t.pending, e.pending) and same(t.blocked, e.blocked)) then
        out[#out + 1] = t
      end
    end
  end
  return out
end

local function say(...)
  io.stdout:write(...)
  io.stdout:write("\n")
end

-- Modes ------------------------------------------------------------------------

local function decode(o)
  local status, results = 0, {}
  for _, hex in ipairs(o.decode) do
    local list, err = signals.decode(hex)
    if not list then
      io.stderr:write("checksignals: ", err, "\n")
      status = 1
    elseif o.json then
      results[#results + 1] = { mask = hex, signals = sigobjs(list) }
    else
      local text = #list > 0 and signals.format(list) or "(none)"
      say(#o.decode > 1 and (hex .. ": " .. text) or text)
    end
  end
  if o.json then say(encode(results)) end
  return status
end

local function all(o)
  local found, errors = proc.find {
    ignoring = o.filters.ignoring, catching = o.filters.catching,
    blocking = o.filters.blocking, pending = o.filters.pending, user = o.user,
    masks = false,   -- only pid and name are printed
  }
  if not found then
    io.stderr:write("checksignals: ", errors, "\n")
    return 1
  end
  -- Unreadable processes (hidepid, other users' under some LSMs): one line
  -- naming how many and the first reason; the list is incomplete, so exit 1.
  local status = #found == 0 and 1 or 0     -- nothing matched: 1, as pgrep
  if #errors > 0 then
    io.stderr:write("checksignals: could not read ", #errors, #errors == 1 and " process" or " processes",
                    " (", errors[1], #errors > 1 and ", ..." or "", "); the list below is incomplete\n")
    status = 1
  end
  if o.json then
    local out = {}
    for i, e in ipairs(found) do out[i] = { pid = e.pid, name = name_json(e.name) } end
    say(encode(out))
  else
    local lines = {}
    for i, e in ipairs(found) do lines[i] = e.pid .. " " .. printable(e.name) end
    if #lines > 0 then say(table.concat(lines, "\n")) end
  end
  return status
end

local function show(e, threads)
  local state = e.state_name and e.state_name ~= "" and e.state_name or e.state or "?"
  -- a thread id given as PID: its process, then which thread Pnd and Blk are of
  say(("%d %s (%s)%s"):format(e.pid, printable(e.name), state,
                              e.tid ~= e.pid and (", thread " .. e.tid) or ""))
  for _, m in ipairs(MASKS) do
    if #e[m[1]] > 0 then say(m[2], ": ", signals.format(e[m[1]])) end
  end
  for _, t in ipairs(threads or {}) do
    say(("thread %d:"):format(t.tid))
    say("  Pnd: ", #t.pending > 0 and signals.format(t.pending) or "(none)")
    say("  Blk: ", #t.blocked > 0 and signals.format(t.blocked) or "(none)")
  end
end

local function pids(o)
  local status, results = 0, {}
  for _, target in ipairs(o.pid) do
    local pid = target:match("^%d+$") and tonumber(target)
    local e, err
    if not pid or pid < 1 or pid > 0x7fffffff then
      err = "not a process id: '" .. printable(target) .. "'"
    else
      e, err = proc.signals(pid)
    end
    if not e then
      io.stderr:write("checksignals: ", err, "\n")
      status = 1
    else
      local threads = o.threads and differing_threads(e) or nil
      if o.json then results[#results + 1] = entry_json(e, threads) else show(e, threads) end
    end
  end
  if o.json then say(encode(results)) end
  return status
end

function M.main(args)
  local o, status = options(args)
  if not o then return status end
  if o.decode then return decode(o) end
  if o.all then return all(o) end
  return pids(o)
end

return M
