-- netops.cli.launch: what every command's launcher does after its version
-- check.  The launcher (examples/NAME.lua, installed as PREFIX/bin/NAME)
-- loads this file from the tree beside it and calls it with the command's
-- name and this file's path; it never returns.  It is a file, not a
-- module: the launcher finds it before any path is set, and a start loads
-- it precompiled (parsing the launcher's own code costs more than the rest
-- of its work, so the launcher keeps only what must run under any Lua).
--
-- 1. The tree this file is in: PREFIX/share/lua/5.4/netops/cli/launch.lua
--    (an installed tree: its Lua modules there, its C modules in
--    PREFIX/lib/lua/5.4) or CHECKOUT/lua/netops/cli/launch.lua (a checkout:
--    its C modules in $NETOPS_BUILD, default CHECKOUT/build); that tree's
--    paths go before Lua's own.  Found on Lua's path in another layout:
--    Lua's own path as it is.
-- 2. The C core is opened from that tree and handed to require through
--    package.preload (no search of the paths for it).
-- 3. While the modules load, the collector waits for ten times the memory
--    in use (loading makes little garbage), then Lua's default (200) again.
-- 4. `os.exit(require("netops.cli.NAME").main(args), true)`: closing the
--    state runs the pending `__gc`/`__close`.  A command whose main leaves
--    no object with a finalizer behind (checksignals, normalize) sets
--    `M.no_finalizers = true`, and the state is not closed (which frees
--    every object and unloads the C modules: about a tenth of such a
--    command's run).
local NAME, file = ...
collectgarbage("incremental", 1000)

local lpath, cpath, core
local prefix = file:match("^(.-)share/lua/5%.4/netops/cli/launch%.lua$")
local top = not prefix and file:match("^(.-)lua/netops/cli/launch%.lua$")
if prefix then
  local lua, lib = prefix .. "share/lua/5.4/", prefix .. "lib/lua/5.4/"
  lpath, cpath, core = lua .. "?.lua;" .. lua .. "?/init.lua;", lib .. "?.so;", lib .. "netops/core.so"
elseif top then
  local build = os.getenv("NETOPS_BUILD") or "build"
  local b = (build:sub(1, 1) == "/" and "" or top) .. build
  lpath, cpath, core = top .. "lua/?.lua;" .. top .. "lua/?/init.lua;", b .. "/?.so;", b .. "/netops/core.so"
end
if lpath then
  package.path, package.cpath = lpath .. package.path, cpath .. package.cpath
  package.preload["netops.core"] = package.loadlib(core, "luaopen_netops_core") or nil
end

local module = "netops.cli." .. NAME:gsub("%-", "_")
local ok, command = pcall(require, module)
if not ok then   -- a module that fails to load: its own error; none: this line
  if package.searchpath(module, package.path) then error(command, 0) end
  io.stderr:write(NAME, ": cannot find the Lua module ", module, " (next to ", tostring(arg and arg[0]),
                  ", or in LUA_PATH)\n")
  os.exit(127)
end
collectgarbage("incremental", 200)
os.exit(command.main({ table.unpack(arg, 1, #arg) }), not command.no_finalizers)
