--- sssh: sticky ssh.
--
--   sssh [sssh options] [--] <ssh arguments>
--
-- Runs ssh; while the target is down it waits with cheap TCP probes and
-- starts ssh the moment the port accepts; reconnects after a dropped
-- session; stops at once on an authentication, host key or DNS failure and
-- on any status of the remote command.  Exits with ssh's status.
local cli = require "netops.cli"
local netops = require "netops"
local retry = require "netops.retry"
local core = netops.core

local M = {}

local parser = cli.parser("sssh",
  "Sticky ssh: runs ssh, waits with TCP probes while the target is down, reconnects "
  .. "after a dropped session.",
  [[Everything that is not an sssh option goes to ssh as it is (ssh has no --long
option: an unknown one is a usage error); after "--", or once ssh's remote
command begins, nothing more is read as an sssh option.
Exit status: ssh's (128+n if ssh was killed by signal n); 130 when
interrupted while waiting (143 SIGTERM, 129 SIGHUP); 255 when giving up;
2 a usage error or a refused policy file.]])
  :usage("Usage: sssh [-q] [--max-wait <s>] [--max-attempts <n>] [--interval <s>]\n"
      .. "            [--probe-interval <s>] [--probe-timeout <s>] [--no-probe]\n"
      .. "            [--policy <file>] [--ssh <path>] [--] <ssh arguments>")
parser:flag("-q", "No status line.")
parser:option("--max-wait", "Give up once the target has been out of reach for S seconds "
  .. "(default: never)."):argname("<s>")
parser:option("--max-attempts", "Give up after N ssh runs (default: no limit)."):argname("<n>")
parser:option("--interval", "First delay between ssh runs that reached the host (default 1)."):argname("<s>")
parser:option("--probe-interval", "Delay between TCP probes while the host is down (default 0.05).")
  :argname("<s>")
parser:option("--probe-timeout", "Connect timeout of one probe (default 2; doubled, up to 8 s, "
  .. "while the host does not answer at all)."):argname("<s>")
parser:option("--policy", "A Lua file returning a retry policy function."):argname("<file>")
parser:option("--ssh", "The real ssh (default: $SSSH_SSH, else the first ssh in PATH that is "
  .. "not sssh itself)."):argname("<path>")
parser:flag("--no-probe", "Retry ssh itself instead of probing.")

--- sssh's own options (its completion is doc/completion/sssh: ssh's, with these).
function M.parser() return parser end

