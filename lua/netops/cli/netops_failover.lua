--- netops-failover: what keepalived calls on every VRRP state change (the
-- runtime is netops.failover); `status` shows what the calls did, `doctor`
-- checks a firewall pair's configuration, `--print-policy` prints the
-- default policy.
local cli = require "netops.cli"
local core = require "netops.core"
local json = require "dkjson"
local failover = require "netops.failover"
local history = require "netops.failover.history"

local doctor_mod = require "netops.failover.doctor"

local M = {}

M.DEFAULT_METRICS_DIR = "/var/lib/prometheus/node-exporter"

local parser = cli.parser("netops-failover",
  "What keepalived calls on every VRRP state change: runs the failover policy's steps "
  .. "(commit, resync, ...), one call at a time in arrival order, logs each one and records "
  .. "it for `status` and for Prometheus (node_exporter's textfile collector).",
  [[keepalived.conf: notify_master "/usr/local/bin/netops-failover primary" (and
notify_backup, notify_fault), or one generic `notify "/usr/local/bin/netops-failover"`.
Logs go to syslog (journalctl -t netops-failover), and to stderr as well when
stderr is a terminal.  After every call the state file (--state-dir) and the
metrics file netops_failover.prom (--metrics-dir) are replaced atomically.
Exit status: 0 all steps ok (or superseded by a later call); 1 a step failed,
the queue wait ran out, or status/doctor found a problem; 2 a usage error or a
refused policy; 128+N a signal N ended the wait in the queue.]])
  :usage([[Usage: netops-failover [options] primary|backup|fault
       netops-failover [options] INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY
       netops-failover status [--json] [-n N] [--state-dir DIR]
       netops-failover doctor [--conntrackd FILE] [--keepalived FILE]
                              [--socket PATH] [--ruleset FILE] [--json]
       netops-failover --print-policy]])
parser:argument("args", "keepalived's arguments, or status, or doctor."):args("*")
parser:option("--policy", "Handlers to run (default " .. failover.DEFAULT_POLICY
  .. " if it exists, else the shipped default policy: see --print-policy)."):argname("<file>")
parser:option("--socket", "conntrackd's control socket (default /var/run/conntrackd.ctl)."):argname("<path>")
parser:option("--timeout", "Per conntrackd request (default 60)."):argname("<seconds>")
parser:option("--log", "Where steps are logged: syslog (default), stderr or a file."):argname("<where>")
parser:option("--lock", "Lock/queue file (default " .. failover.DEFAULT_LOCK .. ")."):argname("<path>")
parser:option("--wait", "Longest wait for earlier calls (default 120)."):argname("<seconds>")
parser:option("--conntrackd-config --conntrackd", "Lets the backup handler start conntrackd if it is down; "
  .. "doctor: the conntrackd.conf to check."):argname("<file>")
parser:option("--keepalived-config --keepalived",
  "doctor: the keepalived.conf to check (default /etc/keepalived/keepalived.conf)."):argname("<file>")
parser:option("--ruleset", "doctor: nftables or iptables-save text (default: the live ruleset)."):argname("<file>")
parser:option("--state-dir", "Where the history and counters are kept (default "
  .. history.DEFAULT_DIR .. ")."):argname("<dir>")
parser:option("--metrics-dir", "Where netops_failover.prom is written (default " .. M.DEFAULT_METRICS_DIR
  .. ", when it exists)."):argname("<dir>")
parser:flag("--no-metrics", "Write no metrics file.")
parser:flag("--print-policy", "Print the default failover policy (to copy to " .. failover.DEFAULT_POLICY .. ").")
parser:flag("--json", "status, doctor: the same data as JSON.")
parser:option("-n", "status: how many of the last calls to show (default 10).", nil):argname("<N>")

--- The option parser (the Makefile generates the bash completion from it).
function M.parser() return parser end

local function readable(path)
  local f = path and io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function is_dir(path)
  local ok, lfs = pcall(require, "lfs")
  if ok and type(lfs) == "table" then return lfs.attributes(path, "mode") == "directory" end
  return readable(path .. "/.")
