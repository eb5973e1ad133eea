#!/usr/bin/env lua5.4
-- Where netops is: run as CHECKOUT/examples/NAME.lua, the checkout's lua/ and
-- build/; installed as PREFIX/bin/NAME, that tree's share/lua/5.4 and
-- lib/lua/5.4; else Lua's own path (LUA_PATH, as `luarocks path` sets it).
local top, leaf = ((arg and arg[0] or ""):match("^(.*/)") or ""):match("^(.-)([^/]*)/$")
if leaf == "examples" then
  package.path = top .. "lua/?.lua;" .. top .. "lua/?/init.lua;" .. package.path
  package.cpath = top .. (os.getenv("NETOPS_BUILD") or "build") .. "/?.so;" .. package.cpath
elseif leaf == "bin" then
  package.path = top .. "share/lua/5.4/?.lua;" .. top .. "share/lua/5.4/?/init.lua;" .. package.path
  package.cpath = top .. "lib/lua/5.4/?.so;" .. package.cpath
end

-- checksignals: which signals a process blocks, ignores, catches and has
-- pending, by name; which processes ignore (catch, block) a signal; what a
-- mask pasted from `ps -o pending,blocked,ignored,caught` means.

local USAGE = [[
usage: checksignals [--threads] [--json] PID...
       checksignals --all [--ignoring SIG] [--catching SIG] [--blocking SIG]
                    [--pending SIG] [--user] [--json]
       checksignals --decode HEX... [--json]

  PID...          for each process: Pnd (per-thread pending), Shd (process
                  pending), Blk, Ign and Cgt lines, each one only when
                  non-empty, e.g. "Ign: SIGPIPE (13), SIGTERM (15)"
  --threads       also a block for each thread whose blocked or pending set
                  differs from the main thread's
  --all           every process that matches all the filters given, one line
                  each: PID NAME (processes that exit meanwhile are skipped)
  --ignoring SIG  ... that ignore SIG (TERM, SIGTERM, 15, RTMIN+3; a comma
  --catching SIG      list means all of them; the options may repeat)
  --blocking SIG  ... whose main thread blocks SIG
  --pending SIG   ... with SIG pending (for the main thread or the process)
  --user          leave out kernel threads
  --decode HEX    the signals of a mask such as 0000000000004a02 or 0x4a02
  --json          the same data as JSON
Names are shown as valid UTF-8 text, with each byte of a control or bidi
character or not UTF-8 as \xNN and \ as \\ (in JSON: \uXXXX escapes).
Exit status: 0 done; 1 a process missing or unreadable (with --all: some
process could not be read, the list is incomplete), a bad PID or mask;
2 a usage error.]]

local netops = require "netops"
local proc, signals = netops.proc, netops.signals

local function die(code, msg)
  io.stderr:write("checksignals: ", msg, "\n")
  os.exit(code)
end

-- Command line ---------------------------------------------------------------

