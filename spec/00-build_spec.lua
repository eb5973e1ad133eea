-- The foundation: the module loads under Lua 5.4 only, and the rockspec
-- builds exactly what the tree holds.
local sh = require "helpers.sh"

describe("netops module", function()
  it("loads under Lua 5.4 with its C core", function()
    local netops = require "netops"
    assert.equal("Lua 5.4", _VERSION)
    assert.is_table(netops.core)
    assert.matches("^netops ", netops._VERSION)
  end)

  it("areas load on first use and unknown names stay nil", function()
    -- a fresh Lua: which netops modules are loaded before and after a use
    local out, code = sh.run({ "lua5.4", "-e",
      'package.path="lua/?.lua;lua/?/init.lua;"..package.path;'
      .. 'package.cpath="' .. sh.build .. '/?.so;"..package.cpath;'
      .. 'local function loaded() local t = {} for k in pairs(package.loaded) do '
      .. 'if k:match("^netops%.") then t[#t+1] = k end end table.sort(t) return table.concat(t, " ") end '
      .. 'local netops = require "netops" print(loaded()) '
      .. 'local inet = netops.inet print(loaded(), inet == require "netops.inet", netops.inet == inet) '
      .. 'print(netops.no_such_area, loaded())' }, { stderr = true })
    assert.equal(0, code, out)
    assert.equal("netops.core\n"
      .. "netops.core netops.inet\ttrue\ttrue\n"
      .. "nil\tnetops.core netops.inet\n", out)
  end)

  for _, lua in ipairs { "lua5.1", "lua5.3" } do
    it("refuses to load under " .. lua .. " with a message naming Lua 5.4", function()
      local out, code = sh.run({ lua, "-e",
        'package.path="lua/?.lua;lua/?/init.lua;"..package.path;'
        .. 'package.cpath="' .. sh.build .. '/?.so;"..package.cpath; require "netops"' },
        { stderr = true })
      assert.are_not.equal(0, code)
      assert.matches("netops needs Lua 5.4 or newer, but this is Lua 5%.[13]", out)
    end)
  end

  it("the C core refuses to compile against a Lua older than 5.4", function()
    local out, code = sh.run("printf '#include <lua.h>\\n#undef LUA_VERSION_NUM\\n#define LUA_VERSION_NUM 503\\n"
      .. "#include \"luax.h\"\\n' | cc -fsyntax-only -Icsrc -I/usr/include/lua5.4 -x c - 2>&1")
    assert.are_not.equal(0, code)
    assert.matches("netops needs Lua 5.4 or newer", out)
  end)
end)

describe("rockspec", function()
  local spec = sh.read("rockspec/netops-scm-1.rockspec")

  it("lists every C source under csrc/ and nothing else", function()
    local listed, present = {}, {}
    for f in spec:gmatch('"(csrc/[%w_]+%.c)"') do listed[#listed + 1] = f end
    for f in sh.run("ls csrc/*.c"):gmatch("%S+") do present[#present + 1] = f end
    table.sort(listed); table.sort(present)
    assert.same(present, listed)
  end)

  it("lists every Lua module under lua/netops/ and its subdirectories", function()
    for f in sh.run("find lua/netops -name '*.lua'"):gmatch("%S+") do
      local mod = f:match("lua/netops/(.-)%.lua$"):gsub("/", ".")
      local name = mod == "init" and "netops" or "netops." .. mod
      assert.truthy(spec:find('["' .. name .. '"] = "' .. f .. '"', 1, true),
        "rockspec does not install " .. f .. " as " .. name)
    end
  end)

  it("installs each command from an existing example script", function()
    for name, file in spec:gmatch('%["([%w%-]+)"%] = "(examples/[%w%-_]+%.lua)"') do
      assert.truthy(sh.read(file), name .. ": " .. file .. " missing")
    end
  end)
end)
