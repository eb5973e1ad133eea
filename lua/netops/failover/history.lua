--- netops.failover.history: what netops-failover remembers between calls,
-- in one JSON file (STATE_DIR/failover-state.json, default /var/lib/netops):
-- the current state of each instance or group, the counters the metrics
-- carry, the last call's steps, and the last KEEP calls.  netops.failover
-- changes it under the queue's lock (queue.done), so calls do not lose each
-- other's updates, and replaces it atomically (core.file_new), so a reader
-- (`netops-failover status`) sees the old file or the new one whole.
--
-- series(state, readings) builds the metrics (netops.failover.metrics) from
-- it: what `--metrics-dir` gets after every call.
-- @module netops.failover.history
local core = require "netops.core"
local json = require "dkjson"
local metrics = require "netops.failover.metrics"

local M = {}

M.DEFAULT_DIR = "/var/lib/netops"
M.FILE = "failover-state.json"
M.KEEP = 100
M.STATES = { "master", "backup", "fault", "stop" }

--- A state with nothing recorded yet.
function M.empty()
  local t = {}
  for _, s in ipairs(M.STATES) do t[s] = 0 end
  return { version = 1, current = {}, history = {}, policy_metrics = {},
           counters = { transitions = t, step_failures = {}, superseded = 0,
                        calls = { ok = 0, failed = 0, superseded = 0, nothing = 0, error = 0 } } }
end

--- Read the state file in dir: the state (empty when there is none yet),
-- or nil, message.
function M.read(dir)
  local path = (dir or M.DEFAULT_DIR) .. "/" .. M.FILE
  local f, err, code = io.open(path, "rb")
  if not f then
    if code == 2 then return M.empty(), nil, path end   -- ENOENT: nothing recorded yet
    return nil, "state file " .. err
  end
  local text = f:read("a")
  f:close()
  local st, _, derr = json.decode(text)
  if type(st) ~= "table" or st.version ~= 1 then
    return nil, "state file " .. path .. ": not a netops-failover state (" .. tostring(derr or "wrong version") .. ")"
  end
  local e = M.empty()
  for k, v in pairs(e) do if type(st[k]) ~= type(v) then st[k] = v end end
  for k, v in pairs(e.counters) do if type(st.counters[k]) ~= type(v) then st.counters[k] = v end end
  return st, nil, path
end

local function mkdir(dir)
  local ok, lfs = pcall(require, "lfs")
  if ok and type(lfs) == "table" and not lfs.attributes(dir, "mode") then lfs.mkdir(dir) end
end

--- Write state to dir, atomically, mode 0644 (the directory is made when
-- missing).  true | nil, message.
function M.save(dir, state)
  dir = dir or M.DEFAULT_DIR
  mkdir(dir)
  local text = json.encode(state, { indent = true }) .. "\n"
  local f, err = core.file_new(dir .. "/" .. M.FILE, 420)
  if not f then return nil, "state file " .. err end
  local ok, werr = f:write(text)
  if ok then ok, werr = f:commit() end
  if not ok then return nil, "state file " .. werr end
  return true
end

local function key_of(e) return (e.kind or "-") .. " " .. (e.name or "-") end

