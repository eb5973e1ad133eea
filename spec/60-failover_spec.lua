-- netops.failover and netops-failover: argument shapes, the ordered lock,
-- superseded states, step logging and exit status, policy refusal, and the HA
-- lab (real keepalived + conntrackd + nftables in namespaces).  The doctor:
-- spec/61-doctor_spec.lua.
local sh = require "helpers.sh"
local failover = require "netops.failover"

local dir
local function policy(text, mode)
  local p = dir .. "/policy-" .. tostring(math.random(1e9)) .. ".lua"
  sh.write(p, text)
  sh.run({ "chmod", mode or "0644", p })
  return p
end

local RECORD = [[
local core = require "netops.core"
local out = ]] .. "%q" .. [[

local function rec(ctx, what)
  local f = io.open(out, "a")
  f:write(string.format("%%s %%s %%s %%s %%s\n", what, ctx.state, tostring(ctx.kind), tostring(ctx.name),
                        tostring(ctx.priority)))
  f:close()
end
local function h(ctx)
  rec(ctx, "start")
  core.sleep(tonumber(os.getenv("HOLD") or "0"))
  rec(ctx, "end")
end
return { master = h, backup = h, fault = h, stop = h }
]]

-- netops-failover with its state file and metrics in this test's directory
local function fcmd(...)
  return sh.cmd("netops-failover", "--state-dir", dir, "--metrics-dir", dir, ...)
end

local function cmd(p, ...)
  local argv = fcmd("--policy", p, "--lock", dir .. "/lock", "--log", dir .. "/log",
                      "--socket", dir .. "/none.ctl", ...)
  return argv
end

