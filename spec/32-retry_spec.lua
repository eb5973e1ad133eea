-- netops.retry: classification of ssh's messages, the built-in policies,
-- retry.run's loop and limits, policy files.
local sh = require "helpers.sh"
local P = require "helpers.proc"
local retry = require "netops.retry"
local core = require "netops.core"

-- whatever a test started is killed, reaped and cleaned up, even when it fails
after_each(function() P.cleanup() end)

-- ssh 9.2's messages (facts section 4), each with the class it must get.
local messages = {
  { "ssh: connect to host h port 22: Connection refused", "refused" },
  { "ssh: connect to host h port 22: No route to host", "unreachable" },
  { "ssh: connect to host h port 22: Network is unreachable", "unreachable" },
  { "ssh: connect to host h port 22: Connection timed out", "timeout" },
  { "ssh: Could not resolve hostname h: Name or service not known", "dns_permanent" },
  { "ssh: Could not resolve hostname h: Temporary failure in name resolution", "dns_transient" },
  { "kex_exchange_identification: read: Connection reset by peer", "reset" },
  { "kex_exchange_identification: Connection closed by remote host", "reset" },
  { "Connection timed out during banner exchange", "banner_timeout" },
  { "root@h: Permission denied (publickey).", "auth" },
  { "Host key verification failed.", "hostkey" },
  { "Connection to h closed by remote host.", "closed" },
  { "System is booting up. Unprivileged users are not permitted to log in yet. "
    .. "Please come back later. For technical details, see pam_nologin(8).", "booting" },
  { "Timeout, server h not responding.", "timeout" },
  { "client_loop: send disconnect: Broken pipe", "reset" },
  { "banner exchange: Connection to 192.0.2.1 port 22 timed out", "timeout" },
  { "Connection closed by 192.0.2.1 port 22", "reset" },
  { "Received disconnect from 192.0.2.1 port 22:2: Too many authentication failures\n"
    .. "Disconnected from 192.0.2.1 port 22", "auth" },
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
      local want = retry.transient[m[2]] and "retry" or "stop"
      assert.equal(want, verdict(retry.policies.ssh, exited(255, m[1])), m[1])
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

  it("max_attempts and deadline bound the loop", function()
    local r, n = retry.run{ argv = flaky(100), interval = 0.01, max_attempts = 5, spawn = { stderr = "capture" } }
    assert.equal(5, n)
    assert.equal(255, r.code)
    assert.equal("max_attempts", r.stop_reason)
    os.remove(dir .. "/count")
    r, n = retry.run{ argv = flaky(100), interval = 0.05, backoff = 1, deadline = 0.3, spawn = { stderr = "capture" } }
    assert.equal("deadline", r.stop_reason)
    assert.is_true(n >= 1 and n < 100)
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
