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

  it("the C core builds each area's table on first use, in any order; other names stay nil", function()
    -- a fresh lua5.4: the areas' class metatables are registered only once
    -- their area is used (a command pays only for the areas it uses)
    local out, code = sh.run({ "lua5.4", "-e",
      'package.cpath="' .. sh.build .. '/?.so;"..package.cpath; '
      .. 'local core = require "netops.core"; local reg = debug.getregistry(); '
      .. 'print(reg["netops.LineReader"], reg["netops.Conntrackd"], reg["netops.LockFile"]); '
      .. 'for _, a in ipairs { "log", "failover", "proc", "conntrackd", "signals", "inet" } do '
      .. 'io.write(a, "=", type(core[a]), " ") end print(core.no_such_area, core[1]); '
      .. 'print(type(reg["netops.LineReader"]), type(reg["netops.Conntrackd"]), type(reg["netops.LockFile"]), '
      .. 'core.inet == core.inet, type(core.inet.normalize), type(core.spawn), type(core.sleep))' },
      { stderr = true })
    assert.equal(0, code, out)
    assert.equal("nil\tnil\tnil\n"
      .. "log=table failover=table proc=table conntrackd=table signals=table inet=table nil\tnil\n"
      .. "table\ttable\ttable\ttrue\tfunction\tfunction\tfunction\n", out)
  end)

  it("the C core refuses to compile against a Lua older than 5.4", function()
    local out, code = sh.run("printf '#include <lua.h>\\n#undef LUA_VERSION_NUM\\n#define LUA_VERSION_NUM 503\\n"
      .. "#include \"luax.h\"\\n' | cc -fsyntax-only -Icsrc -I/usr/include/lua5.4 -x c - 2>&1")
    assert.are_not.equal(0, code)
    assert.matches("netops needs Lua 5.4 or newer", out)
  end)
end)

describe("C modules, split by what they link", function()
  -- the shared objects a fresh lua5.4 maps after `require "MOD"`
  local function maps_after(mod)
    local out, code = sh.run({ "lua5.4", "-e",
      'package.path="lua/?.lua;lua/?/init.lua;"..package.path;'
      .. 'package.cpath="' .. sh.build .. '/?.so;"..package.cpath;'
      .. 'require "' .. mod .. '" '
      .. 'for l in io.lines("/proc/self/maps") do print(l:match("%S+$")) end' }, { stderr = true })
    assert.equal(0, code, out)
    return out
  end

  for _, mod in ipairs { "netops", "netops.inet", "netops.signals", "netops.proc",
                         "netops.failover", "netops.conntrackd" } do
    it("loading " .. mod .. " maps neither libnetfilter_conntrack nor libnfnetlink nor libmnl", function()
      local maps = maps_after(mod)
      assert.matches("/netops/core%.so", maps)     -- the C core is loaded
      assert.not_matches("libnetfilter_conntrack", maps)
      assert.not_matches("libnfnetlink", maps)
      assert.not_matches("libmnl", maps)
      assert.not_matches("ctnetlink", maps)
    end)
  end

  it("loading netops.conntrack maps them, through netops.ctnetlink", function()
    local maps = maps_after("netops.conntrack")
    assert.matches("/netops/ctnetlink%.so", maps)
    assert.matches("libnetfilter_conntrack", maps)
    assert.matches("libmnl", maps)
  end)

  it("C tests outside the conntrack area link no conntrack library", function()
    local dir = sh.build .. "/ctest"
    local tests = sh.run("ls " .. sh.quote(dir) .. " 2>/dev/null")
    if tests == "" then pending("no C tests built in " .. dir .. " (make ctest)") return end
    local checked = 0
    for name in tests:gmatch("%S+") do
      local src = sh.read("spec/c/" .. name .. ".c")
      if src then
        local needed = sh.run({ "readelf", "-d", dir .. "/" .. name })
        if src:find('#include "conntrack.h"', 1, true) or src:find('#include "ct_text.h"', 1, true) then
          assert.matches("libnetfilter_conntrack", needed, name)
        else
          assert.not_matches("libnetfilter_conntrack", needed, name)
          assert.not_matches("libnfnetlink", needed, name)
          assert.not_matches("libmnl", needed, name)
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked > 0)
  end)
end)

