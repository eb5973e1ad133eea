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

local signals = require "netops.signals"

local fields = { ignoring = "ignored", catching = "caught", blocking = "blocked",
                 pending = "pending" }

--- find(filter [, pids]) -> { entry, ... }, { message, ... } | nil, message, errno
-- Every process (ascending pid; or those of the list pids) whose
-- signals(pid) entry matches all of: filter.ignoring, .catching, .blocking
-- (the main thread's mask), .pending (for the main thread or the process):
-- each a signal (name or number) or a list of them; filter.user = true
-- leaves out kernel threads; filter.masks = false leaves the five mask
-- lists out of the entries (faster).  Processes that vanish during the scan are
-- skipped; other failures (permission denied) are collected in the second
-- list.  Raises on a signal name that means nothing.  The filtering is done
-- in C on the raw masks: only matching processes cost a table.
function M.find(filter, pids)
  filter = filter or {}
  local want = { user = filter.user and true or false, masks = filter.masks ~= false }
  for key, field in pairs(fields) do
    local v = filter[key]
    if v ~= nil then
      local list = type(v) == "table" and v or { v }
      local nums = {}
      for i, s in ipairs(list) do
        local n, err = signals.number(s)
        if not n then error("proc.find: " .. key .. ": " .. err, 2) end
        nums[i] = n
      end
      want[field] = nums
    end
  end
  return c.scan(want, pids)
end

return M
