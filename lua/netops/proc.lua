--- netops.proc: what /proc says about processes and threads.
--
-- signals(pid [, tid]) reads /proc/PID/status (or /proc/PID/task/TID/status)
-- with one read(), relative to a directory fd of /proc/PID, so its five masks
-- are one consistent snapshot.  Failures return `nil, message, errno`:
-- "no such process 4242" (ESRCH), "/proc/1/status: permission denied" (EACCES).
-- @module netops.proc
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
  for key in pairs(filter) do
    if not fields[key] and key ~= "user" and key ~= "masks" then
      error(("proc.find: unknown filter key '%s' (known: ignoring, catching, blocking, "
        .. "pending, user, masks)"):format(tostring(key)), 2)
    end
  end
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

-- Code points not printed as they are: C0 controls and DEL, C1 controls
-- (U+0080..U+009F, e.g. U+009B, the 8-bit CSI), and those that break or
-- reorder a line on a terminal: U+2028, U+2029 and the bidirectional
-- controls U+200E, U+200F, U+202A..U+202E, U+2066..U+2069.
local function hidden(cp)
  return cp < 0x20 or (cp >= 0x7f and cp <= 0x9f) or cp == 0x200e or cp == 0x200f
      or (cp >= 0x2028 and cp <= 0x202e) or (cp >= 0x2066 and cp <= 0x2069)
end

-- Each byte as \xNN; a backslash as \\, so the text reads back unambiguously.
local function terminal(bytes)
  if bytes == "\\" then return "\\\\" end
  if bytes == '"' then return bytes end
  return (bytes:gsub(".", function(ch) return ("\\x%02x"):format(ch:byte()) end))
end

local special = c.special   -- the first byte that needs a closer look

--- printable(s [, escape]) -> text safe to print on a terminal.
-- `s` is any bytes (a process name, a command line).  Valid UTF-8 text
-- stays as it is; each byte that is not part of a valid UTF-8 character, and
-- each byte of a character that is not printable (see `hidden` above: C0,
-- DEL, C1, line separators, bidi controls), becomes \xNN, and a backslash
-- becomes \\ (as `ps` replaces such bytes, but reversible).  With
-- escape, a function(bytes, codepoint) called for each of those (bytes: one
-- invalid byte, codepoint nil; or one character) and for `\` and `"`,
-- returning the replacement: `checksignals --json` escapes that way.
function M.printable(s, escape)
  escape = escape or terminal
  local i = special(s)
  if not i then return s end
  local out, from = {}, 1
  while i do
    local b, j, cp = s:byte(i), i + 1, nil
    if b < 0x80 then
      cp = b
    elseif utf8.len(s, i, i) then            -- a valid character starts here
      cp, j = utf8.codepoint(s, i), utf8.offset(s, 2, i)
    end
    if not cp or hidden(cp) or b == 0x5c or b == 0x22 then
      out[#out + 1] = s:sub(from, i - 1)
      out[#out + 1] = escape(s:sub(i, j - 1), cp)
      from = j
    end
    i = special(s, j)
  end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

return M
