--- netops.failover: the runtime behind `netops-failover`, the command that
-- keepalived calls on every VRRP state change.
--
-- * parse_args(args): both call shapes, `primary|backup|fault` (notify_master
--   "... primary") and the generic notify `INSTANCE|GROUP NAME STATE PRIORITY`.
-- * load_policy(path): an operator-editable Lua file returning handlers
--   { master =, backup =, fault =, stop = }; refused when group/other-writable.
-- * run(opts): runs the handler under an exclusive lock, in arrival order;
--   a call whose state was superseded by a later call does nothing.  Every
--   step is logged with its duration and result.
local core = require "netops.core"
local F = core.failover

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
  local mode, uid = F.mode(path)
  if not mode then return nil, "policy " .. uid end
  if mode & 18 ~= 0 then   -- 0022
    return nil, string.format("policy %s is writable by %s (mode %04o): refused, as keepalived's "
      .. "script security would; fix: chmod go-w %s", path,
      (mode & 16 ~= 0 and mode & 2 ~= 0) and "group and others" or (mode & 16 ~= 0 and "group" or "others"),
      mode, path)
  end
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local dmode = F.mode(dir)
    if dmode and dmode & 18 ~= 0 and dmode & 512 == 0 then
      return nil, string.format("policy %s is in a directory writable by group or others (%s, "
        .. "mode %04o): refused; fix: chmod go-w %s", path, dir, dmode, dir)
    end
  end
  local env = setmetatable({}, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
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
function M.logger(where, ident)
  ident = ident or "netops-failover"
  if where == nil or where == "syslog" then
    core.log.open(ident, "daemon")
    return function(level, msg) core.log.write(level, msg) end
  elseif where == "stderr" then
    return function(level, msg)
      io.stderr:write(string.format("%s[%d] %s: %s\n", ident, F.pid(), level, msg))
    end
  else
    return function(level, msg)
      local f = io.open(where, "a")
      if not f then
        io.stderr:write(string.format("%s: cannot write log %s; %s: %s\n", ident, where, level, msg))
        return
      end
      f:write(string.format("%s %s[%d] %s: %s\n", os.date("!%Y-%m-%dT%H:%M:%SZ"), ident,
                            F.pid(), level, msg))
      f:close()
    end
  end
end

-- The queue kept in the lock file: "next N", "serving S", "ticket pid key state".
local function parse_queue(text)
  local q = { next = 1, serving = 1, pending = {} }
  for line in text:gmatch("[^\n]+") do
    local k, n = line:match("^(%a+) (%d+)$")
    if k == "next" or k == "serving" then
      q[k] = math.tointeger(tonumber(n))
    else
      local t, pid, key, state = line:match("^(%d+) (%d+) (%S+) (%S+)$")
      if t then
        q.pending[math.tointeger(tonumber(t))] = { pid = math.tointeger(tonumber(pid)),
                                                   key = key, state = state }
      end
    end
  end
  return q
end

local function format_queue(q)
  local out = { "next " .. q.next, "serving " .. q.serving }
  local ts = {}
  for t in pairs(q.pending) do ts[#ts + 1] = t end
  table.sort(ts)
  for _, t in ipairs(ts) do
    local p = q.pending[t]
    out[#out + 1] = string.format("%d %d %s %s", t, p.pid, p.key, p.state)
  end
  return table.concat(out, "\n") .. "\n"
end

local function with_lock(lf, timeout, fn)
  local ok, err, cls = lf:lock(timeout)
  if not ok then return nil, err, cls end
  local q = parse_queue(lf:read() or "")
  local r = table.pack(pcall(fn, q))
  if r[1] then lf:write(format_queue(q)) end
  lf:unlock()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

--- Take a ticket; wait for our turn.  Returns a turn object
-- { ticket =, superseded = {ticket=, state=} | nil } or nil, message.
function M.enqueue(lockpath, key, state, timeout)
  local lf, err = F.lockfile(lockpath)
  if not lf then return nil, err end
  local pid = F.pid()
  local deadline = F.clock() + timeout
  local ticket, e2 = with_lock(lf, timeout, function(q)
    local t = q.next
    q.next = t + 1
    q.pending[t] = { pid = pid, key = key, state = state }
    return t
  end)
  if not ticket then lf:close(); return nil, e2 end
  while true do
    local mine, waiting, later = with_lock(lf, math.max(0, deadline - F.clock()), function(q)
      while q.serving < ticket do
        local p = q.pending[q.serving]
        if p and F.alive(p.pid) and p.pid ~= pid then break end
        q.pending[q.serving] = nil      -- finished, or its caller died
        q.serving = q.serving + 1
      end
      if q.serving ~= ticket then return false, q.pending[q.serving] and q.serving end
      local sup
      for t, p in pairs(q.pending) do
        if t > ticket and p.key == key and (not sup or t > sup.ticket) then
          sup = { ticket = t, state = p.state, pid = p.pid }
        end
      end
      return true, nil, sup
    end)
    if mine == nil then lf:close(); return nil, waiting end
    if mine then
      return { ticket = ticket, superseded = later, lockfile = lf, pid = pid }
    end
    if F.clock() >= deadline then
      lf:close()
      return nil, string.format("waited %gs for earlier call #%s to finish", timeout, tostring(waiting))
    end
    core.failover.sleep(0.01)
  end
end

function M.done(turn)
  with_lock(turn.lockfile, 30, function(q)
    q.pending[turn.ticket] = nil
    if q.serving == turn.ticket then q.serving = turn.ticket + 1 end
  end)
  turn.lockfile:close()
end

local function fmt_ms(s) return string.format("%.1f ms", s * 1000) end
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
    local ok, mod = pcall(require, "netops.conntrack")
    local h, err
    if ok and type(mod) == "table" and mod.open then
      h, err = mod.open()
    else
      err = "netops.conntrack is not available in this build"
    end
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
  --- Run argv (never a shell); true on exit 0, else nil, message.
  function ctx.run(argv, ropts)
    if type(argv) ~= "table" or type(argv[1]) ~= "string" then
      error("ctx.run: argv must be an array of strings", 2)
    end
    local netops = require "netops"
    local spawn = netops.spawn
    if not spawn then return nil, "netops.spawn is not available in this build (needed to run " .. argv[1] .. ")" end
    local p, err = spawn(argv, ropts or {})
    if not p then return nil, err end
    local r = p:wait((ropts and ropts.timeout) or opts.timeout or 30)
    if r and r.status == "exited" and r.code == 0 then return true end
    if r and r.status == "timeout" and p.kill then p:kill(9); p:wait(1) end
    return nil, string.format("%s: %s%s", argv[1],
      r and (r.status == "exited" and ("exit " .. tostring(r.code)) or tostring(r.status)
             .. (r.signal and (" " .. tostring(r.signal)) or "")) or "no result",
      r and r.stderr_tail and r.stderr_tail ~= "" and (": " .. r.stderr_tail:gsub("%s+$", "")) or "")
  end
  --- Run fn(...) as a named step: logs result and duration; a failure marks
  -- the call failed (non-zero exit).  Returns fn's results, or nil, message.
  function ctx.step(name, fn, ...)
    local t0 = F.clock()
    local r = table.pack(pcall(fn, ...))
    local dt = F.clock() - t0
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
  --- Note that a step was skipped (logged, not a failure).
  function ctx.skip(name, why) ctx.log("notice", "step %s skipped: %s", name, why) end
  return ctx
end

--- Run one notify call.  opts: args (array), policy (table) or policy_path,
-- socket, timeout, lock, log (function(level, msg)), conntrackd_config,
-- wait (queue timeout, seconds).  Returns exit code (0 ok, 1 a step failed,
-- 2 usage/policy error), message.
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
  local t0 = F.clock()
  local turn, qerr = M.enqueue(opts.lock or M.DEFAULT_LOCK, key, call.state, opts.wait or 120)
  local label = (call.kind and (call.kind .. " " .. call.name .. " ") or "") .. call.state:upper()
  if not turn then log("err", label .. ": " .. qerr); return 1, qerr end
  local waited = F.clock() - t0
  local code, msg = 0, nil
  local ok, err = pcall(function()
    if turn.superseded then
      msg = string.format("superseded by %s (call #%d, arrived later): nothing done",
                          turn.superseded.state:upper(), turn.superseded.ticket)
      log("notice", label .. ": " .. msg)
      return
    end
    local handler = pol[call.state]
    if not handler then
      msg = "policy has no handler for " .. call.state .. ": nothing to do"
      log("notice", label .. ": " .. msg)
      return
    end
    local ctx = M.context(opts, call, log)
    ctx.log("notice", "start (call #%d, waited %s for earlier calls)", turn.ticket, fmt_ms(waited))
    local hs = F.clock()
    local hok, herr = pcall(handler, ctx)
    if not hok then
      ctx.failed[#ctx.failed + 1] = "handler"
      ctx.log("err", "handler raised: %s", tostring(herr))
    end
    local dt = F.clock() - hs
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
  end)
  M.done(turn)
  if not ok then log("err", label .. ": " .. tostring(err)); return 1, tostring(err) end
  return code, msg
end

return M
