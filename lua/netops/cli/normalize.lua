--- normalize: one canonical text per address (RFC 5952 for IPv6).
--
--   normalize [FILE...]             one address a line in, one line out
--   normalize --rewrite [FILE...]   any text in, its addresses canonical
--
-- Output line N answers input line N: the canonical address, or
-- "Invalid address <input>"; blank and `#` comment lines are copied as they
-- are, and a CRLF line keeps its CRLF.  The work is done in C a block of
-- lines at a time (netops.inet's normalize_lines and rewrite_lines, fed by
-- the C line reader); this module only moves the blocks.
local cli = require "netops.cli"
local inet = require "netops.inet"

local M = {}
-- main leaves no object with a finalizer behind: the launcher exits without
-- closing the Lua state (lua/netops/cli/init.lua, "The launcher").
M.no_finalizers = true

local parser = cli.parser("normalize",
  "One canonical text per address: IPv4, or IPv6 (RFC 5952) with an optional %zone, "
  .. "either with an optional /prefix.",
  [[Each line of input must be one address; its canonical form is printed, or
"Invalid address <line>".  Blank lines and lines whose first non-blank
character is # are copied as they are; a line ending in CRLF keeps its CRLF.
Exit status: 0 every line was valid, 1 some were not, 2 a usage error or a
file that cannot be read.]])
parser:flag("--rewrite", "Copy the text, replacing each IPv6 address found in it with its "
  .. "canonical form (e.g. ip6tables-save | normalize --rewrite).")
parser:argument("file", 'Files to read (default, and "-": standard input).'):args("*")

--- The option parser (the Makefile generates the bash completion from it).
function M.parser() return parser end

-- Each block goes out at once, so a pipeline (tail -f log | normalize
-- --rewrite) sees its lines as they come.
local function put(s)
  if s == "" then return true end
  local ok, err = io.stdout:write(s)
  if ok then ok, err = io.stdout:flush() end
  if not ok then return nil, "standard output: " .. tostring(err) end
  return true
end

--- Streams one file through step (normalize_lines or rewrite_lines), a block
-- of complete lines at a time.  Returns the invalid line count, or nil,
-- message on a read or write error.
local function pump(f, name, step)
  -- Complete lines as soon as one read(2) brings a newline; the partial
  -- line after it waits in C, so a long line costs the same from a pipe as
  -- from a file.
  local reader <close> = require("netops.core").inet._linereader(f)
  local bad = 0
  while true do
    local data, err = reader:read()
    if not data then
      if err then return nil, name .. ": " .. err end
      return bad
    end
    local out, _, nbad = step(data, true)   -- complete lines, or the last one
    local ok, werr = put(out)
    if not ok then return nil, werr end
    bad = bad + (nbad or 0)
  end
end

-- The message for a FILE argument that cannot be opened; an address given
-- where a file was expected gets a hint.
local function open_error(name, err)
  if err:match(": No such file or directory$") and inet.normalize(name) then
    return ("%s (to normalize an address, give it on standard input: echo %s | normalize)"):format(err, name)
  end
  return err
end

function M.main(args)
  local o, status = cli.parse(parser, args)
  if not o then return status end
  local step = o.rewrite and inet.rewrite_lines or inet.normalize_lines
  local files = #o.file > 0 and o.file or { "-" }
  local bad, failed = 0, false
  for _, name in ipairs(files) do
    local f, err
    if name == "-" then f = io.stdin else f, err = io.open(name, "rb") end
    if not f then
      io.stderr:write("normalize: ", open_error(name, err), "\n")
      failed = true
    else
      local n, perr = pump(f, name == "-" and "standard input" or name, step)
      if f ~= io.stdin then f:close() end
      if not n then
        io.stderr:write("normalize: ", perr, "\n")
        if perr:match("^standard output: ") then return 2 end
        failed = true
      else
        bad = bad + n
      end
    end
  end
  local ok, err = io.stdout:flush()
  if not ok then
    io.stderr:write("normalize: standard output: ", tostring(err), "\n")
    return 2
  end
  if failed then return 2 end
  return bad > 0 and 1 or 0
end

return M
