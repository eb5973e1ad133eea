--- netops.proc: what /proc says about processes and threads.
--
-- signals(pid [, tid]) reads /proc/PID/status (or /proc/PID/task/TID/status)
-- with one read(), relative to a directory fd of /proc/PID, so its five masks
-- are one consistent snapshot.  Failures return `nil, message, errno`:
-- "no such process 4242" (ESRCH), "/proc/1/status: permission denied" (EACCES).
local core = require "netops.core"
local c = core.proc

local M = {
  --- signals(pid [, tid]) -> { pid, tid, name, state, state_name, ppid, uid,
  -- threads, kernel, pending, shared_pending, blocked, ignored, caught }
  -- | nil, message, errno
  signals = c.signals,
  --- threads(pid) -> { tid, ... } ascending | nil, "no such process N", ESRCH
  threads = c.threads,
  --- pids() -> { pid, ... } ascending: every visible process
  pids = c.pids,
  --- the errno of "no such process" (the third value signals() returns)
  ESRCH = c.ESRCH,
}

local ESRCH = c.ESRCH

local function wanted(filter)
  local signals = require "netops.signals"
  local want = {}
  for _, field in ipairs { "ignoring", "catching", "blocking", "pending" } do
    local v = filter[field]
    if v ~= nil then
      local list = type(v) == "table" and v or { v }
      local nums = {}
      for i, s in ipairs(list) do
        local n, err = signals.number(s)
        if not n then error("proc.find: " .. field .. ": " .. err, 3) end
        nums[i] = n
      end
      want[#want + 1] = { field = field, nums = nums }
    end
  end
  return want
end

local set_of = { ignoring = "ignored", catching = "caught", blocking = "blocked" }

local function has_all(entry, field, nums)
  local present = {}
  if field == "pending" then
    for _, n in ipairs(entry.pending) do present[n] = true end
    for _, n in ipairs(entry.shared_pending) do present[n] = true end
  else
    for _, n in ipairs(entry[set_of[field]]) do present[n] = true end
  end
  for _, n in ipairs(nums) do
    if not present[n] then return false end
  end
  return true
end

--- find(filter) -> { entry, ... }, { message, ... }
-- Every process (ascending pid) whose signals(pid) entry matches all of:
-- filter.ignoring, .catching, .blocking (the main thread's mask), .pending
-- (per thread or shared): each a signal (name or number) or a list of them;
-- filter.user = true leaves out kernel threads.  Processes that vanish during
-- the scan are skipped; other failures (permission denied) are collected in
-- the second list.  Raises on a signal name that means nothing.
function M.find(filter)
  filter = filter or {}
  local want = wanted(filter)
  local pids, err = c.pids()
  if not pids then return nil, err end
  local found, errors = {}, {}
  local read = c.signals
  for _, pid in ipairs(pids) do
    local e, msg, code = read(pid)
    if e then
      local ok = not (filter.user and e.kernel)
      for i = 1, #want do
        if not ok then break end
        ok = has_all(e, want[i].field, want[i].nums)
      end
      if ok then found[#found + 1] = e end
    elseif code ~= ESRCH then
      errors[#errors + 1] = msg
    end
  end
  return found, errors
end

return M
