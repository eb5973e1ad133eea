-- compile.lua FROM TO FILE...: each FROM/X.lua (a Lua module's file) as
-- TO/X.lua (its directory made already: the Makefile's rock-install makes
-- them) holding its bytecode, compiled by the interpreter running this
-- (the one the rock is installed for: luarocks' LUA), with its debug
-- information, so error messages keep their line numbers; each chunk is
-- named after the module's file, "netops/proc.lua".  require loads a
-- precompiled file as it loads a text one, without parsing it.
-- The Makefile's rock-install target runs it.
local from, to = arg[1], arg[2]
if not (from and to and arg[3]) then
  io.stderr:write("usage: compile.lua FROM TO FILE...\n")
  os.exit(2)
end
for i = 3, #arg do
  local file = arg[i]
  local rel = file:sub(1, #from + 1) == from .. "/" and file:sub(#from + 2)
  if not rel then
    io.stderr:write("compile.lua: ", file, " is not under ", from, "/\n")
    os.exit(2)
  end
  local src = assert(io.open(file, "rb"))
  local text = src:read("a")
  src:close()
  local chunk = assert(load(text, "@" .. rel, "t"))
  local out = assert(io.open(to .. "/" .. rel, "wb"))
  assert(out:write(string.dump(chunk)))
  assert(out:close())
end