end

--- The shipped default policy's file: examples/primary-backup.lua of the
-- checkout this module is in, else the installed netops.policies.primary_backup.
function M.shipped_policy()
  local here = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
  local p = here .. "../../../examples/primary-backup.lua"
  if readable(here .. "../../netops/init.lua") and readable(p) then return p end
  return package.searchpath("netops.policies.primary_backup", package.path)
end

-- The command line, checked: the options, or nil and the exit status.
local function options(args)
  local o, status = cli.parse(parser, args)
  if not o then return nil, status end
  for _, k in ipairs { "timeout", "wait" } do
    if o[k] ~= nil then
      local n = tonumber(o[k])
      if not n or n < 0 or n > 86400 then
        return nil, cli.usage_error(parser, "--" .. k .. " needs a number of seconds")
      end
      o[k] = n
    end
  end
  o.mode = (o.args[1] == "status" or o.args[1] == "doctor") and o.args[1] or (o.print_policy and "print" or "call")
  if o.n ~= nil then
    local n = math.tointeger(tonumber(o.n))
    if not n or n < 1 then return nil, cli.usage_error(parser, "-n needs a number of calls (1 or more)") end
    o.n = n
  end
  if o.mode ~= "call" and o.print_policy and o.mode ~= "print" then
    return nil, cli.usage_error(parser, "--print-policy goes alone")
  end
  if o.mode == "print" and #o.args > 0 then return nil, cli.usage_error(parser, "--print-policy takes no arguments") end
  if (o.mode == "status" or o.mode == "doctor") and #o.args > 1 then
    return nil, cli.usage_error(parser, o.mode .. " takes options only")
  end
  if o.mode ~= "status" and o.n then return nil, cli.usage_error(parser, "-n goes with status") end
  if o.mode ~= "status" and o.mode ~= "doctor" and o.json then
    return nil, cli.usage_error(parser, "--json goes with status or doctor")
  end
  if o.no_metrics and o.metrics_dir then
    return nil, cli.usage_error(parser, "--no-metrics and --metrics-dir do not mix")
  end
  return o
end

-- Status ---------------------------------------------------------------------

local function when(t) return t and os.date("!%Y-%m-%d %H:%M:%S UTC", t) or "?" end
local function ms(s) return s and string.format("%.1f ms", s * 1000) or "?" end

local function who(e)
  local printable = require("netops.proc").printable
  return e.kind and (e.kind .. " " .. printable(e.name) .. " ") or ""
end