--- Add one call's record (an entry: time, ticket, pid, kind, name,
-- priority, state, result, code, waited, duration, steps, committed,
-- superseded_by, message; metrics = what the policy gave ctx.metric) to
-- state: counters, current state, history (the last M.KEEP calls).
function M.update(state, e)
  local c = state.counters
  c.calls[e.result] = (c.calls[e.result] or 0) + 1
  if e.result == "superseded" then
    c.superseded = c.superseded + 1
  else
    c.transitions[e.state] = (c.transitions[e.state] or 0) + 1
    local cur
    for _, x in ipairs(state.current) do
      if key_of(x) == key_of(e) then cur = x end
    end
    if not cur then
      cur = { kind = e.kind, name = e.name }
      state.current[#state.current + 1] = cur
    end
    cur.state, cur.since, cur.ticket = e.state, e.time, e.ticket
  end
  if e.steps and #e.steps > 0 then
    for _, s in ipairs(e.steps) do
      c.step_failures[s.name] = (c.step_failures[s.name] or 0) + (s.ok and 0 or 1)
    end
  end
  if e.result ~= "superseded" and e.result ~= "nothing" then
    state.last_run = { time = e.time, duration = e.duration, steps = e.steps or {} }
  end
  if e.committed then state.committed = { entries = e.committed, time = e.time } end
  for _, m in ipairs(e.metrics or {}) do
    local old
    for _, x in ipairs(state.policy_metrics) do
      if x.name == m.name and metrics.labels(x.labels) == metrics.labels(m.labels) then old = x end
    end
    if not old then
      old = { name = m.name, labels = m.labels, value = 0 }
      state.policy_metrics[#state.policy_metrics + 1] = old
    end
    old.help, old.type = m.help, m.type
    old.value = m.type == "counter" and old.value + m.value or m.value
  end
  local rec = {}
  for k, v in pairs(e) do if k ~= "metrics" then rec[k] = v end end
  state.history[#state.history + 1] = rec
  while #state.history > M.KEEP do table.remove(state.history, 1) end
  state.last_call = e.time
  return state
end

local H = {
  state = "1 for the current VRRP state of each keepalived instance or group, 0 for the others.",
  since = "When the instance or group entered its current state (Unix time).",
  transitions = "Calls that ran the policy, by the state entered.",
  calls = "netops-failover calls that reached their turn, by result.",
  step_dur = "Duration of each policy step of the last call that ran the policy.",
  step_fail = "Failed runs of each policy step.",
  call_dur = "Duration of the policy handler in the last call that ran it.",
  superseded = "Calls that did nothing because a later call for the same instance was queued.",
  last = "When netops-failover was last called (Unix time).",
  committed = "Entries the last commit put into the kernel table (as the policy reported).",
  cache = "Entries in conntrackd's caches, read after the last call.",
  ct = "Entries in this namespace's kernel conntrack table, read after the last call.",
  ctmax = "The kernel conntrack table's size limit (nf_conntrack_max).",
}

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

--- The metrics of state, and of readings { conntrackd = { internal =,
-- external = }, conntrack_entries =, conntrack_max = } (each when known):
-- a netops.failover.metrics set.
function M.series(state, readings)
  local set, c = metrics.new(), state.counters
  readings = readings or {}
  for _, cur in ipairs(state.current) do
    local l = { instance = cur.kind == "INSTANCE" and cur.name or "", group = cur.kind == "GROUP" and cur.name or "" }
    for _, s in ipairs(M.STATES) do
      set:add("netops_failover_state", cur.state == s and 1 or 0,
              { instance = l.instance, group = l.group, state = s }, H.state)
    end
  end
  for _, cur in ipairs(state.current) do
    set:add("netops_failover_last_transition_timestamp_seconds", cur.since,
            { instance = cur.kind == "INSTANCE" and cur.name or "", group = cur.kind == "GROUP" and cur.name or "" },
            H.since)
  end
  for _, s in ipairs(M.STATES) do
    set:add("netops_failover_transitions_total", c.transitions[s] or 0, { state = s }, H.transitions, "counter")
  end
  for _, r in ipairs(sorted_keys(c.calls)) do
    set:add("netops_failover_calls_total", c.calls[r], { result = r }, H.calls, "counter")
  end
  for _, s in ipairs(state.last_run and state.last_run.steps or {}) do
    set:add("netops_failover_step_duration_seconds", s.seconds, { step = s.name }, H.step_dur)
  end
  for _, name in ipairs(sorted_keys(c.step_failures)) do
    set:add("netops_failover_step_failures_total", c.step_failures[name], { step = name }, H.step_fail, "counter")
  end
  if state.last_run and state.last_run.duration then
    set:add("netops_failover_call_duration_seconds", state.last_run.duration, nil, H.call_dur)
  end
  set:add("netops_failover_superseded_total", c.superseded, nil, H.superseded, "counter")
  if state.last_call then set:add("netops_failover_last_call_timestamp_seconds", state.last_call, nil, H.last) end
  if state.committed then set:add("netops_failover_committed_entries", state.committed.entries, nil, H.committed) end
  local ctd = readings.conntrackd or {}
  for _, which in ipairs { "internal", "external" } do
    if ctd[which] then set:add("netops_conntrackd_cache_entries", ctd[which], { cache = which }, H.cache) end
  end
  if readings.conntrack_entries then set:add("netops_conntrack_entries", readings.conntrack_entries, nil, H.ct) end
  if readings.conntrack_max then set:add("netops_conntrack_max", readings.conntrack_max, nil, H.ctmax) end
  for _, m in ipairs(state.policy_metrics) do
    set:add(m.name, m.value, m.labels, m.help, m.type)
  end
  return set
end

--- The kernel conntrack counts of the namespace this process runs in
-- (/proc/sys/net/netfilter/nf_conntrack_count and _max), each when readable.
function M.read_conntrack(readings)
  readings = readings or {}
  for k, file in pairs { conntrack_entries = "nf_conntrack_count", conntrack_max = "nf_conntrack_max" } do
    local f = io.open("/proc/sys/net/netfilter/" .. file)
    if f then
      readings[k] = math.tointeger(tonumber(f:read("l") or ""))
      f:close()
    end
  end
  return readings
end

return M
