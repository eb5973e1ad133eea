--- Test helpers for the spawn/sssh specs: run a program with netops.spawn,
-- its stdout and stderr in files, under a clean environment.
local sh = require "helpers.sh"
local core = require "netops.core"

local M = {}

M.started = {}

--- Close (kill, reap) everything started and remove its temp dirs: call it
-- in after_each, so a failing test leaves nothing behind.
function M.cleanup()
  for i = #M.started, 1, -1 do
    M.started[i].close()
    M.started[i] = nil
  end
end

--- Start argv; returns a table { proc, out = path, err = path, read(), stderr() }.
function M.start(argv, opts)
  opts = opts or {}
  local dir = opts.dir or sh.tmpdir()
  local n = (M.count or 0) + 1
  M.count = n
  local out, err = dir .. "/out." .. n, dir .. "/err." .. n
  local fo, fe = assert(io.open(out, "w")), assert(io.open(err, "w"))
  local env = {
    PATH = os.getenv("PATH"), HOME = opts.home or dir, LANG = "C",
    NETOPS_BUILD = sh.build,
  }
  -- sanitizer runs preload their runtime into every lua5.4
  for _, k in ipairs { "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" } do env[k] = os.getenv(k) end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local proc = assert(core.spawn(argv, { stdout = fo, stderr = fe, stdin = "null", env = env }))
  fo:close(); fe:close()
  local h = { proc = proc, out = out, err = err, dir = dir, own = not opts.dir }
  M.started[#M.started + 1] = h
  function h.stdout() return sh.read(out) or "" end
  function h.stderr() return sh.read(err) or "" end
  --- Wait up to limit seconds; kills it past that (a test must end).
  function h.wait(limit)
    local r = proc:wait(limit or 60)
    if r.running then
      proc:kill("KILL")
      r = proc:wait()
      r.hung = true
    end
    return r
  end
  --- Poll until pred() is true (at most limit seconds); returns pred's value.
  function h.until_(pred, limit)
    local t = core.monotime() + (limit or 20)
    repeat
      local v = pred()
      if v then return v end
      core.sleep(0.05)
    until core.monotime() > t
    return nil
  end
  function h.close()
    if h.closed then return end
    h.closed = true
    proc:close()
    if h.own then sh.rmtree(dir) end
  end
  return h
end

--- Run a Lua chunk in a fresh lua5.4 with the checkout's modules.
function M.lua(code, opts)
  local pre = ('package.path="lua/?.lua;lua/?/init.lua;spec/?.lua;"..package.path;'
    .. 'package.cpath="%s/?.so;"..package.cpath;'):format(sh.build)
  return M.start({ "lua5.4", "-e", pre .. code }, opts)
end

--- Zombie children of pid.
function M.zombies(pid)
  local n = 0
  for p in sh.run("ls /proc"):gmatch("%d+") do
    local stat = sh.read("/proc/" .. p .. "/stat")
    local state, pp = (stat or ""):match("^%d+ %b() (%S+) (%d+)")
    if state == "Z" and tonumber(pp) == pid then n = n + 1 end
  end
  return n
end

--- Open fds of pid, as a list of link targets.
function M.fds(pid)
  local out = sh.run("ls -l /proc/" .. pid .. "/fd 2>/dev/null")
  local t = {}
  for fd, target in out:gmatch("(%d+) %-> ([^\n]+)") do t[#t + 1] = fd .. " " .. target end
  return t
end

return M
