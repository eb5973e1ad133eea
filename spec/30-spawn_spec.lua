-- netops.spawn, the process handle, netops.sleep: what a caller notices.
local sh = require "helpers.sh"
local P = require "helpers.proc"
local netops = require "netops"
local core = netops.core

-- whatever a test started is killed, reaped and cleaned up, even when it fails
after_each(function() P.cleanup() end)

local function tmpfile()
  local path = sh.tmpfile()
  return path, assert(io.open(path, "w"))
end

describe("netops.spawn", function()
  it("runs argv without a shell and reports the exit code", function()
    local path, f = tmpfile()
    local p = assert(netops.spawn({ "printf", "%s|", "$HOME; echo x", "*" }, { stdout = f }))
    f:close()
    local r = p:wait()
    p:close()
    assert.equal("exited", r.status)
    assert.equal(0, r.code)
    assert.equal("$HOME; echo x|*|", sh.read(path))
    os.remove(path)
  end)

  it("returns the status of a failing program and the signal of a killed one", function()
    local p = assert(netops.spawn({ "sh", "-c", "exit 3" }))
    local r = p:wait()
    assert.equal("exited", r.status)
    assert.equal(3, r.code)
    p:close()
    p = assert(netops.spawn({ "sh", "-c", "kill -TERM $$; sleep 5" }))
    r = p:wait()
    assert.equal("signaled", r.status)
    assert.equal(15, r.signal)
    assert.equal("SIGTERM", r.signal_name)
    p:close()
  end)

  it("returns nil, a message naming the program, and ENOENT for a missing program", function()
    local p, msg, err = netops.spawn({ "/nonexistent/netops-no-such-program" })
    assert.is_nil(p)
    assert.matches("netops%-no%-such%-program", msg)
    assert.matches("No such file", msg)
    assert.equal(2, err)
  end)

  it("a failing cwd is reported, not raised", function()
    local p, msg = netops.spawn({ "true" }, { cwd = "/nonexistent/dir" })
    assert.is_nil(p)
    assert.matches("No such file", msg)
  end)

  it("honours env and cwd", function()
    local path, f = tmpfile()
    local p = assert(netops.spawn({ "sh", "-c", 'echo "$NETOPS_X:$(pwd):${HOME-unset}"' },
      { env = { NETOPS_X = "42", PATH = os.getenv("PATH") }, cwd = "/tmp", stdout = f }))
    f:close()
    p:wait(); p:close()
    assert.equal("42:/tmp:unset\n", sh.read(path))
    os.remove(path)
  end)

  it("tee copies stderr byte for byte and keeps the last 4 KiB as stderr_tail; capture only keeps", function()
    local h = P.lua([[
      local core = require "netops.core"
      local p = core.spawn({ "sh", "-c", "{ printf 'a\\r\\n\\033[1mb'; head -c 10000 /dev/zero | tr '\\0' x; printf END; } >&2" },
        { stderr = "tee" })
      local r = p:wait()
      io.stdout:write(r.stderr_tail)
      local q = core.spawn({ "sh", "-c", "echo captured-only >&2" }, { stderr = "capture" })
      io.stdout:write("|", q:wait().stderr_tail)
    ]])
    local r = h.wait(30)
    assert.equal(0, r.code)
    local expect = "a\r\n\27[1mb" .. string.rep("x", 10000) .. "END"
    assert.equal(expect, h.stderr())
    assert.equal(expect:sub(-4096) .. "|captured-only\n", h.stdout())
    h.close()
  end)

  it("the child starts with an empty mask and default dispositions, but keeps an ignored SIGHUP/SIGQUIT (nohup)", function()
    -- the parent blocks signals while the child runs: that may not reach the
    -- child; what the user ignored (nohup, sh's `&`) stays ignored, anything
    -- else a parent ignores does not.  (lua5.4 itself catches SIGINT while it
    -- runs a chunk, so an ignored SIGINT is lost before netops sees it.)
    local h = P.start({ "sh", "-c", "trap '' HUP INT QUIT USR1 PIPE; exec lua5.4 -e '" ..
      'package.cpath="' .. sh.build .. '/?.so;"..package.cpath;' ..
      'local p = require("netops.core").spawn({"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}); p:wait()' ..
      "'" })
    h.wait(30)
    local out = h.stdout()
    assert.matches("SigBlk:%s+0+\n", out)
    local ign = tonumber(out:match("SigIgn:%s+(%x+)"), 16)
    for _, sig in ipairs { 1, 3 } do              -- HUP, QUIT
      assert.equal(1, (ign >> (sig - 1)) & 1, "signal " .. sig .. " no longer ignored: " .. out)
    end
    for _, sig in ipairs { 10, 13 } do            -- USR1, PIPE
      assert.equal(0, (ign >> (sig - 1)) & 1, "signal " .. sig .. " still ignored: " .. out)
    end
    h.close()
  end)

  it("leaks no fd into the child, not even Lua's io.open ones", function()
    local keep = assert(io.open("/etc/hostname", "r"))
    local path, f = tmpfile()
    local p = assert(netops.spawn({ "ls", "-l", "/proc/self/fd/" }, { stdout = f, stderr = "tee" }))
    f:close()
    p:wait(); p:close()
    keep:close()
    local listing = sh.read(path)
    local fds = {}
    for fd in listing:gmatch(" (%d+) %->") do fds[#fds + 1] = tonumber(fd) end
    assert.is_true(#fds >= 3)
    for _, fd in ipairs(fds) do assert.is_true(fd <= 3, "leaked fd " .. fd .. ":\n" .. listing) end
    assert.is_nil(listing:find("hostname", 1, true))
    assert.is_nil(listing:find("anon_inode", 1, true))
    os.remove(path)
  end)

  it("wait(timeout) reports a running child; kill ends it", function()
    local p = assert(netops.spawn({ "sleep", "30" }))
    local r = p:wait(0.05)
    assert.equal("timeout", r.status)
    assert.is_true(r.running)
    assert.is_true(p.running)
    assert.is_true(p:kill("TERM"))
    r = p:wait()
    assert.equal("signaled", r.status)
    assert.equal("SIGTERM", r.signal_name)
    local ok, msg, err = p:kill(9)
    assert.is_nil(ok)
    assert.matches("has ended", msg)
    assert.equal(3, err)
    p:close()
  end)

  it("names signals as netops.signals does, real-time ones included", function()
    local signals = require "netops.signals"
    local p = assert(netops.spawn({ "sleep", "30" }))
    assert.is_true(p:kill("rtmin+1"))     -- any name netops.signals.number takes
    local r = p:wait()
    p:close()
    assert.equal("signaled", r.status)
    assert.equal(signals.RTMIN + 1, r.signal)
    assert.equal(signals.name(r.signal), r.signal_name)
    assert.equal("SIGRTMIN+1", r.signal_name)
    p = assert(netops.spawn({ "sleep", "30" }))
    assert.is_true(p:kill("term"))
    r = p:wait()
    p:close()
    assert.equal("SIGTERM", r.signal_name)
  end)

  it("opts.timeout: SIGTERM at the timeout (the child records it), SIGKILL once the grace has passed", function()
    -- the child records each SIGTERM it gets and goes on; only SIGKILL ends it.
    -- No wall-clock bound: the elapsed time the result reports is at least
    -- timeout + grace, and the child saw SIGTERM before SIGKILL came.
    local rec = sh.tmpfile()
    local p = assert(netops.spawn({ "sh", "-c", "trap 'echo TERM $$ >> \"$0\"' TERM; while :; do sleep 0.05; done", rec },
      { timeout = 0.5, grace = 0.6 }))
    local r = p:wait()
    p:close()
    assert.equal("timeout", r.status)
    assert.equal(9, r.signal)
    assert.equal("SIGKILL", r.signal_name)
    assert.equal("TERM " .. r.pid .. "\n", sh.read(rec))
    assert.is_true(r.elapsed >= 0.5 + 0.6, "killed before the grace ran out: " .. r.elapsed)
    os.remove(rec)
    -- a child that obeys SIGTERM ends with it, no SIGKILL follows
    p = assert(netops.spawn({ "sleep", "30" }, { timeout = 0.3, grace = 30 }))
    r = p:wait()
    p:close()
    assert.equal("timeout", r.status)
    assert.equal(15, r.signal)
    assert.equal("SIGTERM", r.signal_name)
    assert.is_true(r.elapsed >= 0.3, "SIGTERM before the timeout: " .. r.elapsed)
    -- one that ends first is not a timeout
    p = assert(netops.spawn({ "sh", "-c", "exit 4" }, { timeout = 30 }))
    r = p:wait()
    p:close()
    assert.equal("exited", r.status)
    assert.equal(4, r.code)
  end)

  it("the result's pid, elapsed, user and system: types, and what the child itself did", function()
    -- sh records its own pid ($$), runs a bounded CPU loop in a child it
    -- reaps (user CPU "of the child and what it reaped"), then sleeps 0.3 s
    local rec = sh.tmpfile()
    local p = assert(netops.spawn({ "sh", "-c",
      'echo $$ > "$0"; lua5.4 -e "local x = 0 for i = 1, 1e7 do x = x + i end"; sleep 0.3', rec }))
    local pid = p.pid
    local r = p:wait()
    p:close()
    assert.equal("exited", r.status)
    assert.equal(0, r.code)
    assert.equal("integer", math.type(r.pid))
    assert.equal(pid, r.pid)
    assert.equal(tostring(r.pid) .. "\n", sh.read(rec))
    for _, k in ipairs { "elapsed", "user", "system" } do
      assert.equal("float", math.type(r[k]), k)
      assert.is_true(r[k] >= 0, k)
    end
    assert.is_true(r.elapsed >= 0.3, "elapsed shorter than the child's sleep: " .. r.elapsed)
    assert.is_true(r.user > 0, "no user CPU time for a CPU loop")
    -- one thread at a time: its CPU time fits in the time it ran
    assert.is_true(r.user + r.system <= r.elapsed + 0.01,
      ("user %g + system %g > elapsed %g"):format(r.user, r.system, r.elapsed))
    os.remove(rec)
    -- a wait that times out reports the time so far, and the pid
    p = assert(netops.spawn({ "sleep", "30" }))
    r = p:wait(0.2)
    assert.equal("timeout", r.status)
    assert.equal(p.pid, r.pid)
    assert.equal("float", math.type(r.elapsed))
    assert.is_true(r.elapsed >= 0.2, r.elapsed)
    p:close()
  end)

  it("close is idempotent, kills and reaps a running child, and use after close raises", function()
    local p = assert(netops.spawn({ "sleep", "30" }))
    local pid = p.pid
    p:close()
    p:close()
    assert.equal(0, P.zombies(tonumber(sh.run("echo $PPID"):match("%d+"))))
    assert.is_nil(sh.read("/proc/" .. pid .. "/stat"))
    assert.has_error(function() return p.pid end)
    assert.has_error(function() p:wait() end)
    do
      local q <close> = assert(netops.spawn({ "true" }))
      q:wait()
    end
  end)

  it("leaves no zombie after many runs, waited or dropped", function()
    local h = P.lua([[
      local core = require "netops.core"
      for i = 1, 200 do
        local p = core.spawn({ "true" })
        if i % 2 == 0 then p:wait() end
        if i % 3 == 0 then p:close() end
      end
      collectgarbage(); collectgarbage()
      local fds = 0
      local ls = io.popen("ls /proc/self/fd")
      for _ in ls:lines() do fds = fds + 1 end
      ls:close()
      print("fds", fds)
      local z = 0
      local f = io.open("/proc/self/stat")
      local me = f:read("a"):match("^(%d+)")
      f:close()
      local cat = io.popen("cat /proc/[0-9]*/stat 2>/dev/null")
      for line in cat:lines() do
        local st, pp = line:match("^%d+ %b() (%S+) (%d+)")
        if st == "Z" and pp == me then z = z + 1 end
      end
      cat:close()
      print("zombies", z)
    ]])
    local r = h.wait(60)
    assert.equal(0, r.code, h.stderr())
    assert.matches("zombies\t0\n", h.stdout())
    -- stdin, stdout, stderr, the signalfd, popen's pipe and ls's own: no pidfd or pipe left over
    local fds = tonumber(h.stdout():match("fds%s+(%d+)"))
    assert.is_true(fds <= 6, h.stdout())
    h.close()
  end)

  it("misuse raises", function()
    assert.has_error(function() netops.spawn({}) end)
    assert.has_error(function() netops.spawn("ls") end)
    assert.has_error(function() netops.spawn({ "ls", 3 }) end)
    assert.has_error(function() netops.spawn({ "ls" }, { stderr = "bogus" }) end)
    assert.has_error(function() netops.spawn({ "ls" }, { timeout = -1 }) end)
    local p = assert(netops.spawn({ "true" }))
    assert.has_error(function() p:kill("NOSUCHSIG") end)
    assert.has_error(function() p:wait(-1) end)
    p:wait(); p:close()
  end)

  it("refuses an unknown option key (a typo), naming it and the known ones, and runs nothing", function()
    local base = os.tmpname()
    local ok, err = pcall(netops.spawn, { "touch", base .. ".never" }, { timout = 1 })
    assert.is_false(ok)
    assert.matches("unknown opts field 'timout' (known: env, cwd, stdin, stdout, stderr, timeout, grace)",
      tostring(err), 1, true)
    netops.sleep(0.2)
    assert.is_nil(io.open(base .. ".never"))
    os.remove(base)
    ok, err = pcall(netops.spawn, { "true" }, { [1] = "x" })
    assert.is_false(ok)
    assert.matches("unknown opts field 'number'", tostring(err), 1, true)
  end)

  it("raises on a NUL byte in argv, env, cwd or a stdio mode, which C would cut, and runs nothing", function()
    local path, f = tmpfile()
    local function refused(argv, opts, what)
      opts = opts or {}
      opts.stdout = f
      local ok, err = pcall(netops.spawn, argv, opts)
      assert.is_false(ok, what)
      assert.matches("NUL", tostring(err), 1, true)
    end
    refused({ "printf", "[%s]\n", "safe\0; rm -rf /" }, nil, "argv word")
    refused({ "printf\0x", "[%s]\n", "a" }, nil, "program name")
    refused({ "printf", "[%s]\n", "a" }, { env = { ["A\0B"] = "v" } }, "env name")
    refused({ "printf", "[%s]\n", "a" }, { env = { A = "v\0w" } }, "env value")
    refused({ "printf", "[%s]\n", "a" }, { env = { "A\0B=v\0w" } }, "env entry")
    refused({ "printf", "[%s]\n", "a" }, { cwd = "/tmp\0/nonexistent" }, "cwd")
    refused({ "printf", "[%s]\n", "a" }, { stdin = "null\0x" }, "stdin mode")
    refused({ "printf", "[%s]\n", "a" }, { stderr = "tee\0x" }, "stderr mode")
    -- an env name holding '=' would change which variable the child sees
    assert.has_error(function() netops.spawn({ "true" }, { env = { ["A=B"] = "v" } }) end)
    assert.has_error(function() netops.spawn({ "true" }, { env = { "=v" } }) end)
    f:close()
    assert.equal("", sh.read(path))
    os.remove(path)
  end)
end)

describe("signals while a child runs", function()
  for _, sig in ipairs { "TERM", "HUP" } do
    it("SIG" .. sig .. " to the parent is forwarded to the child and remembered; the parent lives", function()
      local h = P.lua(([[
        local core = require "netops.core"
        local p = core.spawn({ "sh", "-c", "trap 'echo child-got-%s; exit 7' %s; sleep 20 & wait" })
        io.stdout:write("ready\n"); io.stdout:flush()
        local r = p:wait()
        print("code", r.code, "forwarded", r.forwarded)
      ]]):format(sig, sig))
      assert.truthy(h.until_(function() return h.stdout():find("ready") end))
      core.sleep(0.5)
      h.proc:kill(sig)
      local r = h.wait(30)
      assert.equal("exited", r.status)
      assert.equal(0, r.code)
      assert.matches("child%-got%-" .. sig, h.stdout())
      assert.matches("code\t7\tforwarded\tSIG" .. sig, h.stdout())
      h.close()
    end)
  end

  it("SIGINT does not kill the parent; sent with kill(2) it reaches the child too", function()
    local h = P.lua([[
      local core = require "netops.core"
      local p = core.spawn({ "sleep", "20" })
      io.stdout:write("ready\n"); io.stdout:flush()
      local r = p:wait()
      print("status", r.status, r.signal_name, "interrupted", r.interrupted)
    ]])
    assert.truthy(h.until_(function() return h.stdout():find("ready") end))
    core.sleep(0.5)
    h.proc:kill("INT")
    local r = h.wait(30)
    assert.equal(0, r.code)
    assert.matches("status\tsignaled\tSIGINT\tinterrupted\tSIGINT", h.stdout())
    h.close()
  end)
  it("SIGQUIT does not kill the parent: it is recorded in the result and, sent with kill(2), passed on", function()
    -- the child records the SIGQUIT it was passed and exits 7; the parent
    -- (whose default action for SIGQUIT is a core dump) goes on to print
    local h = P.lua([[
      local core = require "netops.core"
      local p = core.spawn({ "sh", "-c", "trap 'echo child-got-QUIT; kill $!; exit 7' QUIT; sleep 20 & wait" })
      io.stdout:write("ready\n"); io.stdout:flush()
      local r = p:wait()
      print("status", r.status, r.code, "interrupted", r.interrupted, "forwarded", r.forwarded)
    ]])
    assert.truthy(h.until_(function() return h.stdout():find("ready") end))
    core.sleep(0.5)
    h.proc:kill("QUIT")
    local r = h.wait(30)
    assert.equal("exited", r.status)
    assert.equal(0, r.code, h.stderr())
    assert.equal("ready\nchild-got-QUIT\nstatus\texited\t7\tinterrupted\tSIGQUIT\tforwarded\tnil\n", h.stdout())
    h.close()
  end)
end)

describe("a child that stops (ssh's ~^Z)", function()
  local pre = ('package.path="lua/?.lua;lua/?/init.lua;"..package.path;'
    .. 'package.cpath="%s/?.so;"..package.cpath;'):format(sh.build)

  it("in the terminal's foreground: stops the caller too, and both go on when the caller is continued", function()
    -- ptyrun: a new session whose terminal has the caller in its foreground
    local h = P.start({ sh.build .. "/helpers/ptyrun", "lua5.4", "-e", pre .. [[
      local f = io.open("/proc/self/stat"); print("luapid", f:read("a"):match("^%d+")); f:close()
      local core = require "netops.core"
      local p = core.spawn({ "sh", "-c", "kill -STOP $$; echo child-resumed" })
      local r = p:wait()
      print("code", r.code)
    ]] })
    local pid = h.until_(function() return h.stdout():match("luapid\t(%d+)") end, 20)
    assert.truthy(pid, h.stdout())
    local stat = "/proc/" .. pid .. "/stat"
    local stopped = h.until_(function()
      return ((sh.read(stat) or ""):match("^%d+ %b() (%S)")) == "T"
    end, 20)
    assert.truthy(stopped, "the caller did not stop")
    sh.run("kill -CONT " .. pid)
    local r = h.wait(30)
    assert.is_nil(r.hung)
    assert.equal(0, r.code, h.stdout())
    assert.matches("child%-resumed\r?\ncode\t0\r?\n", h.stdout())
    h.close()
  end)

  it("without a controlling terminal: the caller never stops, wait times out, opts.timeout still ends it", function()
    -- setsid: no controlling terminal, as under keepalived; were the caller
    -- stopped, nobody would continue it and h.wait would find it hung
    local h = P.start({ "setsid", "timeout", "-s", "KILL", "30", "lua5.4", "-e", pre .. [[
      local core = require "netops.core"
      local function stop(p)
        core.spawn({ "kill", "-STOP", tostring(p.pid) }):wait()
        local st
        repeat
          core.sleep(0.01)
          local f = io.open("/proc/" .. p.pid .. "/stat"); st = f:read("a"):match("^%d+ %b() (%S)"); f:close()
        until st == "T"
      end
      local p = core.spawn({ "sleep", "30" })
      stop(p)
      local r = p:wait(0.5)
      print("wait", r.status, r.running, r.elapsed >= 0.5)
      p:close()
      local q = core.spawn({ "sleep", "30" }, { timeout = 0.3, grace = 20 })
      stop(q)
      r = q:wait()
      print("timeout", r.status, r.signal_name)
    ]] })
    local r = h.wait(40)
    assert.is_nil(r.hung, "the caller hung (stopped?): " .. h.stdout() .. h.stderr())
    assert.equal(0, r.code, h.stderr())
    -- the stopped child still gets its SIGTERM (with a SIGCONT), before the grace runs out
    assert.equal("wait\ttimeout\ttrue\ttrue\ntimeout\ttimeout\tSIGTERM\n", h.stdout())
    h.close()
  end)
end)

describe("netops.sleep", function()
  it("sleeps the full time and returns nothing", function()
    local t = core.monotime()
    assert.is_nil(netops.sleep(0.05))
    assert.is_true(core.monotime() - t >= 0.05)
  end)

  for _, sig in ipairs { "INT", "TERM" } do
    it("returns early with the name when SIG" .. sig .. " arrives", function()
      local h = P.lua([[
        io.stdout:write("ready\n"); io.stdout:flush()
        local t = require("netops.core").monotime()
        local s = require("netops").sleep(30)
        print(s, require("netops.core").monotime() - t < 29)
      ]])
      assert.truthy(h.until_(function() return h.stdout():find("ready") end))
      core.sleep(0.5)
      h.proc:kill(sig)
      local r = h.wait(40)
      assert.equal(0, r.code, h.stderr())
      assert.matches("SIG" .. sig .. "\ttrue", h.stdout())
      h.close()
    end)
  end

  it("raises on a negative duration", function()
    assert.has_error(function() netops.sleep(-1) end)
  end)
end)

describe("the fd holder (read_trusted, proc)", function()
  local function open_fds()
    local n = 0
    local ls = io.popen("ls /proc/$PPID/fd")     -- $PPID: this Lua process
    for _ in ls:lines() do n = n + 1 end
    ls:close()
    return n
  end

  it("closes the fd read_trusted and proc.scan open, on success and on failure", function()
    local dir = sh.tmpdir()
    local ok_path, big, loose = dir .. "/ok.lua", dir .. "/big.lua", dir .. "/loose.lua"
    sh.write(ok_path, "return 1\n")
    sh.write(big, string.rep("x", 100) .. "\n")
    sh.write(loose, "return 1\n")
    sh.run({ "chmod", "0644", ok_path, big })
    sh.run({ "chmod", "0666", loose })
    local before = open_fds()
    for _ = 1, 20 do
      assert.equal("return 1\n", core.read_trusted(ok_path))
      assert.equal("too_big", select(3, core.read_trusted(big, 10)))
      assert.equal("insecure", select(3, core.read_trusted(loose)))
      assert.is_table((core.proc.scan({ ignored = { 15 } })))
    end
    assert.equal(before, open_fds())
    sh.rmtree(dir)
  end)
end)
