--- failover-tester: force failovers on a firewall pair and measure them.
-- Restarts keepalived on each host in turn (through ssh, argv only) at
-- random intervals and counts the restarts that failed; with --probe
-- HOST:PORT it connects to a service behind the pair every --probe-interval
-- seconds for the whole loop and reports, for each failover, the longest
-- time no connection got through, then min/median/max over the run.
local cli = require "netops.cli"
local netops = require "netops"
local core = require "netops.core"

local M = {}

local parser = cli.parser("failover-tester",
  "Restart keepalived on each firewall in turn, count the failovers and measure the stalls.",
  [[Each failover runs `SSH -o BatchMode=yes USER@HOST -- COMMAND` on the next
host, in turn, then waits a random time between --min and --max seconds.
With --probe, a TCP connect to HOST:PORT (through the firewall pair) starts
every --probe-interval seconds, each given --probe-timeout seconds, from before
the first failover until 5 s after the last one (and until a connect gets
through, at most 60 s more).  A failover's stall is the longest time between
two connects that got through, the later one after that failover began and
before the next one did; its resolution is the probe interval.
Exit status: 0 every restart worked (and, with --probe, connections came back
after each failover); 1 some restart failed, the probe never got through
before the first failover, or did not come back after one; 2 a usage error.]])
  :usage("Usage: failover-tester [options] --hosts H1,H2,... | HOST...")
parser:argument("host", "Firewalls to restart in turn (also --hosts)."):args("*")
parser:option("--hosts", "Firewalls to restart in turn, comma-separated."):argname("<h1,h2,...>")
parser:option("--user", "ssh user (default root)."):argname("<user>")
parser:option("--min", "Shortest wait between restarts, seconds (default 61)."):argname("<s>")
parser:option("--max", "Longest wait between restarts, seconds (default 120)."):argname("<s>")
parser:option("--count", "Number of forced failovers (default 10)."):argname("<n>")
parser:option("--command", 'Remote command (default "systemctl restart keepalived").'):argname("<words>")
parser:option("--ssh", "ssh program (default ssh)."):argname("<path>")
parser:option("--probe", "Measure stalls with TCP connects to HOST:PORT ([ADDR]:PORT for IPv6)."):argname("<host:port>")
parser:option("--probe-interval", "Seconds between probe connects (default 0.05)."):argname("<s>")
parser:option("--probe-timeout", "Seconds each probe connect may take (default 0.5)."):argname("<s>")
parser:flag("--dry-run", "Print what would run; do not sleep, connect or probe.")

--- The option parser (the Makefile generates the bash completion from it).
function M.parser() return parser end

local function number(o, name, default, min)
  local v = o[name:gsub("%-", "_")]
  if v == nil then return default end
  local n = tonumber(v)
  if not n or n ~= n or n < min or n == math.huge then
    return nil, string.format("--%s: %s is not a number >= %g", name, v, min)
  end
  return n
end

--- HOST:PORT or [ADDR]:PORT -> host, port; or nil, message.
function M.parse_probe(s)
  local host, port = s:match("^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:%[%]]+):(%d+)$") end
  if not host then
    return nil, "--probe: " .. s .. " is not HOST:PORT (an IPv6 address as [ADDR]:PORT)"
  end
  local n = tonumber(port)
  if n < 1 or n > 65535 then return nil, "--probe: port " .. port .. " is not 1..65535" end
  return host, port
end

