--- netops.failover: the runtime behind `netops-failover`, the command that
-- keepalived calls on every VRRP state change.
--
-- * parse_args(args): both call shapes, `primary|backup|fault` (notify_master
--   "... primary") and the generic notify `INSTANCE|GROUP NAME STATE PRIORITY`.
-- * load_policy(path): an operator-editable Lua file returning handlers
--   { master =, backup =, fault =, stop = }; refused unless root (or the
--   caller) alone can change it and the directories above it.
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

-- The queue kept in the lock file: "next N", "serving S", and one line per
-- waiting call, "ticket pid starttime key state".  The start time (from
-- /proc/PID/stat) tells a live caller from another program that reused its
-- pid.  Key and state are %XX-escaped, so an instance name with spaces, a
-- newline or a "%" stays one field.
local function esc(s)
  return (s:gsub("[%%%s%c]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function unesc(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function parse_queue(text)
  local q = { next = 1, serving = 1, pending = {} }
  local int = math.tointeger
  for line in text:gmatch("[^\n]+") do
    local k, n = line:match("^(%a+) (%d+)$")
    if k == "next" or k == "serving" then
      q[k] = int(tonumber(n))
    else
      local t, pid, start, key, state = line:match("^(%d+) (%d+) (%d+) (%S+) (%S+)$")
      if t then
        q.pending[int(tonumber(t))] = { pid = int(tonumber(pid)), start = int(tonumber(start)),
                                        key = unesc(key), state = unesc(state) }
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
    out[#out + 1] = string.format("%d %d %d %s %s", t, p.pid, p.start or 0, esc(p.key), esc(p.state))
  end
  return table.concat(out, "\n") .. "\n"
end

-- Is the queued caller p still running (same pid, same start time)?
local function queued_alive(p)
  if not p.pid or p.pid < 1 then return false end
  if p.start and p.start > 0 then return F.alive(p.pid, p.start) end
  return F.alive(p.pid)
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
  local start = F.starttime(pid) or 0
  local deadline = F.clock() + timeout
  local ticket, e2 = with_lock(lf, timeout, function(q)
    local t = q.next
    q.next = t + 1
    q.pending[t] = { pid = pid, start = start, key = key, state = state }
    return t
  end)
  if not ticket then lf:close(); return nil, e2 end
  while true do
    local mine, waiting, later = with_lock(lf, math.max(0, deadline - F.clock()), function(q)
      while q.serving < ticket do
        local p = q.pending[q.serving]
        if p and p.pid ~= pid and queued_alive(p) then break end
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
  -- ctx.conntrack: the kernel handle itself (nil when unavailable)
  setmetatable(ctx, { __index = function(t, k)
    if k == "conntrack" then return (t.kernel()) end
  end })
  --- Run argv (never a shell); true on exit 0, else nil, message.
  function ctx.run(argv, ropts)
    if type(argv) ~= "table" or type(argv[1]) ~= "string" then
      error("ctx.run: argv must be an array of strings", 2)
    end
    local netops = require "netops"
    local spawn = netops.spawn
    if not spawn then return nil, "netops.spawn is not available in this build (needed to run " .. argv[1] .. ")" end
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
  --- Monotonic seconds (for timing what is not a step).
  ctx.clock = F.clock
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

-- ---------------------------------------------------------------- doctor

local function readfile(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local s = f:read("a"); f:close(); return s
end

local function strip_comments(text)
  return (text:gsub("#[^\n]*", ""):gsub("!%s[^\n]*", ""))
end

local inet_ok, inet = pcall(require, "netops.inet")
if not (inet_ok and type(inet) == "table" and inet.normalize) then inet = nil end

--- Canonical text for an IPv4 or IPv6 address (RFC 5952 through netops.inet;
-- a plain expansion when that area is not built).
local function canon(addr)
  addr = addr:lower():gsub("/%d+$", "")
  if inet then
    local c = inet.normalize(addr)
    if c then return c end
  end
  if not addr:find(":", 1, true) then return addr end
  local tail4 = addr:match("(%d+%.%d+%.%d+%.%d+)$")
  if tail4 then
    local a, b, c, d = tail4:match("(%d+)%.(%d+)%.(%d+)%.(%d+)")
    addr = addr:sub(1, -#tail4 - 1) .. string.format("%x:%x", a * 256 + b, c * 256 + d)
  end
  local head, tail = addr:match("^(.-)::(.*)$")
  local groups = {}
  local function split(s, into)
    for g in s:gmatch("[^:]+") do into[#into + 1] = tonumber(g, 16) or 0 end
  end
  if head then
    local h, t = {}, {}
    split(head, h); split(tail, t)
    for _, g in ipairs(h) do groups[#groups + 1] = g end
    for _ = 1, 8 - #h - #t do groups[#groups + 1] = 0 end
    for _, g in ipairs(t) do groups[#groups + 1] = g end
  else
    split(addr, groups)
  end
  local out = {}
  for i = 1, 8 do out[i] = string.format("%x", groups[i] or 0) end
  return table.concat(out, ":")
end
M._canon = canon

--- Local addresses of this namespace (IPv4 from /proc/net/fib_trie, IPv6
-- from /proc/net/if_inet6), canonical text -> true.
function M.local_addresses()
  local set = {}
  local trie = readfile("/proc/net/fib_trie") or ""
  local last
  for line in trie:gmatch("[^\n]+") do
    local a = line:match("|%-%-%s+(%d+%.%d+%.%d+%.%d+)")
    if a then last = a end
    if line:find("/32 host LOCAL", 1, true) and last then set[last] = true end
  end
  for line in (readfile("/proc/net/if_inet6") or ""):gmatch("[^\n]+") do
    local hex, scope = line:match("^(%x+)%s+%x+%s+%x+%s+(%x+)")
    if hex and scope == "00" then
      local g = {}
      for i = 1, 32, 4 do g[#g + 1] = hex:sub(i, i + 3) end
      set[canon(table.concat(g, ":"))] = true
    end
  end
  return set
end

--- Parse a keepalived.conf: VIPs (virtual_ipaddress and _excluded) and the
-- notify command lines.
function M.parse_keepalived(text)
  text = strip_comments(text)
  local vips, notify = {}, {}
  for block in text:gmatch("virtual_ipaddress[_%w]*%s*(%b{})") do
    for a in block:gmatch("[{%s]([%x:%.]+[%x%.:])/?%d*") do
      if a:find("%.%d") or a:find(":", 1, true) then vips[#vips + 1] = a end
    end
  end
  for kw, cmd in text:gmatch("(notify[_%w]*)%s+([^\n]+)") do
    notify[#notify + 1] = { kind = kw, command = cmd:gsub("^%s+", ""):gsub("%s+$", "") }
  end
  return { vips = vips, notify = notify,
           script_security = text:find("enable_script_security", 1, true) ~= nil }
end

--- Parse a conntrackd.conf: ignored addresses and the UNIX socket path.
function M.parse_conntrackd(text)
  text = strip_comments(text)
  local ignore = {}
  local block = text:match("Address%s+Ignore%s*(%b{})")
  if block then
    for a in block:gmatch("IPv[46]_address%s+([%x:%./]+)") do ignore[canon(a)] = a end
  end
  local unix = text:match("UNIX%s*(%b{})")
  local path = unix and unix:match("Path%s+(%S+)")
  return { ignore = ignore, has_ignore = block ~= nil, socket = path }
end

--- Check a ruleset (text of `nft list ruleset` or `iptables-save`).
-- Returns a list of findings { ok =, what =, fix = }.
function M.check_ruleset(text)
  local f = {}
  local function add(ok, what, fix) f[#f + 1] = { ok = ok, what = what, fix = fix } end
  if text:find("table%s+%w+%s+[%w_-]+%s*{") or text:find("hook%s+%a+") then
    local seen = { input = false, forward = false }
    for chain, body in text:gmatch("chain%s+([%w_-]+)%s*(%b{})") do
      local hook = body:match("hook%s+(%a+)")
      local isfilter = body:match("type%s+filter")
      if isfilter and (hook == "input" or hook == "forward") then
        local policy = body:match("policy%s+(%a+)") or "accept"
        seen[hook] = seen[hook] or policy == "drop"
        if policy ~= "drop" then
          add(false, string.format("nftables chain %s (hook %s) has policy %s: unknown traffic "
            .. "must be dropped during a failover", chain, hook, policy),
            string.format("set `policy drop;` on chain %s and accept `ct state established,related`", chain))
        end
        if body:find("%f[%w]reject%f[%W]") then
          add(false, string.format("nftables chain %s (hook %s) rejects traffic: a reject answers "
            .. "packets of sessions not yet committed with RST/ICMP and kills them", chain, hook),
            "replace `reject` with `drop` in chain " .. chain)
        end
        if not body:find("ct state[^\n]*established") then
          add(false, string.format("nftables chain %s (hook %s) has no `ct state established` rule",
            chain, hook), "add `ct state established,related accept`")
        end
      end
      if body:find("%f[%w]masquerade%f[%W]") then
        add(false, "nftables chain " .. chain .. " uses masquerade: on an HA pair it picks the "
          .. "firewall's own address, which dies with it", "use `snat to VIP` with the WAN virtual IP")
      end
    end
    for hook, ok in pairs(seen) do
      if ok then add(true, "nftables " .. hook .. " chain drops unknown traffic (policy drop)") end
    end
    if not seen.input and not seen.forward and #f == 0 then
      add(false, "no nftables filter chain on the input or forward hook", "load a ruleset with policy drop")
    end
  elseif text:find("^%*") or text:find("\n%*filter") or text:find(":INPUT") then
    local filter = text:match("%*filter(.-)COMMIT") or ""
    for _, ch in ipairs { "INPUT", "FORWARD" } do
      local pol = filter:match(":" .. ch .. " (%u+)")
      if pol == "DROP" then
        add(true, "iptables " .. ch .. " policy DROP")
      else
        add(false, "iptables " .. ch .. " policy " .. tostring(pol or "missing") .. ": unknown traffic "
          .. "must be dropped", "iptables -P " .. ch .. " DROP")
      end
      for line in filter:gmatch("[^\n]+") do
        if line:match("^%-A " .. ch .. " ") and line:find("-j REJECT", 1, true) then
          add(false, "iptables rule rejects in " .. ch .. ": " .. line, "use -j DROP instead of -j REJECT")
        end
      end
    end
    if text:find("-j MASQUERADE", 1, true) then
      add(false, "iptables uses MASQUERADE: on an HA pair it picks the firewall's own address",
        "use -j SNAT --to-source VIP")
    end
  else
    add(false, "ruleset not recognized (neither nftables nor iptables-save text)",
      "pass `--ruleset FILE` with the output of `nft list ruleset` or `iptables-save`")
  end
  return f
end

local function read_ruleset(opts)
  if opts.ruleset then return readfile(opts.ruleset) end
  local netops = require "netops"
  if not netops.spawn then
    return nil, "netops.spawn is not available in this build: pass --ruleset FILE (nft list ruleset > FILE)"
  end
  local tmp = os.tmpname()
  for _, argv in ipairs { { "nft", "list", "ruleset" }, { "iptables-save" } } do
    local out = io.open(tmp, "w")
    local ok, p = pcall(netops.spawn, argv, { stdout = out, stderr = "null" })
    if out then out:close() end
    if ok and p then
      local r = p:wait(10)
      local text = readfile(tmp)
      if r and r.status == "exited" and r.code == 0 and text and text:find("%S") then
        os.remove(tmp); return text
      end
    end
  end
  os.remove(tmp)
  return nil, "could not read the ruleset: pass --ruleset FILE (nft list ruleset > FILE)"
end

--- The checks the seed warns about.  opts: conntrackd_config, keepalived_config,
-- socket, ruleset (file).  Returns findings { {ok=, what=, fix=} ... }, count of failures.
function M.doctor(opts)
  local findings = {}
  local function add(ok, what, fix) findings[#findings + 1] = { ok = ok, what = what, fix = fix } end
  local rs, rerr = read_ruleset(opts)
  if rs then
    for _, x in ipairs(M.check_ruleset(rs)) do findings[#findings + 1] = x end
  else
    add(false, rerr, "pass --ruleset FILE")
  end
  local ka
  if opts.keepalived_config then
    local text, err = readfile(opts.keepalived_config)
    if not text then
      add(false, "keepalived config: " .. err, "pass --keepalived-config FILE")
    else
      ka = M.parse_keepalived(text)
      if #ka.notify == 0 then
        add(false, "keepalived config has no notify lines: nothing commits conntrackd's cache on failover",
          'add notify_master "/usr/local/bin/netops-failover primary" (and backup, fault) to the sync group')
      end
      for _, n in ipairs(ka.notify) do
        if n.command:find("netops-failover", 1, true) then
          add(true, "keepalived " .. n.kind .. " calls netops-failover")
        else
          add(false, "keepalived " .. n.kind .. " does not call netops-failover: " .. n.command,
            n.kind .. [[ "/usr/local/bin/netops-failover ...": keepalived must call netops-failover]])
        end
      end
    end
  end
  local socket = opts.socket
  if opts.conntrackd_config then
    local text, err = readfile(opts.conntrackd_config)
    if not text then
      add(false, "conntrackd config: " .. err, "pass --conntrackd-config FILE")
    else
      local cd = M.parse_conntrackd(text)
      socket = socket or cd.socket
      local missing = {}
      local want = {}
      for a in pairs(M.local_addresses()) do
        if a ~= "127.0.0.1" and a ~= canon("::1") then want[a] = "local address" end
      end
      for _, v in ipairs(ka and ka.vips or {}) do want[canon(v)] = "virtual IP " end
      local keys = {}
      for a in pairs(want) do keys[#keys + 1] = a end
      table.sort(keys)
      for _, a in ipairs(keys) do
        if not cd.ignore[a] then missing[#missing + 1] = a end
      end
      if not cd.has_ignore then
        add(false, "conntrackd config has no `Address Ignore` block: the firewall's own "
          .. "sessions are synced too", "add Filter { Address Ignore { ... } } listing every local address and VIP")
      elseif #missing == 0 then
        add(true, string.format("conntrackd Address Ignore lists every local address and virtual IP (%d)", #keys))
      else
        for _, a in ipairs(missing) do
          add(false, string.format("conntrackd Address Ignore does not list %s (%s)", a, want[a]),
            (a:find(":", 1, true) and "IPv6_address " or "IPv4_address ") .. a .. " in Address Ignore")
        end
      end
    end
  end
  local ctd = require("netops.conntrackd").open { socket = socket, timeout = 3 }
  local st, err = ctd:stats("runtime")
  if st then
    add(true, "conntrackd answers on " .. ctd:path())
  else
    add(false, err, "start conntrackd (conntrackd -d -C CONFIG) and check its UNIX Path")
  end
  ctd:close()
  local bad = 0
  for _, x in ipairs(findings) do if not x.ok then bad = bad + 1 end end
  return findings, bad
end

return M
