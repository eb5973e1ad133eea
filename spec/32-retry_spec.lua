-- netops.retry: classification of ssh's messages, the built-in policies,
-- retry.run's loop and limits, policy files.
local sh = require "helpers.sh"
local P = require "helpers.proc"
local retry = require "netops.retry"
local core = require "netops.core"

-- whatever a test started is killed, reaped and cleaned up, even when it fails
after_each(function() P.cleanup() end)

-- ssh 9.2's messages (facts section 4), each with the class it must get and
-- the ssh policy's verdict on an exit 255 carrying it (README: retry while
-- ssh could not reach a session; stop on auth, host key, permanent DNS).
local messages = {
  { "ssh: connect to host h port 22: Connection refused", "refused", "retry" },
  { "ssh: connect to host h port 22: No route to host", "unreachable", "retry" },
  { "ssh: connect to host h port 22: Network is unreachable", "unreachable", "retry" },
  { "ssh: connect to host h port 22: Connection timed out", "timeout", "retry" },
  { "ssh: Could not resolve hostname h: Name or service not known", "dns_permanent", "stop" },
  { "ssh: Could not resolve hostname h: Temporary failure in name resolution", "dns_transient", "retry" },
  { "kex_exchange_identification: read: Connection reset by peer", "reset", "retry" },
  { "kex_exchange_identification: Connection closed by remote host", "reset", "retry" },
  { "Connection timed out during banner exchange", "banner_timeout", "retry" },
  { "root@h: Permission denied (publickey).", "auth", "stop" },
  { "Host key verification failed.", "hostkey", "stop" },
  { "Connection to h closed by remote host.", "closed", "retry" },
  { "System is booting up. Unprivileged users are not permitted to log in yet. "
    .. "Please come back later. For technical details, see pam_nologin(8).", "booting", "retry" },
  { "Timeout, server h not responding.", "timeout", "retry" },
  { "client_loop: send disconnect: Broken pipe", "reset", "retry" },
  { "banner exchange: Connection to 192.0.2.1 port 22 timed out", "timeout", "retry" },
  { "Connection closed by 192.0.2.1 port 22", "reset", "retry" },
  { "Received disconnect from 192.0.2.1 port 22:2: Too many authentication failures\n"
    .. "Disconnected from 192.0.2.1 port 22", "auth", "stop" },
}

local function exited(code, text)
  return { status = "exited", code = code, stderr_tail = text or "" }
end

describe("retry.classify", function()
  for _, m in ipairs(messages) do
    it(m[2] .. ": " .. m[1]:sub(1, 60), function()
      assert.equal(m[2], (retry.classify("some remote output\n" .. m[1] .. "\r\n")))
    end)
  end

  it("the last ssh message wins over earlier output, and unknown text gives nil", function()
    assert.equal("hostkey", retry.classify(
      "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nConnection refused by policy\nHost key verification failed.\n"))
    assert.is_nil(retry.classify("hello world\n"))
    assert.is_nil(retry.classify(""))
    assert.is_nil(retry.classify(nil))
  end)
end)

describe("retry.classify_ssh", function()
  it("reads ssh's log, never the remote's stderr", function()
    assert.equal("refused", (retry.classify_ssh("ssh: connect to host h port 22: Connection refused\r\n", "")))
    assert.equal("auth", (retry.classify_ssh("root@h: Permission denied (publickey).\r\n", "remote text\n")))
    assert.is_nil(retry.classify_ssh("", "ssh: connect to host h port 22: Connection refused\n"))
    assert.is_nil(retry.classify_ssh("", "Permission denied (publickey).\r\n"))
    assert.is_nil(retry.classify_ssh("", nil))
  end)

  it("a dropped session: ssh's own last stderr line, as ssh writes it", function()
    assert.equal("closed", (retry.classify_ssh("", "output\nConnection to h closed by remote host.\r\n")))
    assert.equal("closed", (retry.classify_ssh("", "Connection to h closed by remote host.\r\nConnection to h closed.\r\n")))
    -- as a remote `echo` prints it, or followed by more output: not ssh's
    assert.is_nil(retry.classify_ssh("", "Connection to h closed by remote host.\n"))
    assert.is_nil(retry.classify_ssh("", "Connection to h closed by remote host.\r\nmore\r\n"))
  end)
end)

