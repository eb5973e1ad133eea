--- netops.failover: the runtime behind `netops-failover`, the command that
-- keepalived calls on every VRRP state change.
--
-- * parse_args(args): both call shapes, `primary|backup|fault` (notify_master
--   "... primary") and the generic notify `INSTANCE|GROUP NAME STATE PRIORITY`.
-- * load_policy(path): an operator-editable Lua file returning handlers
--   { master =, backup =, fault =, stop = }; refused unless root (or the
--   caller) alone can change it and the directories above it.
-- * run(opts): runs the handler under an exclusive lock, in arrival order
--   (the queue: netops.failover.queue); a call whose state was superseded by
--   a later call does nothing.  Every step is logged with its duration and
--   result (netops.failover.log), and recorded in the state file and the
--   metrics file (netops.failover.history, netops.failover.metrics).
-- * doctor(opts) and its parsers: netops.failover.doctor.
-- @module netops.failover
local core = require "netops.core"
local logger = require "netops.failover.log"
local queue = require "netops.failover.queue"
local doctor = require "netops.failover.doctor"
local history = require "netops.failover.history"
local metrics = require "netops.failover.metrics"

local M = {}

M.DEFAULT_LOCK = "/run/netops-failover.lock"
M.DEFAULT_POLICY = "/etc/netops/failover-policy.lua"

local shape1 = { primary = "master", master = "master", backup = "backup", fault = "fault",
                 stop = "stop" }
local shape2 = { MASTER = "master", BACKUP = "backup", FAULT = "fault", STOP = "stop",
                 DELETED = "stop" }

