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

-- normalize: one canonical text per address (RFC 5952 for IPv6).
--
--   normalize [FILE...]             one address a line in, one line out
--   normalize --rewrite [FILE...]   any text in, its addresses canonical
--
-- Output line N answers input line N: the canonical address, or
-- "Invalid address <input>".  Exit status 0 when every line was valid,
-- 1 when some were not, 2 on a usage error or a file that cannot be read.
-- The work is done in C a block of lines at a time (netops.inet's
-- normalize_lines and rewrite_lines); this script only moves the blocks.

local inet = require "netops.inet"

local USAGE = [[
usage: normalize [--rewrite] [FILE...]
  Reads FILEs (or standard input; "-" is standard input too).
  Without options: each line must be one address (IPv4, or IPv6 with an
  optional %zone, either with an optional /prefix); prints its canonical
  form, or "Invalid address <line>".  Exit 1 if any line was invalid.
  --rewrite  copy the text, replacing each IPv6 address found in it with its
             canonical form (e.g. ip6tables-save | normalize --rewrite).
  -h, --help this text.
]]

local function die(msg, code)
  io.stderr:write("normalize: ", msg, "\n")
  os.exit(code or 2)
end

-- Each block goes out at once, so a pipeline (tail -f log | normalize
-- --rewrite) sees its lines as they come.
local function put(s)
  if s ~= "" then
    local ok, err = io.stdout:write(s)
    if ok then ok, err = io.stdout:flush() end
    if not ok then die("standard output: " .. tostring(err)) end
  end
end

-- Complete lines as soon as one read(2) brings a newline; the partial line
-- after it waits in C, so a long line costs the same from a pipe as from a file.
local linereader = require("netops.core").inet._linereader

--- Stream one file through step (normalize_lines or rewrite_lines), a block
-- of complete lines at a time.  Returns the invalid line count, or nil,
-- message on a read error.
local function pump(f, name, step)
  local reader <close> = linereader(f)
  local bad = 0
  while true do
    local data, err = reader:read()
    if not data then
      if err then return nil, name .. ": " .. err end
      return bad
    end
    local out, _, nbad = step(data, true)   -- complete lines, or the last one
    put(out)
    bad = bad + (nbad or 0)
  end
end

local function main(args)
  local step, files = inet.normalize_lines, {}
  local opts = true
  for _, a in ipairs(args) do
    if opts and a == "--" then
      opts = false
    elseif opts and (a == "-h" or a == "--help") then
      io.stdout:write(USAGE)
      return 0
    elseif opts and a == "--rewrite" then
      step = inet.rewrite_lines
    elseif opts and a:match("^%-.") then
      io.stderr:write("normalize: unknown option ", a, "\n", USAGE)
      return 2
    else
      files[#files + 1] = a
    end
  end
  if #files == 0 then files[1] = "-" end

  local bad, failed = 0, false
  for _, name in ipairs(files) do
    local f, err
    if name == "-" then
      f = io.stdin
    else
      f, err = io.open(name, "rb")
    end
    if not f then
      io.stderr:write("normalize: ", err, "\n")
      failed = true
    else
      local n, rerr = pump(f, name == "-" and "standard input" or name, step)
      if f ~= io.stdin then f:close() end
      if not n then
        io.stderr:write("normalize: ", rerr, "\n")
        failed = true
      else
        bad = bad + n
      end
    end
  end
  local ok, err = io.stdout:flush()
  if not ok then die("standard output: " .. tostring(err)) end
  if failed then return 2 end
  return bad > 0 and 1 or 0
end

os.exit(main(arg))
