#!/usr/bin/env lua5.4
-- Where netops is: run as CHECKOUT/examples/NAME.lua, the checkout's lua/ and
-- build/; installed as PREFIX/bin/NAME, that tree's share/lua/5.4 and
-- lib/lua/5.4; else Lua's own path (LUA_PATH, as `luarocks path` sets it).
local top, leaf = ((arg and arg[0] or ""):match("^(.*/)") or ""):match("^(.-)([^/]*)/$")
if leaf == "examples" then
  package.path = top .. "lua/?.lua;" .. top .. "lua/?/init.lua;" .. package.path
  package.cpath = top .. (os.getenv("NETOPS_BUILD") or "build") .. "/?.so;" .. package.cpath
elseif leaf == "bin" then
  package.path = top .. "share/lua/5.4/?.lua;" .. top .. "share/lua/5.4/?/init.lua;" .. package.path
  package.cpath = top .. "lib/lua/5.4/?.so;" .. package.cpath
end

-- failover-tester: the seed's forced-failover loop.  Restarts keepalived on
-- alternating firewalls (through ssh, argv only) at random intervals, counts
-- the failovers and prints a summary at the end.
local USAGE = [[
usage: failover-tester [options]
  --hosts H1,H2,...     firewalls to restart in turn (default 192.0.2.2,192.0.2.3)
  --user USER           ssh user (default root)
  --min S --max S       random interval between restarts (default 61..120 s)
  --count N             number of forced failovers (default 10)
  --command WORDS       remote command (default "systemctl restart keepalived")
  --ssh PATH            ssh program (default ssh)
  --dry-run             print what would run, do not sleep or connect]]

local opts = { hosts = "192.0.2.2,192.0.2.3", user = "root", min = 61, max = 120, count = 10,
               command = "systemctl restart keepalived", ssh = "ssh" }
local i = 1
while i <= #arg do
  local a = arg[i]
  local k = a:match("^%-%-([%w-]+)$")
  if a == "-h" or a == "--help" then print(USAGE); os.exit(0)
  elseif a == "--dry-run" then opts.dry = true
  elseif k and opts[k] ~= nil then
    i = i + 1
    if arg[i] == nil then io.stderr:write("failover-tester: --" .. k .. " needs a value\n" .. USAGE .. "\n"); os.exit(2) end
    opts[k] = arg[i]
  else
    io.stderr:write("failover-tester: unknown argument " .. a .. "\n" .. USAGE .. "\n"); os.exit(2)
  end
  i = i + 1
end
for _, k in ipairs { "min", "max", "count" } do
  local n = tonumber(opts[k])
  if not n or n < 0 then io.stderr:write("failover-tester: --" .. k .. " needs a number\n"); os.exit(2) end
  opts[k] = n
end
if opts.max < opts.min then io.stderr:write("failover-tester: --max is below --min\n"); os.exit(2) end
local hosts = {}
for h in opts.hosts:gmatch("[^,%s]+") do hosts[#hosts + 1] = h end
if #hosts == 0 then io.stderr:write("failover-tester: no hosts\n"); os.exit(2) end
local remote = {}
for w in opts.command:gmatch("%S+") do remote[#remote + 1] = w end

local netops = require "netops"
local core = require "netops.core"
math.randomseed(os.time())

local done, failed = 0, 0
local t0 = core.monotime()
for n = 1, math.floor(opts.count) do
  local host = hosts[(n - 1) % #hosts + 1]
  local argv = { opts.ssh, "-o", "BatchMode=yes", opts.user .. "@" .. host, "--" }
  for _, w in ipairs(remote) do argv[#argv + 1] = w end
  io.write(string.format("[%s] failover %d: restarting keepalived on %s\n", os.date("!%H:%M:%S"), n, host))
  if opts.dry then
    io.write("  would run: " .. table.concat(argv, " ") .. "\n")
    done = done + 1
  else
    local p, err = netops.spawn(argv, { stderr = "tee" })
    local r = p and p:wait(120)
    if r and r.status == "exited" and r.code == 0 then
      done = done + 1
    else
      failed = failed + 1
      io.write(string.format("  FAILED: %s\n", p and (r and (r.status .. " " .. tostring(r.code or r.signal))
                                                            or "no result") or tostring(err)))
    end
  end
  if n < opts.count then
    local period = opts.min + math.random() * (opts.max - opts.min)
    io.write(string.format("  next in %.0f s\n", period))
    if not opts.dry then
      local why = core.sleep(period)
      if type(why) == "string" then io.write("  interrupted (" .. why .. ")\n"); break end
    end
  end
  io.flush()
end
io.write(string.format("summary: %d failovers forced, %d failed, %.0f s, hosts %s\n", done, failed,
                       core.monotime() - t0, table.concat(hosts, ", ")))
os.exit(failed == 0 and 0 or 1)