--- Parse keepalived's arguments.  Returns { state =, kind =, name =,
-- priority = } or nil, usage message.
function M.parse_args(args)
  if #args == 1 and shape1[args[1]] then
    return { state = shape1[args[1]], kind = nil, name = nil, priority = nil, given = args[1] }
  end
  if #args == 4 and (args[1] == "INSTANCE" or args[1] == "GROUP") and shape2[args[3]] then
    local prio = math.tointeger(tonumber(args[4]))
    if prio and prio >= 0 and prio <= 255 and args[2] ~= "" then
      return { state = shape2[args[3]], kind = args[1], name = args[2], priority = prio,
               given = args[3] }
    end
  end
  return nil, "expected `primary|backup|fault` (notify_master/notify_backup/notify_fault) or "
    .. "`INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY` (notify), got: "
    .. (#args == 0 and "nothing" or table.concat(args, " "))
end

--- Load a policy file.  Returns the handler table or nil, message.
function M.load_policy(path)
  -- core.load_trusted: the one loader of policies (sssh's and retry's too)
  local env = setmetatable({}, { __index = _G })
  local chunk, err = core.load_trusted(path, env)
  if not chunk then return nil, "policy " .. err end
  local ok, pol = pcall(chunk)
  if not ok then return nil, "policy " .. path .. ": " .. tostring(pol) end
  if type(pol) ~= "table" then
    return nil, "policy " .. path .. " must return a table of handlers { master =, backup =, fault =, stop = }"
  end
  for k, v in pairs(pol) do
    if type(v) ~= "function" and (k == "master" or k == "backup" or k == "fault" or k == "stop") then
      return nil, "policy " .. path .. ": handler " .. k .. " is not a function"
    end
  end
  return pol
end

--- A logger: where = "syslog" | "stderr" | a file path (appended).
M.logger = logger.logger

--- Take a ticket in the queue of the lock file at lockpath; wait for our
-- turn (netops.failover.queue).
M.enqueue = queue.enqueue
M.done = queue.done

local function fmt_ms(s) return string.format("%.1f ms", s * 1000) end
--- A duration for the log: seconds as "12.3 ms".
-- @function fmt_ms
M.fmt_ms = fmt_ms

--- Build the context handed to a policy handler.
function M.context(opts, call, log)
  local ctx = {
    state = call.state, kind = call.kind, name = call.name, priority = call.priority,
    instance = call.name, socket = opts.socket, conntrackd_config = opts.conntrackd_config,
    failed = {}, steps = {},
  }
  local label = (call.kind and (call.kind .. " " .. call.name .. " ") or "") .. call.state:upper()
  ctx.label = label
  function ctx.log(level, msg, ...)
    if select("#", ...) > 0 then msg = string.format(msg, ...) end
    log(level, label .. ": " .. msg)
  end
  local ctdmod = require "netops.conntrackd"
  ctx.conntrackd = ctdmod.open { socket = opts.socket, timeout = opts.timeout }
  --- The kernel conntrack table of this namespace (netops.conntrack), or nil, message.
  function ctx.kernel()
    if ctx._kernel ~= nil then return ctx._kernel or nil, ctx._kernel_err end
    local h, err = require("netops.conntrack").open()
    ctx._kernel, ctx._kernel_err = h or false, err
    return h, err
  end
  --- Number of entries in the kernel table, or nil, message.
  function ctx.count()
    local h, err = ctx.kernel()
    if not h then return nil, err end
    local ok, n, e2 = pcall(h.count, h)
    if not ok then return nil, tostring(n) end
    return n, e2
  end
  -- ctx.conntrack: the kernel handle itself (nil when unavailable)
  setmetatable(ctx, { __index = function(t, k)
    if k == "conntrack" then return (t.kernel()) end
  end })
  --- Run argv (never a shell); true on exit 0, else nil, message.
  function ctx.run(argv, ropts)
    if type(argv) ~= "table" or type(argv[1]) ~= "string" then
      error("ctx.run: argv must be an array of strings", 2)
    end
    local spawn = require("netops").spawn
    local so = { stdout = "null", stderr = "capture" }
    for k, v in pairs(ropts or {}) do so[k] = v end
    local limit = so.timeout or opts.timeout or 30
    so.timeout = nil
    local p, err = spawn(argv, so)
    if not p then return nil, err end
    local r = p:wait(limit)
    if r and r.status == "exited" and r.code == 0 then return true end
    if r and r.status == "timeout" and p.kill then p:kill("KILL"); p:wait(2) end
    return nil, string.format("%s: %s%s", argv[1],
      r and (r.status == "exited" and ("exit " .. tostring(r.code)) or tostring(r.status)
             .. (r.signal and (" " .. tostring(r.signal)) or "")) or "no result",
      r and r.stderr_tail and r.stderr_tail ~= "" and (": " .. r.stderr_tail:gsub("%s+$", "")) or "")
  end
  --- Run fn(...) as a named step: logs result and duration; a failure marks
  -- the call failed (non-zero exit).  Returns fn's results, or nil, message.
  function ctx.step(name, fn, ...)
    local t0 = core.monotime()
    local r = table.pack(pcall(fn, ...))
    local dt = core.monotime() - t0
    local ok, msg = r[1] and r[2] ~= nil and r[2] ~= false, nil
    if not r[1] then msg = tostring(r[2]) elseif not ok then msg = tostring(r[3]) end
    ctx.steps[#ctx.steps + 1] = { name = name, ok = ok, seconds = dt, message = msg }
    if ok then
      ctx.log("info", "step %s ok in %s", name, fmt_ms(dt))
      return table.unpack(r, 2, r.n)
    end
    ctx.failed[#ctx.failed + 1] = name
    ctx.log("err", "step %s FAILED in %s: %s", name, fmt_ms(dt), msg)
    return nil, msg
  end
  --- Monotonic seconds (for timing what is not a step).
  ctx.clock = core.monotime
  --- The live conntrackd processes started with this call's conntrackd
  -- config (`-C FILE` on their command line, or none given when the config
  -- is conntrackd's default): their pids, ascending; empty without a config.
  function ctx.conntrackd_pids()
    local conf, out = opts.conntrackd_config, {}
    if not conf then return out end
    for _, pid in ipairs(core.conntrackd.daemons()) do
      local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
      local cmdline = f and f:read("a") or ""
      if f then f:close() end
      local args, given = {}, nil
      for a in cmdline:gmatch("[^%z]+") do args[#args + 1] = a end
      for i = 2, #args do
        if args[i - 1] == "-C" then given = args[i] end
      end
      if #args > 0 and (given == conf or (given == nil and conf == "/etc/conntrackd/conntrackd.conf")) then
        out[#out + 1] = pid
      end
    end
    table.sort(out)
    return out
  end
  --- Note that a step was skipped (logged, not a failure).
  function ctx.skip(name, why) ctx.log("notice", "step %s skipped: %s", name, why) end
  --- A series of the policy's own in the metrics file (and the state file,
  -- so it stays until set again): a gauge is set to value, a counter grows
  -- by value.  Misuse (a bad name or label, a built-in name) raises.
  ctx.metrics = {}
  local check = metrics.new()
  function ctx.metric(name, value, labels, help, kind)
    if type(name) == "string" and (name:match("^netops_failover_") or name:match("^netops_conntrack")) then
      error("ctx.metric: " .. name .. " is a built-in series name", 2)
    end
    local ok, err = pcall(check.add, check, name, value, labels, help, kind)
    if not ok then error("ctx." .. tostring(err), 2) end
    ctx.metrics[#ctx.metrics + 1] = { name = name, value = value, labels = labels, help = help,
                                      type = kind or "gauge" }
  end
  return ctx
end

--- Run one notify call.  opts: args (array), policy (table) or policy_path,
-- socket, timeout, lock, log (function(level, msg)), conntrackd_config,
-- wait (queue timeout, seconds), state_dir (the history and counters:
-- netops.failover.history), metrics_dir (the textfile for node_exporter:
-- netops.failover.metrics); both written, when given, after a call that had
-- its turn, under the queue's lock.  Returns exit code (0 ok, 1 a step failed,
-- 2 usage/policy error, 128 + N when signal N ended its wait in the queue),
-- message.
function M.run(opts)
  local log = opts.log or M.logger("syslog")
  local call, uerr = M.parse_args(opts.args or {})
  if not call then log("err", "usage: " .. uerr); return 2, uerr end
  local pol = opts.policy
  if not pol then
    local err
    pol, err = M.load_policy(opts.policy_path or M.DEFAULT_POLICY)
    if not pol then log("err", err); return 2, err end
  end
  local key = call.name or "-"
  local t0 = core.monotime()
  local turn, qerr, qcls, qsig = queue.enqueue(opts.lock or M.DEFAULT_LOCK, key, call.state, opts.wait or 120)
  local label = (call.kind and (call.kind .. " " .. call.name .. " ") or "") .. call.state:upper()
  if not turn then
    log("err", label .. ": " .. qerr)
    -- ended by a signal: the exit status a shell gives a process it killed
    return qcls == "interrupted" and 128 + core.signals.number(qsig) or 1, qerr
  end
  local waited = core.monotime() - t0
  local code, msg = 0, nil
  local entry = { time = os.time(), ticket = turn.ticket, pid = turn.pid, kind = call.kind, name = call.name,
                  priority = call.priority, state = call.state, waited = waited, result = "error", code = 1 }
  local ok, err = pcall(function()
    if turn.superseded then
      msg = string.format("superseded by %s (call #%d, arrived later): nothing done",
                          turn.superseded.state:upper(), turn.superseded.ticket)
      log("notice", label .. ": " .. msg)
      entry.result, entry.superseded_by = "superseded", { ticket = turn.superseded.ticket,
                                                          state = turn.superseded.state }
      return
    end
    local handler = pol[call.state]
    if not handler then
      msg = "policy has no handler for " .. call.state .. ": nothing to do"
      log("notice", label .. ": " .. msg)
      entry.result = "nothing"
      return
    end
    local ctx = M.context(opts, call, log)
    ctx.log("notice", "start (call #%d, waited %s for earlier calls)", turn.ticket, fmt_ms(waited))
    local hs = core.monotime()
    local hok, herr = pcall(handler, ctx)
    if not hok then
      ctx.failed[#ctx.failed + 1] = "handler"
      ctx.log("err", "handler raised: %s", tostring(herr))
    end
    local dt = core.monotime() - hs
    if #ctx.failed > 0 then
      code = 1
      msg = string.format("done in %s, FAILED steps: %s", fmt_ms(dt), table.concat(ctx.failed, ", "))
      ctx.log("err", msg)
    else
      msg = string.format("done in %s, %d steps ok", fmt_ms(dt), #ctx.steps)
      ctx.log("notice", msg)
    end
    pcall(ctx.conntrackd.close, ctx.conntrackd)
    if ctx._kernel and ctx._kernel.close then pcall(ctx._kernel.close, ctx._kernel) end
    entry.result, entry.duration, entry.steps = code == 0 and "ok" or "failed", dt, ctx.steps
    entry.committed = math.type(ctx.committed) and ctx.committed or nil
    entry.metrics = ctx.metrics
  end)
  if ok then entry.code = code end
  entry.message = ok and msg or tostring(err)
  local readings = opts.metrics_dir and M.readings(opts, entry.result ~= "superseded") or {}
  local rok, rerr = queue.done(turn, function() M.record(opts, entry, readings, log, label) end)
  if not rok then log("warning", label .. ": not recorded: " .. tostring(rerr)) end
  if not ok then log("err", label .. ": " .. tostring(err)); return 1, tostring(err) end
  return code, msg
end

--- What the metrics carry besides the state file: conntrackd's cache sizes
-- (asked with a short timeout, only after a call that ran the policy) and
-- the kernel table's count and limit (/proc), each when readable.
function M.readings(opts, ask_conntrackd)
  local r = history.read_conntrack {}
  if ask_conntrackd then
    local ctd = require("netops.conntrackd").open { socket = opts.socket, timeout = math.min(opts.timeout or 1, 1) }
    local st = ctd:stats()
    if st then
      r.conntrackd = { internal = st.cache_internal and st.cache_internal.current_active_connections,
                       external = st.cache_external and st.cache_external.current_active_connections }
    end
    pcall(ctd.close, ctd)
  end
  return r
end

--- Record a call (under the queue's lock): its entry in the state file of
-- opts.state_dir, then the metrics file in opts.metrics_dir, each when given.
-- A failure to write is logged, never the call's failure.
function M.record(opts, entry, readings, log, label)
  if not opts.state_dir and not opts.metrics_dir then return end
  local state = history.empty()
  if opts.state_dir then
    local st, err = history.read(opts.state_dir)
    if st then state = st else log("warning", label .. ": " .. err .. ": starting a new one") end
  end
  history.update(state, entry)
  if opts.state_dir then
    local ok, err = history.save(opts.state_dir, state)
    if not ok then log("warning", label .. ": not recorded: " .. err) end
  end
  if opts.metrics_dir then
    local ok, err = metrics.write(opts.metrics_dir .. "/" .. metrics.FILE, history.series(state, readings):render())
    if not ok then log("warning", label .. ": " .. err) end
  end
end

-- The doctor's checks (netops.failover.doctor), here for the command.
M.doctor = doctor.doctor
M.check_ruleset = doctor.check_ruleset
M.parse_keepalived = doctor.parse_keepalived
M.parse_conntrackd = doctor.parse_conntrackd
M.local_addresses = doctor.local_addresses

return M
