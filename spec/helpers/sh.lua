--- Test helpers: run commands, temp dirs, root checks, network namespaces.
-- Tests may use a shell to drive tools; netops itself never does.
local M = {}

--- Quote one word for /bin/sh.
function M.quote(s)
  s = tostring(s)
  if s:match("^[%w%-%./_:=@,+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Join argv into a shell command line.
function M.join(argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = M.quote(a) end
  return table.concat(out, " ")
end

--- Run a shell command; returns stdout, exit code (128+n when signaled).
-- stderr goes to stdout when opts.stderr is true; opts.stdin: text for its
-- stdin (through a temp file, removed when the command is done).
function M.run(cmd, opts)
  if type(cmd) == "table" then cmd = M.join(cmd) end
  if opts and opts.stderr then cmd = "(" .. cmd .. ") 2>&1" end
  local input
  if opts and opts.stdin then
    input = M.tmpfile()
    local f = assert(io.open(input, "w"))
    f:write(opts.stdin); f:close()
    cmd = cmd .. " < " .. M.quote(input)
  end
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  if input then os.remove(input) end
  if how == "signal" then code = 128 + code end
  return out, code or (ok and 0 or 1)
end

--- A new empty temp file (os.tmpname: mkstemp); the caller removes it.
function M.tmpfile()
  return os.tmpname()
end

--- A fresh temp directory; removed by M.rmtree.
function M.tmpdir()
  local out = M.run("mktemp -d /tmp/netops-test.XXXXXX")
  return (out:gsub("%s+$", ""))
end

function M.rmtree(dir)
  assert(dir:match("^/tmp/netops%-test%.") or dir:match("^/tmp/netops%-"), "refusing to remove " .. dir)
  os.execute("rm -rf " .. M.quote(dir))
end

function M.is_root()
  local out = M.run("id -u")
  return out:match("^0%s") ~= nil
end

-- busted's `pending` lives in the spec file's environment, not in _G: find
-- it through the _ENV of the functions on the caller's stack.
local function busted_pending()
  for level = 3, 30 do
    local info = debug.getinfo(level, "f")
    if not info then break end
    for i = 1, 255 do
      local name, value = debug.getupvalue(info.func, i)
      if not name then break end
      if name == "_ENV" and type(value) == "table" and type(value.pending) == "function" then
        return value.pending
      end
    end
  end
  error("sh.need_root must be called from inside a busted test")
end

--- Inside an `it`: skip with a reason unless root.  Returns true when skipped.
function M.need_root(why)
  if M.is_root() then return false end
  busted_pending()("needs root: " .. (why or "network namespaces"))
  return true
end

function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text); f:close()
end

function M.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a"); f:close(); return s
end

--- The words of a Makefile variable, as make expands them: M.make_var("COMMANDS").
function M.make_var(name)
  local out, code = M.run("printf 'print:\n\t@echo $(%s)\n' " .. name
    .. " | make -s --no-print-directory -f Makefile -f - print", { stderr = true })
  assert(code == 0, out)
  local words = {}
  for w in out:gmatch("%S+") do words[#words + 1] = w end
  return words
end

--- The build directory (NETOPS_BUILD) and the repository root.
M.build = os.getenv("NETOPS_BUILD") or "build"
M.lua = "lua5.4"

--- argv to run an example command of the checkout: M.cmd("normalize", ...).
function M.cmd(name, ...)
  return { M.lua, "examples/" .. name .. ".lua", ... }
end

--- Network namespaces for tests.  Names are unique per test run; every one
-- created is deleted by M.netns_cleanup() (call it in after_each/finally).
local created = {}
function M.netns(tag)
  local name = string.format("nt-%s-%d-%d", tag, tonumber(M.run("echo $PPID"):match("%d+")) or 0,
                             #created + 1)
  local _, code = M.run({ "ip", "netns", "add", name })
  assert(code == 0, "ip netns add " .. name .. " failed")
  created[#created + 1] = name
  M.run({ "ip", "-n", name, "link", "set", "lo", "up" })
  return name
end

function M.netns_cleanup()
  for i = #created, 1, -1 do
    -- kill whatever still runs in it (by pid), then delete it
    local pids = M.run({ "ip", "netns", "pids", created[i] })
    for pid in pids:gmatch("%d+") do M.run({ "kill", "-9", pid }) end
    M.run({ "ip", "netns", "del", created[i] })
    created[i] = nil
  end
end

--- Run argv inside a namespace.
function M.nsrun(ns, argv, opts)
  local full = { "ip", "netns", "exec", ns }
  for _, a in ipairs(argv) do full[#full + 1] = a end
  return M.run(full, opts)
end

return M