-- A non-local exit from deep inside a run (retry.run's callbacks): thrown,
-- so that every frame on the way out cleans up (retry.run removes its ssh
-- log), and caught by main, which returns the code.
local Exit = {}
local function exit(code) error(setmetatable({ code = code }, Exit), 0) end
local function die(msg, code)
  io.stderr:write("sssh: ", msg, "\n")
  exit(code or 2)
end

-- ------------------------------------------------------ the command line
-- sssh's own options go to argparse, everything else to ssh, read the way
-- ssh reads it: its options (those in SSH_ARG take a value, glued or the
-- next word), the destination, more options, then the remote command,
-- which is never looked at.  `-q` and `-h` are sssh's before the first
-- ssh argument (ssh's -q after it); ssh has no --long option, so every
-- --word before the command is sssh's (argparse refuses an unknown one).
-- A `--` ends sssh's options: dropped when it comes first (sssh's
-- separator), passed on to ssh after an ssh argument (ssh's).
local SSH_ARG = {}
for c in ("BbcDEeFIiJLlmOopQRSWw"):gmatch(".") do SSH_ARG[c] = true end
local TAKES_VALUE = {}
for _, o in ipairs { "--max-wait", "--max-attempts", "--interval", "--probe-interval",
                     "--probe-timeout", "--policy", "--ssh" } do
  TAKES_VALUE[o] = true
end

local function split(args)
  local own, ssh = {}, {}
  local i, n, dest = 1, #args, false
  while i <= n do
    local a = args[i]
    if a == "--" then
      if #ssh > 0 then ssh[#ssh + 1] = a end
      i = i + 1
      break
    elseif (a == "-q" or a == "-h") and #ssh == 0 then
      own[#own + 1] = a
    elseif a:sub(1, 2) == "--" then
      own[#own + 1] = a
      if TAKES_VALUE[a] and i < n then own[#own + 1] = args[i + 1]; i = i + 1 end
    elseif a:sub(1, 1) == "-" and #a > 1 then
      ssh[#ssh + 1] = a
      for j = 2, #a do
        if SSH_ARG[a:sub(j, j)] then
          if j == #a and i < n then ssh[#ssh + 1] = args[i + 1]; i = i + 1 end
          break
        end
      end
    elseif not dest then
      dest = true
      ssh[#ssh + 1] = a
    else
      break                   -- the remote command: ssh's, as it is
    end
    i = i + 1
  end
  for j = i, n do ssh[#ssh + 1] = args[j] end
  return own, ssh
end

--- The options, checked: a table, or nil and the exit status.
local function options(args)
  local own, ssh_args = split(args)
  local o, status = cli.parse(parser, own)
  if not o then return nil, status end
  local opt = { quiet = o.q, probe = not o.no_probe, policy_file = o.policy, ssh = o.ssh,
                interval = 1, probe_interval = 0.05, probe_timeout = 2 }
  for _, name in ipairs { "max_wait", "interval", "probe_interval", "probe_timeout" } do
    if o[name] then
      local v = tonumber(o[name])
      if not v or v < 0 or v ~= v or v > 1e9 then
        return nil, cli.usage_error(parser, "--" .. name:gsub("_", "-") .. ": a number of seconds expected")
      end
      opt[name] = v
    end
  end
  if o.max_attempts then
    local n = math.tointeger(tonumber(o.max_attempts))
    if not n or n < 1 then return nil, cli.usage_error(parser, "--max-attempts: a positive integer expected") end
    opt.max_attempts = n
  end
  if #ssh_args == 0 then return nil, cli.usage_error(parser, "no ssh arguments") end
  return opt, ssh_args
end

-- ------------------------------------------------------ running as ssh
-- Every ssh sssh starts has GUARD="<sssh's pid> <depth> <that ssh>" in its
-- environment.  A sssh that finds it was started as an ssh: by the sssh
-- named there (its parent; the ssh it chose is a wrapper of sssh) it stops
-- at once; by anything else, such as the real ssh running a ProxyCommand
-- "ssh -W %h:%p jump" while sssh is installed as ssh, it runs that real ssh
-- once, as plain ssh.  The depth bounds wrappers that do not exec.
local GUARD, MAX_DEPTH = "SSSH_GUARD", 8
local function self_ids()
  local f = io.open("/proc/self/stat", "r")
  local stat = f and f:read("l") or ""
  if f then f:close() end
  local pid, ppid = stat:match("^(%d+) .*%) %S+ (%d+)")
  return tonumber(pid), tonumber(ppid)
end

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
  env[#env + 1] = ("%s=%d %d %s"):format(GUARD, (self_ids()) or 0, depth, ssh)
  return env
end

--- Started as an ssh by a sssh: stops, or runs the real ssh once.
local function as_ssh(guard, args)
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
  local argv = { ssh, table.unpack(args) }
  local proc, err = core.spawn(argv, { env = guarded(ssh, depth + 1) })
  if not proc then die(err, 255) end
  local r = proc:wait()
  proc:close()
  return r.status == "exited" and r.code or 128 + (r.signal or 0)
end

-- ------------------------------------------------------------- which ssh
-- sssh may be installed under the name "ssh" (a copy, a symlink, a shell
-- wrapper that runs it).  Each PATH candidate is opened, following
-- symlinks, and skipped when it is an sssh launcher (the launcher every
-- netops command shares, with NAME "sssh": these two lines) or a wrapper
-- naming the path of the launcher running now.  Beyond what that can see
-- (a wrapper of a wrapper), every ssh sssh starts gets GUARD in its
-- environment (see guarded above).
local LAUNCHER = { '\nlocal NAME = "sssh"\n', '\nreturn assert(loadfile(file))(NAME, file)\n' }
local HEAD = 16384
local function head_of(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local head = f:read(HEAD) or ""
  f:close()
  return head
end
local function is_launcher(head)
  if not head then return false end
  for _, line in ipairs(LAUNCHER) do
    if not head:find(line, 1, true) then return false end
  end
  return true
end
-- The launcher running this sssh (arg[0]) when it is one and its path is
-- absolute, as a wrapper would name it; nil in-process (busted's arg[0]).
local function launcher_path()
  local p = type(arg) == "table" and arg[0]
  if type(p) == "string" and p:sub(1, 1) == "/" and is_launcher(head_of(p)) then return p end
end
local function is_sssh(path, self)
  local head = head_of(path)
  return is_launcher(head) or (self ~= nil and head ~= nil and head:find(self, 1, true) ~= nil)
end

local function find_ssh(opt)
  local self = launcher_path()
  local want = opt.ssh or os.getenv("SSSH_SSH")
  if want and want ~= "" and want:find("/") then
    if is_sssh(want, self) then die(want .. " is sssh itself; name the real ssh with --ssh") end
    return want
  end
  local name = want and want ~= "" and want or "ssh"
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local p = dir .. "/" .. name
    local f = io.open(p, "r")
    if f then
      f:close()
      if not is_sssh(p, self) then return p end
    end
  end
  die("no " .. name .. " found in PATH (other than sssh itself); use --ssh PATH", 255)
end

-- ------------------------------------------------------------ reasons
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
-- Failures where the port itself is the problem: probing paces them.
local probe_paced = { refused = true, unreachable = true, timeout = true, dns_transient = true }
local signal_status = { SIGINT = 130, SIGTERM = 143, SIGHUP = 129, SIGQUIT = 131 }

-- -------------------------------------------------------------- a run
-- One sssh run: its state lives in this closure.
local function session(opt, SSH, ssh_args)
  -- `ssh -G` prints the resolved configuration without connecting.
  local function ssh_config()
    local argv = { SSH, "-G", table.unpack(ssh_args) }
    local out = io.tmpfile()
    local proc, err = core.spawn(argv, { stdout = out, stderr = "capture", stdin = "null", env = guarded(SSH, 1) })
    if not proc then out:close() die(err, 255) end
    local r = proc:wait()
    proc:close()
    if r.status ~= "exited" or r.code ~= 0 then
      out:close()
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

  -- the status line
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

  local policy = retry.policies.ssh
  if opt.policy_file then
    local fn, err = retry.load_policy(opt.policy_file)
    if not fn then die(err, 2) end
    policy = fn
  end

  -- When the current outage began (nil while sessions work): the status line,
  -- the probe pace and --max-wait count from it, so a session that ran for
  -- hours before dropping reconnects as fast as the first time.
  local outage
  local function out_for() return core.monotime() - (outage or core.monotime()) end

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
  local result, attempts = first_look(), 0
  if not result then
    result, attempts = retry.run{
      argv = { SSH, table.unpack(ssh_args) },
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
    return signal_status[result.signal_name] or 130
  elseif result.status == "gave_up" then
    if say then
      io.stderr:write(("sssh: gave up on %s after %d s - %s\n")
        :format(target, math.floor(out_for()), result.reason))
    end
    return 255
  end
  -- a signal in retry.run's delay between ssh runs (none was running, so
  -- none was forwarded or shared): sssh was waiting, like in the probes
  local sig = result.stop_reason
  if signal_status[sig] and not result.forwarded and not result.interrupted then
    return signal_status[sig]
  end
  local code = result.status == "exited" and result.code or 128 + (result.signal or 0)
  if code == 255 and say then
    if last_class == "auth" then
      io.stderr:write(("sssh: authentication failed for %s%s - not retrying (check the key and user)\n")
        :format(cfg.user and (cfg.user .. "@") or "", target))
    elseif last_class == "hostkey" then
      io.stderr:write(("sssh: host key verification failed for %s - not retrying (unknown or changed host key)\n")
        :format(target))
    elseif last_class == "dns_permanent" then
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
  return code
end

local function run(args)
  local guard = os.getenv(GUARD)
  if guard and guard ~= "" then return as_ssh(guard, args) end
  local opt, ssh_args = options(args)
  if not opt then return ssh_args end
  return session(opt, find_ssh(opt), ssh_args)
end

--- sssh's command line (without the program name) -> exit status.
function M.main(args)
  local ok, res = pcall(run, args)
  if ok then return res end
  if getmetatable(res) == Exit then return res.code end
  if tostring(res):find("interrupted!", 1, true) then return 130 end
  io.stderr:write("sssh: ", tostring(res), "\n")
  return 255
end

return M