local opts = { filters = {}, targets = {} }
do
  local i = 1
  local function value(opt)
    i = i + 1
    local v = arg[i]
    if v == nil then die(2, opt .. " needs a value\n" .. USAGE) end
    return v
  end
  while i <= #arg do
    local a = arg[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    if name then a = name end
    local function val()
      if inline then return inline end
      return value(a)
    end
    if a == "-h" or a == "--help" then
      print(USAGE); os.exit(0)
    elseif a == "--threads" then opts.threads = true
    elseif a == "--json" then opts.json = true
    elseif a == "--all" then opts.all = true
    elseif a == "--user" then opts.user = true
    elseif a == "--decode" then opts.decode = true
      opts.targets[#opts.targets + 1] = val()
    elseif a == "--ignoring" or a == "--catching" or a == "--blocking" or a == "--pending" then
      local field = a:sub(3)
      for s in val():gmatch("[^,]+") do
        local n, err = signals.number(s)
        if not n then die(2, a .. ": " .. err) end
        local list = opts.filters[field] or {}
        list[#list + 1] = n
        opts.filters[field] = list
      end
    elseif a == "--" then
      for j = i + 1, #arg do opts.targets[#opts.targets + 1] = arg[j] end
      break
    elseif a:match("^%-.") and not a:match("^%-%d") then
      die(2, "unknown option " .. a .. "\n" .. USAGE)
    else
      opts.targets[#opts.targets + 1] = a
    end
    i = i + 1
  end
  if opts.all and opts.decode then die(2, "--all and --decode do not mix\n" .. USAGE) end
  if opts.all and #opts.targets > 0 then die(2, "--all takes no PID\n" .. USAGE) end
  if not opts.all and next(opts.filters) then
    die(2, "--ignoring, --catching, --blocking and --pending go with --all\n" .. USAGE)
  end
  if not opts.all and #opts.targets == 0 then die(2, "no PID given\n" .. USAGE) end
end

-- Output ---------------------------------------------------------------------

-- A process name for a terminal: valid UTF-8 text as it is; every byte of a
-- control or bidi character, and every byte that is not UTF-8, as \xNN; \ as \\.
local printable = proc.printable

local json
do
  local esc = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
  -- JSON text: valid UTF-8 as it is, control and bidi characters as \uXXXX,
  -- and each byte that is not UTF-8 (names are bytes) as the code point of
  -- the same value, \u0080..\u00ff (read as Latin-1).
  local function escape(bytes, cp)
    return esc[bytes] or ("\\u%04x"):format(cp or bytes:byte())
  end
  local function str(s)
    return '"' .. printable(s, escape) .. '"'
  end
  -- Values: strings, integers, booleans, arrays (tables with [1] or marked
  -- empty by array = true) and objects with their keys in `order`.
  function json(v)
    local t = type(v)
    if t == "string" then return str(v) end
    if t == "number" or t == "boolean" then return tostring(v) end
    if t == "table" then
      local out = {}
      if v.__order then
        for _, k in ipairs(v.__order) do
          if v[k] ~= nil then out[#out + 1] = str(k) .. ":" .. json(v[k]) end
        end
        return "{" .. table.concat(out, ",") .. "}"
      end
      for i, x in ipairs(v) do out[i] = json(x) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    return "null"
  end
end

local function sigobjs(list)
  local out = {}
  for i, n in ipairs(list) do
    out[i] = { __order = { "signal", "name" }, signal = n, name = signals.name(n) or ("SIG" .. n) }
  end
  return out
end

local MASKS = {
  { "pending", "Pnd" }, { "shared_pending", "Shd" }, { "blocked", "Blk" },
  { "ignored", "Ign" }, { "caught", "Cgt" },
}

local function entry_json(e, threads)
  local o = { __order = { "pid", "tid", "name", "state", "state_name", "kernel",
                          "pending", "shared_pending", "blocked", "ignored", "caught", "threads" } }
  for _, k in ipairs { "pid", "tid", "name", "state", "state_name", "kernel" } do o[k] = e[k] end
  for _, m in ipairs(MASKS) do o[m[1]] = sigobjs(e[m[1]]) end
  if threads then
    o.threads = {}
    for i, t in ipairs(threads) do
      o.threads[i] = { __order = { "tid", "pending", "blocked" }, tid = t.tid,
                       pending = sigobjs(t.pending), blocked = sigobjs(t.blocked) }
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

-- Modes ------------------------------------------------------------------------

local status = 0

if opts.decode then
  local results = {}
  for _, hex in ipairs(opts.targets) do
    local list, err = signals.decode(hex)
    if not list then
      io.stderr:write("checksignals: ", err, "\n")
      status = 1
    elseif opts.json then
      results[#results + 1] = { __order = { "mask", "signals" }, mask = hex, signals = sigobjs(list) }
    else
      local text = #list > 0 and signals.format(list) or "(none)"
      print(#opts.targets > 1 and (hex .. ": " .. text) or text)
    end
  end
  if opts.json then print(json(results)) end
  os.exit(status)
end

if opts.all then
  local found, errors = proc.find {
    ignoring = opts.filters.ignoring, catching = opts.filters.catching,
    blocking = opts.filters.blocking, pending = opts.filters.pending, user = opts.user,
    masks = false,   -- only pid and name are printed
  }
  if not found then die(1, errors) end
  -- Unreadable processes (hidepid, other users' under some LSMs): one line
  -- naming how many and the first reason; the list is incomplete, so exit 1.
  if #errors > 0 then
    io.stderr:write("checksignals: could not read ", #errors, #errors == 1 and " process" or " processes",
                    " (", errors[1], #errors > 1 and ", ..." or "", "); the list below is incomplete\n")
    status = 1
  end
  if opts.json then
    local out = {}
    for i, e in ipairs(found) do out[i] = { __order = { "pid", "name" }, pid = e.pid, name = e.name } end
    print(json(out))
  else
    local lines = {}
    for i, e in ipairs(found) do lines[i] = e.pid .. " " .. printable(e.name) end
    if #lines > 0 then io.write(table.concat(lines, "\n"), "\n") end
  end
  os.exit(status)
end

local results = {}
for _, target in ipairs(opts.targets) do
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
    local threads = opts.threads and differing_threads(e) or nil
    if opts.json then
      results[#results + 1] = entry_json(e, threads)
    else
      local state = e.state_name and e.state_name ~= "" and e.state_name or e.state or "?"
      -- a thread id given as PID: its process, then which thread Pnd and Blk are of
      print(string.format("%d %s (%s)%s", e.pid, printable(e.name), state,
                          e.tid ~= e.pid and (", thread " .. e.tid) or ""))
      for _, m in ipairs(MASKS) do
        if #e[m[1]] > 0 then print(m[2] .. ": " .. signals.format(e[m[1]])) end
      end
      for _, t in ipairs(threads or {}) do
        print(string.format("thread %d:", t.tid))
        print("  Pnd: " .. (#t.pending > 0 and signals.format(t.pending) or "(none)"))
        print("  Blk: " .. (#t.blocked > 0 and signals.format(t.blocked) or "(none)"))
      end
    end
  end
end
if opts.json then print(json(results)) end
os.exit(status)
