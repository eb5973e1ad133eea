--- netops.signals: signal names and numbers of this system, and the hex
-- signal masks of /proc/PID/status and `ps -o pending,blocked,ignored,caught`.
--
-- Names follow bash's `kill -l` at run time: real-time signals are
-- SIGRTMIN, SIGRTMIN+1 ... up to the middle, then ... SIGRTMAX-1, SIGRTMAX,
-- with SIGRTMIN and SIGRTMAX asked from the C library (34 and 64 under
-- glibc).  The two signals glibc reserves below SIGRTMIN have stable names:
-- 32 SIGCANCEL and 33 SIGSETXID (glibc's own; multithreaded programs show
-- 33 as caught).  Misuse raises; a name or mask that means nothing returns
-- `nil, message, EINVAL`.
-- @module netops.signals
local core = require "netops.core"
local c = core.signals

local M = {
  --- SIGRTMIN, SIGRTMAX and the highest signal of this system, at run time.
  RTMIN = c.RTMIN,
  RTMAX = c.RTMAX,
  MAX = c.MAX,
  --- name(n) -> "SIGTERM" | nil, message, EINVAL
  name = c.name,
  --- number("TERM"|"SIGTERM"|"sigterm"|"15"|15|"RTMIN+2"|"SIGRTMAX-1"|"IOT") -> 15
  -- | nil, message, EINVAL
  number = c.number,
  --- decode("0000000000004a02" or "0x4a02") -> {2, 10, 12, 15} | nil, message, EINVAL
  decode = c.decode,
  --- encode({2, 15}) -> "0000000000004002" (raises on an entry that is no signal number)
  encode = c.encode,
  --- list() -> { [1] = "SIGHUP", ..., [M.MAX] = "SIGRTMAX" }
  list = c.list,
}

-- The name of each signal number, built on first use (a command that
-- prints no signal name does not pay for it at start-up).
local names = setmetatable({}, { __index = function(t, n)
  for i, name in ipairs(c.list()) do rawset(t, i, name) end
  setmetatable(t, nil)
  return rawget(t, n)
end })

--- names(list) -> { "SIGINT", "SIGTERM" }: the name of each signal number.
function M.names(list)
  local out = {}
  for i, n in ipairs(list) do out[i] = names[n] or ("SIG" .. n) end
  return out
end

--- format(list) -> "SIGINT (2), SIGTERM (15)", the seed's line format;
-- "" for an empty list.
function M.format(list)
  local out = {}
  for i, n in ipairs(list) do out[i] = (names[n] or ("SIG" .. n)) .. " (" .. n .. ")" end
  return table.concat(out, ", ")
end

--- contains(list, sig) -> boolean: whether sig (number or name) is in list.
-- Raises when sig names no signal.
function M.contains(list, sig)
  local n = sig
  if type(sig) ~= "number" then
    local err
    n, err = c.number(sig)
    if not n then error(err, 2) end
  end
  for _, x in ipairs(list) do
    if x == n then return true end
  end
  return false
end

return M
