--- netops.cli: what every netops command shares (the option parser set-up,
-- --help, --version, usage errors), and the pattern each command follows.
--
-- # A command is a module
-- lua/netops/cli/NAME.lua (NAME with `-` as `_`: netops-failover is
-- netops.cli.netops_failover) returns `{ main = main }`, where
-- `main(args) -> exit status`: args is the argument list without the program
-- name; main never calls os.exit (it returns; a `<close>` variable does the
-- cleaning); it writes through io.stdout and io.stderr only.  Specs call it
-- in-process (`require("netops.cli.normalize").main { "--version" }`) as
-- well as through a real process (the rock installs every module under
-- lua/netops/).  It also exports
-- `parser()`, its argparse parser: `make completion` writes the bash
-- completion from it (doc/completion/NAME, when present, is used instead).
-- Its man page is doc/man/NAME.N.md (spec/80 checks that it names every
-- option --help lists).
--
-- # The launcher
-- examples/NAME.lua is the launcher, executable in git
-- (`git update-index --chmod=+x`), listed in the Makefile's COMMANDS: the
-- rock installs it as bin/NAME with the interpreter's absolute path on its
-- #! line (no env(1) and PATH search at each start) and no luarocks
-- wrapper (wrap_bin_scripts = false).  Copy examples/normalize.lua and
-- change only the `local NAME = "..."` line: the files must stay identical
-- but for that line (spec/00 checks it).  It is plain Lua 5.1 (no goto,
-- //, <close>, integer-only functions), because it is parsed before its
-- version check runs, and it keeps only what must run under any Lua:
-- 1. Under a Lua older than 5.4 (Debian's `lua` is 5.3 or 5.1, `lua` wins
--    over `lua5.4` in the alternatives), it re-runs itself with lua5.4 or
--    lua54.  Lua 5.1/5.3 without a C module can only start a process through
--    the shell (os.execute), so this is the one place a shell runs: every
--    argument single-quoted ('\'' for a quote), the exit status passed through
--    (5.1 returns the wait status, 5.2+ true/nil, "exit"/"signal", code; a
--    signal n becomes 128+n as a shell would say).  No lua5.4: one line on
--    stderr, exit 127.
-- 2. It runs netops/cli/launch.lua (what it does is said there) from the
--    tree beside its own name as given: DIR/../share/lua/5.4 (PREFIX/bin of
--    an installed tree) or DIR/../lua (a checkout's examples/); none there:
--    beside its real file, symlinks read by luafilesystem (pure Lua cannot
--    read a link; lfs is a declared dependency); else on Lua's path
--    (LUA_PATH, `luarocks path`).  Not found: one line, exit 127.
--    The code for rare cases (an older Lua, no tree beside its name) is
--    kept in strings and compiled only when it runs: every start parses
--    the launcher, and parsing costs more than the rest of its work.
--
-- # Options: argparse, through this module
--     local cli = require "netops.cli"
--     local p = cli.parser("normalize", "One canonical text per address.", EPILOG)
--     p:flag("--rewrite", "...")
--     p:option("--max-wait", "..."):argname("<seconds>")
--     p:argument("file", "..."):args("*")
--     function M.main(args)
--       local o, status = cli.parse(p, args)
--       if not o then return status end          -- help, version or usage error shown
--       if bad(o) then return cli.usage_error(p, "--all takes no PID") end
-- cli.parser adds `-h, --help` and `--version` as plain flags and cli.parse
-- answers them (help on stdout, exit 0; `netops X.Y.Z` from netops._VERSION
-- in lua/netops/init.lua, the one place of the version, exit 0).  argparse
-- takes `--opt value` and `--opt=value`, and suggests a name on a typo.  A
-- usage error is one line on stderr, "NAME: what is wrong" (the suggestion
-- joined to it), then the usage line(s); exit 2.  Do not declare arguments
-- or options required in argparse (`args "+"`, `count "1"`), check them
-- after cli.parse: `--help` and `--version` must work alone.  A flag given a
-- value (`--json=no`) is a usage error.  Values are checked by the command
-- (cli.usage_error for a bad one), not by argparse's convert.
-- JSON output: dkjson (`require "dkjson"`), see checksignals.lua.
-- # Start-up
-- Loading argparse costs about as much as starting lua5.4 itself, so
-- cli.parser returns a recording of the declarations, and argparse is
-- loaded only when it is needed: for --help, a usage error, completion, or
-- anything the quick reader below does not take.  The quick reader takes
-- only what argparse would take to the same result (long options and flags
-- by their full name, `--opt value`, `--opt=value`, options given once or
-- declared `count "*"`, positional arguments, `--`); whatever else it sees,
-- it leaves to argparse, which gives the answer or the error.  spec/70
-- checks that both give the same results.

local cli = {}
local names = setmetatable({}, { __mode = "k" })   -- parser -> command name

--- The version line every command prints for --version: `netops X.Y.Z`.
function cli.version()
  return require("netops")._VERSION
end

-- A recorded argparse object: each call is kept (in order) and replayed on
-- the real object when one is needed.  Methods that create an element
-- return a new recording; queries (get_help, pparse ...) build the parser.
-- The recording's own state sits under a table key, so that no argparse
-- method name (args, count ...) can meet it.
local CHILD = { flag = true, option = true, argument = true, command = true, mutex = true,
                group = true }
local S = {}
local Rec = {}
local function new_rec(parent, method, args)
  return setmetatable({ [S] = { parent = parent, method = method, args = args, events = {} } }, Rec)
end

local function realize(r)
  local st = r[S]
  if st.real then return st.real end
  local parent = st.parent and st.parent[S]
  if parent and not parent.real then
    realize(st.parent)       -- replays the parent's events: this one is made there
    return st.real
  end
  if parent then
    st.real = parent.real[st.method](parent.real, table.unpack(st.args, 1, st.args.n))
  else
    st.real = require("argparse")(table.unpack(st.args, 1, st.args.n))
  end
  for _, ev in ipairs(st.events) do
    if ev.child then realize(ev.child)
    else st.real[ev.method](st.real, table.unpack(ev.args, 1, ev.args.n)) end
  end
  return st.real
end

-- One function per method name, shared by every recording.
local calls = {}
Rec.__index = function(_, method)
  local f = calls[method]
  if f then return f end
  f = function(r, ...)
    assert(getmetatable(r) == Rec, "netops.cli: call parser methods with ':'")
    local st, args = r[S], table.pack(...)
    if st.real then   -- built already: the real object answers
      local res = st.real[method](st.real, ...)
      return res == st.real and r or res
    end
    if CHILD[method] then
      local c = new_rec(r, method, args)
      st.events[#st.events + 1] = { child = c }
      return c
    end
    if method:match("^get_") or method:match("parse$") then
      local real = realize(r)
      return real[method](real, ...)
    end
    st.events[#st.events + 1] = { method = method, args = args }
    return r
  end
  calls[method] = f
  return f
end

--- A parser for command `name`, with -h/--help and --version: a recording
-- that argparse's methods can be called on as on the real parser.
function cli.parser(name, description, epilog)
  local p = new_rec(nil, nil, table.pack(name, description, epilog))
  p:add_help(false):help_max_width(79)
  p:flag("-h --help", "Show this help and exit.")
  p:flag("--version", "Show the netops version and exit.")
  names[p] = name
  return p
end

-- The declarations the quick reader understands, or false: flags and
-- options by their names (an element with a setting the reader does not
-- know is left to argparse when given), one positional argument.
local ROOT_SETTINGS = { add_help = true, help_max_width = true, usage = true }
local ELEMENT_SETTINGS = { argname = true, count = true, args = true }
local function element(c)
  local st = c[S]
  local e = { kind = st.method, count = 1, nargs = 1 }
  for _, cev in ipairs(st.events) do
    local m, a = cev.method, cev.args and cev.args[1]
    if cev.child or not ELEMENT_SETTINGS[m] then e.unsupported = true
    elseif m == "count" then e.count = a
    elseif m == "args" then e.nargs = a end
  end
  local spec = st.args[1]
  if e.kind == "argument" then
    e.key = spec
    return e
  end
  if (e.count ~= 1 and e.count ~= "*") or (e.kind == "option" and e.nargs ~= 1)
     or (e.kind == "flag" and e.count ~= 1) then
    e.unsupported = true
  end
  local long = spec:match("%-%-(%S+)")
  e.key = (long or spec:match("^%-+(%S+)")):gsub("%-", "_")
  return e
end

local function quick_decl(p)
  local st = p[S]
  if st.decl ~= nil then return st.decl end
  local d = { names = {}, positional = {} }
  st.decl = false
  for _, ev in ipairs(st.events) do
    local c = ev.child
    local kind = c and c[S].method
    if not c then
      if not ROOT_SETTINGS[ev.method] then return false end
    elseif kind == "argument" then
      local e = element(c)
      if e.unsupported or (e.nargs ~= "*" and e.nargs ~= "?") then return false end
      d.positional[#d.positional + 1] = e
    elseif kind == "flag" or kind == "option" then
      local e = element(c)
      for alias in c[S].args[1]:gmatch("%S+") do d.names[alias] = e end
    else
      return false
    end
  end
  if #d.positional > 1 then return false end
  st.decl = d
  return d
end

-- Reads args as argparse would, or returns nil to leave them to argparse.
local function quick_parse(p, args)
  local d = quick_decl(p)
  if not d then return nil end
  local res, pos, seen, rest = {}, {}, {}, false
  for _, e in pairs(d.names) do
    if e.count == "*" and not e.unsupported then res[e.key] = {} end
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if rest or a:sub(1, 1) ~= "-" or a == "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      rest = true
    else
      local name, value = a:match("^(%-%-[^=]+)=(.*)$")
      name = name or a
      local e = d.names[name]
      if not e or e.unsupported or e.key == "help" then return nil end   -- help: argparse writes it
      if e.count ~= "*" then
        if seen[e.key] then return nil end
        seen[e.key] = true
      end
      if e.kind == "flag" then
        if value then return nil end
        res[e.key] = true
      else
        if not value then
          i = i + 1
          value = args[i]
          if value == nil or value:sub(1, 1) == "-" then return nil end
        end
        if e.count == "*" then table.insert(res[e.key], value) else res[e.key] = value end
      end
    end
    i = i + 1
  end
  local pe = d.positional[1]
  if pe then
    if pe.nargs == "*" then res[pe.key] = pos
    elseif #pos > 1 then return nil
    else res[pe.key] = pos[1] end
  elseif #pos > 0 then
    return nil
  end
  return res
end

--- For tests: what the quick reader makes of args (nil: left to argparse),
-- and what argparse makes of them (ok, result or message).
function cli._quick(p, args) return quick_parse(p, args) end
function cli._full(p, args) return realize(p):pparse(args) end

local function usage(p)
  local u = realize(p):get_usage()
  return u:sub(-1) == "\n" and u or u .. "\n"
end

--- A usage error: "NAME: msg" and the usage on stderr; returns 2.
function cli.usage_error(p, msg)
  io.stderr:write(names[p], ": ", (msg:gsub("\n+", "; "):gsub("; Did you mean", "; did you mean")), "\n", usage(p))
  return 2
end

--- Parses args with p: the results, or nil and the exit status after
-- --help (0), --version (0) or a usage error (2) was answered.
function cli.parse(p, args)
  local res = quick_parse(p, args)
  if not res then
    local ok
    ok, res = realize(p):pparse(args)
    if not ok then return nil, cli.usage_error(p, res) end
  end
  if res.help then
    io.stdout:write(realize(p):get_help(), "\n")
    return nil, 0
  end
  if res.version then
    io.stdout:write(cli.version(), "\n")
    return nil, 0
  end
  return res
end

return cli