describe("retry.policies", function()
  local function verdict(policy, r)
    local state = { attempt = 1, elapsed = 0 }
    state.class = retry.classify(r.stderr_tail)
    return (policy(r, state))
  end

  it("ssh retries while ssh failed to reach a session", function()
    for _, m in ipairs(messages) do
      assert.equal(m[3], verdict(retry.policies.ssh, exited(255, m[1])), m[1])
    end
  end)

  it("ssh stops on auth, host key, permanent DNS failure and any remote status", function()
    assert.equal("stop", verdict(retry.policies.ssh, exited(255, "Permission denied (publickey).")))
    assert.equal("stop", verdict(retry.policies.ssh, exited(255, "Host key verification failed.")))
    assert.equal("stop", verdict(retry.policies.ssh, exited(255, "Could not resolve hostname x: Name or service not known")))
    assert.equal("stop", verdict(retry.policies.ssh, exited(3, "Connection refused")))
    assert.equal("stop", verdict(retry.policies.ssh, exited(255, "")))   -- a remote exit 255
    assert.equal("stop", verdict(retry.policies.ssh, { status = "signaled", signal = 9, stderr_tail = "" }))
  end)

  it("exit255 and nonzero are the seed's two variants", function()
    assert.equal("retry", verdict(retry.policies.exit255, exited(255, "Permission denied (publickey).")))
    assert.equal("stop", verdict(retry.policies.exit255, exited(1)))
    assert.equal("retry", verdict(retry.policies.nonzero, exited(1)))
    assert.equal("stop", verdict(retry.policies.nonzero, exited(0)))
  end)
end)

