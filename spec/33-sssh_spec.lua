-- sssh against a real OpenSSH sshd on loopback (no root needed).
local sh = require "helpers.sh"
local P = require "helpers.proc"
local SSHD = require "helpers.sshd"
local core = require "netops.core"

-- whatever a test started is killed, reaped and cleaned up, even when it fails
after_each(function() P.cleanup() end)

local function count(text, pat)
  local n = 0
  for _ in text:gmatch(pat) do n = n + 1 end
  return n
end

local have_sshd = sh.read("/usr/sbin/sshd") ~= nil

describe("sssh", function()
  local s
  before_each(function()
    if have_sshd then s = SSHD.new() end
  end)
  after_each(function()
    if s then s:cleanup() end
    s = nil
  end)

  local function need()
    if not have_sshd then
      pending("needs /usr/sbin/sshd (openssh-server)")
      return true
    end
  end

  local function sssh(args, opts)
    local argv = { "lua5.4", "examples/sssh.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    opts = opts or {}
    return P.start(argv, { dir = s.dir, home = s.dir, env = opts.env })
  end

  local function accepted() return count(s:log(), "Accepted publickey") end

  it("connects when sshd starts 2 s after it and runs the remote command", function()
    if need() then return end
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "echo remote-ran" })
    core.sleep(2)
    s:start()
    local r = h.wait(60)
    assert.is_nil(r.hung)
    assert.equal(0, r.code, h.stderr())
    assert.equal("remote-ran\n", h.stdout())
    -- not on a terminal: one line per change of reason, not one per probe
    assert.equal(1, count(h.stderr(), "sssh: waiting for 127%.0%.0%.1:" .. s.port .. " %- connection refused\n"))
    assert.equal(1, accepted())
  end)

  it("reconnects after sshd and its sessions are killed and sshd comes back", function()
    if need() then return end
    s:start()
    local marker = s.dir .. "/first-done"
    local cmd = ("if [ -e %s ]; then echo second; else touch %s; echo first; sleep 60; fi"):format(marker, marker)
    local h = sssh({ "--interval", "0.2", "-F", s.ssh_config, "127.0.0.1", cmd })
    assert.truthy(h.until_(function() return h.stdout():find("first") end, 30), h.stderr())
    s:kill_all()
    core.sleep(1)
    s:start()
    local r = h.wait(60)
    assert.is_nil(r.hung)
    assert.equal(0, r.code, h.stderr())
    assert.equal("first\nsecond\n", h.stdout())
    assert.matches("closed by remote host", h.stderr())
  end)

  it("exits with the remote status at once: exit 3, one connection", function()
    if need() then return end
    s:start()
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "exit 3" })
    local r = h.wait(60)
    assert.equal(3, r.code, h.stderr())
    assert.equal(1, accepted())
  end)

  it("stops on a wrong user key with an authentication message, one try", function()
    if need() then return end
    s:start()
    local cfg = s:client_config{ key = s.wrong_key, name = "wrong_config" }
    local h = sssh({ "-F", cfg, "127.0.0.1", "true" })
    local r = h.wait(60)
    assert.is_nil(r.hung)
    assert.equal(255, r.code)
    assert.matches("Permission denied", h.stderr())
    assert.matches("sssh: authentication failed", h.stderr())
    assert.equal(0, accepted())
    -- sshd logs the failed try a moment after the client has gone
    assert.truthy(h.until_(function() return s:log():find("closed by authenticating user", 1, true) end, 10))
    core.sleep(0.5)
    assert.equal(1, count(s:log(), "closed by authenticating user"))
  end)

  it("stops on a changed host key with a host-key message", function()
    if need() then return end
    s:change_host_key()
    s:start()
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "true" })
    local r = h.wait(60)
    assert.equal(255, r.code)
    assert.matches("REMOTE HOST IDENTIFICATION HAS CHANGED", h.stderr())
    assert.matches("sssh: host key verification failed", h.stderr())
    assert.equal(0, accepted())
  end)

  it("stops on a host name that does not resolve with a DNS message", function()
    if need() then return end
    local h = sssh({ "-F", s.ssh_config, "netops-no-such-host.invalid", "true" })
    local r = h.wait(60)
    assert.is_nil(r.hung)
    assert.equal(255, r.code)
    assert.matches("Could not resolve hostname", h.stderr())
    assert.matches("sssh: cannot resolve host name netops%-no%-such%-host%.invalid", h.stderr())
  end)

  -- README: 130 when SIGINT arrives while waiting, 143 for SIGTERM, 129
  -- for SIGHUP; each sent by pid to the real sssh
  local WAITING = { { "INT", 130 }, { "TERM", 143 }, { "HUP", 129 }, { "QUIT", 131 } }

  for _, c in ipairs(WAITING) do
    it(("exits %d on SIG%s while probing a refused port, and runs no ssh"):format(c[2], c[1]), function()
      if need() then return end
      -- sshd is not started: the port refuses; with no --max-wait sssh
      -- would probe it for good
      local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "true" })
      assert.truthy(h.until_(function() return h.stderr():find("waiting for") end, 30), h.stderr())
      core.sleep(0.3)
      assert.is_true(h.proc:wait(0).running, h.stderr())
      h.proc:kill(c[1])
      local r = h.wait(20)
      assert.is_nil(r.hung)
      assert.equal("exited", r.status)
      assert.equal(c[2], r.code, h.stderr())
      -- the waiting line and nothing else: no ssh ran, it did not give up
      assert.equal(("sssh: waiting for 127.0.0.1:%d - connection refused\n"):format(s.port), h.stderr())
    end)

    it(("exits %d on SIG%s in the delay between ssh runs (--no-probe), with no further ssh")
        :format(c[2], c[1]), function()
      if need() then return end
      -- a real ssh to the refused port, then a 30 s delay before the 2nd (and last) run
      local h = sssh({ "--no-probe", "--interval", "30", "--max-attempts", "2", "-F", s.ssh_config,
                       "127.0.0.1", "true" })
      assert.truthy(h.until_(function() return h.stderr():find("sssh: waiting for") end, 30), h.stderr())
      core.sleep(0.3)
      assert.equal(0, #SSHD.descendants(h.proc.pid))    -- ssh has ended: sssh is in the delay
      h.proc:kill(c[1])
      local r = h.wait(60)
      assert.is_nil(r.hung)
      assert.equal("exited", r.status)
      assert.equal(c[2], r.code, h.stderr())
      assert.equal(("ssh: connect to host 127.0.0.1 port %d: Connection refused\r\n"
                    .. "sssh: waiting for 127.0.0.1:%d - connection refused\n"):format(s.port, s.port), h.stderr())
    end)
  end

  it("dies of a signal it does not handle (SIGUSR1) while waiting: a shell sees 128+10", function()
    if need() then return end
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "true" })
    assert.truthy(h.until_(function() return h.stderr():find("waiting for") end, 30), h.stderr())
    h.proc:kill("USR1")
    local r = h.wait(20)
    assert.is_nil(r.hung)
    assert.equal("signaled", r.status)
    assert.equal(10, r.signal)
  end)

  for _, sig in ipairs { "TERM", "HUP" } do
    it(("forwards SIG%s during a session to ssh, exits with ssh's status and does not retry"):format(sig), function()
      if need() then return end
      s:start()
      local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "echo started; sleep 60" })
      assert.truthy(h.until_(function() return h.stdout():find("started") end, 30), h.stderr())
      local kids = SSHD.descendants(h.proc.pid)
      assert.equal(1, #kids)
      h.proc:kill(sig)
      local r = h.wait(30)
      assert.is_nil(r.hung)
      assert.equal("exited", r.status)
      assert.equal(255, r.code, h.stderr())  -- ssh's own status after the signal, not 143/129
      assert.is_nil(sh.read("/proc/" .. kids[1] .. "/stat"))
      assert.equal(1, accepted())
    end)
  end

  -- README: 128+n if ssh was killed by signal n (one it does not catch)
  for _, c in ipairs { { "KILL", 9 }, { "USR1", 10 } } do
    it(("exits 128+%d when ssh is killed by SIG%s during a session, and does not retry"):format(c[2], c[1]), function()
      if need() then return end
      s:start()
      local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "echo started; sleep 60" })
      assert.truthy(h.until_(function() return h.stdout():find("started") end, 30), h.stderr())
      local kids = SSHD.descendants(h.proc.pid)
      assert.equal(1, #kids)
      local _, code = sh.run({ "kill", "-" .. c[1], tostring(kids[1]) })   -- to ssh, by pid
      assert.equal(0, code)
      local r = h.wait(30)
      assert.is_nil(r.hung)
      assert.equal("exited", r.status)
      assert.equal(128 + c[2], r.code, h.stderr())
      assert.equal(1, accepted())
      assert.equal(0, #SSHD.descendants(h.proc.pid))
    end)
  end

  it("exits 130 on SIGINT during a session (ssh gets it too) and does not retry", function()
    if need() then return end
    s:start()
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "echo started; sleep 60" })
    assert.truthy(h.until_(function() return h.stdout():find("started") end, 30), h.stderr())
    h.proc:kill("INT")
    local r = h.wait(30)
    assert.is_nil(r.hung)
    assert.equal(130, r.code, h.stderr())
    assert.equal(1, accepted())
  end)

  for _, sig in ipairs { "TERM", "HUP" } do
    it(("SIG%s reaches the ssh program itself, and sssh exits with its status (a stand-in that reports it)")
        :format(sig), function()
      if need() then return end
      s:start()   -- the port accepts, so sssh starts its ssh (the stand-in)
      local fake = s.dir .. "/fake-ssh"
      sh.write(fake, ([[#!/bin/sh
if [ "$1" = -G ]; then echo "hostname 127.0.0.1"; echo "port %d"; exit 0; fi
echo run >> %s/runs
trap 'echo got-%s > %s/sig; exit 7' %s
echo started
sleep 60 & wait
]]):format(s.port, s.dir, sig, s.dir, sig))
      sh.run({ "chmod", "0755", fake })
      local h = sssh({ "--ssh", fake, "127.0.0.1", "x" })
      assert.truthy(h.until_(function() return h.stdout():find("started") end, 30), h.stderr())
      core.sleep(0.3)
      h.proc:kill(sig)
      local r = h.wait(30)
      assert.is_nil(r.hung)
      assert.equal(7, r.code, h.stderr())
      assert.equal("got-" .. sig .. "\n", sh.read(s.dir .. "/sig"))
      assert.equal("run\n", sh.read(s.dir .. "/runs"))
    end)
  end

  it("probes a host that is down before running any ssh, and says it is waiting", function()
    if need() then return end
    -- sshd is not started: the port refuses.  A stand-in ssh records each run.
    local fake = s.dir .. "/fake-ssh"
    sh.write(fake, ([[#!/bin/sh
if [ "$1" = -G ]; then echo "hostname 127.0.0.1"; echo "port %d"; exit 0; fi
echo ran >> %s/ssh-runs
exit 0
]]):format(s.port, s.dir))
    sh.run({ "chmod", "0755", fake })
    local h = sssh({ "--max-wait", "1", "--ssh", fake, "127.0.0.1", "x" })
    local r = h.wait(30)
    assert.equal(255, r.code, h.stderr())
    assert.matches("sssh: waiting for 127%.0%.0%.1:" .. s.port .. " %- connection refused\n", h.stderr())
    assert.matches("gave up on 127%.0%.0%.1:" .. s.port, h.stderr())
    assert.is_nil(sh.read(s.dir .. "/ssh-runs"), "ssh ran although the port never accepted")
  end)

  it("leaves no zombie and leaks no fd over many attempts", function()
    if need() then return end
    -- sshd is not started: the real ssh gets a real "Connection refused" on
    -- loopback.  A stand-in records what each ssh inherits, then execs it.
    local fake = s.dir .. "/fake-ssh"
    sh.write(fake, ([[#!/bin/sh
if [ "$1" = -G ]; then exec /usr/bin/ssh "$@"; fi
log=$2
n=$(ls %s/att.* 2>/dev/null | wc -l)
{ echo "log $log"; ls -l /proc/$$/fd; echo "parent-fds $(ls -l /proc/$PPID/fd | grep -v -- " -> $log\$" | wc -l)";
  echo "zombies $(grep -l '^State:.Z' $(grep -l "^PPid:.$PPID\$" /proc/[0-9]*/status 2>/dev/null) 2>/dev/null | wc -l)"; } > %s/att.$n
exec /usr/bin/ssh "$@"
]]):format(s.dir, s.dir))
    sh.run({ "chmod", "0755", fake })
    local h = sssh({ "--no-probe", "--interval", "0", "--max-attempts", "30", "--ssh", fake,
                     "-F", s.ssh_config, "127.0.0.1", "true" })
    local r = h.wait(120)
    assert.equal(255, r.code)
    assert.equal(30, count(h.stderr(), "ssh: connect to host 127%.0%.0%.1 port %d+: Connection refused"), h.stderr())
    assert.matches("gave up on 127%.0%.0%.1:%d+ after 30 attempts", h.stderr())
    local parent_fds = {}
    for i = 0, 29 do
      local t = assert(sh.read(s.dir .. "/att." .. i), "attempt " .. i .. " missing")
      assert.matches("zombies 0\n", t)
      assert.is_nil(t:find("anon_inode", 1, true), t)
      assert.is_nil(t:find("socket:", 1, true), t)
      local log = t:match("^log (%S+)\n")
      assert.is_nil(t:find(" -> " .. log .. "\n", 1, true), t)   -- not even ssh's log
      parent_fds[#parent_fds + 1] = t:match("parent%-fds (%d+)")
    end
    assert.equal(parent_fds[1], parent_fds[30])
    assert.is_nil(sh.read(s.dir .. "/att.30"))
    -- ssh's log file is gone with sssh
    local log = sh.read(s.dir .. "/att.0"):match("^log (%S+)\n")
    assert.is_nil(io.open(log, "r"), log)
  end)

  -- what a remote command prints is never taken for ssh's own failure
  for _, text in ipairs {
    "ssh: connect to host x port 22: Connection refused",
    "curl: (7) Failed to connect to x port 80: Connection refused",
    "Permission denied (publickey).",
    "Connection to 127.0.0.1 closed by remote host.",
  } do
    it("runs a remote command that prints '" .. text:sub(1, 40) .. "' and exits 255 once", function()
      if need() then return end
      s:start()
      local runs = s.dir .. "/remote-runs"
      local cmd = sh.join({ "sh", "-c", ("echo ran >> %s; echo %s >&2; exit 255"):format(runs, sh.join({ text })) })
      local h = sssh({ "--interval", "0", "--max-attempts", "5", "-F", s.ssh_config, "127.0.0.1", cmd })
      local r = h.wait(60)
      assert.is_nil(r.hung)
      assert.equal(255, r.code, h.stderr())
      assert.equal("ran\n", sh.read(runs))
      assert.equal(1, accepted())
      assert.equal(text .. "\n", h.stderr())                -- passed through, nothing added
    end)
  end

  it("keeps its fd count flat while probing a closed port", function()
    if need() then return end
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "true" })
    assert.truthy(h.until_(function() return h.stderr():find("waiting for") end, 30))
    core.sleep(0.5)
    local a = #P.fds(h.proc.pid)
    core.sleep(1)
    local b = #P.fds(h.proc.pid)
    assert.equal(a, b)
    assert.equal(0, P.zombies(h.proc.pid))
    h.proc:kill("INT")
    assert.equal(130, h.wait(20).code)
  end)

  it("obeys a custom policy file", function()
    if need() then return end
    s:start()
    local pol = s.dir .. "/policy.lua"
    sh.write(pol, [[
-- retry a remote failure twice, then do what sssh does by default
return function(result, state)
  if result.code == 3 and state.attempt < 3 then return "retry", 0 end
  return retry.policies.ssh(result, state)
end
]])
    sh.run({ "chmod", "0644", pol })
    local h = sssh({ "--policy", pol, "-F", s.ssh_config, "127.0.0.1", "exit 3" })
    local r = h.wait(60)
    assert.equal(3, r.code, h.stderr())
    assert.equal(3, accepted())
  end)

  it("refuses a group-writable policy file with the reason", function()
    if need() then return end
    s:start()
    local pol = s.dir .. "/policy.lua"
    sh.write(pol, 'return function() return "retry", 0 end\n')
    sh.run({ "chmod", "0664", pol })
    local h = sssh({ "--policy", pol, "-F", s.ssh_config, "127.0.0.1", "true" })
    local r = h.wait(60)
    assert.equal(2, r.code)
    assert.matches("writable by its group", h.stderr())
    assert.equal(0, accepted())
  end)

  it("gives up after --max-wait with status 255", function()
    if need() then return end
    local h = sssh({ "--max-wait", "1", "-F", s.ssh_config, "127.0.0.1", "true" })
    local r = h.wait(30)
    assert.is_nil(r.hung)
    assert.equal(255, r.code)
    -- the outage it reports is at least the --max-wait it was given
    local waited = h.stderr():match("sssh: gave up on 127%.0%.0%.1:%d+ after (%d+) s %- connection refused\n")
    assert.truthy(waited, h.stderr())
    assert.is_true(tonumber(waited) >= 1, h.stderr())
  end)

  it("will not run itself when installed as ssh", function()
    if need() then return end
    local bin = s.dir .. "/bin"
    sh.run({ "mkdir", bin })
    sh.run({ "cp", "examples/sssh.lua", bin .. "/ssh" })
    sh.run({ "chmod", "0755", bin .. "/ssh" })
    s:start()
    local h = sssh({ "-F", s.ssh_config, "127.0.0.1", "echo real-ssh" },
      { env = { PATH = bin .. ":" .. os.getenv("PATH") } })
    local r = h.wait(60)
    assert.equal(0, r.code, h.stderr())
    assert.equal("real-ssh\n", h.stdout())
  end)

  -- The installed command, copied or linked as ssh into a directory first in
  -- PATH.  Outside its tree it finds netops through LUA_PATH, as `luarocks
  -- path` sets it.  Each lua5.4 start appends to a file (LUA_INIT_5_4),
  -- which also stops a runaway chain at 20; timeout(1) bounds the whole group.
  describe("installed as ssh", function()
    local tree
    lazy_setup(function()
      tree = sh.tmpdir()
      -- luarocks make in a copy of the checkout, which stays clean
      local out, code = sh.run({ "make", "--no-print-directory", "install-rock", "PREFIX=" .. tree },
                               { stderr = true })
      assert(code == 0, out)
    end)
    lazy_teardown(function() if tree then sh.rmtree(tree) end end)

    local COUNT = "do local p = os.getenv('SSSH_RUNS'); local f = p and io.open(p, 'a'); " ..
      "if f then f:write('run\\n'); f:close(); local n = 0; for _ in io.lines(p) do n = n + 1 end; " ..
      "if n > 20 then os.exit(99) end end end"
    local function installed_ssh(make, args)
      local bin = s.dir .. "/bin"
      sh.run({ "mkdir", bin })
      make(bin .. "/ssh")
      s:start()
      local runs = s.dir .. "/sssh-runs"
      local argv = { "timeout", "-s", "KILL", "60", bin .. "/ssh", "-F", s.ssh_config }
      for _, a in ipairs(args or { "127.0.0.1", "echo real-ssh" }) do argv[#argv + 1] = a end
      local h = P.start(argv,
        { dir = s.dir, home = s.dir,
          env = { PATH = bin .. ":" .. os.getenv("PATH"), SSSH_RUNS = runs, LUA_INIT_5_4 = COUNT,
                  LUA_PATH_5_4 = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;",
                  LUA_CPATH_5_4 = tree .. "/lib/lua/5.4/?.so;;" } })
      local r = h.wait(90)
      local _, n = (sh.read(runs) or ""):gsub("run\n", "")
      return h, r, n
    end

    -- the installed command itself, on PATH, with no LUA_PATH: it finds its
    -- own tree; `lua $(command -v sssh)` with lua being lua5.1 re-runs it
    for _, how in ipairs {
      { "sssh host", nil, 'cd / && exec sssh "$@"' },
      { "lua $(command -v sssh) host, lua being lua5.1", "lua5.1", 'cd / && exec lua "$(command -v sssh)" "$@"' },
    } do
      it("installed, run as " .. how[1] .. ", runs the remote command", function()
        if need() then return end
        local bin = s.dir .. "/luabin"
        sh.run({ "mkdir", bin })
        if how[2] then sh.run({ "ln", "-s", "/usr/bin/" .. how[2], bin .. "/lua" }) end
        s:start()
        local h = P.start({ "sh", "-c", how[3], "sh", "-F", s.ssh_config, "127.0.0.1", "echo hi" },
          { dir = s.dir, home = s.dir, env = { PATH = tree .. "/bin:" .. bin .. ":" .. os.getenv("PATH") } })
        local r = h.wait(60)
        assert.is_nil(r.hung)
        assert.equal(0, r.code, h.stderr())
        assert.equal("hi\n", h.stdout())
        assert.equal(1, accepted())
      end)
    end

    it("the installed sssh copied as ssh finds the real ssh", function()
      if need() then return end
      local h, r, n = installed_ssh(function(ssh) sh.run({ "cp", tree .. "/bin/sssh", ssh }) end)
      assert.equal(1, n, h.stderr())
      assert.equal(0, r.code, h.stderr())
      assert.equal("real-ssh\n", h.stdout())
      assert.equal(1, accepted())
    end)

    it("a symlink named ssh to the installed sssh finds the real ssh", function()
      if need() then return end
      local h, r, n = installed_ssh(function(ssh) sh.run({ "ln", "-s", tree .. "/bin/sssh", ssh }) end)
      assert.equal(1, n, h.stderr())
      assert.equal(0, r.code, h.stderr())
      assert.equal("real-ssh\n", h.stdout())
    end)

    it("a shell wrapper named ssh that runs the installed sssh finds the real ssh", function()
      if need() then return end
      local h, r, n = installed_ssh(function(ssh)
        sh.write(ssh, ("#!/bin/sh\nexec %s \"$@\"\n"):format(sh.quote(tree .. "/bin/sssh")))
        sh.run({ "chmod", "0755", ssh })
      end)
      assert.equal(1, n, h.stderr())
      assert.equal(0, r.code, h.stderr())
      assert.equal("real-ssh\n", h.stdout())
      assert.equal(1, accepted())
    end)

    it("a ProxyCommand's ssh -W, run from PATH, is the real ssh run once", function()
      if need() then return end
      -- ssh runs `exec ssh -W ...` through the shell: it finds sssh again
      local h, r, n = installed_ssh(function(ssh) sh.run({ "cp", tree .. "/bin/sssh", ssh }) end,
        { "-o", "ProxyCommand=ssh -F " .. s.ssh_config .. " -W %h:%p 127.0.0.1", "127.0.0.1", "echo via-jump" })
      assert.equal(2, n, h.stderr())
      assert.equal(0, r.code, h.stderr())
      assert.equal("via-jump\n", h.stdout())
      assert.equal(2, accepted())
    end)

    it("a wrapper it cannot recognise as sssh: one clear line, exit 255, two runs", function()
      if need() then return end
      local h, r, n = installed_ssh(function(ssh)
        -- a wrapper of a wrapper: ssh names neither sssh nor its path
        local inner = s.dir .. "/inner-wrapper"
        sh.write(inner, ("#!/bin/sh\nexec %s \"$@\"\n"):format(sh.quote(tree .. "/bin/sssh")))
        sh.write(ssh, ("#!/bin/sh\nexec %s \"$@\"\n"):format(sh.quote(inner)))
        sh.run({ "chmod", "0755", ssh, inner })
      end)
      assert.equal(2, n, h.stderr())
      assert.equal(255, r.code, h.stderr())
      assert.equal(("sssh: %s/bin/ssh runs sssh itself, not ssh; name the real ssh with --ssh PATH or SSSH_SSH\n")
        :format(s.dir), h.stderr())
      assert.equal(0, accepted())
    end)
  end)

  it("through a ProxyCommand it retries ssh itself, with no probing, and gives up after --max-attempts", function()
    if need() then return end
    local h = sssh({ "--interval", "0.01", "--max-attempts", "3", "-F", s.ssh_config,
                     "-o", "ProxyCommand=/bin/false", "127.0.0.1", "true" })
    local r = h.wait(60)
    assert.equal(255, r.code)
    -- each attempt ends in one of ssh's banner-exchange errors: which one
    -- depends on whether /bin/false was gone before ssh wrote its banner
    -- ("banner exchange: ...: Broken pipe") or after it
    local e = h.stderr()
    assert.equal(3, count(e, "kex_exchange_identification") + count(e, "banner exchange: "), e)
    assert.matches("gave up on 127%.0%.0%.1:%d+ after 3 attempts", h.stderr())
    assert.is_nil(h.stderr():find("connection refused", 1, true))
  end)

  it("on a terminal keeps one status line updated in place; -q silences it", function()
    if need() then return end
    local cmd = sh.join({ "lua5.4", "examples/sssh.lua", "--max-wait", "1.5", "-F", s.ssh_config, "127.0.0.1", "true" })
    local out = sh.run({ "script", "-qec", cmd, "/dev/null" })
    assert.matches("\r\27%[Kwaiting for 127%.0%.0%.1:" .. s.port .. " %- connection refused %- attempt %d+, %d s", out)
    assert.is_nil(out:find("sssh: waiting for", 1, true))    -- not the line-per-change form
    local _, lines = out:gsub("\n", "")
    assert.is_true(lines <= 3, out)                          -- ssh's one error, the give-up line
    local quiet = sh.run({ "script", "-qec", sh.join({ "lua5.4", "examples/sssh.lua", "-q", "--max-wait", "1",
                           "-F", s.ssh_config, "127.0.0.1", "true" }), "/dev/null" })
    assert.is_nil(quiet:find("waiting for", 1, true))
  end)

  it("prints its usage and exits 2 without ssh arguments", function()
    if need() then return end
    local h = sssh({})
    local r = h.wait(30)
    assert.equal(2, r.code)
    assert.matches("^sssh: no ssh arguments\nUsage: sssh", h.stderr())
  end)

  -- sssh started the ways an operator starts it, with `lua` being Debian's
  -- 5.1 or 5.3 (re-run with lua5.4), reaching the real sshd
  for _, how in ipairs {
    { "lua sssh.lua from examples/, lua being lua5.1", "lua5.1", 'cd examples && exec lua sssh.lua "$@"' },
    { "lua sssh.lua from examples/, lua being lua5.3", "lua5.3", 'cd examples && exec lua sssh.lua "$@"' },
    { "lua examples/sssh.lua from the root, lua being lua5.1", "lua5.1", 'exec lua examples/sssh.lua "$@"' },
    { "lua5.4 sssh.lua from examples/", nil, 'cd examples && exec lua5.4 sssh.lua "$@"' },
    { "./sssh.lua from examples/", nil, 'cd examples && exec ./sssh.lua "$@"' },
  } do
    it("run as " .. how[1] .. ", runs the remote command", function()
      if need() then return end
      local bin = s.dir .. "/luabin"
      sh.run({ "mkdir", bin })
      if how[2] then sh.run({ "ln", "-s", "/usr/bin/" .. how[2], bin .. "/lua" }) end
      s:start()
      local h = P.start({ "sh", "-c", how[3], "sh", "-F", s.ssh_config, "127.0.0.1", "echo hi" },
        { dir = s.dir, home = s.dir, env = { PATH = bin .. ":" .. os.getenv("PATH") } })
      local r = h.wait(60)
      assert.is_nil(r.hung)
      assert.equal(0, r.code, h.stderr())
      assert.equal("hi\n", h.stdout())
      assert.equal(1, accepted())
    end)
  end
end)

