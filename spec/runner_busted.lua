-- busted output handler for spec/runner.lua (`-o spec/runner_busted.lua
-- -Xoutput FILE`).  Each event is one line appended to FILE, which is opened
-- and closed for that line, so no test and no child process holds it:
-- what tests print (stdout, stderr) can never be taken for a result, and
-- the results written before a crash or an os.exit stay in the file.
--   start \t \t NAME \t                 a test begins
--   test \t STATUS \t NAME \t MESSAGE  a test ended (success, pending,
--                                       failure, error)
--   error \t WHAT \t NAME \t MESSAGE   an error outside any test (loading
--                                       the file, describe, a hook)
--   end \t \t \t                       busted reached the end of the suite
-- Tabs, newlines and backslashes in NAME and MESSAGE are escaped (\t \n \\).
local pretty = require "pl.pretty"

local escapes = { ["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n", ["\r"] = "\\r" }

local function text(v)
  if v == nil then return "" end
  if type(v) ~= "string" then v = pretty.write(v) end
  return (v:gsub("[\\\t\n\r]", escapes))
end

return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.base"()
  local path = assert((options.arguments or {})[1], "runner_busted: -Xoutput FILE is missing")

  local function put(kind, what, name, message)
    local f = assert(io.open(path, "a"))
    f:write(kind, "\t", what or "", "\t", text(name), "\t", text(message), "\n")
    f:close()
  end

  handler.testStart = function(element)
    local name = handler.getFullName(element)
    put("start", "", name, "")
    -- a marker in the test's own stdout, so the log shows whose output follows
    io.stdout:write("# test: ", name, "\n"); io.stdout:flush()
    return nil, true
  end

  handler.testEnd = function(element, _, status)
    local name, message = handler.getFullName(element), ""
    local list = status == "pending" and handler.pendings or status == "failure" and handler.failures
                 or status == "error" and handler.errors or nil
    local t = list and list[#list]
    if t then message = t.message or (status ~= "pending" and "nil error" or "") end
    put("test", status, name, message)
    return nil, true
  end

  handler.otherError = function(element, _, message)
    if element.descriptor ~= "it" then
      put("error", element.descriptor, handler.getFullName(element), message)
    end
    return nil, true
  end

  handler.suiteEnd = function()
    put("end", "", "", "")
    return nil, true
  end

  busted.subscribe({ "test", "start" }, handler.testStart, { predicate = handler.cancelOnPending })
  busted.subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ "error" }, handler.otherError)
  busted.subscribe({ "failure" }, handler.otherError)
  busted.subscribe({ "suite", "end" }, handler.suiteEnd)
  return handler
end