describe("rockspec", function()
  local spec = sh.read("rockspec/netops-scm-1.rockspec")

  -- the rockspec as luarocks reads it
  local rs = {}
  assert(load(spec, "rockspec", "t", rs))()
  local function set(list) local t = {} for _, f in ipairs(list or {}) do t[f] = true end return t end
  -- the Makefile's lists of the same: `NAME = word...`
  local function make_list(name)
    local line = assert(sh.read("Makefile"):match("\n" .. name .. "%s*=%s*([^\n]*)"), name)
    local t = {} for w in line:gmatch("%S+") do t[#t + 1] = w end
    table.sort(t)
    return t
  end

  it("builds every C source under csrc/ into one of two modules, by what it links", function()
    -- luarocks runs the Makefile (rock-build, rock-install): its lists are the modules'
    assert.equal("make", rs.build.type)
    assert.equal("rock-build", rs.build.build_target)
    assert.equal("rock-install", rs.build.install_target)
    local set_of = function(name) return set(sh.make_var(name)) end
    local core, ct_own, shared = set_of("CORE_SRC"), set_of("CT_SRC"), set_of("CT_SHARED")
    assert.same({ "csrc/conntrack.c", "csrc/ct_text.c", "csrc/lua_conntrack.c", "csrc/lua_ct_text.c" },
                make_list("CT_SRC"))
    for f in sh.run("ls csrc/*.c"):gmatch("%S+") do
      assert.is_true((core[f] or false) ~= (ct_own[f] or false), f .. " is not in exactly one module")
    end
    -- netops.ctnetlink also compiles the libc-only core files it calls
    for f in pairs(shared) do assert.truthy(core[f], f .. " shared into netops.ctnetlink is not a core file") end
  end)

  it("rock-install puts the C modules, the Lua modules precompiled, the policy as text and the commands "
     .. "with #!LUA", function()
    local dir = sh.tmpdir()
    finally(function() sh.rmtree(dir) end)
    local out, code = sh.run({ "make", "--no-print-directory", "-s", "rock-install", "BUILD=" .. sh.build,
                               "INST_LUADIR=" .. dir .. "/lua", "INST_LIBDIR=" .. dir .. "/lib",
                               "INST_BINDIR=" .. dir .. "/bin", "LUA=/usr/bin/lua5.4" }, { stderr = true })
    assert.equal(0, code, out)
    assert.truthy(sh.read(dir .. "/lib/netops/core.so"))
    assert.truthy(sh.read(dir .. "/lib/netops/ctnetlink.so"))
    local n = 0
    for f in sh.run("find lua/netops -name '*.lua' | sort"):gmatch("%S+") do
      local installed = assert(sh.read(dir .. "/" .. f), f .. " not installed")
      assert.equal("\27Lua", installed:sub(1, 4), f .. " is not precompiled")
      -- named after the module's file, so error messages say where
      local chunk = assert(load(installed, f, "b"))
      assert.equal("@" .. f:sub(5), debug.getinfo(chunk, "S").source)
      n = n + 1
    end
    assert.is_true(n > 10)
    assert.equal(sh.read("examples/primary-backup.lua"), sh.read(dir .. "/lua/netops/policies/primary_backup.lua"))
    for _, name in ipairs(sh.make_var("COMMANDS")) do
      local text = assert(sh.read(dir .. "/bin/" .. name), name .. " not installed")
      local want = sh.read("examples/" .. name .. ".lua"):gsub("^[^\n]*", "#!/usr/bin/lua5.4", 1)
      assert.equal(want, text)
      assert.equal(0, select(2, sh.run({ "test", "-x", dir .. "/bin/" .. name })))
    end
    -- refused without luarocks' variables, or with a LUA that is no absolute path
    out, code = sh.run({ "make", "--no-print-directory", "-s", "rock-install", "BUILD=" .. sh.build,
                         "INST_LUADIR=" .. dir .. "/lua", "INST_LIBDIR=" .. dir .. "/lib",
                         "INST_BINDIR=" .. dir .. "/bin", "LUA=lua5.4" }, { stderr = true })
    assert.are_not.equal(0, code)
    assert.matches("LUA must be an absolute path", out, nil, true)
  end)

  it("installs the commands without luarocks' wrapper (they find their own tree)", function()
    assert.is_false(rs.deploy and rs.deploy.wrap_bin_scripts)
  end)

  -- Every command is the launcher of examples/normalize.lua with its own
  -- NAME (lua/netops/cli/init.lua says why); a command whose module
  -- netops.cli.NAME does not exist yet is pending.
  local launcher = assert(sh.read("examples/normalize.lua"))
  for _, name in ipairs(sh.make_var("COMMANDS")) do
    local file = "examples/" .. name .. ".lua"
    it(name .. " (" .. file .. ") is the launcher, the same lines as every command's but NAME", function()
      local module = "lua/netops/cli/" .. name:gsub("%-", "_") .. ".lua"
      if not sh.read(module) then pending(module .. " does not exist yet") return end
      local want = launcher:gsub('\nlocal NAME = "normalize"\n', '\nlocal NAME = "' .. name .. '"\n', 1)
      assert.equal(want, sh.read(file))
      -- executable in git, not only here
      assert.matches("^100755 ", sh.run({ "git", "ls-files", "-s", file }))
    end)
  end

  it("the launcher parses under Lua 5.1 (it runs there up to its version check)", function()
    local out, code = sh.run({ "lua5.1", "-e", 'assert(loadfile("examples/normalize.lua"))' }, { stderr = true })
    assert.equal(0, code, out)
  end)

  it("declares the Lua libraries the commands need, provided by Debian's packages offline", function()
    local deps = table.concat(rs.dependencies, "\n")
    local provided = {}
    assert(load(assert(sh.read("rockspec/luarocks-debian.lua")), "config", "t", provided))()
    -- DEPS_BUILD = words, continued with backslashes
    local debs = assert(sh.read("Makefile"):match("\nDEPS_BUILD%s*=(.-[^\\])\n")):gsub("\\\n", " ")
    for rock, deb in pairs { argparse = "lua-argparse", dkjson = "lua-dkjson", luafilesystem = "lua-filesystem" } do
      assert.matches("\n" .. rock .. " ", "\n" .. deps, 1, false)
      assert.is_string(provided.rocks_provided[rock], rock)
      assert.truthy((" " .. debs .. " "):find(" " .. deb .. " ", 1, true), deb)
    end
  end)

  it("the versioned rockspec is the scm one but for version and source, at netops' version", function()
    local version = require("netops")._VERSION:match("^netops (%S+)$")
    local file = "rockspec/netops-" .. version .. "-1.rockspec"
    local text = assert(sh.read(file), file .. " missing (lua/netops/init.lua says netops " .. version .. ")")
    local vs = {}
    assert(load(text, file, "t", vs))()
    assert.equal(version .. "-1", vs.version)
    assert.equal("scm-1", rs.version)
    assert.equal("v" .. version, vs.source.tag)
    assert.is_string(vs.source.url)
    -- the rest, field by field: modules and their sources, installed files,
    -- dependencies, description
    for _, k in ipairs { "rockspec_format", "package", "description", "dependencies",
                         "external_dependencies", "deploy", "build" } do
      assert.same(rs[k], vs[k], k .. " differs between " .. file .. " and the scm rockspec")
    end
    local keys = {}
    for k in pairs(vs) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "build", "dependencies", "deploy", "description", "external_dependencies", "package",
                  "rockspec_format", "source", "version" }, keys)
    -- no other versioned rockspec lingers
    assert.equal(file .. "\nrockspec/netops-scm-1.rockspec\n", sh.run("ls rockspec/*.rockspec"))
  end)

  it("ships the default policy and the sample configs (the rock's conf/)", function()
    assert.same({ ["primary-backup.lua"] = "examples/primary-backup.lua",
                  ["keepalived.conf"] = "examples/keepalived.conf",
                  ["conntrackd.conf"] = "examples/conntrackd.conf",
                  ["netops-conntrack-metrics.service"] = "examples/netops-conntrack-metrics.service",
                  ["netops-conntrack-metrics.timer"] = "examples/netops-conntrack-metrics.timer" },
                rs.build.install.conf)
  end)

  it("installs each command from an existing example script", function()
    for name, file in spec:gmatch('%["([%w%-]+)"%] = "(examples/[%w%-_]+%.lua)"') do
      assert.truthy(sh.read(file), name .. ": " .. file .. " missing")
    end
  end)
end)