--- The command line, checked: the options, or nil and the exit status.
local function options(args)
  local o, status = cli.parse(parser, args)
  if not o then return nil, status end
  local err
  o.min, err = number(o, "min", 61, 0); if err then return nil, cli.usage_error(parser, err) end
  o.max, err = number(o, "max", 120, 0); if err then return nil, cli.usage_error(parser, err) end
  o.count, err = number(o, "count", 10, 0); if err then return nil, cli.usage_error(parser, err) end
  o.interval, err = number(o, "probe-interval", 0.05, 0.001); if err then return nil, cli.usage_error(parser, err) end
  o.ptimeout, err = number(o, "probe-timeout", 0.5, 0.001); if err then return nil, cli.usage_error(parser, err) end
  if o.max < o.min then return nil, cli.usage_error(parser, "--max is below --min") end
  if o.count ~= math.floor(o.count) then return nil, cli.usage_error(parser, "--count: not a whole number") end
  o.hostlist = {}
  for h in (o.hosts or ""):gmatch("[^,%s]+") do o.hostlist[#o.hostlist + 1] = h end
  for _, h in ipairs(o.host) do o.hostlist[#o.hostlist + 1] = h end
  if #o.hostlist == 0 then
    return nil, cli.usage_error(parser, "no hosts given (--hosts H1,H2 or HOST...)")
  end
  if o.probe then
    o.probe_host, o.probe_port = M.parse_probe(o.probe)
    if not o.probe_host then return nil, cli.usage_error(parser, o.probe_port) end
  end
  o.user = o.user or "root"
  o.ssh = o.ssh or "ssh"
  o.remote = {}
  for w in (o.command or "systemctl restart keepalived"):gmatch("%S+") do o.remote[#o.remote + 1] = w end
  if #o.remote == 0 then return nil, cli.usage_error(parser, "--command is empty") end
  return o
end

-- The probe: connects every `interval` seconds; oks = the times (monotonic)
-- at which a connect got through.
local Probe = {}
Probe.__index = Probe

local function new_probe(o)
  return setmetatable({ host = o.probe_host, port = o.probe_port, interval = o.interval,
                        timeout = o.ptimeout, oks = {}, tries = 0, fails = 0, next = 0 }, Probe)
end

--- One connect if it is due; returns the signal name if one interrupted it.
function Probe:tick()
  local t = core.monotime()
  if t < self.next then return nil end
  self.next = t + self.interval
  self.tries = self.tries + 1
  local ok, msg, class, sig = netops.probe(self.host, self.port, { timeout = self.timeout })
  if ok then
    self.oks[#self.oks + 1] = core.monotime()
  elseif class == "interrupted" then
    return sig or "signal"
  else
    self.fails = self.fails + 1
    self.last_error = msg
  end
end

--- Probe (when p) until `deadline`, or until `done()` says so; returns the
-- name of a signal that interrupted, if one did.
local function pass(p, deadline, done)
  while true do
    local t = core.monotime()
    if (done and done()) or t >= deadline then return nil end
    local why = p and p:tick()
    if why then return why end
    t = core.monotime()
    local wake = math.min(deadline, p and p.next or deadline)
    if wake > t and not (done and done()) then
      why = core.sleep(math.min(wake - t, done and 0.05 or math.huge))
      if type(why) == "string" then return why end
    end
  end
end

--- The longest gap between two successive `oks` whose later one is in
-- (from, to]; nil when no connect got through in it.
function M.stall(oks, from, to)
  local best
  for k = 2, #oks do
    if oks[k] > from and oks[k] <= to then best = math.max(best or 0, oks[k] - oks[k - 1]) end
  end
  return best
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function ms(s) return string.format("%.0f ms", s * 1000) end

-- One restart through ssh, probing meanwhile; true, or nil and the reason;
-- and the name of a signal that interrupted the probing.
local function restart(argv, p)
  local proc, err = netops.spawn(argv, { stderr = "tee" })
  if not proc then return nil, tostring(err) end
  local deadline = core.monotime() + 120
  local r, why, werr
  if p then
    why = pass(p, deadline, function()
      r, werr = proc:wait(0)
      return not r or r.status ~= "timeout"
    end)
  end
  if r and r.status == "timeout" or not (r or werr) then
    r, werr = proc:wait(why and 0 or math.max(0, deadline - core.monotime()))
  end
  proc:close()
  if not r then return nil, tostring(werr), why end
  if r.status == "exited" and r.code == 0 then return true, nil, why end
  return nil, r.status == "timeout" and "no result in 120 s" or (r.status .. " " .. tostring(r.code or r.signal)), why
end

function M.main(args)
  local o, status = options(args)
  if not o then return status end
  local p = o.probe and not o.dry_run and new_probe(o) or nil
  math.randomseed(os.time())
  local out = io.stdout
  local done, failed, bad_probe = 0, 0, 0
  local t0 = core.monotime()
  if p then
    -- a baseline: the probe must get through before anything is restarted
    pass(p, core.monotime() + 5, function() return #p.oks > 0 end)
    if #p.oks == 0 then
      io.stderr:write("failover-tester: probe ", o.probe, ": nothing got through in 5 s (",
                      tostring(p.last_error), ")\n")
      return 1
    end
    out:write(string.format("probe %s: connects get through, one every %g s\n", o.probe, o.interval))
  end
  local starts, interrupted = {}, nil
  for n = 1, o.count do
    local host = o.hostlist[(n - 1) % #o.hostlist + 1]
    local argv = { o.ssh, "-o", "BatchMode=yes", o.user .. "@" .. host, "--" }
    for _, w in ipairs(o.remote) do argv[#argv + 1] = w end
    out:write(string.format("[%s] failover %d: restarting keepalived on %s\n", os.date("!%H:%M:%S"), n, host))
    out:flush()
    starts[n] = core.monotime()
    if o.dry_run then
      out:write("  would run: " .. table.concat(argv, " ") .. "\n")
      if o.probe then out:write("  would probe " .. o.probe .. "\n") end
      done = done + 1
    else
      local ok, why, sig = restart(argv, p)
      if ok then done = done + 1 else
        failed = failed + 1
        out:write("  FAILED: " .. why .. "\n")
      end
      interrupted = sig
    end
    if interrupted then break end
    if n < o.count then
      local period = o.min + math.random() * (o.max - o.min)
      out:write(string.format("  next in %.0f s\n", period))
      out:flush()
      if not o.dry_run then interrupted = pass(p, core.monotime() + period) end
    elseif p then
      -- after the last failover: 5 s more, and until a connect gets through (60 s at most)
      local last = starts[n]
      local limit = core.monotime() + 60
      interrupted = pass(p, core.monotime() + 5)
      if not interrupted then interrupted = pass(p, limit, function() return p.oks[#p.oks] > last end) end
    end
    if interrupted then break end
  end
  if interrupted then out:write("  interrupted (" .. interrupted .. ")\n") end
  if p then
    local stalls, t_end = {}, core.monotime()
    for n, s in ipairs(starts) do
      local st = M.stall(p.oks, s, starts[n + 1] or t_end)
      if st then
        stalls[#stalls + 1] = st
        out:write(string.format("  failover %d: probe stall %s\n", n, ms(st)))
      else
        bad_probe = bad_probe + 1
        out:write(string.format("  failover %d: probe got no connection through for %s after it began (%s)\n",
                                n, ms(t_end - s), tostring(p.last_error)))
      end
    end
    if #stalls > 0 then
      out:write(string.format("probe %s: stall min %s, median %s, max %s over %d failovers; "
        .. "%d connects, %d failed\n", o.probe, ms(math.min(table.unpack(stalls))), ms(median(stalls)),
        ms(math.max(table.unpack(stalls))), #stalls, p.tries, p.fails))
    end
  end
  out:write(string.format("summary: %d failovers forced, %d failed, %.0f s, hosts %s\n", done, failed,
                          core.monotime() - t0, table.concat(o.hostlist, ", ")))
  out:flush()
  return (failed == 0 and bad_probe == 0) and 0 or 1
end

return M
