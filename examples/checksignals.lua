#!/usr/bin/env lua5.4
-- A netops command launcher: these lines are the same in every command but
-- NAME; the command is the module netops.cli.NAME (lua/netops/cli/, where
-- init.lua says why the launcher is written this way).  Plain Lua 5.1 from
-- here to the end, so that an older `lua` parses it and reaches the check.
local NAME = "checksignals"
-- Code for rare cases is kept in strings, compiled only when it runs: each
-- start parses this file, and parsing costs more than the rest it does.
local function run(code, ...) return assert((loadstring or load)(code, "=" .. NAME))(...) end
local major, minor = string.match(_VERSION or "", "(%d+)%.(%d+)")
if (tonumber(major) or 0) * 100 + (tonumber(minor) or 0) < 504 then
  -- An older Lua (Debian's `lua` is 5.3 or 5.1): run this file again with
  -- lua5.4 or lua54, through the shell (no other exec before 5.4), each
  -- argument single-quoted, and exit with its status.
  run([[
  local NAME, arg = ...
  local function q(s) return "'" .. string.gsub(s, "'", "'\\''") .. "'" end
  local words = { q(arg[0]) }
  for i = 1, #arg do words[#words + 1] = q(arg[i]) end
  for _, lua in ipairs { "lua5.4", "lua54" } do
    local found = os.execute("command -v " .. lua .. " >/dev/null 2>&1")
    if found == 0 or found == true then
      local a, how, code = os.execute(lua .. " " .. table.concat(words, " "))
      if type(a) == "number" then   -- 5.1: the wait status
        if a < 0 then os.exit(127) end
        how, code = a % 256 == 0 and "exit" or "signal", a % 256 == 0 and (a - a % 256) / 256 or a % 128
      end
      os.exit(how == "signal" and 128 + code or code)
    end
  end
  io.stderr:write(NAME, ": needs Lua 5.4 (lua5.4 or lua54 in PATH); this is ", tostring(_VERSION), "\n")
  os.exit(127)
  ]], NAME, arg)
end
-- Loading the modules leaves little garbage: the collector waits for ten
-- times the memory in use (not twice) until main runs.
collectgarbage("incremental", 1000)
-- Where netops is: beside the real file of this one (symlinks followed), as
-- PREFIX/bin/NAME (PREFIX/share/lua/5.4 and lib/lua/5.4) or
-- CHECKOUT/examples/NAME.lua (CHECKOUT/lua and build/); else Lua's own path.
local function readable(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end
local build = os.getenv("NETOPS_BUILD") or "build"
-- The tree beside directory dir: its Lua path, C path and C core, or nil.
local function tree(dir)
  local up = dir .. "../"
  if readable(up .. "share/lua/5.4/netops/init.lua") then
    return up .. "share/lua/5.4/?.lua;" .. up .. "share/lua/5.4/?/init.lua;", up .. "lib/lua/5.4/?.so;",
           up .. "lib/lua/5.4/netops/core.so"
  elseif readable(up .. "lua/netops/init.lua") then
    local b = (string.sub(build, 1, 1) == "/" and "" or up) .. build
    return up .. "lua/?.lua;" .. up .. "lua/?/init.lua;", b .. "/?.so;", b .. "/netops/core.so"
  end
end
local function dir_of(file) return string.match(file, "^(.*/)") or "./" end
-- The real file of this one: realpath(3) from the C core of the tree beside
-- the name as given (cheaper than loading lfs); else lfs reads the links;
-- else the name as given.  The tree beside the real file is the one.
local given = arg and arg[0] or ""
local lpath, cpath, core = tree(dir_of(given))
local resolve = core and package.loadlib(core, "netops_realpath")
local file = resolve and resolve(given)
if not file then
  file = run([[
  local file, dir_of = ...
  local ok, lfs = pcall(require, "lfs")
  for _ = 1, 40 do
    local target = ok and type(lfs) == "table" and lfs.symlinkattributes(file, "target")
    if type(target) ~= "string" then break end
    file = string.sub(target, 1, 1) == "/" and target or dir_of(file) .. target
  end
  return file
  ]], given, dir_of)
end
if dir_of(file) ~= dir_of(given) then
  lpath, cpath, core = tree(dir_of(file))
end
if lpath then
  package.path, package.cpath = lpath .. package.path, cpath .. package.cpath
  -- the C core is open already (or is where require would find it first):
  -- require takes it from there, without searching the paths for it
  package.preload["netops.core"] = package.loadlib(core, "luaopen_netops_core") or nil
end
local module = "netops.cli." .. string.gsub(NAME, "%-", "_")
local ok, command = pcall(require, module)
if not ok then   -- a module that fails to load: its own error; none: this line
  if package.searchpath(module, package.path) then error(command, 0) end
  io.stderr:write(NAME, ": cannot find the Lua module ", module, " (next to ", tostring(arg and arg[0]),
                  ", or in LUA_PATH)\n")
  os.exit(127)
end
collectgarbage("incremental", 200)   -- Lua's default again, for main
-- Closing the Lua state runs the pending finalizers; a command that leaves
-- none (command.no_finalizers) exits without that work.
os.exit(command.main({ table.unpack(arg, 1, #arg) }), not command.no_finalizers)