-- Run calls in the background, `pause` seconds apart, and wait for each by
-- its pid (a bare `wait` exits 0 whatever the calls did).  calls[i] = { env
-- = "HOLD=1", argv = {...}, pause = seconds before the next }.  Returns the
-- exit status and the pid of each call (the shell execs each one, so the pid
-- is the one the call logs).
local function concurrently(calls)
  local parts = {}
  for i, c in ipairs(calls) do
    parts[#parts + 1] = (c.env and (c.env .. " ") or "") .. sh.join(c.argv) .. " & p" .. i .. "=$!"
    if c.pause then parts[#parts + 1] = "sleep " .. c.pause end
  end
  for i = 1, #calls do
    parts[#parts + 1] = "wait $p" .. i .. "; echo \"call " .. i .. " pid $p" .. i .. " exit $?\""
  end
  local out, code = sh.run(table.concat(parts, "; "), { stderr = true })
  assert.equal(0, code, out)
  local codes, pids = {}, {}
  for i, pid, c in out:gmatch("call (%d+) pid (%d+) exit (%d+)") do
    codes[tonumber(i)], pids[tonumber(i)] = tonumber(c), tonumber(pid)
  end
  assert.equal(#calls, #codes, out)
  return codes, pids, out
end

-- Run argv with syslog(3)'s /dev/log leading to a socket this test reads:
-- in a private mount namespace, /dev is a fresh tmpfs holding /dev/null and
-- /dev/log, a symlink to a datagram socket socat listens on.  Returns the
-- messages received, each "<PRI>ident[pid]: text" (the timestamp cut), and
-- the command's output and exit status.
local function under_syslog(argv)
  local core = require "netops.core"
  local d = sh.tmpdir()
  local sock, got = d .. "/log.sock", d .. "/got"
  local listener = assert(core.spawn({ "socat", "-u", "UNIX-RECV:" .. sock, "OPEN:" .. got .. ",creat,append" },
                                     { stdin = "null", stdout = "null", stderr = "null" }))
  local ok, a, b, c = pcall(function()
    for _ = 1, 250 do
      if select(2, sh.run({ "test", "-S", sock })) == 0 then break end
      core.sleep(0.02)
    end
    local script = table.concat({
      "mkdir " .. sh.quote(d .. "/dev"), "mount --bind /dev " .. sh.quote(d .. "/dev"),
      "mount -t tmpfs -o mode=0755 tmpfs /dev", "touch /dev/null",
      "mount --bind " .. sh.quote(d .. "/dev/null") .. " /dev/null",
      "ln -s " .. sh.quote(sock) .. " /dev/log", "exec " .. sh.join(argv) }, " && ")
    local out, code = sh.run({ "unshare", "-m", "--propagation", "private", "sh", "-c", script }, { stderr = true })
    -- datagrams on one socket arrive in order: once this marker is in, all are
    -- (logger and curl run without the ASan runtime the asan pass preloads: both hang in it)
    local _, lc = sh.run({ "env", "-u", "LD_PRELOAD", "logger", "-u", sock, "netops-test-end" })
    assert.equal(0, lc, "logger could not send to " .. sock)
    local text
    for _ = 1, 250 do
      text = sh.read(got) or ""
      if text:find("netops-test-end", 1, true) then break end
      core.sleep(0.02)
    end
    local HDR = "<%d+>%a%a%a [ %d]%d %d%d:%d%d:%d%d "
    local starts, msgs = {}, {}
    local i = text:find(HDR)
    while i do starts[#starts + 1] = i; i = text:find(HDR, i + 1) end
    for k, at in ipairs(starts) do
      local m = text:sub(at, (starts[k + 1] or #text + 1) - 1):gsub("^(<%d+>)%a%a%a [ %d]%d %d%d:%d%d:%d%d ", "%1")
      if not m:find("netops-test-end", 1, true) then msgs[#msgs + 1] = m end
    end
    assert.equal(#starts, #msgs + 1, text)
    return msgs, out, code
  end)
  listener:kill("TERM")
  listener:wait()
  listener:close()
  sh.rmtree(d)
  assert(ok, a)
  return a, b, c
end

describe("netops-failover", function()
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  it("understands notify_master-style arguments (primary|backup|fault)", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    for _, a in ipairs { "primary", "backup", "fault" } do
      local out, code = sh.run(cmd(p, a), { stderr = true })
      assert.equal(0, code, out)
    end
    assert.equal("start master nil nil nil\nend master nil nil nil\nstart backup nil nil nil\n"
      .. "end backup nil nil nil\nstart fault nil nil nil\nend fault nil nil nil\n", sh.read(dir .. "/rec"))
  end)

  it("understands the generic notify arguments", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local out, code = sh.run(cmd(p, "GROUP", "G1", "MASTER", "0"), { stderr = true })
    assert.equal(0, code, out)
    out, code = sh.run(cmd(p, "INSTANCE", "VI_1", "STOP", "100"), { stderr = true })
    assert.equal(0, code, out)
    assert.equal("start master GROUP G1 0\nend master GROUP G1 0\nstart stop INSTANCE VI_1 100\n"
      .. "end stop INSTANCE VI_1 100\n", sh.read(dir .. "/rec"))
  end)

  it("rejects bad arguments with a usage message", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    for _, args in ipairs { {}, { "master2" }, { "INSTANCE", "VI_1", "MASTER" },
                            { "INSTANCE", "VI_1", "MASTER", "x" }, { "NODE", "VI_1", "MASTER", "1" },
                            { "--bogus", "primary" }, { "--policy" } } do
      local argv = cmd(p)
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      local out, code = sh.run(argv, { stderr = true })
      assert.equal(2, code, table.concat(args, " "))
      assert.matches("Usage: netops%-failover", out)
    end
    assert.is_nil(sh.read(dir .. "/rec"))
  end)

  it("runs parallel calls one at a time, in arrival order", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    -- five calls for different instances, started 0.2 s apart, each holding 0.6 s
    local calls = {}
    for i = 1, 5 do
      calls[i] = { env = "HOLD=0.6", pause = 0.2,
                   argv = cmd(p, "INSTANCE", "VI_" .. i, i % 2 == 0 and "BACKUP" or "MASTER", tostring(i)) }
    end
    local codes, _, out = concurrently(calls)
    assert.same({ 0, 0, 0, 0, 0 }, codes, out)
    local rec = sh.read(dir .. "/rec")
    local expect = {}
    for i = 1, 5 do
      local st = i % 2 == 0 and "backup" or "master"
      expect[#expect + 1] = string.format("start %s INSTANCE VI_%d %d", st, i, i)
      expect[#expect + 1] = string.format("end %s INSTANCE VI_%d %d", st, i, i)
    end
    assert.equal(table.concat(expect, "\n") .. "\n", rec)
  end)

  it("a call whose state was superseded by a later call does nothing and says so", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    -- MASTER holds the lock; BACKUP then FAULT for the same group queue behind it;
    -- BACKUP is superseded by FAULT
    local codes, pids, out = concurrently {
      { env = "HOLD=1", argv = cmd(p, "GROUP", "G1", "MASTER", "0"), pause = 0.4 },
      { env = "HOLD=0", argv = cmd(p, "GROUP", "G1", "BACKUP", "0"), pause = 0.3 },
      { env = "HOLD=0", argv = cmd(p, "GROUP", "G1", "FAULT", "0") },
    }
    -- the superseded call exits 0 like the others (README: "0 all steps ok (or superseded)")
    assert.same({ 0, 0, 0 }, codes, out)
    assert.equal("start master GROUP G1 0\nend master GROUP G1 0\nstart fault GROUP G1 0\nend fault GROUP G1 0\n",
                 sh.read(dir .. "/rec"))
    local log = sh.read(dir .. "/log")
    local lines = {}
    for line in log:gmatch("[^\n]*%[" .. pids[2] .. "%][^\n]*") do lines[#lines + 1] = line:gsub("^%S+ ", "") end
    assert.same({ "netops-failover[" .. pids[2] .. "] notice: GROUP G1 BACKUP: superseded by FAULT "
                  .. "(call #3, arrived later): nothing done" }, lines, log)
  end)

  it("a call that waits longer than --wait for a running call exits 1; the others exit 0", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local codes, pids, out = concurrently {
      { env = "HOLD=2", argv = cmd(p, "GROUP", "G1", "MASTER", "0"), pause = 0.4 },
      { env = "HOLD=0", argv = cmd(p, "--wait", "0.5", "GROUP", "G2", "BACKUP", "0"), pause = 0.1 },
      { env = "HOLD=0", argv = cmd(p, "GROUP", "G3", "FAULT", "0") },
    }
    assert.same({ 0, 1, 0 }, codes, out)
    local log = sh.read(dir .. "/log")
    assert.matches("\n?[^\n]* netops%-failover%[" .. pids[2] .. "%] err: GROUP G2 BACKUP: waited 0%.5s for "
      .. "earlier call #1 to finish\n", log)
    -- the call that gave up is skipped, not waited for: G3 runs right after G1
    assert.equal("start master GROUP G1 0\nend master GROUP G1 0\nstart fault GROUP G3 0\nend fault GROUP G3 0\n",
                 sh.read(dir .. "/rec"))
  end)

  it("a failing step gives a non-zero exit status and a log line", function()
    local out, code = sh.run(fcmd("--policy", "examples/primary-backup.lua", "--lock",
                                    dir .. "/lock", "--log", dir .. "/log", "--socket", dir .. "/none.ctl",
                                    "--timeout", "1", "primary"), { stderr = true })
    assert.equal(1, code, out)
    local log = sh.read(dir .. "/log")
    assert.matches("MASTER: step commit FAILED in [%d.]+ ms: conntrackd: [^\n]*none.ctl: no such socket", log)
    assert.matches("step flush skipped: the commit failed", log)
    assert.matches("MASTER: done in [%d.]+ ms, FAILED steps: commit, resync, bulk_send", log)
  end)

  it("skips a queued call whose process died instead of waiting for it", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local dead = tonumber((sh.run("sh -c 'echo $$'"):match("%d+")))   -- exited already
    sh.write(dir .. "/lock", string.format("next 2\nserving 1\n1 %d 0 G1 master\n", dead))
    sh.run({ "chmod", "0600", dir .. "/lock" })
    local out, code = sh.run(cmd(p, "--wait", "5", "GROUP", "G2", "BACKUP", "0"), { stderr = true })
    assert.equal(0, code, out)
    assert.equal("start backup GROUP G2 0\nend backup GROUP G2 0\n", sh.read(dir .. "/rec"))
    assert.matches("call #2", sh.read(dir .. "/log"))
  end)

  it("refuses a lock file owned by another user or readable by others, naming it", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local lock = dir .. "/lock"
    -- planted: pid 1 is always alive, so this queue would block every call
    sh.write(lock, "next 6\nserving 5\n5 1 0 - backup\n")
    sh.run({ "chmod", "0644", lock })
    local out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(1, code, out)
    assert.matches("lock file " .. lock:gsub("%p", "%%%0") .. ": refused: mode is not 0600 %(mode 0644", out)
    if not sh.need_root("chown to another user") then
      sh.run({ "chmod", "0600", lock })
      sh.run({ "chown", "65534", lock })
      out, code = sh.run(cmd(p, "primary"), { stderr = true })
      assert.equal(1, code, out)
      assert.matches("lock file " .. lock:gsub("%p", "%%%0") .. ": refused: owned by another user "
        .. "%(mode 0600, owner uid 65534%)", out)
    end
    assert.is_nil(sh.read(dir .. "/rec"))
    -- a missing lock file is created 0600 whatever the umask
    os.remove(lock)
    for _, umask in ipairs { "0", "0277" } do
      os.remove(lock)
      out, code = sh.run("umask " .. umask .. " && " .. sh.join(cmd(p, "primary")), { stderr = true })
      assert.equal(0, code, out)
      assert.equal("600", (sh.run({ "stat", "-c", "%a", lock }):gsub("%s+$", "")), "umask " .. umask)
    end
  end)

  it("a queued caller counts as alive only while its pid has the start time it had", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local lock = dir .. "/lock"
    local start1 = sh.read("/proc/1/stat"):match("%) (.*)$")
    local fields = {}
    for w in start1:gmatch("%S+") do fields[#fields + 1] = w end
    start1 = fields[20]                 -- field 22 counted from the pid
    -- the caller that queued as pid 1 with this start time is still there: wait for it
    sh.write(lock, string.format("next 2\nserving 1\n1 1 %s G1 master\n", start1))
    sh.run({ "chmod", "0600", lock })
    local out, code = sh.run(cmd(p, "--wait", "1", "GROUP", "G2", "BACKUP", "0"), { stderr = true })
    assert.equal(1, code, out)
    assert.matches("GROUP G2 BACKUP: waited 1s for earlier call #1 to finish", sh.read(dir .. "/log"))
    assert.is_nil(sh.read(dir .. "/rec"))
    -- pid 1 now is another process than the one that queued: its entry is dead
    sh.write(lock, string.format("next 2\nserving 1\n1 1 %d G1 master\n", tonumber(start1) + 1))
    out, code = sh.run(cmd(p, "--wait", "5", "GROUP", "G2", "BACKUP", "0"), { stderr = true })
    assert.equal(0, code, out)
    assert.equal("start backup GROUP G2 0\nend backup GROUP G2 0\n", sh.read(dir .. "/rec"))
  end)

  it("keeps an instance name with spaces in the queue: calls still run one at a time", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local codes, _, out = concurrently {
      { env = "HOLD=1", argv = cmd(p, "INSTANCE", "VI 1", "MASTER", "100"), pause = 0.4 },
      { env = "HOLD=0", argv = cmd(p, "INSTANCE", "VI 1", "BACKUP", "100"), pause = 0.2 },
      { env = "HOLD=0", argv = cmd(p, "INSTANCE", "VI_2", "FAULT", "100") },
    }
    assert.same({ 0, 0, 0 }, codes, out)
    assert.equal("start master INSTANCE VI 1 100\nend master INSTANCE VI 1 100\n"
      .. "start backup INSTANCE VI 1 100\nend backup INSTANCE VI 1 100\n"
      .. "start fault INSTANCE VI_2 100\nend fault INSTANCE VI_2 100\n", sh.read(dir .. "/rec"))
  end)

  it("--wait behind a held lock logs the wait and exits 1", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local lock = dir .. "/lock"
    sh.write(lock, "")
    sh.run({ "chmod", "0600", lock })
    -- another process holds the lock for 3 s; the call may wait 1 s
    local argv = fcmd("--policy", p, "--lock", lock, "--log", "stderr", "--wait", "1",
                        "primary")
    local out = sh.run("flock " .. sh.quote(lock) .. " sh -c 'touch " .. sh.quote(dir .. "/held")
      .. "; exec sleep 3' & while [ ! -e " .. sh.quote(dir .. "/held") .. " ]; do sleep 0.05; done; "
      .. sh.join(argv) .. "; echo \"exit=$?\"; wait", { stderr = true })
    assert.matches("exit=1\n", out)
    assert.matches("netops%-failover%[%d+%] err: MASTER: lock file " .. lock:gsub("%p", "%%%0")
      .. ": still held by another call after 1%.?0?s", out)
    assert.is_nil(out:find("traceback", 1, true), out)
    assert.is_nil(sh.read(dir .. "/rec"))
  end)

  it("refuses a symlink planted at the lock path, leaving the file it points to untouched", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local lock, target = dir .. "/lock", dir .. "/precious"
    -- a file the caller owns with mode 0600 would pass every check once followed
    sh.write(target, "precious\n")
    sh.run({ "chmod", "0600", target })
    sh.run({ "ln", "-s", target, lock })
    local out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(1, code, out)
    assert.equal("netops-failover: lock file " .. lock .. ": Too many levels of symbolic links\n", out)
    assert.equal("precious\n", sh.read(target))
    -- a dangling link: the file it names is not created
    os.remove(lock)
    sh.run({ "ln", "-s", dir .. "/created", lock })
    out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(1, code, out)
    assert.equal("netops-failover: lock file " .. lock .. ": Too many levels of symbolic links\n", out)
    assert.is_nil(sh.read(dir .. "/created"))
    assert.is_nil(sh.read(dir .. "/rec"))
  end)

  it("lock(timeout) on a lock held elsewhere waits the timeout, then gives the class \"timeout\"", function()
    local F = require("netops.core").failover
    local lock = dir .. "/lock"
    local holder = assert(F.lockfile(lock))
    assert.equal("600", (sh.run({ "stat", "-c", "%a", lock }):gsub("%s+$", "")))
    assert.is_true(holder:lock(1))
    -- flock locks belong to the open file: a second open of the same file waits
    local lf = assert(F.lockfile(lock))
    local t0 = require("netops.core").monotime()
    local ok, msg, cls = lf:lock(0.3)
    local waited = require("netops.core").monotime() - t0
    assert.same({ nil, "lock file " .. lock .. ": still held by another call after 0.3s", "timeout" },
                { ok, msg, cls })
    assert.is_true(waited >= 0.3, "returned after " .. waited .. " s, before its timeout")
    holder:unlock()
    assert.is_true(lf:lock(0.3))
    lf:close()
    holder:close()
  end)

  it("a queued call ended by SIGTERM leaves the queue, logs it and exits 143", function()
    local p = policy(RECORD:format(dir .. "/rec"))
    local lock = dir .. "/lock"
    local fields = {}
    for w in sh.read("/proc/1/stat"):match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
    -- call #1 is pid 1 with its own start time: alive, so call #2 waits behind it
    -- (up to 30 s for call #2 to queue: a start under ASan on a busy machine
    -- took longer than the 5 s this waited before, and the TERM then came
    -- before the handler was there)
    sh.write(lock, string.format("next 2\nserving 1\n1 1 %s G1 master\n", fields[20]))
    sh.run({ "chmod", "0600", lock })
    local out = sh.run(sh.join(cmd(p, "--wait", "30", "GROUP", "G2", "BACKUP", "0")) .. " & pid=$!; "
      .. "n=0; until grep -q '^2 ' " .. sh.quote(lock) .. " || [ $n -ge 600 ]; do sleep 0.05; n=$((n+1)); done; "
      .. "sleep 0.1; kill -TERM $pid; wait $pid; echo \"exit=$?\"", { stderr = true })
    assert.matches("exit=143\n", out)
    assert.matches("GROUP G2 BACKUP: SIGTERM while waiting for earlier call #1: call #2 withdrawn",
                   sh.read(dir .. "/log"))
    assert.equal(string.format("next 3\nserving 1\n1 1 %s G1 master\n", fields[20]), sh.read(lock))
    assert.is_nil(sh.read(dir .. "/rec"))
  end)

  it("backup starts conntrackd when it is down and its config is known", function()
    if sh.need_root("a namespace for conntrackd") then return end
    local lab = require "lab.lab"
    local ns = sh.netns("bk")
    sh.nsrun(ns, { "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1" })
    sh.nsrun(ns, { "ip", "addr", "add", "203.0.113.1/30", "dev", "sync0" })
    sh.nsrun(ns, { "ip", "link", "set", "sync0", "up" })
    sh.nsrun(ns, { "ip", "link", "set", "sync1", "up" })
    sh.write(dir .. "/conntrackd.conf", lab.conntrackd_conf(dir, "203.0.113.1", "203.0.113.2", "sync0", {}))
    sh.write(dir .. "/conntrackd.lock", "")          -- a stale lock left by a dead daemon
    local ok, err = pcall(function()
      local out, code = sh.nsrun(ns, fcmd("--policy", "examples/primary-backup.lua",
                                            "--lock", dir .. "/lock", "--log", dir .. "/log", "--socket",
                                            dir .. "/conntrackd.ctl", "--conntrackd-config",
                                            dir .. "/conntrackd.conf", "--timeout", "10", "backup"),
                                 { stderr = true })
      local log = sh.read(dir .. "/log") or ""
      assert.equal(0, code, out .. log)
      assert.matches("BACKUP: step start_conntrackd ok", log)
      assert.matches("BACKUP: step reset_timers ok", log)
      assert.is_table((require("netops.conntrackd").open { socket = dir .. "/conntrackd.ctl" }:stats()))
    end)
    sh.netns_cleanup()                                -- kills the daemon it started (by pid)
    assert(ok, err)
  end)

  it("backup does not start a second conntrackd beside one that does not answer", function()
    if sh.need_root("a namespace for conntrackd") then return end
    local lab = require "lab.lab"
    local ns = sh.netns("bkslow")
    sh.nsrun(ns, { "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1" })
    sh.nsrun(ns, { "ip", "addr", "add", "203.0.113.1/30", "dev", "sync0" })
    sh.nsrun(ns, { "ip", "link", "set", "sync0", "up" })
    sh.nsrun(ns, { "ip", "link", "set", "sync1", "up" })
    local conf = dir .. "/conntrackd.conf"
    sh.write(conf, lab.conntrackd_conf(dir, "203.0.113.1", "203.0.113.2", "sync0", {}))
    -- `ip netns exec` execs conntrackd: $! is the daemon's pid
    local pid = tonumber(sh.run(sh.join { "ip", "netns", "exec", ns, "conntrackd", "-C", conf }
      .. " >" .. sh.quote(dir .. "/ctd.out") .. " 2>&1 </dev/null & echo $!"):match("%d+"))
    local function conntrackds()
      local n = 0
      for p in sh.run({ "ip", "netns", "pids", ns }):gmatch("%d+") do
        if (sh.read("/proc/" .. p .. "/comm") or "") == "conntrackd\n" then n = n + 1 end
      end
      return n
    end
    local ok, err = pcall(function()
      for _ = 1, 100 do
        if select(2, sh.run({ "test", "-S", dir .. "/conntrackd.ctl" })) == 0 then break end
        lab.sleep(0.1)
      end
      assert.equal("conntrackd\n", sh.read("/proc/" .. pid .. "/comm"))
      assert.is_table((require("netops.conntrackd").open { socket = dir .. "/conntrackd.ctl" }:stats("runtime")))
      sh.run({ "kill", "-STOP", tostring(pid) })     -- alive, holds its lock, does not answer
      local out, code = sh.nsrun(ns, fcmd("--policy", "examples/primary-backup.lua",
                                            "--lock", dir .. "/lock", "--log", dir .. "/log", "--socket",
                                            dir .. "/conntrackd.ctl", "--conntrackd-config", conf,
                                            "--timeout", "1", "backup"), { stderr = true })
      local log = sh.read(dir .. "/log") or ""
      assert.equal(1, code, out .. log)
      assert.matches("BACKUP: step conntrackd_alive FAILED in [%d.]+ ms: conntrackd: [^\n]*timeout[^\n]*"
        .. "conntrackd pid " .. pid .. " runs with", log)
      assert.is_nil(log:find("start_conntrackd", 1, true), log)
      assert.is_nil(log:find("removed stale lock", 1, true), log)
      assert.equal(1, conntrackds(), log)
      assert.is_not_nil(sh.read(dir .. "/conntrackd.lock"), "the running daemon's lock file was removed")
    end)
    sh.run({ "kill", "-CONT", tostring(pid) })
    sh.netns_cleanup()                                -- kills the daemon (by pid)
    assert(ok, err)
  end)

  it("backup with conntrackd down fails the liveness step", function()
    local out, code = sh.run(fcmd("--policy", "examples/primary-backup.lua", "--lock",
                                    dir .. "/lock", "--log", dir .. "/log", "--socket", dir .. "/none.ctl",
                                    "backup"), { stderr = true })
    assert.equal(1, code, out)
    local log = sh.read(dir .. "/log")
    assert.matches("BACKUP: step conntrackd_alive FAILED in [%d.]+ ms: conntrackd: [^\n]*no such socket", log)
    assert.matches("BACKUP: step reset_timers FAILED", log)
  end)

  it("logs each successful step with its duration", function()
    local p = policy([[return { master = function(ctx)
      ctx.step("one", function() return true end)
      ctx.step("two", function() return 42 end)
    end }]])
    local _, code = sh.run(cmd(p, "primary"))
    assert.equal(0, code)
    local log = sh.read(dir .. "/log")
    assert.matches("MASTER: step one ok in [%d.]+ ms", log)
    assert.matches("MASTER: step two ok in [%d.]+ ms", log)
    assert.matches("MASTER: done in [%d.]+ ms, 2 steps ok", log)
  end)

  it("logs to syslog by default, facility daemon", function()
    if sh.need_root("a private mount namespace for /dev/log") then return end
    local p = policy([[return { master = function(ctx) ctx.step("x", function() return true end) end }]])
    local msgs, out, code = under_syslog(fcmd("--policy", p, "--lock", dir .. "/lock",
                                                "--socket", dir .. "/none.ctl", "primary"))
    assert.equal(0, code, out)
    assert.equal("", out)
    assert.equal(3, #msgs, table.concat(msgs, "\n"))
    local pid = msgs[1]:match("^<29>netops%-failover%[(%d+)%]: MASTER: start %(call #1, waited [%d.]+ ms for "
      .. "earlier calls%)$")
    assert.is_not_nil(pid, msgs[1])
    -- daemon is facility 3: notice <29>, info <30>
    assert.matches("^<30>netops%-failover%[" .. pid .. "%]: MASTER: step x ok in [%d.]+ ms$", msgs[2])
    assert.matches("^<29>netops%-failover%[" .. pid .. "%]: MASTER: done in [%d.]+ ms, 1 steps ok$", msgs[3])
  end)

  it("logs to stderr when asked", function()
    local p = policy([[return { backup = function(ctx) ctx.step("x", function() return true end) end }]])
    local out, code = sh.run(fcmd("--policy", p, "--lock", dir .. "/lock", "--log", "stderr",
                                    "backup"), { stderr = true })
    assert.equal(0, code)
    assert.matches("netops%-failover%[%d+%] info: BACKUP: step x ok", out)
  end)

  it("refuses a policy writable by group or others", function()
    local p = policy(RECORD:format(dir .. "/rec"), "0664")
    local out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(2, code)
    assert.matches("writable by its group", out)
    assert.matches("chmod go%-w", out)
    assert.is_nil(sh.read(dir .. "/rec"))
    local p2 = policy(RECORD:format(dir .. "/rec"), "0646")
    out, code = sh.run(cmd(p2, "primary"), { stderr = true })
    assert.equal(2, code)
    assert.matches("writable by others", out)
  end)

  it("refuses a policy owned by another user, naming the path and the owner", function()
    if sh.need_root("chown to another user") then return end
    local p = policy(RECORD:format(dir .. "/rec"), "0644")
    sh.run({ "chown", "65534", p })
    local out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches(p:gsub("%p", "%%%0") .. ": refused: owned by another user[^\n]*owner uid 65534", out)
    assert.is_nil(sh.read(dir .. "/rec"))
  end)

  it("refuses a policy below a directory others may change; a sticky root-owned one is fine", function()
    if sh.need_root("chown to another user") then return end
    local text = RECORD:format(dir .. "/rec")
    local function in_dir(name, mode, owner)
      local d = dir .. "/" .. name
      sh.run({ "mkdir", "-m", mode, d })
      if owner then sh.run({ "chown", owner, d }) end
      local p = d .. "/policy.lua"
      sh.write(p, text)
      sh.run({ "chmod", "0644", p })
      return p, d
    end
    local p, d = in_dir("open", "0777")
    local out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("refused: directory " .. d:gsub("%p", "%%%0") .. " is writable by others and not sticky", out)
    p, d = in_dir("grp", "0775")
    out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("refused: directory " .. d:gsub("%p", "%%%0") .. " is writable by its group", out)
    p, d = in_dir("theirs", "0755", "65534")
    out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("refused: directory " .. d:gsub("%p", "%%%0") .. " is owned by another user[^\n]*uid 65534", out)
    assert.is_nil(sh.read(dir .. "/rec"))
    -- like /tmp: sticky, world-writable, owned by root
    p = in_dir("sticky", "1777")
    out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(0, code, out)
    assert.matches("start master", sh.read(dir .. "/rec"))
  end)

  it("checks the file a symlink leads to and the directories on both paths", function()
    if sh.need_root("chown to another user") then return end
    local good = dir .. "/etc"
    sh.run({ "mkdir", "-m", "0755", good, dir .. "/open", dir .. "/sticky" })
    sh.run({ "chmod", "0777", dir .. "/open" })
    sh.run({ "chmod", "1777", dir .. "/sticky" })
    local target = good .. "/policy.lua"
    sh.write(target, RECORD:format(dir .. "/rec"))
    sh.run({ "chmod", "0644", target })
    -- a link in a directory where anyone may swap it: refused
    sh.run({ "ln", "-s", target, dir .. "/open/p.lua" })
    local out, code = sh.run(cmd(dir .. "/open/p.lua", "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("directory [^\n]*/open is writable by others", out)
    -- a link in a sticky directory to a trusted file: the file opened is checked and run
    sh.run({ "ln", "-s", target, dir .. "/sticky/p.lua" })
    out, code = sh.run(cmd(dir .. "/sticky/p.lua", "primary"), { stderr = true })
    assert.equal(0, code, out)
    -- a link to a file owned by another user: the opened file is refused
    local theirs = good .. "/theirs.lua"
    sh.write(theirs, RECORD:format(dir .. "/rec2"))
    sh.run({ "chown", "65534", theirs })
    sh.run({ "ln", "-s", theirs, dir .. "/sticky/q.lua" })
    out, code = sh.run(cmd(dir .. "/sticky/q.lua", "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("q%.lua: refused: owned by another user[^\n]*uid 65534", out)
    assert.is_nil(sh.read(dir .. "/rec2"))
  end)

  it("reports a policy that does not load or return handlers", function()
    local out, code = sh.run(cmd(policy("return 42"), "primary"), { stderr = true })
    assert.equal(2, code)
    assert.matches("must return a table of handlers", out)
    local p = policy("return {")
    out, code = sh.run(cmd(p, "primary"), { stderr = true })
    assert.equal(2, code)
    assert.equal("netops-failover: policy " .. p .. ":1: unexpected symbol near <eof>\n", out)
  end)
end)

describe("netops-failover command line", function()
  it("--help, --version, --opt=value, and typos with a suggestion (exit 2)", function()
    local out, code = sh.run(sh.cmd("netops-failover", "--help"), { stderr = true })
    assert.equal(0, code, out)
    assert.matches("^Usage: netops%-failover %[options%] primary|backup|fault\n", out)
    for _, opt in ipairs { "--policy", "--metrics-dir", "--no-metrics", "--state-dir", "--print-policy", "--json" } do
      assert.truthy(out:find("\n   " .. opt, 1, true) or out:find(", " .. opt, 1, true), opt .. "\n" .. out)
    end
    assert.same({ require("netops")._VERSION .. "\n", 0 }, { sh.run(sh.cmd("netops-failover", "--version")) })
    out, code = sh.run(sh.cmd("netops-failover", "--polcy", "x", "primary"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("^netops%-failover: unknown option '%-%-polcy'; did you mean '%-%-policy'%?\nUsage: ", out)
    out, code = sh.run(sh.cmd("netops-failover", "--metrics-dir"), { stderr = true })
    assert.equal(2, code, out)
    for _, bad in ipairs { { "--json", "primary" }, { "-n", "3", "primary" }, { "status", "-n", "0" },
                           { "status", "extra" }, { "--print-policy", "primary" }, { "--no-metrics=yes", "primary" },
                           { "--wait=x", "primary" } } do
      out, code = sh.run(sh.cmd("netops-failover", table.unpack(bad)), { stderr = true })
      assert.equal(2, code, table.concat(bad, " ") .. ": " .. out)
      assert.matches("^netops%-failover: [^\n]+\nUsage: netops%-failover", out)
    end
  end)

  it("--print-policy prints the shipped default policy, as it is", function()
    local out, code = sh.run(sh.cmd("netops-failover", "--print-policy"))
    assert.equal(0, code)
    assert.equal(sh.read("examples/primary-backup.lua"), out)
    -- the file a call without --policy runs when /etc/netops/failover-policy.lua is missing
    assert.equal(out, sh.read(require("netops.cli.netops_failover").shipped_policy()))
  end)
end)

describe("netops.failover.metrics", function()
  local metrics = require "netops.failover.metrics"
  local prom = require "helpers.prom"

  it("renders HELP and TYPE once per family, labels sorted and escaped", function()
    local set = metrics.new()
    set:add("x_total", 3, nil, "Things\nand \\ more.", "counter")
    set:add("st", 1, { state = "master", instance = 'V"I\\1\n' }, "State.")
    set:add("st", 0, { state = "backup", instance = 'V"I\\1\n' })
    set:add("st", 0.25, { state = "master", instance = "bad\255byte" })
    set:add("st", 1, { state = "backup", instance = 'V"I\\1\n' })       -- replaces the 0
    set:add("big", 1 / 3):add("inf", math.huge):add("whole", 2.0)
    assert.equal(table.concat({
      "# HELP x_total Things\\nand \\\\ more.", "# TYPE x_total counter", "x_total 3",
      "# HELP st State.", "# TYPE st gauge",
      'st{instance="V\\"I\\\\1\\n",state="master"} 1',
      'st{instance="V\\"I\\\\1\\n",state="backup"} 1',
      'st{instance="bad\\\\xFFbyte",state="master"} 0.25',
      "# HELP big big", "# TYPE big gauge", "big 0.3333333333333333",
      "# HELP inf inf", "# TYPE inf gauge", "inf +Inf",
      "# HELP whole whole", "# TYPE whole gauge", "whole 2", "" }, "\n"), set:render())
    local fams = prom.parse(set:render())
    assert.equal(1, prom.value(fams, "st", { state = "backup", instance = 'V"I\\1\n' }))
    assert.equal("bad\\xFFbyte", fams.st.samples[3].labels.instance)
    assert.equal("", metrics.new():render())
  end)

  it("raises on a bad name, label, type or value, and on a name given two types", function()
    local set = metrics.new()
    for _, args in ipairs { { "1x", 1 }, { "a-b", 1 }, { "ok", "1" }, { "ok", 1, { ["__x"] = "1" } },
                            { "ok", 1, { ["a b"] = "1" } }, { "ok", 1, nil, nil, "histogram" },
                            { "ok", 1, "labels" } } do
      assert.has_error(function() set:add(table.unpack(args, 1, 5)) end)
    end
    set:add("ok", 1, nil, "Help.", "gauge")
    assert.has_error(function() set:add("ok", 1, nil, "Help.", "counter") end)
    assert.has_error(function() set:add("ok", 1, nil, "Other help.") end)
  end)

  it("writes atomically with mode 0644, and says why it cannot", function()
    local d = sh.tmpdir()
    assert.is_true(metrics.write(d .. "/m.prom", "a 1\n"))
    assert.equal("a 1\n", sh.read(d .. "/m.prom"))
    assert.equal("644", (sh.run({ "stat", "-c", "%a", d .. "/m.prom" }):gsub("%s+$", "")))
    local ok, err = metrics.write(d .. "/missing/m.prom", "a 1\n")
    assert.is_nil(ok)
    assert.matches("^metrics " .. d:gsub("%p", "%%%0") .. "/missing/m%.prom: cannot open its directory", err)
    assert.equal("m.prom\n", sh.run({ "ls", "-A", d }))   -- no temporary file left
    sh.rmtree(d)
  end)
end)

describe("netops-failover status and metrics", function()
  local prom = require "helpers.prom"
  local json = require "dkjson"
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  local POLICY = [[
local core = require "netops.core"
local function one() return true end
return {
  master = function(ctx)
    core.sleep(tonumber(os.getenv("HOLD") or "0"))
    ctx.step("one", one)
    ctx.committed = 7
    ctx.metric("policy_runs_total", 1, { state = ctx.state }, "Runs of the policy.", "counter")
  end,
  backup = function(ctx) ctx.step("one", one) end,
  fault = function(ctx)
    ctx.step("one", one)
    ctx.step("check", function() return nil, "link down" end)
  end,
}
]]

  local function status(...)
    local out, code = sh.run(sh.cmd("netops-failover", "status", "--state-dir", dir, ...), { stderr = true })
    assert.equal(0, code, out)
    return out
  end

  it("status after a sequence of calls: current states, counters, each call's steps, superseded calls", function()
    local p = policy(POLICY)
    local codes, pids, out = concurrently {
      { env = "HOLD=1", argv = cmd(p, "GROUP", "G1", "MASTER", "0"), pause = 0.4 },
      { argv = cmd(p, "GROUP", "G1", "BACKUP", "0"), pause = 0.3 },
      { argv = cmd(p, "GROUP", "G1", "FAULT", "0") },
    }
    assert.same({ 0, 0, 1 }, codes, out)
    for _, args in ipairs { { "INSTANCE", "VI 1", "BACKUP", "100" }, { "primary" } } do
      local o, c = sh.run(cmd(p, table.unpack(args)), { stderr = true })
      assert.equal(0, c, o)
    end
    local st = json.decode(status("--json"))
    assert.equal(dir .. "/failover-state.json", st.state_file)
    -- times: Unix seconds of this run; durations: seconds, as measured
    local now = os.time()
    for _, c in ipairs(st.current) do
      assert.is_true(c.since <= now and c.since > now - 120, tostring(c.since))
      c.since = nil
    end
    assert.same({ { kind = "GROUP", name = "G1", state = "fault", ticket = 3 },
                  { kind = "INSTANCE", name = "VI 1", state = "backup", ticket = 4 },
                  { state = "master", ticket = 5 } }, st.current)
    assert.same({ transitions = { master = 2, backup = 1, fault = 1, stop = 0 }, superseded = 1,
                  step_failures = { one = 0, check = 1 },
                  calls = { ok = 3, failed = 1, superseded = 1, nothing = 0, error = 0 } }, st.counters)
    assert.equal(7, st.committed.entries)
    assert.equal(5, #st.history)
    for i, e in ipairs(st.history) do
      assert.is_true(e.time <= now and e.time > now - 120)
      assert.is_true(e.waited >= 0 and e.waited < 60)
      if i ~= 2 then assert.is_true(e.duration >= 0 and e.duration < 60) end
      for _, s in ipairs(e.steps or {}) do
        assert.is_true(s.seconds >= 0 and s.seconds < 60)
        s.seconds = nil
      end
      e.time, e.waited, e.duration = nil, nil, nil
      if i <= 3 then assert.equal(pids[i], e.pid) else assert.is_true(e.pid > 0) end
      e.pid = nil
    end
    assert.same({
      { ticket = 1, kind = "GROUP", name = "G1", priority = 0, state = "master", result = "ok", code = 0,
        steps = { { name = "one", ok = true } }, committed = 7, message = st.history[1].message },
      { ticket = 2, kind = "GROUP", name = "G1", priority = 0, state = "backup", result = "superseded", code = 0,
        superseded_by = { ticket = 3, state = "fault" },
        message = "superseded by FAULT (call #3, arrived later): nothing done" },
      { ticket = 3, kind = "GROUP", name = "G1", priority = 0, state = "fault", result = "failed", code = 1,
        steps = { { name = "one", ok = true }, { name = "check", ok = false, message = "link down" } },
        message = st.history[3].message },
      { ticket = 4, kind = "INSTANCE", name = "VI 1", priority = 100, state = "backup", result = "ok", code = 0,
        steps = { { name = "one", ok = true } }, message = st.history[4].message },
      { ticket = 5, state = "master", result = "ok", code = 0, steps = { { name = "one", ok = true } },
        committed = 7, message = st.history[5].message },
    }, st.history)
    assert.matches("^done in [%d.]+ ms, FAILED steps: check$", st.history[3].message)
    -- -n: the last N calls
    local last2 = json.decode(status("--json", "-n", "2")).history
    assert.same({ 4, 5 }, { last2[1].ticket, last2[2].ticket })
    -- the same for people
    local text = status("-n", "3")
    assert.matches("\nGROUP G1 FAULT since [%d-]+ [%d:]+ UTC %(call #3%)\n", text)
    assert.matches("\nINSTANCE VI 1 BACKUP since [^\n]+ %(call #4%)\n", text)
    assert.matches("\ntransitions: master 2, backup 1, fault 1, stop 0; superseded 1; failed steps: check 1\n", text)
    assert.matches("\nlast 3 call%(s%), oldest first:\n[^\n]* call #3 pid %d+  GROUP G1 FAULT  FAILED in [%d.]+ ms, "
      .. "waited [%d.]+ ms\n    step one ok in [%d.]+ ms\n    step check FAILED in [%d.]+ ms: link down\n", text)
    assert.is_nil(text:find("call #2 ", 1, true), text)
    assert.matches("call #2 pid %d+  GROUP G1 BACKUP  superseded by FAULT %(call #3%): nothing done",
                   status("-n", "5"))
    -- and the metrics file, written after the last call
    local m = prom.parse(sh.read(dir .. "/netops_failover.prom"))
    for _, s in ipairs { "master", "backup", "fault", "stop" } do
      assert.equal(s == "fault" and 1 or 0, prom.value(m, "netops_failover_state",
        { instance = "", group = "G1", state = s }), s)
      assert.equal(s == "backup" and 1 or 0, prom.value(m, "netops_failover_state",
        { instance = "VI 1", group = "", state = s }), s)
      assert.equal(({ master = 2, backup = 1, fault = 1, stop = 0 })[s],
                   prom.value(m, "netops_failover_transitions_total", { state = s }))
    end
    assert.equal("gauge", m.netops_failover_state.type)
    assert.equal("counter", m.netops_failover_transitions_total.type)
    assert.equal(1, prom.value(m, "netops_failover_superseded_total"))
    assert.equal(1, prom.value(m, "netops_failover_step_failures_total", { step = "check" }))
    assert.equal(0, prom.value(m, "netops_failover_step_failures_total", { step = "one" }))
    assert.equal(7, prom.value(m, "netops_failover_committed_entries"))
    assert.equal(2, prom.value(m, "policy_runs_total", { state = "master" }))
    assert.equal("Runs of the policy.", m.policy_runs_total.help)
    assert.same({ "one" }, { m.netops_failover_step_duration_seconds.samples[1].labels.step,
                            m.netops_failover_step_duration_seconds.samples[2] })
    assert.is_true(prom.value(m, "netops_failover_call_duration_seconds") >= 0)
    local last = prom.value(m, "netops_failover_last_call_timestamp_seconds")
    assert.is_true(last <= now and last > now - 120, tostring(last))
    assert.equal("644", (sh.run({ "stat", "-c", "%a", dir .. "/netops_failover.prom" }):gsub("%s+$", "")))
  end)

  it("counters survive between calls through the state file, which keeps the last 100 calls", function()
    local p = policy(POLICY)
    local function counter()
      local m = prom.parse(sh.read(dir .. "/netops_failover.prom"))
      return prom.value(m, "netops_failover_transitions_total", { state = "master" }),
             prom.value(m, "policy_runs_total", { state = "master" })
    end
    for i = 1, 3 do
      local _, code = sh.run(cmd(p, "primary"))
      assert.equal(0, code)
      assert.same({ i, i }, { counter() })
    end
    -- without the state file they start again: the file is what they survive in
    os.remove(dir .. "/failover-state.json")
    assert.equal(0, select(2, sh.run(cmd(p, "primary"))))
    assert.same({ 1, 1 }, { counter() })
    -- bounded: a state holding 100 calls keeps 100, dropping the oldest
    local history = require "netops.failover.history"
    local st = history.empty()
    for t = 1, 100 do
      history.update(st, { time = t, ticket = t, pid = 1, state = "backup", result = "ok", code = 0, steps = {} })
    end
    assert.is_true(history.save(dir, st))
    assert.equal(0, select(2, sh.run(cmd(p, "GROUP", "G9", "MASTER", "0"))))
    local got = json.decode(status("--json", "-n", "1000"))
    assert.equal(100, #got.history)
    -- seeded calls 1..100 (call #1 dropped), then this one (the lock file's 5th ticket)
    assert.same({ 2, 5, "G9" }, { got.history[1].ticket, got.history[100].ticket, got.history[100].name })
    assert.same({ 101, 100 }, { got.counters.calls.ok, got.counters.transitions.backup })
  end)

  it("a reader polling the metrics file while many calls run always reads a whole file", function()
    local core = require "netops.core"
    local p = policy(POLICY)
    local prom_file = dir .. "/netops_failover.prom"
    local lines = {}
    for i = 1, 30 do
      lines[#lines + 1] = sh.join(cmd(p, "GROUP", "G" .. i % 4, ({ "MASTER", "BACKUP", "FAULT" })[i % 3 + 1], "0"))
        .. " >/dev/null 2>&1 &"
    end
    lines[#lines + 1] = "wait; touch " .. sh.quote(dir .. "/done")
    local bg = io.popen(table.concat(lines, "\n"), "r")
    local reads, versions, seen = 0, 0, {}
    local deadline = core.monotime() + 300
    while not sh.read(dir .. "/done") and core.monotime() < deadline do
      local text = sh.read(prom_file)
      if text then
        reads = reads + 1
        local ok, m = pcall(prom.parse, text)
        assert(ok, tostring(m) .. "\n--- read " .. reads .. ":\n" .. text)
        assert.is_number(prom.value(m, "netops_failover_superseded_total"), text)
        assert.is_number(prom.value(m, "netops_failover_transitions_total", { state = "master" }), text)
        if not seen[text] then seen[text], versions = true, versions + 1 end
      end
    end
    bg:close()
    assert.is_not_nil(sh.read(dir .. "/done"), "the calls did not finish")
    local m = prom.parse(sh.read(prom_file))
    local total = 0
    for _, s in ipairs(m.netops_failover_calls_total.samples) do total = total + s.value end
    assert.equal(30, total)
    -- the reader raced the writers: it saw the file change several times
    assert.is_true(versions >= 3, versions .. " versions in " .. reads .. " reads")
  end)

  it("logs to stderr as well when stderr is a terminal", function()
    local p = policy([[return { master = function(ctx) ctx.step("x", function() return true end) end }]])
    local ptyrun = sh.build .. "/helpers/ptyrun"
    local out, code = sh.run({ ptyrun, sh.lua, "examples/netops-failover.lua", "--state-dir", dir, "--no-metrics",
                               "--policy", p, "--lock", dir .. "/lock", "--socket", dir .. "/none.ctl", "primary" })
    assert.equal(0, code, out)
    assert.matches("netops%-failover%[%d+%] info: MASTER: step x ok in [%d.]+ ms\r?\n", out)
    assert.matches("netops%-failover%[%d+%] notice: MASTER: done in [%d.]+ ms, 1 steps ok\r?\n", out)
    -- not a terminal: nothing on stderr (syslog only)
    out, code = sh.run(fcmd("--policy", p, "--lock", dir .. "/lock", "--socket", dir .. "/none.ctl", "primary"),
                       { stderr = true })
    assert.same({ "", 0 }, { out, code })
  end)

  it("node_exporter's textfile collector serves the series (real prometheus-node-exporter, conntrackd)", function()
    if sh.need_root("a namespace for conntrackd and node_exporter") then return end
    local exporter = "/usr/bin/prometheus-node-exporter"
    if not sh.read(exporter) then pending("needs prometheus-node-exporter (make deps)") return end
    local lab = require "lab.lab"
    local ns = sh.netns("prom")
    local mdir = dir .. "/metrics"
    sh.run({ "mkdir", mdir })
    local pid
    local ok, err = pcall(function()
      sh.nsrun(ns, { "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1" })
      sh.nsrun(ns, { "ip", "addr", "add", "203.0.113.1/30", "dev", "sync0" })
      sh.nsrun(ns, { "ip", "link", "set", "sync0", "up" })
      sh.nsrun(ns, { "ip", "link", "set", "sync1", "up" })
      sh.write(dir .. "/conntrackd.conf", lab.conntrackd_conf(dir, "203.0.113.1", "203.0.113.2", "sync0", {}))
      sh.run(sh.join { "ip", "netns", "exec", ns, "conntrackd", "-C", dir .. "/conntrackd.conf" } .. " >/dev/null 2>&1 &")
      local ctd
      for _ = 1, 100 do
        ctd = require("netops.conntrackd").open { socket = dir .. "/conntrackd.ctl", timeout = 2 }
        if ctd:stats("runtime") then break end
        lab.sleep(0.1)
      end
      -- five sessions in the namespace's kernel table, which conntrackd learns from its events
      for i = 1, 5 do
        local o, c = sh.nsrun(ns, { "conntrack", "-I", "-p", "udp", "-s", "192.0.2.1", "-d", "198.51.100.1",
                                    "--sport", tostring(1000 + i), "--dport", "53", "-t", "600" }, { stderr = true })
        assert.equal(0, c, o)
      end
      local internal
      for _ = 1, 50 do
        local st = ctd:stats()
        internal = st and st.cache_internal and st.cache_internal.current_active_connections
        if internal == 5 then break end
        lab.sleep(0.1)
      end
      assert.equal(5, internal)
      local function failover(...)
        return sh.nsrun(ns, sh.cmd("netops-failover", "--state-dir", dir, "--metrics-dir", mdir, "--lock",
                                   dir .. "/lock", "--log", dir .. "/log", "--socket", dir .. "/conntrackd.ctl",
                                   "--policy", "examples/primary-backup.lua", "--timeout", "10", ...),
                        { stderr = true })
      end
      for _, args in ipairs { { "primary" }, { "GROUP", "G1", "BACKUP", "0" }, { "GROUP", "G1", "MASTER", "0" } } do
        local o, c = failover(table.unpack(args))
        assert.equal(0, c, o .. (sh.read(dir .. "/log") or ""))
      end
      -- node_exporter in the namespace, on its loopback, textfile collector only
      pid = tonumber(sh.run(sh.join { "ip", "netns", "exec", ns, exporter, "--collector.disable-defaults",
        "--collector.textfile", "--collector.textfile.directory=" .. mdir,
        "--web.listen-address=127.0.0.1:9100" } .. " >" .. sh.quote(dir .. "/exporter.log") .. " 2>&1 & echo $!")
        :match("%d+"))
      local function scrape()
        local body, c
        for _ = 1, 100 do
          body, c = sh.nsrun(ns, { "env", "-u", "LD_PRELOAD", "curl", "-sf", "http://127.0.0.1:9100/metrics" })
          if c == 0 then return body end
          lab.sleep(0.1)
        end
        error("no scrape: " .. tostring(body) .. (sh.read(dir .. "/exporter.log") or ""))
      end
      local body = scrape()
      local function has(line)
        assert.truthy(("\n" .. body):find("\n" .. line .. "\n", 1, true), line .. "\n" .. body)
      end
      has("node_textfile_scrape_error 0")
      has('netops_failover_state{group="G1",instance="",state="master"} 1')
      has('netops_failover_state{group="G1",instance="",state="backup"} 0')
      has('netops_failover_state{group="",instance="",state="master"} 1')
      has('netops_failover_transitions_total{state="master"} 2')
      has('netops_failover_transitions_total{state="backup"} 1')
      has("netops_failover_superseded_total 0")
      has("netops_failover_committed_entries 0")      -- the peer synced nothing: an empty external cache
      has('netops_failover_step_failures_total{step="commit"} 0')
      has('netops_conntrackd_cache_entries{cache="internal"} 5')
      has('netops_conntrackd_cache_entries{cache="external"} 0')
      has("netops_conntrack_entries 5")
      has("# TYPE netops_failover_transitions_total counter")
      for _, step in ipairs { "commit", "flush", "resync", "bulk_send" } do
        assert.matches('\nnetops_failover_step_duration_seconds{step="' .. step .. '"} [%d.e-]+\n', body)
      end
      -- the check can fail: a file node_exporter cannot parse makes it 1
      sh.write(mdir .. "/broken.prom", "netops broken{\n")
      body = scrape()
      has("node_textfile_scrape_error 1")
    end)
    if pid then sh.run({ "kill", tostring(pid) }) end
    sh.netns_cleanup()
    assert(ok, err)
  end)
end)

describe("failover-tester", function()
  it("plans alternating restarts and prints a summary (dry run)", function()
    local out, code = sh.run(sh.cmd("failover-tester", "--dry-run", "--count", "3", "--min", "0", "--max", "0",
                                    "--hosts", "192.0.2.2,192.0.2.3"), { stderr = true })
    assert.equal(0, code, out)
    assert.matches("failover 1: restarting keepalived on 192.0.2.2", out)
    assert.matches("failover 2: restarting keepalived on 192.0.2.3", out)
    assert.matches("would run: ssh %-o BatchMode=yes root@192.0.2.2 %-%- systemctl restart keepalived", out)
    assert.matches("summary: 3 failovers forced, 0 failed", out)
  end)

  it("runs ssh through netops.spawn and counts failures", function()
    local out, code = sh.run(sh.cmd("failover-tester", "--ssh", "/bin/true", "--count", "2", "--min", "0",
                                    "--max", "0", "192.0.2.2"), { stderr = true })
    assert.equal(0, code, out)
    assert.matches("summary: 2 failovers forced, 0 failed", out)
    out, code = sh.run(sh.cmd("failover-tester", "--ssh", "/bin/false", "--count", "2", "--min", "0",
                              "--max", "0", "--hosts", "192.0.2.2"), { stderr = true })
    assert.equal(1, code, out)
    assert.matches("FAILED: exited 1", out)
    assert.matches("summary: 0 failovers forced, 2 failed", out)
  end)

  it("restarts through a real ssh and sshd on each host in turn and counts what failed", function()
    if not sh.read("/usr/sbin/sshd") then pending("needs /usr/sbin/sshd (openssh-server)"); return end
    local SSHD = require "helpers.sshd"
    local s = SSHD.new()
    local ok, err = pcall(function()
      s:start()
      -- the tester runs `SSH -o BatchMode=yes USER@HOST -- COMMAND...`: this ssh
      -- adds the test server's client config (port, keys, known_hosts)
      local ssh = s.dir .. "/ssh"
      sh.write(ssh, "#!/bin/sh\nexec ssh -F " .. sh.quote(s.ssh_config) .. ' "$@"\n')
      sh.run({ "chmod", "0755", ssh })
      local marks = s.dir .. "/restarts"
      local function tester(hosts, count, command)
        return sh.run(sh.cmd("failover-tester", "--ssh", ssh, "--user", s.user, "--hosts", hosts, "--count", count,
                             "--min", "0", "--max", "0", "--command", command), { stderr = true })
      end
      -- the remote shell expands $SSH_CONNECTION: which address each restart reached
      local out, code = tester("127.0.0.1,::1", "3", "echo restarted $SSH_CONNECTION >> " .. marks)
      assert.equal(0, code, out .. s:log())
      assert.matches("failover 1: restarting keepalived on 127%.0%.0%.1\n", out)
      assert.matches("failover 2: restarting keepalived on ::1\n", out)
      assert.matches("failover 3: restarting keepalived on 127%.0%.0%.1\n", out)
      assert.matches("\nsummary: 3 failovers forced, 0 failed, %d+ s, hosts 127%.0%.0%.1, ::1\n$", out)
      local port = tostring(s.port)
      local got = {}
      for a, p in (sh.read(marks) or ""):gmatch("restarted %S+ %d+ (%S+) (%d+)\n") do got[#got + 1] = a .. " " .. p end
      assert.same({ "127.0.0.1 " .. port, "::1 " .. port, "127.0.0.1 " .. port }, got)
      -- the remote command's own exit status is a failed restart
      out, code = tester("127.0.0.1", "1", "exit 3")
      assert.equal(1, code, out)
      assert.matches("\n  FAILED: exited 3\nsummary: 0 failovers forced, 1 failed", out)
      -- sshd gone: ssh's own status 255 and its message
      s:kill_all()
      out, code = tester("127.0.0.1", "1", "true")
      assert.equal(1, code, out)
      assert.matches("connect to host 127%.0%.0%.1 port " .. port .. ": Connection refused", out)
      assert.matches("\n  FAILED: exited 255\nsummary: 0 failovers forced, 1 failed", out)
    end)
    s:cleanup()
    assert(ok, err)
  end)

  it("rejects bad options", function()
    local out, code = sh.run(sh.cmd("failover-tester", "--min", "10", "--max", "5", "h"), { stderr = true })
    assert.equal(2, code)
    assert.matches("below %-%-min", out)
    out, code = sh.run(sh.cmd("failover-tester", "--bogus"), { stderr = true })
    assert.equal(2, code)
    assert.matches("Usage", out)
  end)

  it("has no default hosts: without any, a usage error (exit 2) and nothing run", function()
    local out, code = sh.run(sh.cmd("failover-tester", "--ssh", "/bin/true", "--count", "1"), { stderr = true })
    assert.equal(2, code, out)
    assert.equal("failover-tester: no hosts given (--hosts H1,H2 or HOST...)\n"
                 .. "Usage: failover-tester [options] --hosts H1,H2,... | HOST...\n", out)
  end)

  it("answers --help and --version alone, and refuses typos with a suggestion (exit 2)", function()
    local out, code = sh.run(sh.cmd("failover-tester", "--help"), { stderr = true })
    assert.equal(0, code, out)
    assert.matches("^Usage: failover%-tester", out)
    assert.matches("%-%-probe <host:port>", out)
    out, code = sh.run(sh.cmd("failover-tester", "--version"), { stderr = true })
    assert.equal(0, code, out)
    assert.equal(require("netops")._VERSION .. "\n", out)
    out, code = sh.run(sh.cmd("failover-tester", "--hots", "192.0.2.2"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("^failover%-tester: unknown option '%-%-hots'; did you mean '%-%-hosts'%?\nUsage:", out)
    out, code = sh.run(sh.cmd("failover-tester", "--count=x", "192.0.2.2"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("^failover%-tester: %-%-count: x is not a number", out)
  end)

  it("--probe takes HOST:PORT, [IPv6]:PORT, and refuses an IPv6 address without brackets", function()
    local ft = require "netops.cli.failover_tester"
    assert.same({ "198.51.100.10", "5001" }, { ft.parse_probe("198.51.100.10:5001") })
    assert.same({ "2001:db8:2::10", "22" }, { ft.parse_probe("[2001:db8:2::10]:22") })
    assert.same({ "fw.example", "80" }, { ft.parse_probe("fw.example:80") })
    assert.is_nil((ft.parse_probe("2001:db8::1:80")))
    assert.is_nil((ft.parse_probe("198.51.100.10:70000")))
    local out, code = sh.run(sh.cmd("failover-tester", "--probe", "2001:db8::1:80", "192.0.2.2"), { stderr = true })
    assert.equal(2, code, out)
    assert.matches("^failover%-tester: %-%-probe: 2001:db8::1:80 is not HOST:PORT %(an IPv6 address as %[ADDR%]:PORT%)", out)
  end)

  it("--probe that never gets through before the first failover exits 1 without restarting", function()
    -- nothing listens on port 1: every connect is refused
    local out, code = sh.run(sh.cmd("failover-tester", "--ssh", "/bin/false", "--count", "1", "--probe",
                                    "127.0.0.1:1", "--probe-timeout", "0.1", "192.0.2.2"), { stderr = true })
    assert.equal(1, code, out)
    assert.matches("^failover%-tester: probe 127%.0%.0%.1:1: nothing got through in 5 s %(.*refused.*%)\n$", out)
  end)

  it("the stall of a failover is the longest gap between connects that got through, ending in its window", function()
    local ft = require "netops.cli.failover_tester"
    local oks = { 1.0, 1.05, 1.1, 1.6, 1.65, 3.0, 3.05, 3.1 }
    assert.near(0.5, ft.stall(oks, 1.02, 2.5), 1e-9)
    assert.near(1.35, ft.stall(oks, 2.5, 4), 1e-9)
    assert.is_nil(ft.stall(oks, 3.2, 5))
  end)
end)

describe("netops.core.log (syslog)", function()
  it("sends each message to /dev/log with its ident, pid, facility and priority", function()
    if sh.need_root("a private mount namespace for /dev/log") then return end
    local msgs, out, code = under_syslog { sh.lua, "-e", [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "]] .. sh.build .. [[/?.so;" .. package.cpath
      local core = require "netops.core"
      local log = core.log
      log.open("netops-test", "user")
      log.write("info", "netops test message")
      log.write("err", "second message")
      log.close()
      log.open("netops-test2", "local3")
      log.write("warning", "third message")
      log.close()
      print(core.failover.pid())]] }
    assert.equal(0, code, out)
    local pid = assert(out:match("^(%d+)\n$"), out)
    -- PRI = facility * 8 + severity: user 1, local3 19; info 6, err 3, warning 4
    assert.same({ "<14>netops-test[" .. pid .. "]: netops test message",
                  "<11>netops-test[" .. pid .. "]: second message",
                  "<156>netops-test2[" .. pid .. "]: third message" }, msgs)
  end)

  it("misuse raises", function()
    local log = require("netops.core").log
    assert.has_error(function() log.write("loud", "x") end)
    assert.has_error(function() log.open("x", "kernel") end)
    assert.has_error(function() log.open(string.rep("x", 100)) end)
  end)
end)

describe("netops.failover.parse_args", function()
  it("maps both shapes", function()
    assert.same("master", failover.parse_args({ "primary" }).state)
    local c = failover.parse_args({ "INSTANCE", "VI_1", "DELETED", "100" })
    assert.equal("stop", c.state)
    assert.equal(100, c.priority)
    assert.is_nil((failover.parse_args({ "INSTANCE", "VI_1", "MASTER", "300" })))
  end)
end)

local function svg_counts(path)
  local out, code = sh.run({ "python3", "-c", [[
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
paths = [p for p in root.iter(ns + "path") if p.get("class") == "stream"]
marks = [g for g in root.iter(ns + "g") if g.get("class") == "failover"]
stalls = [t.text for g in marks for t in g.iter(ns + "text") if t.get("class") == "stall"]
print(len(paths), len(marks), "|".join(stalls))
]], path }, { stderr = true })
  assert.equal(0, code, out)
  local p, m, stalls = out:match("^(%d+) (%d+) (.-)\n$")
  return tonumber(p), tonumber(m), stalls
end

describe("the lab's picture (spec/lab/plot.lua)", function()
  it("is well-formed SVG with one path per stream and one mark, with its stall, per failover", function()
    local plot = require "lab.plot"
    local function arrivals(gap_at)
      local a = {}
      for k = 0, 399 do
        local t = k * 0.05
        if not (t > gap_at and t < gap_at + 0.3) then a[#a + 1] = { t, 1024 } end
      end
      return a
    end
    local rep = { streams = { { id = 1, family = "IPv4", arrivals = arrivals(5) },
                              { id = 2, family = "IPv6 <&>", arrivals = arrivals(12) },
                              { id = 3, family = "IPv6", arrivals = {} } },
                  moves = { { t = 5, from = "fw1", to = "fw2", stall_ms = 312.4, takeover_ms = 800 },
                            { t = 12, from = "fw2", to = "fw1", stall_ms = false } } }
    local d = sh.tmpdir()
    local path = d .. "/x.svg"
    assert(plot.write(path, rep))
    local paths, marks, stalls = svg_counts(path)
    sh.rmtree(d)
    assert.equal(3, paths)
    assert.equal(2, marks)
    assert.equal("stall 312 ms|stall ?", stalls)
  end)
end)

describe("the HA lab", function()
  local scenario = require "lab.scenario"

  it("sessions survive failovers and fail-backs with the default policy", function()
    if sh.need_root("network namespaces, keepalived, conntrackd, nftables") then return end
    local said = {}
    local rep = scenario.run { transitions = 6, tag = "lab", say = function(m) said[#said + 1] = m end }
    local msg = table.concat(said, "\n") .. "\n" .. table.concat(scenario.summary(rep), "\n")
    assert.is_nil(rep.error, msg)
    assert.equal(4, #rep.streams, msg)
    for _, s in ipairs(rep.streams) do
      assert.is_true(s.ok, msg)
      assert.equal(s.total, s.bytes, msg)
      assert.equal(s.expect, s.sha, msg)
      assert.is_nil(s.result:find("reset", 1, true), msg)
    end
    assert.equal(6, rep.moved, msg)
    -- fw1's keepalived calls `... primary`, fw2's the generic notify: both shapes ran for real
    assert.matches("\n[^\n]* MASTER: step commit ok", "\n" .. rep.logs.fw1, msg)
    assert.matches("GROUP G1 MASTER: step commit ok", rep.logs.fw2, msg)
    for _, m in ipairs(rep.moves) do
      assert.is_true(m.committed, "no commit logged on " .. m.to .. "\n" .. msg)
    end
    -- each failover measured: each stream's stall, the VRRP takeover, the
    -- commit; in the timeline and the summary
    local timeline, summary = table.concat(said, "\n"), table.concat(scenario.summary(rep), "\n")
    local n = 0
    for gap, streams in timeline:gmatch("stall: longest gap (%d+) ms %(streams ([%d, ]+) ms%)") do
      n = n + 1
      assert.is_true(tonumber(gap) > 0, msg)
      assert.equal(4, select(2, streams:gsub("%d+", "")), msg)
    end
    assert.equal(6, n, msg)
    for k, m in ipairs(rep.moves) do
      for i = 1, 4 do
        local v = m.stalls[i]
        assert.is_true(type(v) == "number" and v > 0 and v < math.huge, msg)
      end
      assert.is_true(m.takeover_ms > 0 and m.takeover_ms < math.huge, msg)
      assert.is_true(m.commit_ms >= 0 and m.commit_ms < math.huge, msg)
      assert.matches(string.format("#%d %s %%-> %s at T%%+[%%d.]+s: stall %.0f ms, VRRP takeover %.0f ms, commit "
                                   .. "[%%d.]+ ms", k, m.from, m.to, m.stall_ms, m.takeover_ms), summary)
    end
    -- and the picture of this run
    local d = sh.tmpdir()
    assert(require("lab.plot").write(d .. "/demo-failover.svg", rep))
    local paths, marks = svg_counts(d .. "/demo-failover.svg")
    sh.rmtree(d)
    assert.equal(4, paths)
    assert.equal(6, marks)
  end)

  it("failover-tester --probe through the VIPs reports a finite stall for each failover", function()
    if sh.need_root("network namespaces, keepalived, conntrackd, nftables") then return end
    local labmod = require "lab.lab"
    local lab = labmod.new { tag = "ft" }
    local ok, err = pcall(function()
      lab:setup()
      assert.equal("fw1", lab:holder())
      -- the tester runs in the client namespace; its ssh reaches each
      -- firewall's namespace by its LAN address and restarts keepalived there
      local out, code = lab:ns("client", { "env", "NETOPS_BUILD=" .. (os.getenv("NETOPS_BUILD") or "build"),
        sh.lua, lab.root .. "/examples/failover-tester.lua", "--ssh", lab:ssh_wrapper(), "--count", "2",
        "--min", "3", "--max", "3", "--command", "$FW_DIR/restart-keepalived",
        "--probe", "[" .. labmod.ADDR.server.v6 .. "]:5001", labmod.ADDR.fw1.lan4, labmod.ADDR.fw2.lan4 },
        { stderr = true })
      local logs = out .. lab:failover_log("fw1") .. lab:failover_log("fw2")
      assert.equal(0, code, logs)
      assert.matches("failover 1: restarting keepalived on 192%.0%.2%.2\n", out)
      assert.matches("failover 2: restarting keepalived on 192%.0%.2%.3\n", out)
      for n = 1, 2 do
        local st = tonumber(out:match("failover " .. n .. ": probe stall (%d+) ms\n"))
        assert.is_truthy(st, out)
        assert.is_true(st > 0 and st < math.huge, out)
      end
      assert.matches("probe %[2001:db8:2::10%]:5001: stall min %d+ ms, median %d+ ms, max %d+ ms over 2 failovers", out)
      assert.matches("summary: 2 failovers forced, 0 failed", out)
      -- the restarts moved the VIPs: fw2 became master, then fw1 again
      assert.matches("MASTER: step commit ok", lab:failover_log("fw2"), logs)
      assert.is_true(lab:wait_vip("fw1", 10), logs)
    end)
    lab:teardown()
    assert(ok, err)
  end)

  it("with a policy that does nothing the sessions break", function()
    if sh.need_root("network namespaces, keepalived, conntrackd, nftables") then return end
    local d = sh.tmpdir()
    local p = d .. "/nothing.lua"
    sh.write(p, 'return { master = function(ctx) ctx.log("notice", "doing nothing") end }\n')
    local rep = scenario.run { transitions = 1, tag = "nop", policy = p, stall = 8 }
    sh.rmtree(d)
    local msg = table.concat(scenario.summary(rep), "\n")
    assert.is_nil(rep.error, msg)
    assert.equal(1, rep.moved, msg)
    assert.equal(4, #rep.streams, msg)
    assert.equal(0, rep.intact, msg)
  end)
end)
