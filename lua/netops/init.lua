--- netops: tools for network and firewall operators.
-- `local netops = require "netops"`; areas load on first use:
-- netops.inet, netops.proc, netops.signals, netops.retry, netops.conntrack,
-- netops.conntrackd, netops.failover.  netops.spawn, netops.probe and
-- netops.sleep are functions of the C core.
--
-- Error convention (every area): misuse (wrong argument type, impossible
-- value) raises an error; a failure of the world returns
-- `nil, message, errno_or_class`.
-- @module netops

local major, minor = tostring(_VERSION):match("^Lua (%d+)%.(%d+)")
if not major or tonumber(major) * 100 + tonumber(minor) < 504 then
  error("netops needs Lua 5.4 or newer, but this is " .. tostring(_VERSION)
        .. "; run it with lua5.4 (luarocks --lua-version 5.4)", 2)
end

local core = require "netops.core"

local areas = {
  inet = true, proc = true, signals = true, retry = true,
  conntrack = true, conntrackd = true, failover = true,
}

local netops = {
  _VERSION = "netops 0.1.0",   -- the one place of the version (`--version` of every command)
  core = core,
  spawn = core.spawn,
  probe = core.probe,
  sleep = core.sleep,
}

return setmetatable(netops, {
  __index = function(t, k)
    if areas[k] then
      local mod = require("netops." .. k)
      rawset(t, k, mod)
      return mod
    end
  end,
})
