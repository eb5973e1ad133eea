--- netops.failover.queue: the ordered queue of notify calls, kept in the
-- failover lock file (core.failover.lockfile: a regular file of the
-- caller's, mode 0600, flock'ed while read or changed).
--
-- The text: "next N", "serving S", and one line per waiting call, "ticket
-- pid starttime key state".  The start time (from /proc/PID/stat) tells a
-- live caller from another program that reused its pid.  Key and state are
-- %XX-escaped, so an instance name with spaces, a newline or a "%" stays one
-- field.
-- @module netops.failover.queue
local core = require "netops.core"
local F = core.failover

local M = {}

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

-- Our turn yet?  true, nil, the later call for the same key (superseding
-- ours) | false, the ticket being served.  Tickets of finished or dead
-- callers ahead of ours are dropped.
local function my_turn(q, ticket, pid, key)
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
end

-- Leave the queue without having had our turn.
local function withdraw(lf, ticket)
  pcall(with_lock, lf, 1, function(q) q.pending[ticket] = nil end)
  lf:close()
end

--- Take a ticket; wait for our turn.  Returns a turn object
-- { ticket =, superseded = {ticket=, state=} | nil } or nil, message (and
-- "interrupted", the signal's name when SIGINT, SIGTERM or SIGHUP ended the
-- wait: the call then leaves the queue).
function M.enqueue(lockpath, key, state, timeout)
  local lf, err = F.lockfile(lockpath)
  if not lf then return nil, err end
  local pid = F.pid()
  local start = F.starttime(pid) or 0
  local deadline = core.monotime() + timeout
  local ticket, e2 = with_lock(lf, timeout, function(q)
    local t = q.next
    q.next = t + 1
    q.pending[t] = { pid = pid, start = start, key = key, state = state }
    return t
  end)
  if not ticket then lf:close(); return nil, e2 end
  while true do
    local mine, waiting, later = with_lock(lf, math.max(0, deadline - core.monotime()), function(q)
      return my_turn(q, ticket, pid, key)
    end)
    if mine == nil then lf:close(); return nil, waiting end
    if mine then
      return { ticket = ticket, superseded = later, lockfile = lf, pid = pid }
    end
    if core.monotime() >= deadline then
      lf:close()
      return nil, string.format("waited %gs for earlier call #%s to finish", timeout, tostring(waiting))
    end
    local sig = core.sleep(0.01)
    if sig then
      withdraw(lf, ticket)
      return nil, string.format("%s while waiting for earlier call #%s: call #%d withdrawn", sig,
                                tostring(waiting), ticket), "interrupted", sig
    end
  end
end

--- Our turn is over: the next call's comes.  fn(), when given, runs first
-- under the same lock (what netops.failover records of the call: no other
-- call changes it meanwhile); an error it raises is returned, after the
-- queue was updated.
function M.done(turn, fn)
  local ok, err = true, nil
  local locked, lerr = with_lock(turn.lockfile, 30, function(q)
    if fn then ok, err = pcall(fn) end
    q.pending[turn.ticket] = nil
    if q.serving == turn.ticket then q.serving = turn.ticket + 1 end
    return true
  end)
  turn.lockfile:close()
  if not locked then return nil, lerr end
  if not ok then return nil, tostring(err) end
  return true
end

return M