-- sssh's own options (argparse) and ssh's arguments, passed through.  A
-- stand-in ssh writes what it was given to a file, one word a line;
-- --no-probe, so sssh runs it without asking `ssh -G` first.
describe("sssh's command line", function()
  local dir, fake
  before_each(function()
    dir = sh.tmpdir()
    fake = dir .. "/fake-ssh"
    -- -G: the configuration sssh asks for after a failure; else $1 $2 are
    -- the -E FILE sssh adds, and a word "fail" makes it fail as an ssh that
    -- found the port refused
    sh.write(fake, ([[#!/bin/sh
if [ "$1" = -G ]; then echo "hostname 192.0.2.1"; echo "port 22"; exit 0; fi
echo ran >> %s/runs
log=$2; shift 2
for a in "$@"; do printf '%%s\n' "$a"; done >> %s/args
for a in "$@"; do
  if [ "$a" = fail ]; then echo "ssh: connect to host h port 22: Connection refused" >> "$log"; exit 255; fi
done
exit 0
]]):format(dir, dir))
    sh.run({ "chmod", "0755", fake })
  end)
  after_each(function() sh.rmtree(dir) end)

  -- stdout, stderr, exit status, how many times ssh ran and what it was given
  local function sssh(...)
    sh.run({ "rm", "-f", dir .. "/runs", dir .. "/args" })
    local h = P.start({ "lua5.4", "examples/sssh.lua", ... }, { dir = dir })
    local r = h.wait(30)
    assert.is_nil(r.hung)
    return h.stdout(), h.stderr(), r.code, #(sh.read(dir .. "/runs") or "") // 4, sh.read(dir .. "/args")
  end
  local VERSION = require("netops")._VERSION .. "\n"

  it("--version prints the netops version and runs no ssh", function()
    assert.same({ VERSION, "", 0, 0 }, { sssh("--version") })
    assert.same({ VERSION, "", 0, 0 }, { sssh("--ssh", fake, "--version", "host") })
    assert.matches("^netops %d+%.%d+%.%d+\n$", VERSION)
  end)

  it("-h and --help print the usage and every option, exit 0, no ssh", function()
    for _, flag in ipairs { "-h", "--help" } do
      local out, err, code, runs = sssh(flag)
      assert.same({ "", 0, 0 }, { err, code, runs })
      assert.matches("^Usage: sssh ", out)
      for _, o in ipairs { "-q", "--max-wait", "--max-attempts", "--interval", "--probe-interval",
                           "--probe-timeout", "--policy", "--ssh", "--no-probe", "--version", "Exit status" } do
        assert.truthy(out:find(o, 1, true), o)
      end
    end
  end)

  it("takes --opt=value and --opt value for every option, and passes ssh's arguments as they were", function()
    local pol = dir .. "/policy.lua"
    sh.write(pol, "return retry.policies.ssh\n")
    sh.run({ "chmod", "0644", pol })
    local ssh_args = { "-p22", "-vl", "--odd-user", "-o", "--odd-option", "host", "-i", "key",
                       "ls", "--color=never", "--max-wait", "5", "--", "-x" }
    local want = table.concat(ssh_args, "\n") .. "\n"
    for _, o in ipairs { { "--max-wait", "5" }, { "--max-attempts", "2" }, { "--interval", "0" },
                         { "--probe-interval", "0.1" }, { "--probe-timeout", "1" }, { "--policy", pol },
                         { "--ssh", fake } } do
      for _, form in ipairs { { o[1] .. "=" .. o[2] }, { o[1], o[2] } } do
        local argv = { "--no-probe", "--ssh", fake }
        for _, a in ipairs(form) do argv[#argv + 1] = a end
        for _, a in ipairs(ssh_args) do argv[#argv + 1] = a end
        local out, err, code, runs, args = sssh(table.unpack(argv))
        assert.same({ "", "", 0, 1, want }, { out, err, code, runs, args }, table.concat(form, " "))
      end
    end
    -- the values count: --max-attempts=3 --interval=0 against an ssh that fails
    local _, err, code, runs = sssh("-q", "--no-probe", "--ssh=" .. fake, "--max-attempts=3", "--interval=0",
                                    "host", "fail")
    assert.same({ 255, 3 }, { code, runs }, err)
  end)

  it("refuses a misspelt option (--maxwait 5) with exit 2 and a suggestion, and runs no ssh", function()
    local out, err, code, runs = sssh("--ssh", fake, "--no-probe", "--maxwait", "5", "host", "true")
    assert.same({ "", 2, 0 }, { out, code, runs })
    assert.matches("^sssh: unknown option '%-%-maxwait'; did you mean '%-%-max%-wait'%?\nUsage: sssh ", err)
    -- --max-wait=5 is taken
    local args
    out, err, code, runs, args = sssh("--ssh", fake, "--no-probe", "--max-wait=5", "host", "true")
    assert.same({ "", "", 0, 1, "host\ntrue\n" }, { out, err, code, runs, args })
  end)

  it("refuses any unknown --long option before ssh's remote command (ssh has none)", function()
    for _, argv in ipairs {
      { "--frobnicate", "host" },
      { "-F", "/dev/null", "--frobnicate", "host" },
      { "host", "--frobnicate", "true" },            -- ssh reads options after the destination too
    } do
      local out, err, code, runs = sssh("--ssh", fake, "--no-probe", table.unpack(argv))
      assert.same({ "", 2, 0 }, { out, code, runs }, table.concat(argv, " "))
      assert.matches("^sssh: unknown option '%-%-frobnicate'\nUsage: sssh ", err)
    end
    local out, err, code, runs = sssh("--ssh", fake, "--no-probe", "--max-wait")
    assert.same({ "", 2, 0 }, { out, code, runs })
    assert.matches("^sssh: option '%-%-max%-wait' requires an argument\nUsage: sssh ", err)
    out, err, code, runs = sssh("--ssh", fake, "--no-probe", "--max-wait=soon", "host")
    assert.same({ "", 2, 0 }, { out, code, runs })
    assert.matches("^sssh: %-%-max%-wait: a number of seconds expected\nUsage: sssh ", err)
  end)

  it("stops reading its options at --: the rest goes to ssh", function()
    -- without --, --weird is refused as sssh's; with it, ssh gets it
    local _, err, code, runs = sssh("--ssh", fake, "--no-probe", "--weird", "host")
    assert.same({ 2, 0 }, { code, runs }, err)
    assert.same({ "", "", 0, 1, "--weird\nhost\n" }, { sssh("--ssh", fake, "--no-probe", "--", "--weird", "host") })
    -- after an ssh argument, -- is ssh's: passed on, and ends sssh's options too
    assert.same({ "", "", 0, 1, "-4\n--\n--max-wait\n" },
                { sssh("--ssh", fake, "--no-probe", "-4", "--", "--max-wait") })
  end)

  it("ending mid-run (ssh -G fails after a refused run) removes ssh's log file, in a process and in-process", function()
    local bad = dir .. "/bad-ssh"
    sh.write(bad, ([[#!/bin/sh
if [ "$1" = -G ]; then echo "bad-ssh: no config" >&2; exit 3; fi
echo "$2" >> %s/logs
echo "ssh: connect to host h port 22: Connection refused" >> "$2"; exit 255
]]):format(dir))
    sh.run({ "chmod", "0755", bad })
    local _, err, code = sssh("--no-probe", "--ssh", bad, "host", "true")
    assert.same({ "ssh: connect to host h port 22: Connection refused\nbad-ssh: no config\n", 3 }, { err, code })
    local main = require("netops.cli.sssh").main
    local saved = io.stderr
    local ok, res = pcall(function()
      io.stderr = assert(io.open(dir .. "/err", "w"))
      return main { "--no-probe", "--ssh", bad, "host", "true" }
    end)
    io.stderr:close()
    io.stderr = saved
    assert(ok, res)
    assert.equal(3, res)
    local logs = 0
    for log in io.lines(dir .. "/logs") do
      logs = logs + 1
      assert.is_nil(io.open(log), log .. " is left behind")
    end
    assert.equal(2, logs)
  end)

  it("runs in-process: main(args) returns the exit status and never exits", function()
    local main = require("netops.cli.sssh").main
    local saved = { stdout = io.stdout, stderr = io.stderr }
    local status = {}
    local ok, err = pcall(function()
      io.stdout, io.stderr = assert(io.open(dir .. "/out", "w")), assert(io.open(dir .. "/err", "w"))
      status[1] = main { "--version" }
      status[2] = main { "--ssh", fake, "--maxwait", "5", "host" }
      status[3] = main { "-q", "--no-probe", "--ssh", fake, "--max-attempts", "2", "--interval=0", "host", "fail" }
    end)
    for k, f in pairs(saved) do if io[k] ~= f then io[k]:close() end io[k] = f end
    assert(ok, err)
    assert.same({ 0, 2, 255 }, status)
    assert.equal(VERSION, sh.read(dir .. "/out"))
    assert.matches("^sssh: unknown option '%-%-maxwait'; did you mean '%-%-max%-wait'%?\nUsage: sssh ",
                   sh.read(dir .. "/err"))
    assert.equal(2, #sh.read(dir .. "/runs") // 4)
    assert.equal("host\nfail\nhost\nfail\n", sh.read(dir .. "/args"))
  end)
end)
