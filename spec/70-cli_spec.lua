-- The command launchers (examples/NAME.lua) as operators start them: from
-- the checkout's root, from examples/, from anywhere, as ./NAME.lua, through
-- symlinks on PATH, with whatever `lua` is there (Debian's is 5.3 or 5.1).
-- The installed commands are the same launchers: .ci/package-test.sh runs
-- them from a luarocks tree.
local sh = require "helpers.sh"

local top = sh.run("pwd"):gsub("%s+$", "")
local VERSION = require("netops")._VERSION .. "\n"

-- Runs a shell script (argv after it: $1...) with NETOPS_BUILD absolute, so
-- the launcher finds this build from any directory.
local function script(text, ...)
  local build = sh.build:sub(1, 1) == "/" and sh.build or top .. "/" .. sh.build
  return sh.run({ "env", "NETOPS_BUILD=" .. build, "sh", "-c", "set -u\n" .. text, "sh", ... }, { stderr = true })
end

describe("the launchers", function()
  local dir
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  for _, how in ipairs {
    { "lua5.4 examples/NAME.lua from the root", 'cd "$T" && lua5.4 examples/NAME.lua "$@"' },
    { "lua5.4 NAME.lua from examples/", 'cd "$T/examples" && lua5.4 NAME.lua "$@"' },
    { "lua5.4 CHECKOUT/examples/NAME.lua from /", 'cd / && lua5.4 "$T/examples/NAME.lua" "$@"' },
    { "./examples/NAME.lua (executable, its #! line)", 'cd "$T" && ./examples/NAME.lua "$@"' },
    { "./NAME.lua from examples/", 'cd "$T/examples" && ./NAME.lua "$@"' },
  } do
    it("run as " .. how[1], function()
      local function run(name, stdin, ...)
        sh.write(dir .. "/in", stdin or "")
        return script('T=$1; exec < "$2"; shift 2\n' .. how[2]:gsub("NAME", name), top, dir .. "/in", ...)
      end
      assert.same({ VERSION, 0 }, { run("normalize", nil, "--version") })
      assert.same({ VERSION, 0 }, { run("checksignals", nil, "--version") })
      assert.same({ VERSION, 0 }, { run("netops-failover", nil, "--version") })
      assert.same({ "2001:db8::1\nInvalid address x\n", 1 }, { run("normalize", "2001:0DB8::1\nx\n") })
      assert.same({ "SIGINT (2), SIGTERM (15)\n", 0 }, { run("checksignals", nil, "--decode", "4002") })
    end)
  end

  for _, lua in ipairs { "lua5.1", "lua5.3", "lua" } do
    it("started by " .. lua .. ", re-run with lua5.4: arguments, input and exit status passed through", function()
      local ver = sh.run({ lua, "-e", "print(_VERSION)" })
      local out, code = script('cd "$1" && ' .. lua .. ' examples/normalize.lua --version', top)
      assert.same({ VERSION, 0 }, { out, code }, ver)
      sh.write(dir .. "/in", "::0:1\nnope\n")
      out, code = script(lua .. ' examples/normalize.lua < "$1"', dir .. "/in")
      assert.same({ "::1\nInvalid address nope\n", 1 }, { out, code })
      -- quotes, spaces, $, backquotes, backslashes and newlines reach the command as they were
      local odd = dir .. "/it's a \"$HOME\" `id` \\ \n file"
      out, code = script(lua .. ' examples/normalize.lua "$1"', odd)
      assert.same({ "normalize: " .. odd .. ": No such file or directory\n", 2 }, { out, code })
      sh.write(odd, "2001:DB8::A\n")
      out, code = script(lua .. ' examples/normalize.lua -- "$1" 2>&1', odd)
      assert.same({ "2001:db8::a\n", 0 }, { out, code })
      out, code = script(lua .. " examples/normalize.lua --bogus")
      assert.equal(2, code)
      assert.matches("^normalize: unknown option '%-%-bogus'\nUsage: normalize", out)
      out, code = script(lua .. " examples/checksignals.lua --all --user --ignoring KILL")
      assert.same({ "", 1 }, { out, code })
    end)
  end

  it("started by lua5.1 with lua5.4 killed by a signal: exits 128+n", function()
    local text = [[
      mkfifo "$1/fifo"
      lua5.1 examples/normalize.lua < "$1/fifo" > /dev/null & p=$!
      exec 3> "$1/fifo"
      # the launcher's child, or its grandchild when sh does not exec, is lua5.4
      victim=; i=0
      while [ -z "$victim" ] && [ $i -lt 200 ]; do
        for c in $(cat /proc/$p/task/$p/children 2>/dev/null); do
          for g in $c $(cat /proc/$c/task/$c/children 2>/dev/null); do
            [ "$(cat /proc/$g/comm 2>/dev/null)" = lua5.4 ] && victim=$g
          done
        done
        [ -n "$victim" ] || { sleep 0.05; i=$((i + 1)); }
      done
      [ -n "$victim" ] && kill -TERM "$victim"
      [ -n "$victim" ] || kill -TERM $p
      wait $p; echo "rc=$? victim=${victim:+found}"
      exec 3>&-
    ]]
    local out = script(text, dir)
    assert.matches("\nrc=143 victim=found\n$", "\n" .. out)
  end)

  it("started by an old Lua with no lua5.4 in PATH: one line, no traceback, exit 127", function()
    sh.run({ "ln", "-s", "/usr/bin/lua5.3", dir .. "/lua" })
    local out, code = sh.run({ "env", "-i", "PATH=" .. dir, dir .. "/lua", top .. "/examples/normalize.lua", "x" },
                             { stderr = true })
    assert.equal(127, code)
    assert.equal("normalize: needs Lua 5.4 (lua5.4 or lua54 in PATH); this is Lua 5.3\n", out)
  end)

  it("through symlinks on PATH into the checkout, from another directory", function()
    sh.run({ "mkdir", dir .. "/bin", dir .. "/links" })
    -- bin/normalize -> (relative) ../links/n -> (absolute) CHECKOUT/examples/normalize.lua
    sh.run({ "ln", "-s", top .. "/examples/normalize.lua", dir .. "/links/n" })
    sh.run({ "ln", "-s", "../links/n", dir .. "/bin/normalize" })
    sh.run({ "ln", "-s", top .. "/examples/checksignals.lua", dir .. "/bin/checksignals" })
    sh.write(dir .. "/in", "2001:0DB8::0001\n")
    local out, code = script('cd / && PATH="$1/bin:$PATH" && normalize < "$1/in" && checksignals --version', dir)
    assert.same({ "2001:db8::1\n" .. VERSION, 0 }, { out, code })
    -- and `lua5.3 LINK`, the same link started by Debian's default lua
    out, code = script('cd / && lua5.3 "$1/bin/normalize" < "$1/in"', dir)
    assert.same({ "2001:db8::1\n", 0 }, { out, code })
  end)

  it("a launcher that finds no netops says so in one line, exit 127", function()
    sh.run({ "cp", "examples/normalize.lua", dir .. "/normalize" })
    local out, code = sh.run({ "env", "-u", "LUA_PATH", "-u", "LUA_PATH_5_4", "lua5.4", dir .. "/normalize" },
                             { stderr = true })
    assert.equal(127, code)
    assert.equal("normalize: cannot find the Lua module netops.cli.normalize (next to " .. dir
      .. "/normalize, or in LUA_PATH)\n", out)
  end)
end)

-- The commands read common command lines without loading argparse (it costs
-- as much as starting lua5.4); whatever the quick reader takes must be what
-- argparse makes of it, and what it does not take goes to argparse.
describe("the quick option reader", function()
  local cli = require "netops.cli"

  local function same(a, b)
    if type(a) ~= "table" or type(b) ~= "table" then return a == b end
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
  end

  -- argv vectors: the usual ones, and every edge the reader must leave alone
  local LINES = {
    {}, { "1" }, { "1", "2" }, { "-" }, { "--" }, { "--", "--all" }, { "--all" }, { "--all", "--user" },
    { "--all", "--ignoring", "TERM" }, { "--all", "--ignoring=TERM", "--ignoring", "INT,HUP" },
    { "--json", "1" }, { "--json", "--json" }, { "--json=no" }, { "--threads", "1", "2" },
    { "--decode", "4a02" }, { "--bogus" }, { "-h" }, { "--help" }, { "--version" }, { "--ignoring" },
    { "--ignoring", "-5" }, { "--all", "--", "-1" }, { "--rewrite", "-" }, { "--rewrite", "a", "b" },
    { "--max-wait", "5", "host" }, { "--max-wait=5", "host" }, { "--max-wait" }, { "-q", "host" },
    { "--max-wait", "1", "--max-wait", "2" }, { "--no-probe", "--interval=0.5" }, { "primary" },
    { "--policy", "p.lua", "GROUP", "G1", "MASTER", "100" }, { "status", "-n", "3", "--json" },
    { "-n", "3" }, { "-n3" }, { "--hosts", "a,b", "--count", "2" }, { "--probe", "[2001:db8::1]:22" },
    { "count" }, { "--netns", "fw1", "save", "-" },
  }

  for _, name in ipairs { "checksignals", "normalize", "sssh", "netops_failover", "failover_tester",
                          "netops_conntrack" } do
    it(name .. ": the quick reader's result is argparse's, or it leaves the line to argparse", function()
      local p = require("netops.cli." .. name).parser()
      local taken = 0
      for _, args in ipairs(LINES) do
        local q = cli._quick(p, args)
        if q ~= nil then
          taken = taken + 1
          local ok, full = cli._full(p, args)
          assert.is_true(ok, name .. " " .. table.concat(args, " ") .. ": quick took what argparse refuses: "
                         .. tostring(full))
          assert.is_true(same(q, full), name .. " " .. table.concat(args, " ") .. ": results differ")
        end
      end
      if name ~= "netops_conntrack" then   -- subcommands: always argparse
        assert.is_true(taken >= 3, name .. ": the quick reader took " .. taken .. " lines")
      end
    end)
  end

  it("checksignals --all --ignoring TERM loads neither argparse nor dkjson; --json loads dkjson", function()
    local code = [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "]] .. sh.build .. [[/?.so;" .. package.cpath
      local out = io.stdout
      io.stdout = io.open("/dev/null", "w")
      local main = require("netops.cli.checksignals").main
      main { "--all", "--ignoring", "TERM" }
      local a, d = package.loaded.argparse ~= nil, package.loaded.dkjson ~= nil
      main { "--all", "--ignoring", "TERM", "--json" }
      out:write(tostring(a), " ", tostring(d), " ", tostring(package.loaded.dkjson ~= nil), "\n")
    ]]
    local out, code_ = sh.run({ "lua5.4", "-e", code }, { stderr = true })
    assert.equal(0, code_, out)
    assert.equal("false false true\n", out)
  end)
end)