local function status_text(st, path, shown)
  local out = { "state file " .. path }
  if #st.current == 0 then out[#out + 1] = "no call recorded yet" end
  for _, c in ipairs(st.current) do
    out[#out + 1] = string.format("%s%s since %s (call #%s)", who(c), c.state:upper(), when(c.since),
                                  tostring(c.ticket))
  end
  local c, t = st.counters, {}
  for _, s in ipairs(history.STATES) do t[#t + 1] = s .. " " .. (c.transitions[s] or 0) end
  local f = {}
  for name, n in pairs(c.step_failures) do if n > 0 then f[#f + 1] = name .. " " .. n end end
  table.sort(f)
  out[#out + 1] = "transitions: " .. table.concat(t, ", ") .. "; superseded " .. c.superseded
    .. "; failed steps: " .. (#f > 0 and table.concat(f, ", ") or "none")
  if st.committed then
    out[#out + 1] = string.format("last commit: %d entries, %s", st.committed.entries, when(st.committed.time))
  end
  if #shown > 0 then out[#out + 1] = string.format("last %d call(s), oldest first:", #shown) end
  for _, e in ipairs(shown) do
    local what
    if e.result == "superseded" then
      what = string.format("superseded by %s (call #%d): nothing done", e.superseded_by.state:upper(),
                           e.superseded_by.ticket)
    elseif e.result == "ok" or e.result == "failed" then
      what = string.format("%s in %s", e.result == "ok" and "ok" or "FAILED", ms(e.duration))
    else
      what = e.result .. ": " .. tostring(e.message)
    end
    out[#out + 1] = string.format("%s  call #%d pid %d  %s%s  %s, waited %s", when(e.time), e.ticket, e.pid,
                                  who(e), e.state:upper(), what, ms(e.waited))
    for _, s in ipairs(e.steps or {}) do
      out[#out + 1] = string.format("    step %s %s in %s%s", s.name, s.ok and "ok" or "FAILED", ms(s.seconds),
                                    s.message and (": " .. s.message) or "")
    end
    if e.committed then out[#out + 1] = string.format("    committed %d entries", e.committed) end
  end
  return table.concat(out, "\n") .. "\n"
end

local function status(o)
  local st, err, path = history.read(o.state_dir)
  if not st then io.stderr:write("netops-failover: ", err, "\n"); return 1 end
  local n = o.n or 10
  local shown = table.move(st.history, math.max(1, #st.history - n + 1), #st.history, 1, {})
  if o.json then
    io.stdout:write(json.encode({ state_file = path, current = st.current, counters = st.counters,
                                  committed = st.committed, last_run = st.last_run, history = shown },
                                { indent = true, keyorder = { "state_file", "current", "counters", "committed",
                                                              "last_run", "history" } }), "\n")
  else
    io.stdout:write(status_text(st, path, shown))
  end
  return 0
end

-- Doctor ---------------------------------------------------------------------

local function doctor(o)
  local results, status = doctor_mod.run { keepalived = o.keepalived_config,
    conntrackd = o.conntrackd_config, ruleset = o.ruleset, socket = o.socket }
  io.stdout:write(doctor_mod.render(results, { json = o.json }))
  return status
end

-- A call from keepalived -------------------------------------------------------

local function logger(where)
  local log = failover.logger(where)
  if where == "stderr" or not core.isatty(2) then return log, false end
  -- by hand on a terminal: also on stderr (syslog may go nowhere)
  local also = failover.logger("stderr")
  return function(level, msg) log(level, msg); also(level, msg) end, true
end

local function call(o)
  local _, err = failover.parse_args(o.args)
  if err then return cli.usage_error(parser, err) end
  if not o.policy then
    if readable(failover.DEFAULT_POLICY) then
      o.policy = failover.DEFAULT_POLICY
    else
      o.policy = M.shipped_policy()
      if not o.policy then
        io.stderr:write("netops-failover: no --policy given, ", failover.DEFAULT_POLICY, " does not exist, ",
                        "and the default policy netops.policies.primary_backup is not installed\n")
        return 2
      end
    end
  end
  local metrics_dir = o.metrics_dir
  if not metrics_dir and not o.no_metrics and is_dir(M.DEFAULT_METRICS_DIR) then
    metrics_dir = M.DEFAULT_METRICS_DIR
  end
  local where = o.log or "syslog"
  local log, teed = logger(where)
  local code, msg = failover.run {
    args = o.args, policy_path = o.policy, socket = o.socket, timeout = o.timeout or 60, lock = o.lock,
    wait = o.wait, conntrackd_config = o.conntrackd_config, log = log,
    state_dir = o.state_dir or history.DEFAULT_DIR, metrics_dir = metrics_dir,
  }
  if code ~= 0 and where ~= "stderr" and not teed then
    io.stderr:write("netops-failover: ", tostring(msg), "\n")
  end
  return code
end

--- The command: exit status.
function M.main(args)
  local o, status_code = options(args)
  if not o then return status_code end
  if o.mode == "print" then
    local path = M.shipped_policy()
    local f = path and io.open(path, "rb")
    if not f then
      io.stderr:write("netops-failover: the default policy netops.policies.primary_backup is not installed\n")
      return 1
    end
    io.stdout:write(f:read("a"))
    f:close()
    return 0
  elseif o.mode == "status" then
    return status(o)
  elseif o.mode == "doctor" then
    return doctor(o)
  end
  return call(o)
end

return M
