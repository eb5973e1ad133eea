#!/usr/bin/env lua5.4
-- A netops command launcher: these lines are the same in every command but
-- NAME; the command is the module netops.cli.NAME, which
-- lua/netops/cli/launch.lua runs (lua/netops/cli/init.lua says why the
-- launcher is written this way).  Plain Lua 5.1 from here to the end, so
-- that an older `lua` parses it and reaches the check.
local NAME = "normalize"
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
-- The rest is netops.cli.launch (precompiled in an installed tree), from
-- the tree beside this file as named: PREFIX/bin/NAME or CHECKOUT/examples/.
local function beside(dir)
  for _, rel in ipairs { "../share/lua/5.4/netops/cli/launch.lua", "../lua/netops/cli/launch.lua" } do
    local f = io.open(dir .. rel)
    if f then f:close() return dir .. rel end
  end
end
local given = arg and arg[0] or ""
local file = beside(string.match(given, "^(.*/)") or "./") or run([[
  local NAME, given, beside = ...
  -- None there: beside the real file of a symlink (luafilesystem reads the
  -- links), else on Lua's path.
  local function dir_of(file) return string.match(file, "^(.*/)") or "./" end
  local ok, lfs = pcall(require, "lfs")
  local file = given
  for _ = 1, 40 do
    local target = ok and type(lfs) == "table" and lfs.symlinkattributes(file, "target")
    if type(target) ~= "string" then break end
    file = string.sub(target, 1, 1) == "/" and target or dir_of(file) .. target
  end
  file = file ~= given and beside(dir_of(file)) or package.searchpath("netops.cli.launch", package.path)
  if file then return file end
  io.stderr:write(NAME, ": cannot find the Lua module netops.cli.", (string.gsub(NAME, "%-", "_")), " (next to ",
                  given, ", or in LUA_PATH)\n")
  os.exit(127)
  ]], NAME, given, beside)
return assert(loadfile(file))(NAME, file)