describe("retry.run", function()
  local dir
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  -- a program failing like an unreachable ssh `fails` times, then exiting 0
  local function flaky(fails)
    local script = dir .. "/flaky"
    sh.write(script, ([[
n=$(cat %s/count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > %s/count
if [ $n -le %d ]; then echo "ssh: connect to host x port 22: Connection refused" >&2; exit 255; fi
exit 0
]]):format(dir, dir, fails))
    return { "sh", script }
  end
  local function count() return tonumber(sh.read(dir .. "/count") or "0") end

  -- Runs fn with retry.run's clock (retry.now) reading a virtual time that
  -- only the delays advance, and core.sleep recording each delay it is asked
  -- for instead of sleeping: the delays and the deadline are then exact.
  -- The programs still run for real.  Returns the delays, in order;
  -- on_sleep(delay), when given, sees each as it comes.
  local function virtual_time(fn, on_sleep)
    local t, slept = 0, {}
    local now, sleep = retry.now, core.sleep
    retry.now = function() return t end
    core.sleep = function(d)
      slept[#slept + 1] = d
      t = t + d
      if on_sleep then on_sleep(d) end
    end
    local ok, err = pcall(fn)
    retry.now, core.sleep = now, sleep
    if not ok then error(err, 0) end
    return slept
  end

  it("retries until the policy says stop and returns the last result and the attempts", function()
    local seen = {}
    local r, n = retry.run{ argv = flaky(3), interval = 0.01, jitter = 0,
      spawn = { stderr = "capture" },
      on_attempt = function(res, st) seen[#seen + 1] = st.class or res.code end }
    assert.equal("exited", r.status)
    assert.equal(0, r.code)
    assert.equal(4, n)
    assert.equal(4, count())
    assert.same({ "refused", "refused", "refused", 0 }, seen)
    assert.equal("policy", r.stop_reason)
  end)

  it("stops at once on a remote status under the default policy", function()
    local r, n = retry.run{ argv = { "sh", "-c", "exit 3" }, interval = 0.01 }
    assert.equal(3, r.code)
    assert.equal(1, n)
  end)

  it("max_attempts bounds the loop", function()
    local r, n = retry.run{ argv = flaky(100), interval = 0.01, max_attempts = 5, spawn = { stderr = "capture" } }
    assert.equal(5, n)
    assert.equal(5, count())
    assert.equal(255, r.code)
    assert.equal("max_attempts", r.stop_reason)
  end)

  it("deadline: gives up instead of starting a delay that would end past it", function()
    -- time passes only in the delays (see virtual_time): after run k the
    -- clock reads 0.25 * (k - 1); the 5th run's delay would end at 1.25
    local slept = virtual_time(function()
      local r, n = retry.run{ argv = flaky(100), interval = 0.25, backoff = 1, jitter = 0, deadline = 1,
        spawn = { stderr = "capture" } }
      assert.equal(5, n)
      assert.equal(5, count())
      assert.equal(255, r.code)
      assert.equal("deadline", r.stop_reason)
    end)
    assert.same({ 0.25, 0.25, 0.25, 0.25 }, slept)
    -- backing off: runs at 0, 0.25 and 0.75; the next delay (1) would end at 1.75
    os.remove(dir .. "/count")
    slept = virtual_time(function()
      local r, n = retry.run{ argv = flaky(100), interval = 0.25, backoff = 2, jitter = 0, deadline = 1,
        spawn = { stderr = "capture" } }
      assert.equal(3, n)
      assert.equal(3, count())
      assert.equal("deadline", r.stop_reason)
    end)
    assert.same({ 0.25, 0.5 }, slept)
  end)

  it("a policy may set the delay and see the attempt number", function()
    local attempts = {}
    local r, n = retry.run{ argv = flaky(100), spawn = { stderr = "capture" },
      policy = function(_, st)
        attempts[#attempts + 1] = st.attempt
        if st.attempt < 3 then return "retry", 0 end
        return "stop"
      end }
    assert.equal(3, n)
    assert.same({ 1, 2, 3 }, attempts)
    assert.equal(255, r.code)
  end)

  it("backs off by the factor, and starts afresh after a run longer than max_interval", function()
    local delays = {}
    local function record(_, st) delays[#delays + 1] = st.delay end
    retry.run{ argv = flaky(3), interval = 0.01, backoff = 2, jitter = 0, spawn = { stderr = "capture" },
      on_attempt = record }
    assert.same({ 0.01, 0.02, 0.04, 0.08 }, delays)
    delays = {}
    os.remove(dir .. "/count")
    retry.run{ argv = { "sh", "-c", "sleep 0.2; " .. table.concat(flaky(2), " ") }, interval = 0.01,
      backoff = 2, max_interval = 0.1, jitter = 0, spawn = { stderr = "capture" }, on_attempt = record }
    assert.same({ 0.01, 0.01, 0.01 }, delays)
  end)

  it("jitter spreads each delay both ways within the fraction given, the same for the same seed", function()
    local base = { 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28 }
    local function delays(seed, jitter)
      os.remove(dir .. "/count")
      math.randomseed(seed)
      return virtual_time(function()
        local _, n = retry.run{ argv = flaky(100), interval = 0.01, backoff = 2, jitter = jitter,
          max_attempts = 9, spawn = { stderr = "capture" } }
        assert.equal(9, n)
      end)
    end
    assert.same(base, delays(7, 0))                  -- jitter = 0: the backoff values exactly
    for _, case in ipairs { { 0.5, delays(7, 0.5) }, { 0.1, delays(7) } } do   -- given, and the default 0.1
      local jitter, got = case[1], case[2]
      assert.equal(#base, #got)
      local below, above = 0, 0
      for i, d in ipairs(got) do
        assert.is_true(d >= base[i] * (1 - jitter) and d <= base[i] * (1 + jitter),
          ("delay %d: %.17g outside %g +- %g"):format(i, d, base[i], jitter))
        if d < base[i] then below = below + 1 elseif d > base[i] then above = above + 1 end
      end
      -- seed 7 puts some on each side: a jitter that only lengthens, or none, fails here
      assert.is_true(below >= 2 and above >= 2, ("%d below, %d above"):format(below, above))
    end
    assert.same(delays(7, 0.5), delays(7, 0.5))       -- math.randomseed makes it repeatable
    assert.are_not.same(delays(7, 0.5), delays(8, 0.5))
  end)

  it("before(state) runs after each delay, before each retry, and its result table stops the run", function()
    local events = {}
    local stop = { status = "gave_up", code = 42 }
    local r, n
    local slept = virtual_time(function()
      r, n = retry.run{ argv = flaky(100), interval = 0.25, backoff = 1, jitter = 0, spawn = { stderr = "capture" },
        on_attempt = function(_, st) events[#events + 1] = "run " .. st.attempt end,
        before = function(st)
          events[#events + 1] = ("before %d %s %s"):format(st.attempt, st.class, st.last and st.last.code)
          if st.attempt == 3 then return stop end
        end }
    end, function(d) events[#events + 1] = "sleep " .. d end)
    assert.same({ "run 1", "sleep 0.25", "before 1 refused 255", "run 2", "sleep 0.25", "before 2 refused 255",
                  "run 3", "sleep 0.25", "before 3 refused 255" }, events)
    assert.same({ 0.25, 0.25, 0.25 }, slept)
    assert.equal(stop, r)                            -- the very table, returned as the result
    assert.equal(42, r.code)
    assert.equal("before", r.stop_reason)
    assert.equal(3, n)                               -- the runs made; none after before said stop
    assert.equal(3, count())
    -- a stop_reason of before's own is kept; nil goes on
    os.remove(dir .. "/count")
    local calls = 0
    r, n = retry.run{ argv = flaky(2), interval = 0, spawn = { stderr = "capture" },
      before = function() calls = calls + 1 end }
    assert.equal(0, r.code)
    assert.equal(3, n)
    assert.equal(2, calls)
    r, n = retry.run{ argv = flaky(100), interval = 0, spawn = { stderr = "capture" },
      before = function() return { status = "interrupted", stop_reason = "mine" } end }
    assert.equal("mine", r.stop_reason)
    assert.equal(1, n)
  end)

  it("ssh = true: a real ssh's log is read and copied, a remote-looking stderr is not classified", function()
    -- a real ssh against a closed loopback port: its message goes to -E
    local port
    for _ = 1, 50 do
      local p = math.random(20000, 59999)
      local ok, _, c = core.probe("127.0.0.1", p, { timeout = 1, interruptible = false })
      if not ok and c == "refused" then port = p break end
    end
    assert(port, "no closed port found")
    local seen = {}
    local r, n = retry.run{ argv = { "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-p", tostring(port), "127.0.0.1", "true" },
      ssh = true, interval = 0, max_attempts = 2, spawn = { stderr = "capture" },
      on_attempt = function(_, st) seen[#seen + 1] = st.class end }
    assert.equal(2, n)
    assert.same({ "refused", "refused" }, seen)
    assert.matches("ssh: connect to host 127%.0%.0%.1 port " .. port .. ": Connection refused", r.ssh_log)
    assert.equal("", r.stderr_tail)
    -- an "ssh" that only prints ssh's words on stderr, as a remote command
    -- would: no class, one run
    local fake = dir .. "/fake-ssh"
    sh.write(fake, "#!/bin/sh\necho 'ssh: connect to host h port 22: Connection refused' >&2\nexit 255\n")
    sh.run({ "chmod", "0755", fake })
    seen = {}
    r, n = retry.run{ argv = { fake, "h" }, ssh = true, interval = 0, spawn = { stderr = "capture" },
      on_attempt = function(_, st) seen[#seen + 1] = st.class or "none" end }
    assert.equal(1, n)
    assert.equal(255, r.code)
    assert.same({ "none" }, seen)
    assert.equal("", r.ssh_log)
  end)

  it("a missing program stops with status failed", function()
    local r, n = retry.run{ argv = { "/nonexistent/netops-x" } }
    assert.equal("failed", r.status)
    assert.equal("spawn", r.stop_reason)
    assert.matches("netops%-x", r.error)
    assert.equal(1, n)
  end)

  it("never retries after SIGTERM: it is forwarded and remembered", function()
    local h = P.lua(([[
      local retry = require "netops.retry"
      local r, n = retry.run{ argv = { "sh", "-c", "echo go > %s/go; trap 'exit 1' TERM; sleep 20 & wait" },
        policy = "nonzero", interval = 0.01 }
      print("attempts", n, "code", r.code, "reason", r.stop_reason)
    ]]):format(dir))
    assert.truthy(h.until_(function() return sh.read(dir .. "/go") end))
    core.sleep(0.3)
    h.proc:kill("TERM")
    local r = h.wait(30)
    assert.equal(0, r.code, h.stderr())
    assert.matches("attempts\t1\tcode\t1\treason\tSIGTERM", h.stdout())
    h.close()
  end)

  it("misuse raises", function()
    assert.has_error(function() retry.run() end)
    assert.has_error(function() retry.run{ argv = {} } end)
    assert.has_error(function() retry.run{ argv = { "true" }, policy = "nope" } end)
    assert.has_error(function() retry.run{ argv = { "true" }, interval = -1 } end)
    assert.has_error(function() retry.run{ argv = { "true" }, max_attempts = 0 } end)
  end)
end)

describe("retry.load_policy", function()
  local dir
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  local function policy_file(mode, text)
    local path = dir .. "/policy.lua"
    sh.write(path, text or 'return function(r, s) if s.attempt < 2 then return "retry", 0 end return retry.policies.ssh(r, s) end')
    sh.run({ "chmod", mode, path })
    return path
  end

  it("loads a chunk returning a function; it sees retry", function()
    local fn = assert(retry.load_policy(policy_file("0644")))
    assert.equal("retry", fn(exited(3), { attempt = 1 }))
    assert.equal("stop", fn(exited(3), { attempt = 2 }))
  end)

  it("refuses a file writable by its group or by others, with the reason", function()
    local fn, msg, cls = retry.load_policy(policy_file("0664"))
    assert.is_nil(fn)
    assert.equal("insecure", cls)
    assert.matches("writable by its group", msg)
    fn, msg, cls = retry.load_policy(policy_file("0646"))
    assert.is_nil(fn)
    assert.equal("insecure", cls)
    assert.matches("writable by others", msg)
  end)

  it("refuses a file owned by another user, naming the path and the owner", function()
    if sh.need_root("chown to another user") then return end
    local p = policy_file("0644")
    sh.run({ "chown", "65534", p })
    local fn, msg, cls = retry.load_policy(p)
    assert.is_nil(fn)
    assert.equal("insecure", cls)
    assert.matches(p:gsub("%p", "%%%0") .. ": refused: owned by another user[^\n]*owner uid 65534", msg)
  end)

  it("refuses a file below a directory others may change; a sticky root-owned one is fine", function()
    if sh.need_root("a root-owned sticky directory") then return end
    local function in_dir(name, mode)
      local d = dir .. "/" .. name
      sh.run({ "mkdir", "-m", mode, d })
      local p = d .. "/policy.lua"
      sh.write(p, "return function() return 'stop' end")
      sh.run({ "chmod", "0644", p })
      return p, d
    end
    local p, d = in_dir("open", "0777")
    local fn, msg, cls = retry.load_policy(p)
    assert.is_nil(fn)
    assert.equal("insecure", cls)
    assert.matches("refused: directory " .. d:gsub("%p", "%%%0") .. " is writable by others and not sticky", msg)
    p, d = in_dir("grp", "0770")
    fn, msg, cls = retry.load_policy(p)
    assert.is_nil(fn)
    assert.equal("insecure", cls)
    assert.matches("refused: directory " .. d:gsub("%p", "%%%0") .. " is writable by its group", msg)
    p = in_dir("sticky", "1777")
    fn, msg = retry.load_policy(p)
    assert.is_function(fn, msg)
    assert.equal("stop", fn())
  end)

  it("a path with a NUL byte is misuse and raises", function()
    assert.has_error(function() retry.load_policy(dir .. "/policy.lua\0.evil") end)
  end)

  it("refuses a FIFO at once instead of waiting for a writer", function()
    local fifo = dir .. "/policy.lua"
    sh.run({ "mkfifo", "-m", "0600", fifo })
    -- in a child bounded by timeout(1): before the fix, open() blocked for good
    local build = os.getenv("NETOPS_BUILD") or "build"
    local script = ("package.cpath = %q .. package.cpath; package.path = 'lua/?.lua;' .. package.path; " ..
      "local fn, msg, cls = require('netops.retry').load_policy(%q); io.write(tostring(cls), ' ', msg)")
      :format(build .. "/?.so;", fifo)
    local out, code = sh.run({ "timeout", "20", "lua5.4", "-e", script }, { stderr = true })
    assert.equal(0, code, out)
    assert.matches("^insecure .*not a regular file", out)
  end)

  it("reports a missing file, a syntax error and a chunk not returning a function", function()
    local fn, msg, err = retry.load_policy(dir .. "/none.lua")
    assert.is_nil(fn)
    assert.matches("none%.lua", msg)
    assert.equal(2, err)
    fn, msg, err = retry.load_policy(policy_file("0600", "return function("))
    assert.is_nil(fn)
    assert.equal("syntax", err)
    fn, msg, err = retry.load_policy(policy_file("0600", "return 42"))
    assert.is_nil(fn)
    assert.equal("type", err)
    assert.matches("must return a function", msg)
  end)
end)
