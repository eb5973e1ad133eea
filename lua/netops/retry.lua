--- netops.retry: run a program again until a policy says stop.
--
--   local retry = require "netops.retry"
--   local result, attempts = retry.run{ argv = { "ssh", "host", "uptime" } }
--
-- A policy is a function `(result, state) -> "retry" [, delay] | "stop"`.
-- `result` is what `proc:wait()` returned (status, code, signal, elapsed,
-- stderr_tail, interrupted, forwarded); `state` carries `attempt` (1 for the
-- first run), `elapsed` (seconds since retry.run started), `class` (the
-- failure class read from the program's stderr, see retry.classify) and
-- `line` (the stderr line it was read from).
--
-- Whatever the policy says, no retry follows a SIGTERM or SIGHUP (they were
-- forwarded to the program) nor a SIGINT or SIGQUIT received while it ran.
-- @module netops.retry
local core = require "netops.core"

local M = {}

-- Patterns for ssh's own messages, most specific first, each with its class.
-- A line is matched against every pattern in order; lines are read from the
-- end, because ssh's verdict is the last thing it prints.  ("Disconnected
-- from H" is left out on purpose: it follows "Too many authentication
-- failures", which must stop, and alone it says nothing about why.)
M.patterns = {
  { "Host key verification failed", "hostkey" },
  { "REMOTE HOST IDENTIFICATION HAS CHANGED", "hostkey" },
  { "host key for .- has changed", "hostkey" },
  { "No %S+ host key is known for", "hostkey" },
  { "Permission denied %(", "auth" },
  { "Permission denied, please try again", "auth" },
  { "Too many authentication failures", "auth" },
  { "No more authentication methods", "auth" },
  { "Could not resolve hostname .*Temporary failure", "dns_transient" },
  { "Could not resolve hostname .*try again", "dns_transient" },
  { "Could not resolve hostname", "dns_permanent" },
  { "System is booting up", "booting" },
  { "Connection timed out during banner exchange", "banner_timeout" },
  { "kex_exchange_identification", "reset" },
  { "ssh_exchange_identification", "reset" },
  { "Connection refused", "refused" },
  { "No route to host", "unreachable" },
  { "Network is unreachable", "unreachable" },
  { "Host is unreachable", "unreachable" },
  { "Connection timed out", "timeout" },
  { "Operation timed out", "timeout" },
  { "Timeout, server .- not responding", "timeout" },
  { "Connection to .- timed out", "timeout" },        -- sshpkt_fatal, newer OpenSSH
  { "closed by remote host", "closed" },
  { "Connection reset by", "reset" },
  { "Broken pipe", "reset" },
  { "Connection closed by", "reset" },
  { "Software caused connection abort", "reset" },
}

--- The failure class of a program's stderr text: `class, line`, or nil.
-- Classes: refused, unreachable, timeout, reset, banner_timeout, closed,
-- booting, dns_transient, dns_permanent, auth, hostkey.
function M.classify(text)
  if type(text) ~= "string" or text == "" then return nil end
  local lines = {}
  for line in text:gmatch("[^\r\n]+") do lines[#lines + 1] = line end
  for i = #lines, 1, -1 do
    local line = lines[i]
    for _, p in ipairs(M.patterns) do
      if line:find(p[1]) then return p[2], line end
    end
  end
  return nil
end

--- The failure class of one ssh run, read from ssh's own messages only:
-- `log`, what ssh wrote to its `-E FILE` (connect, DNS, key exchange,
-- authentication and host key errors, a dead server: everything ssh logs),
-- and the end of `stderr_tail` for the one message ssh writes to stderr
-- instead, "Connection to H closed by remote host.\r\n" as the last line
-- after a dropped session (with a terminal, "Connection to H closed.\r\n"
-- follows it).  The remote command's stderr reaches ssh's stderr, never its
-- log, so what a remote command prints cannot pass for ssh's own failure.
-- Returns `class, line`, or nil.
function M.classify_ssh(log, stderr_tail)
  local class, line = M.classify(log)
  if class then return class, line end
  if type(stderr_tail) ~= "string" or not stderr_tail:find("\r\n$") then return nil end
  local lines = {}
  for l in stderr_tail:gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local i = #lines
  if i > 1 and lines[i]:find("^Connection to %S+ closed%.\r$") then i = i - 1 end
  local l = lines[i]
  if l and l:find("^Connection to %S+ closed by remote host%.\r$") then return "closed", l:sub(1, -2) end
  return nil
end

--- Classes where ssh never reached a session: worth trying again.
M.transient = {
  refused = true, unreachable = true, timeout = true, reset = true,
  banner_timeout = true, dns_transient = true, booting = true, closed = true,
}

--- Classes that no retry can fix.
M.fatal = { auth = true, hostkey = true, dns_permanent = true }

M.policies = {}

--- The seed's second variant: retry while the status is 255.
-- @function policies.exit255
function M.policies.exit255(result)
  if result.status == "exited" and result.code == 255 then return "retry" end
  return "stop"
end

--- The seed's first variant: retry until the status is 0.
-- @function policies.nonzero
function M.policies.nonzero(result)
  if result.status == "exited" and result.code == 0 then return "stop" end
  return "retry"
end

--- sssh's default: retry while ssh could not reach or start a session;
-- stop on authentication or host key failure, permanent DNS failure, and any
-- status of the remote command (a remote `exit 255` with no ssh message too).
-- That last promise needs `state.class` read from ssh's own messages only:
-- run ssh with retry.run's `ssh = true` (see retry.classify_ssh).
-- @function policies.ssh
function M.policies.ssh(result, state)
  if result.status ~= "exited" or result.code ~= 255 then return "stop" end
  if state.class and M.transient[state.class] then
    if state.class == "booting" then return "retry", math.max(state.delay or 0, 2) end
    return "retry"
  end
  return "stop"
end

local function num(v, name, def)
  if v == nil then return def end
  if type(v) ~= "number" or v ~= v or v < 0 then
    error("retry.run: " .. name .. " must be a non-negative number", 3)
  end
  return v
end

local loop   -- retry.run's loop, below

-- ssh's log file for retry.run's `ssh` option: os.tmpname makes it with
-- mkstemp (a new file, mode 0600); ssh opens it O_APPEND.  While ssh runs,
-- what it logs is copied out every POLL seconds; the last KEEP bytes are
-- kept for classifying.
local POLL, KEEP = 0.1, 16384
local function ssh_log(sopts)
  local path = os.tmpname()
  local echo = sopts.stderr
  if echo == nil or echo == "inherit" or echo == "tee" then echo = io.stderr
  elseif io.type(echo) ~= "file" then echo = nil end
  local log = { path = path }
  local f, kept
  local function drain()
    local chunk = f and f:read(65536)
    while chunk do
      if echo then echo:write(chunk) end
      kept = (kept .. chunk):sub(-KEEP)
      chunk = f:read(65536)
    end
  end
  function log.reset()
    local w = assert(io.open(path, "w"))
    w:close()
    kept = ""
  end
  -- proc:wait() in steps, copying what ssh logged in between; opened after
  -- the spawn, so the (not CLOEXEC) handle never reaches a child
  function log.wait(proc)
    f = io.open(path, "rb")
    local r = proc:wait(POLL)
    while r.running do
      drain()
      r = proc:wait(POLL)
    end
    drain()
    if f then f:close() end
    f = nil
    if echo then echo:flush() end
    return r
  end
  function log.text() return kept end
  -- removed by retry.run; also when a callback ends the program with
  -- os.exit(code, true) in the middle
  return setmetatable(log, { __gc = function() os.remove(path) end })
end

--- Run `o.argv` until the policy says stop.  Returns the last result and the
-- number of attempts.  The result gets `stop_reason`: "policy", "deadline",
-- "max_attempts", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", or "spawn" (the
-- program could not start: `result.status == "failed"`, `result.error`).
-- Options:
--   argv          the program and its arguments (required)
--   policy        a function or the name of a built-in (default "ssh")
--   interval      first delay between attempts, seconds (default 1)
--   backoff       factor applied to each further delay (default 2)
--   max_interval  cap of the delay (default 30)
--   jitter        fraction of random spread on each delay (default 0.1)
--   deadline      give up when this many seconds have passed (default none)
--   max_attempts  give up after this many runs (default none)
--   on_attempt    function(result, state) called after each run
--   before        function(state) called before each run after the first;
--                 return nil to go on, or a result table to stop with
--   spawn         options for netops.spawn (default { stderr = "tee" })
--   ssh           true when argv is an ssh command line: each run gets
--                 `-E FILE` (a private temporary file) after argv[1], so ssh
--                 writes its own messages there and the remote command's
--                 stderr stays apart; they are copied to our stderr as they
--                 come (to spawn.stderr's file if it is one; not at all for
--                 "capture" and "null"), kept in `result.ssh_log`, and the
--                 failure class is read from them alone (retry.classify_ssh).
--                 Without it the class is read from the program's stderr,
--                 where a remote command's own output may pass for ssh's.
function M.run(o)
  if type(o) ~= "table" then error("retry.run: options table expected", 2) end
  if type(o.argv) ~= "table" or #o.argv == 0 then error("retry.run: argv must be a non-empty array", 2) end
  local policy = o.policy or "ssh"
  if type(policy) == "string" then
    policy = M.policies[policy] or error("retry.run: no built-in policy '" .. policy .. "'", 2)
  elseif type(policy) ~= "function" then
    error("retry.run: policy must be a function or a built-in's name", 2)
  end
  local interval = num(o.interval, "interval", 1)
  local backoff = num(o.backoff, "backoff", 2)
  local max_interval = num(o.max_interval, "max_interval", 30)
  local jitter = num(o.jitter, "jitter", 0.1)
  local deadline = num(o.deadline, "deadline", nil)
  local max_attempts = o.max_attempts
  if max_attempts ~= nil and (math.type(max_attempts) ~= "integer" or max_attempts < 1) then
    error("retry.run: max_attempts must be a positive integer", 2)
  end
  local sopts = o.spawn or { stderr = "tee" }

  local log = o.ssh and ssh_log(sopts) or nil
  local argv = o.argv
  if log then argv = { o.argv[1], "-E", log.path, table.unpack(o.argv, 2) } end
  local ok, r, n = pcall(loop, o, argv, sopts, log, policy, {
    interval = interval, backoff = backoff, max_interval = max_interval, jitter = jitter,
    deadline = deadline, max_attempts = max_attempts })
  if log then os.remove(log.path) end
  if not ok then error(r, 0) end
  return r, n
end

loop = function(o, argv, sopts, log, policy, lim)
  local interval, backoff, max_interval, jitter = lim.interval, lim.backoff, lim.max_interval, lim.jitter
  local deadline, max_attempts = lim.deadline, lim.max_attempts
  local t0 = M.now()
  local function clock() return M.now() - t0 end
  local state = { attempt = 0, elapsed = 0, paced = 0 }
  local result
  while true do
    if state.attempt > 0 and o.before then
      local stop = o.before(state)
      if stop then
        stop.stop_reason = stop.stop_reason or "before"
        return stop, state.attempt
      end
    end
    state.attempt = state.attempt + 1
    if log then log.reset() end
    local proc, err, errno = core.spawn(argv, sopts)
    if not proc then
      return { status = "failed", error = err, errno = errno, stop_reason = "spawn" }, state.attempt
    end
    result = log and log.wait(proc) or proc:wait()
    proc:close()
    state.elapsed = clock()
    if log then
      result.ssh_log = log.text()
      state.class, state.line = M.classify_ssh(result.ssh_log, result.stderr_tail)
    else
      state.class, state.line = M.classify(result.stderr_tail)
    end
    state.last = result
    -- a run that lasted longer than the longest delay (a session that
    -- worked for a while) starts the backoff afresh
    if (result.elapsed or 0) > max_interval then state.paced = 0 end
    -- the default delay for this retry, which the policy may override
    local d = interval * backoff ^ state.paced
    if d > max_interval then d = max_interval end
    state.delay = d
    local verdict, delay = policy(result, state)
    if verdict ~= "retry" and verdict ~= "stop" then
      error("retry policy returned " .. tostring(verdict) .. " (\"retry\" or \"stop\" expected)")
    end
    if o.on_attempt then o.on_attempt(result, state) end
    local sig = result.forwarded or result.interrupted
    if verdict == "stop" then
      result.stop_reason = "policy"
      return result, state.attempt
    elseif sig then
      result.stop_reason = sig
      return result, state.attempt
    elseif max_attempts and state.attempt >= max_attempts then
      result.stop_reason = "max_attempts"
      return result, state.attempt
    end
    if delay == nil then
      delay = d
      state.paced = state.paced + 1
    end
    if jitter > 0 and delay > 0 then
      delay = delay * (1 + jitter * (2 * math.random() - 1))
    end
    if deadline and clock() + delay > deadline then
      result.stop_reason = "deadline"
      return result, state.attempt
    end
    if delay > 0 then
      local s = core.sleep(delay)
      if s then
        result.stop_reason = s
        return result, state.attempt
      end
    end
  end
end

--- Monotonic seconds, a float (for measuring waits and deadlines).
M.now = core.monotime

--- Load a policy from a file an operator edits: a Lua chunk returning the
-- policy function.  It sees the standard library and `retry` (this module).
-- Returns the function, or nil, message, class.  The file is read and
-- compiled by core.load_trusted, the one loader of policies: a file owned by
-- another user, writable by group or others, or below a directory others
-- could change is refused with class "insecure".
function M.load_policy(path)
  local env = setmetatable({ retry = M }, { __index = _G })
  local chunk, err, cls = core.load_trusted(path, env)
  if not chunk then return nil, "policy " .. err, cls end
  local ok, fn = pcall(chunk)
  if not ok then return nil, "policy " .. path .. ": " .. tostring(fn), "error" end
  if type(fn) ~= "function" then
    return nil, "policy " .. path .. ": the chunk must return a function (got " .. type(fn) .. ")", "type"
  end
  return fn
end

return M
