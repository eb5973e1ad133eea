#!/usr/bin/env lua5.4
-- Where netops is: run as CHECKOUT/examples/NAME.lua, the checkout's lua/ and
-- build/; installed as PREFIX/bin/NAME, that tree's share/lua/5.4 and
-- lib/lua/5.4; else Lua's own path (LUA_PATH, as `luarocks path` sets it).
local top, leaf = ((arg and arg[0] or ""):match("^(.*/)") or ""):match("^(.-)([^/]*)/$")
if leaf == "examples" then
  package.path = top .. "lua/?.lua;" .. top .. "lua/?/init.lua;" .. package.path
  package.cpath = top .. (os.getenv("NETOPS_BUILD") or "build") .. "/?.so;" .. package.cpath
elseif leaf == "bin" then
  package.path = top .. "share/lua/5.4/?.lua;" .. top .. "share/lua/5.4/?/init.lua;" .. package.path
  package.cpath = top .. "lib/lua/5.4/?.so;" .. package.cpath
end
-- sssh: sticky ssh.  (This marker line lets sssh skip copies of itself in PATH.)
--
-- sssh [sssh options] [--] <ssh arguments>
-- Runs ssh; while the target is down it waits with cheap TCP probes and
-- starts ssh the moment the port accepts; reconnects after a dropped
-- session; stops at once on an authentication, host key or DNS failure and
-- on any status of the remote command.  Exits with ssh's status.

local netops = require "netops"
local core = netops.core
local retry = require "netops.retry"

local USAGE = [[
usage: sssh [sssh options] [--] <ssh arguments>
  -q                 no status line
  --max-wait S       give up once the target has been out of reach for S
                     seconds (default: never)
  --max-attempts N   give up after N ssh runs (default: no limit)
  --interval S       first delay between ssh runs that reached the host (default 1)
  --probe-interval S delay between TCP probes while the host is down (default 0.05)
  --probe-timeout S  connect timeout of one probe (default 2; doubled, up to
                     8 s, while the host does not answer at all)
  --policy FILE      a Lua file returning a retry policy function
  --ssh PATH         the real ssh (default: $SSSH_SSH, else the first ssh in
                     PATH that is not sssh itself)
  --no-probe         retry ssh itself instead of probing
  -h, --help         this text
Exit status: ssh's (128+n if ssh was killed by signal n); 130 when
interrupted while waiting; 255 when giving up.]]

-- os.exit closing the state: a retry.run in progress removes its ssh log
local function exit(code) os.exit(code, true) end

local function die(msg, code)
  io.stderr:write("sssh: ", msg, "\n")
  exit(code or 2)
end

-- ------------------------------------------------------ running as ssh
-- Every ssh sssh starts has GUARD="<sssh's pid> <depth> <that ssh>" in its
-- environment.  A sssh that finds it was started as an ssh: by the sssh
-- named there (its parent; the ssh it chose is a wrapper of sssh) it stops
-- at once; by anything else, such as the real ssh running a ProxyCommand
-- "ssh -W %h:%p jump" while sssh is installed as ssh, it runs that real ssh
-- once, as plain ssh.  The depth bounds wrappers that do not exec.
local GUARD, MAX_DEPTH = "SSSH_GUARD", 8
local MARKER = "-- sssh: sticky ssh."
local function self_ids()
  local f = io.open("/proc/self/stat", "r")
  local stat = f and f:read("l") or ""
  if f then f:close() end
  local pid, ppid = stat:match("^(%d+) .*%) %S+ (%d+)")
  return tonumber(pid), tonumber(ppid)
end
local MYPID = self_ids()

