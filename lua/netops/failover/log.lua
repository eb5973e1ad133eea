--- netops.failover.log: the failover runtime's logger.
-- @module netops.failover.log
local core = require "netops.core"

local M = {}

--- A logger function(level, msg): where = "syslog" (default) | "stderr" |
-- a file path (appended, one line per message, UTC time first).
function M.logger(where, ident)
  ident = ident or "netops-failover"
  if where == nil or where == "syslog" then
    core.log.open(ident, "daemon")
    return function(level, msg) core.log.write(level, msg) end
  elseif where == "stderr" then
    return function(level, msg)
      io.stderr:write(string.format("%s[%d] %s: %s\n", ident, core.failover.pid(), level, msg))
    end
  else
    return function(level, msg)
      local f = io.open(where, "a")
      if not f then
        io.stderr:write(string.format("%s: cannot write log %s; %s: %s\n", ident, where, level, msg))
        return
      end
      f:write(string.format("%s %s[%d] %s: %s\n", os.date("!%Y-%m-%dT%H:%M:%SZ"), ident,
                            core.failover.pid(), level, msg))
      f:close()
    end
  end
end

return M
