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

-- netops-failover: what keepalived calls on every VRRP state change.
local USAGE = [[
usage: netops-failover [options] primary|backup|fault
       netops-failover [options] INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY
       netops-failover doctor [--conntrackd-config FILE] [--keepalived-config FILE]
                              [--socket PATH] [--ruleset FILE]
options:
  --policy FILE             handlers to run (default /etc/netops/failover-policy.lua
                            if it exists, else the shipped examples/primary-backup.lua)
  --socket PATH             conntrackd's control socket (default /var/run/conntrackd.ctl)
  --timeout SECONDS         per conntrackd request (default 60)
  --log syslog|stderr|FILE  where steps are logged (default syslog)
  --lock PATH               lock/queue file (default /run/netops-failover.lock)
  --wait SECONDS            longest wait for earlier calls (default 120)
  --conntrackd-config FILE  lets the backup handler start conntrackd if it is down
keepalived.conf:
  notify_master "/usr/local/bin/netops-failover primary"   (or one generic `notify`)]]

local function die(msg, code)
  io.stderr:write("netops-failover: " .. msg .. "\n" .. USAGE .. "\n")
  os.exit(code or 2)
end

local opts, args = { timeout = 60 }, {}
local valued = { ["--policy"] = "policy_path", ["--socket"] = "socket", ["--timeout"] = "timeout",
                 ["--log"] = "log", ["--lock"] = "lock", ["--wait"] = "wait",
                 ["--conntrackd-config"] = "conntrackd_config",
                 ["--keepalived-config"] = "keepalived_config", ["--ruleset"] = "ruleset" }
local i = 1
while i <= #arg do
  local a = arg[i]
  local k, v = a:match("^(%-%-[%w-]+)=(.*)$")
  if not k then k = a end
  if a == "-h" or a == "--help" then print(USAGE); os.exit(0) end
  if valued[k] then
    if not v then
      i = i + 1
      v = arg[i]
      if v == nil then die("option " .. k .. " needs a value") end
    end
    opts[valued[k]] = v
  elseif a:match("^%-%-") then
    die("unknown option " .. a)
  else
    args[#args + 1] = a
  end
  i = i + 1
end
for _, k in ipairs { "timeout", "wait" } do
  if opts[k] ~= nil then
    local n = tonumber(opts[k])
    if not n or n < 0 or n > 86400 then die("--" .. k .. " needs a number of seconds") end
    opts[k] = n
  end
end

local failover = require "netops.failover"

if args[1] == "doctor" then
  if #args > 1 then die("doctor takes options only") end
  local findings, bad = failover.doctor(opts)
  for _, f in ipairs(findings) do
    io.write(string.format("%-4s %s\n", f.ok and "ok" or "FAIL", f.what))
    if not f.ok and f.fix then io.write("     fix: " .. f.fix .. "\n") end
  end
  io.write(bad == 0 and "doctor: all checks passed\n" or string.format("doctor: %d problem(s)\n", bad))
  os.exit(bad == 0 and 0 or 1)
end

local call, err = failover.parse_args(args)
if not call then die(err) end

if not opts.policy_path then
  local f = io.open(failover.DEFAULT_POLICY)
  if f then
    f:close()
    opts.policy_path = failover.DEFAULT_POLICY
  elseif leaf == "examples" then
    opts.policy_path = top .. "examples/primary-backup.lua"
  else
    -- installed: the rock ships examples/primary-backup.lua as this module file
    opts.policy_path = package.searchpath("netops.policies.primary_backup", package.path)
    if not opts.policy_path then
      die("no --policy given, " .. failover.DEFAULT_POLICY .. " does not exist, "
          .. "and the default policy netops.policies.primary_backup is not installed")
    end
  end
end

local where = opts.log or "syslog"
opts.args = args
opts.log = failover.logger(where)
local code, msg = failover.run(opts)
if code ~= 0 and where ~= "stderr" then
  io.stderr:write("netops-failover: " .. tostring(msg) .. "\n")
end
os.exit(code)