--- Our environment with GUARD set to name `ssh` at `depth`, for spawn.
local function guarded(ssh, depth)
  local env = {}
  local f = io.open("/proc/self/environ", "rb")
  local text = f and f:read("a") or ""
  if f then f:close() end
  for entry in text:gmatch("[^%z]+") do
    if entry:find("=", 2, true) and entry:sub(1, #GUARD + 1) ~= GUARD .. "=" then
      env[#env + 1] = entry
    end
  end
  env[#env + 1] = ("%s=%d %d %s"):format(GUARD, MYPID or 0, depth, ssh)
  return env
end

do
  local guard = os.getenv(GUARD)
  if guard and guard ~= "" then
    local gpid, depth, ssh = guard:match("^(%d+) (%d+) (.+)$")
    if not gpid then die(("bad %s in the environment: %q"):format(GUARD, guard), 255) end
    local _, ppid = self_ids()
    if tonumber(gpid) == ppid then
      die(ssh .. " runs sssh itself, not ssh; name the real ssh with --ssh PATH or SSSH_SSH", 255)
    end
    depth = tonumber(depth)
    if depth >= MAX_DEPTH then
      die(("started as ssh %d times nested (is a wrapper of sssh installed as ssh?); "):format(depth)
          .. "name the real ssh with --ssh PATH or SSSH_SSH", 255)
    end
    local argv = { ssh }
    for i = 1, #arg do argv[i + 1] = arg[i] end
    local proc, err = core.spawn(argv, { env = guarded(ssh, depth + 1) })
    if not proc then die(err, 255) end
    local r = proc:wait()
    proc:close()
    exit(r.status == "exited" and r.code or 128 + (r.signal or 0))
  end
end

-- ---------------------------------------------------------------- options
local opt = {
  quiet = false, interval = 1, probe_interval = 0.05, probe_timeout = 2,
  probe = true,
}
local ssh_args = {}
do
  local i = 1
  local function value(name)
    i = i + 1
    local v = arg[i]
    if v == nil then die(name .. " needs a value\n" .. USAGE) end
    return v
  end
  local function seconds(name)
    local v = tonumber(value(name))
    if not v or v < 0 or v ~= v or v > 1e9 then die(name .. ": a number of seconds expected") end
    return v
  end
  while arg[i] do
    local a = arg[i]
    if a == "--" then
      i = i + 1
      break
    elseif a == "-q" then opt.quiet = true
    elseif a == "-h" or a == "--help" then print(USAGE) exit(0)
    elseif a == "--max-wait" then opt.max_wait = seconds(a)
    elseif a == "--max-attempts" then
      local n = math.tointeger(tonumber(value(a)))
      if not n or n < 1 then die("--max-attempts: a positive integer expected") end
      opt.max_attempts = n
    elseif a == "--interval" then opt.interval = seconds(a)
    elseif a == "--probe-interval" then opt.probe_interval = seconds(a)
    elseif a == "--probe-timeout" then opt.probe_timeout = seconds(a)
    elseif a == "--policy" then opt.policy_file = value(a)
    elseif a == "--ssh" then opt.ssh = value(a)
    elseif a == "--no-probe" then opt.probe = false
    else break
    end
    i = i + 1
  end
  for j = i, #arg do ssh_args[#ssh_args + 1] = arg[j] end
end
if #ssh_args == 0 then die("no ssh arguments\n" .. USAGE) end

-- ------------------------------------------------------------- which ssh
-- sssh may be installed under the name "ssh" (a copy, a symlink, the
-- shell wrapper that runs this script).  Each PATH candidate is opened,
-- following symlinks, and skipped when it is this very script or a wrapper
-- naming it (MARKER is for copies of other versions).  Beyond what that can
-- see (a wrapper of a wrapper), every ssh sssh starts gets GUARD in its
-- environment (see guarded above).
local self_text, self_path
do
  self_path = arg and arg[0] or ""
  local f = io.open(self_path, "rb")
  self_text = f and f:read("a") or nil
  if f then f:close() end
end
local function is_sssh(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(self_text and #self_text + 1 or 4096) or ""
  f:close()
  return head == self_text
      or head:find(MARKER, 1, true) ~= nil
      or (self_path:sub(1, 1) == "/" and head:sub(1, 4096):find(self_path, 1, true) ~= nil)
end

local function find_ssh()
  local want = opt.ssh or os.getenv("SSSH_SSH")
  if want and want ~= "" then
    if want:find("/") then
      if is_sssh(want) then die(want .. " is sssh itself; name the real ssh with --ssh") end
      return want
    end
  end
  local name = want and want ~= "" and want or "ssh"
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local p = dir .. "/" .. name
    local f = io.open(p, "r")
    if f then
      f:close()
      if not is_sssh(p) then return p end
    end
  end
  die("no " .. name .. " found in PATH (other than sssh itself); use --ssh PATH", 255)
end
local SSH = find_ssh()

-- ----------------------------------------------------- the real target
-- `ssh -G` prints the resolved configuration without connecting.
local function ssh_config()
  local argv = { SSH, "-G" }
  for _, a in ipairs(ssh_args) do argv[#argv + 1] = a end
  local out = io.tmpfile()
  local proc, err = core.spawn(argv, { stdout = out, stderr = "capture", stdin = "null", env = guarded(SSH, 1) })
  if not proc then die(err, 255) end
  local r = proc:wait()
  proc:close()
  if r.status ~= "exited" or r.code ~= 0 then
    io.stderr:write(r.stderr_tail)
    exit(r.code or 255)
  end
  out:seek("set")
  local cfg = {}
  for line in out:lines() do
    local k, v = line:match("^(%S+)%s+(.*)$")
    if k and cfg[k] == nil then cfg[k] = v end
  end
  out:close()
  return cfg
end
-- Learned once, before the first run (probing needs the real target) or,
-- with --no-probe, when ssh first fails to get through.
local cfg, host, port, proxied, probing, family, target
local function learn()
  if cfg then return end
  cfg = ssh_config()
  host = cfg.hostname or "?"
  port = tonumber(cfg.port) or 22
  proxied = (cfg.proxyjump and cfg.proxyjump ~= "none")
         or (cfg.proxycommand and cfg.proxycommand ~= "none")
  probing = opt.probe and not proxied
  family = cfg.addressfamily == "inet" and "inet" or cfg.addressfamily == "inet6" and "inet6" or "any"
  target = (netops.inet.family(host) == 6 and "[" .. host .. "]" or host) .. ":" .. port
end

-- ----------------------------------------------------------- the status
local tty = core.isatty(2)
local shown_reason, shown_text
local function status(reason, attempt, waited)
  if opt.quiet then return end
  if tty then
    local text = ("waiting for %s - %s - attempt %d, %d s"):format(target, reason, attempt, math.floor(waited))
    if text ~= shown_text then
      io.stderr:write("\r\27[K", text)
      shown_text = text
    end
  elseif reason ~= shown_reason then
    io.stderr:write(("sssh: waiting for %s - %s\n"):format(target, reason))
  end
  shown_reason = reason
end
local function clear_status()
  if tty and shown_text then io.stderr:write("\r\27[K") end
  shown_text = nil
end

local reasons = {
  refused = "connection refused", unreachable = "no route to host", timeout = "no answer",
  reset = "connection reset", dns_transient = "temporary failure in name resolution",
  banner_timeout = "no SSH banner", booting = "system is booting up",
  closed = "connection closed by remote host",
}
local function reason_of(class, msg)
  if class == "unreachable" and msg then
    local why = msg:match(": ([^:]+)$")
    if why then return why:lower() end
  end
  return reasons[class] or class or "unknown"
end

-- --------------------------------------------------------------- policy
local policy = retry.policies.ssh
if opt.policy_file then
  local fn, err = retry.load_policy(opt.policy_file)
  if not fn then die(err, 2) end
  policy = fn
end
-- Failures where the port itself is the problem: probing paces them.
local probe_paced = { refused = true, unreachable = true, timeout = true, dns_transient = true }

-- When the current outage began (nil while sessions work): the status line,
-- the probe pace and --max-wait count from it, so a session that ran for
-- hours before dropping reconnects as fast as the first time.
local outage
local function out_for() return core.monotime() - (outage or core.monotime()) end
local signal_status = { SIGINT = 130, SIGTERM = 143, SIGHUP = 129, SIGQUIT = 131 }

-- Wait until the port accepts; nil to go on, or a result to stop with.
local function wait_for_port(state)
  local probes = 0
  -- a host that does not answer at all: each probe waits longer (the kernel
  -- resends the SYN meanwhile, so an answer is not missed), up to 8 s
  local patience = opt.probe_timeout
  while true do
    local waited = out_for()
    if opt.max_wait and waited >= opt.max_wait then
      clear_status()
      return { status = "gave_up", code = 255, reason = shown_reason or "timeout" }
    end
    local started = core.monotime()
    local left = opt.max_wait and (opt.max_wait - waited) or patience
    local ok, msg, class, sig = netops.probe(host, port, {
      timeout = math.min(patience, math.max(left, 0.01)), family = family })
    probes = probes + 1
    if class == "timeout" then
      patience = math.min(patience * 2, math.max(opt.probe_timeout, 8))
    else
      patience = opt.probe_timeout
    end
    if ok then
      clear_status()
      return nil, probes
    end
    if class == "interrupted" then
      clear_status()
      return { status = "interrupted", signal_name = sig }
    end
    if class == "dns_permanent" then
      clear_status()
      return nil                     -- let ssh say it, then the policy stops
    end
    -- past the first two minutes, probe gently
    local pace = opt.probe_interval
    if waited > 600 then pace = math.max(pace, 1)
    elseif waited > 120 then pace = math.max(pace, 0.25) end
    status(reason_of(class, msg), state.attempt + probes, out_for())
    local rest = pace - (core.monotime() - started)
    if rest > 0 then
      local s = core.sleep(rest)
      if s then
        clear_status()
        return { status = "interrupted", signal_name = s }
      end
    end
  end
end

local function sssh_policy(result, state)
  local verdict, delay = policy(result, state)
  if verdict == "retry" then learn() end
  if verdict == "retry" and delay == nil and probing and probe_paced[state.class] then
    delay = 0
  end
  return verdict, delay
end

local argv = { SSH }
for _, a in ipairs(ssh_args) do argv[#argv + 1] = a end

-- Before the first ssh, one look at the port: a host that is down (mid
-- reboot, or silent behind a firewall) gets the status line and cheap
-- probes at once, not one ssh stuck in connect for up to two minutes.  A
-- host that is up costs one `ssh -G` and one TCP connect.
local function first_look()
  if not opt.probe then return nil end
  learn()
  if not probing then return nil end
  outage = core.monotime()
  local stop, probes = wait_for_port({ attempt = 0 })
  if not stop and probes == 1 then outage = nil end   -- it was up: no outage
  return stop
end

local last_class    -- of the last ssh run, from ssh's own messages

local function main()
  local result, attempts = first_look(), 0
  if not result then
    result, attempts = retry.run{
      argv = argv,
      policy = sssh_policy,
      interval = opt.interval,
      max_interval = 30,
      max_attempts = opt.max_attempts,
      spawn = { stderr = "tee", env = guarded(SSH, 1) },
      ssh = true,     -- classify ssh's own messages only, never the remote's
      before = function(state)
        learn()
        if opt.max_wait and out_for() >= opt.max_wait then
          return { status = "gave_up", code = 255, reason = reason_of(state.class) }
        end
        if probing and (probe_paced[state.class] or state.class == "closed") then
          return wait_for_port(state)
        end
      end,
      on_attempt = function(r, state)
        last_class = state.class
        if r.elapsed and r.elapsed > 30 then outage = nil end   -- it worked for a while
        outage = outage or core.monotime()
        if state.class and retry.transient[state.class] then learn() end
        if not probing and state.class and retry.transient[state.class] and not opt.quiet then
          status(reason_of(state.class), state.attempt, out_for())
          if tty then io.stderr:write("\n") shown_text = nil end
        end
      end,
    }
  end
  clear_status()
  local say = not opt.quiet
  if not target and result.status ~= "failed" and result.code == 255 then learn() end
  if result.status == "failed" then
    die(result.error, 255)
  elseif result.status == "interrupted" then
    exit(signal_status[result.signal_name] or 130)
  elseif result.status == "gave_up" then
    if say then
      io.stderr:write(("sssh: gave up on %s after %d s - %s\n")
        :format(target, math.floor(out_for()), result.reason))
    end
    exit(255)
  end
  -- a signal in retry.run's delay between ssh runs (none was running, so
  -- none was forwarded or shared): sssh was waiting, like in the probes
  local sig = result.stop_reason
  if signal_status[sig] and not result.forwarded and not result.interrupted then
    exit(signal_status[sig])
  end
  local class = last_class
  local code = result.status == "exited" and result.code or 128 + (result.signal or 0)
  if code == 255 and say then
    if class == "auth" then
      io.stderr:write(("sssh: authentication failed for %s%s - not retrying (check the key and user)\n")
        :format(cfg.user and (cfg.user .. "@") or "", target))
    elseif class == "hostkey" then
      io.stderr:write(("sssh: host key verification failed for %s - not retrying (unknown or changed host key)\n")
        :format(target))
    elseif class == "dns_permanent" then
      io.stderr:write(("sssh: cannot resolve host name %s - not retrying\n"):format(host))
    elseif result.stop_reason == "max_attempts" then
      io.stderr:write(("sssh: gave up on %s after %d attempts\n"):format(target, attempts))
    elseif result.stop_reason == "deadline" then
      io.stderr:write(("sssh: gave up on %s after %d s\n"):format(target, math.floor(out_for())))
    end
  end
  -- Ctrl-C during a run: ssh says 255 ("Killed by signal 2"), we say 130
  local int = result.interrupted
  if not int and (result.stop_reason == "SIGINT" or result.stop_reason == "SIGQUIT") then
    int = result.stop_reason
  end
  if int and code == 255 then code = signal_status[int] end
  exit(code)
end

local ok, err = pcall(main)
if not ok then
  if tostring(err):find("interrupted!", 1, true) then exit(130) end
  die(tostring(err), 255)
end
