-- netops.signals, netops.proc and the checksignals command, against a helper
-- process with known dispositions (spec/helpers/sigtest.c) and against
-- independent sources: bash's `kill -l`, /proc read by hand, python's json.
local sh = require "helpers.sh"

local netops = require "netops"
local signals, proc = netops.signals, netops.proc

local HELPER = sh.build .. "/helpers/sigtest"

-- Wait (bounded) until every thread of the helper sleeps: right after its
-- ready line it may still be on its way into the sleep.
local function settle(h)
  for _ = 1, 500 do
    local a, b = proc.signals(h.pid, h.main), proc.signals(h.pid, h.thread)
    if a and b and a.state == "S" and b.state == "S" then return end
    os.execute("sleep 0.01")
  end
end

-- Start the helper (optionally named name); returns { pid, main, thread, rtmin, rtmax, pipe }.
local function start_helper(seconds, name, env)
  local pipe = assert(io.popen((env or "") .. "exec " .. sh.quote(HELPER) .. " " .. (seconds or 60)
                               .. (name and " " .. sh.quote(name) or ""), "r"))
  local line = pipe:read("l")
  local pid, main, thread, rtmin, rtmax =
    (line or ""):match("^ready (%d+) (%d+) (%d+) (%d+) (%d+)$")
  if not pid then
    pipe:close()
    error("sigtest did not start (is it built? `make build`): " .. tostring(line))
  end
  local h = { pid = tonumber(pid), main = tonumber(main), thread = tonumber(thread),
              rtmin = tonumber(rtmin), rtmax = tonumber(rtmax), pipe = pipe }
  settle(h)
  return h
end

local function stop_helper(h)
  if h and h.pipe then
    sh.run({ "kill", "-KILL", h.pid })   -- it ignores SIGTERM by design
    h.pipe:close()
    h.pipe = nil
  end
end

-- A pid that existed a moment ago and is gone now (reaped).
local function vanished_pid()
  local out = sh.run("sh -c 'echo $$'")
  local pid = tonumber(out:match("%d+"))
  assert(pid and not sh.read("/proc/" .. pid .. "/status"), "pid still there")
  return pid
end

local function sorted(t)
  table.sort(t)
  return t
end

-- Signals of a mask line read straight from a status file, in Lua.
local function hand_decode(hex)
  local out, bit = {}, 0
  for i = #hex, 1, -1 do
    local v = tonumber(hex:sub(i, i), 16)
    for b = 0, 3 do
      if v & (1 << b) ~= 0 then out[#out + 1] = bit + b + 1 end
    end
    bit = bit + 4
  end
  return out
end

local function json_query(text, expr)
  -- python3 parses the JSON (so it is valid) and prints expr of the document.
  return sh.run({ "python3", "-c", "import json,sys; d=json.load(sys.stdin); print(" .. expr .. ")" },
                { stdin = text, stderr = true })
end

describe("netops.signals names", function()
  it("agree with bash's kill -l for every signal bash names", function()
    local names = signals.list()
    local compared = 0
    for n = 1, signals.MAX do
      local out, code = sh.run({ "bash", "-c", "kill -l " .. n }, { stderr = true })
      local bashname = code == 0 and out:match("^(%S+)%s*$")
      if bashname then
        assert.equal("SIG" .. bashname, signals.name(n), "signal " .. n)
        assert.equal(names[n], signals.name(n))
        compared = compared + 1
      end
    end
    assert.is_true(compared >= 60, "bash named only " .. compared .. " signals")
  end)

  it("use the C library's run-time SIGRTMIN/SIGRTMAX", function()
    local h = start_helper(20)
    stop_helper(h)
    assert.equal(h.rtmin, signals.RTMIN)
    assert.equal(h.rtmax, signals.RTMAX)
    assert.equal("SIGRTMIN", signals.name(h.rtmin))
    assert.equal("SIGRTMIN+1", signals.name(h.rtmin + 1))
    assert.equal("SIGRTMIN+3", signals.name(h.rtmin + 3))
    assert.equal("SIGRTMAX-1", signals.name(h.rtmax - 1))
    assert.equal("SIGRTMAX", signals.name(h.rtmax))
  end)

  it("name a number that is no signal here: nil, a message with the range, EINVAL", function()
    for _, n in ipairs { 0, -1, signals.MAX + 1, math.maxinteger } do
      local ok, msg, err = signals.name(n)
      assert.is_nil(ok)
      assert.equal(("no signal %d on this system (1..%d)"):format(n, signals.MAX), msg)
      assert.equal(22, err)   -- EINVAL
    end
  end)

  it("give 32 (reserved by glibc) a stable name that round-trips", function()
    if signals.RTMIN <= 32 then pending("SIGRTMIN is " .. signals.RTMIN .. ": no signal 32 reserved below it") return end
    assert.equal("SIGCANCEL", signals.name(32))
    assert.equal(32, signals.number("SIGCANCEL"))
  end)

  it("give 33 (reserved by glibc) a stable name that round-trips", function()
    if signals.RTMIN <= 33 then pending("SIGRTMIN is " .. signals.RTMIN .. ": no signal 33 reserved below it") return end
    assert.equal("SIGSETXID", signals.name(33))
    assert.equal(33, signals.number("setxid"))
  end)

  it("round-trip for every signal 1..MAX in every accepted spelling", function()
    assert.is_true(signals.MAX >= 64)
    for n = 1, signals.MAX do
      local name = assert(signals.name(n))
      assert.matches("^SIG[%u%d+-]+$", name)
      local bare = name:sub(4)
      assert.equal(n, signals.number(name), name)
      assert.equal(n, signals.number(bare), bare)
      assert.equal(n, signals.number(name:lower()), name:lower())
      assert.equal(n, signals.number(tostring(n)))
      assert.equal(n, signals.number(n))
    end
  end)

  it("number() accepts the forms operators type, and aliases", function()
    local term = tonumber((sh.run({ "bash", "-c", "kill -l TERM" }):match("%d+")))
    assert.equal(term, signals.number("TERM"))
    assert.equal(term, signals.number("SIGTERM"))
    assert.equal(term, signals.number("sigterm"))
    assert.equal(term, signals.number(tostring(term)))
    assert.equal(signals.RTMIN + 2, signals.number("RTMIN+2"))
    assert.equal(signals.RTMAX - 1, signals.number("SIGRTMAX-1"))
    assert.equal(signals.RTMIN, signals.number("rtmin"))
    assert.equal(signals.number("ABRT"), signals.number("IOT"))
    assert.equal(signals.number("IO"), signals.number("POLL"))
    assert.equal(signals.number("CHLD"), signals.number("SIGCLD"))
    assert.equal("SIGABRT", signals.name(signals.number("IOT")))
  end)

  it("number() returns nil and a message for names that mean nothing", function()
    for _, bad in ipairs { "xyz", "", "SIG", "SIGTERMX", "TERM ", " 15", "0", "-1",
                           tostring(signals.MAX + 1), "RTMIN+" .. (signals.RTMAX - signals.RTMIN + 1),
                           "RTMAX-" .. (signals.RTMAX - signals.RTMIN + 1), "RTMIN-1",
                           "RTMAX+1", "RTMIN+", "15.0", "SIGRT" .. signals.RTMIN } do
      local n, msg, code = signals.number(bad)
      assert.is_nil(n, "accepted '" .. bad .. "'")
      assert.is_string(msg)
      assert.equal(22, code)
    end
    local _, msg = signals.number("xyz")
    assert.equal("unknown signal 'xyz'", msg)
    assert.is_nil((signals.number(0)))
    assert.is_nil((signals.number(1.5)))
  end)

  it("name() returns nil and a message outside 1..MAX and raises on non-integers", function()
    local n, msg = signals.name(0)
    assert.is_nil(n)
    assert.matches("no signal 0", msg)
    assert.is_nil((signals.name(signals.MAX + 1)))
    assert.has_error(function() signals.name("x") end)
    assert.has_error(function() signals.name(1.5) end)
    assert.has_error(function() signals.number({}) end)
  end)
end)

describe("netops.signals masks", function()
  it("decode a mask with or without 0x, any width", function()
    assert.same({ 2, 10, 12, 15 }, signals.decode("0000000000004a02"))
    assert.same({ 2, 10, 12, 15 }, signals.decode("0x4a02"))
    assert.same({ 2, 10, 12, 15 }, signals.decode("0X4A02"))
    assert.same({}, signals.decode("0000000000000000"))
    -- 32 digits: the MIPS width; bit 64 is signal 65 there
    assert.same({ 1, 65, 128 }, signals.decode("8000000000000001" .. "0000000000000001"))
    local all = signals.decode("ffffffffffffffff")
    assert.equal(64, #all)
    for i = 1, 64 do assert.equal(i, all[i]) end
  end)

  it("decode returns nil and a message for text that is no mask", function()
    local long = string.rep("f", 1025)
    for _, bad in ipairs { "xyz", "", "0x", "12 34", "0x-1", "g", long } do
      local list, msg, code = signals.decode(bad)
      assert.is_nil(list, "accepted '" .. bad:sub(1, 20) .. "'")
      assert.matches("not a signal mask", msg)
      assert.equal(22, code)
    end
  end)

  it("encode is the reverse of decode", function()
    assert.equal("0000000000004a02", signals.encode({ 15, 2, 12, 10 }))
    assert.equal("0000000000004a02", signals.encode({ 2, 2, 10, 12, 15, 15 }))
    assert.equal(string.rep("0", 16), signals.encode({}))
    assert.equal("1" .. string.rep("0", 16), signals.encode({ 65 }))
    for n = 1, signals.MAX do
      assert.same({ n }, signals.decode(signals.encode({ n })))
    end
    local rng = 12345
    for _ = 1, 200 do
      local set, list = {}, {}
      for _ = 1, 10 do
        rng = (rng * 1103515245 + 12345) % 2147483648
        set[rng % 64 + 1] = true
      end
      for n in pairs(set) do list[#list + 1] = n end
      sorted(list)
      local hex = signals.encode(list)
      assert.same(list, signals.decode(hex))
      assert.equal(hex, signals.encode(signals.decode(hex)))
    end
  end)

  it("encode raises on entries that are no signal numbers", function()
    assert.has_error(function() signals.encode({ 0 }) end)
    assert.has_error(function() signals.encode({ "x" }) end)
    assert.has_error(function() signals.encode({ 1.5 }) end)
    assert.has_error(function() signals.encode({ -3 }) end)
    assert.has_error(function() signals.encode("15") end)
  end)

  it("format, names and contains give the seed's line format", function()
    local list = { signals.number("PIPE"), signals.number("TERM") }
    assert.equal("SIGPIPE (" .. list[1] .. "), SIGTERM (" .. list[2] .. ")", signals.format(list))
    assert.same({ "SIGPIPE", "SIGTERM" }, signals.names(list))
    assert.is_true(signals.contains(list, "TERM"))
    assert.is_false(signals.contains(list, "HUP"))
    assert.has_error(function() signals.contains(list, "NOPE") end)
  end)
end)

describe("netops.proc", function()
  local h
  before_each(function() h = start_helper(60) end)
  after_each(function() stop_helper(h) end)

  local function n(s) return assert(signals.number(s)) end

  it("signals(pid) gives every field of the helper's main thread", function()
    local e = assert(proc.signals(h.pid))
    assert.equal(h.pid, e.pid)
    assert.equal(h.main, e.tid)
    assert.equal("sigtest", e.name)
    assert.equal("S", e.state)
    assert.equal("sleeping", e.state_name)
    assert.equal(2, e.threads)
    assert.is_false(e.kernel)
    assert.equal(tonumber(sh.run("echo $PPID"):match("%d+")), e.ppid)   -- popen's sh exec'd it
    assert.equal(tonumber(sh.run("id -u"):match("%d+")), e.uid)
    assert.same({ n "INT" }, e.pending)
    assert.same({ h.rtmax - 1 }, e.shared_pending)
    assert.same(sorted { n "INT", h.rtmax - 1 }, e.blocked)
    assert.same(sorted { n "PIPE", n "TERM" }, e.ignored)
    -- glibc may catch the signals it reserves (33 in threaded programs)
    local mine = {}
    for _, s in ipairs(e.caught) do
      if s < 32 or s >= signals.RTMIN then mine[#mine + 1] = s end
    end
    assert.same(sorted { n "HUP", n "USR1", h.rtmin + 3 }, mine)
  end)

  it("signals(pid, tid) gives each thread its own pending and blocked sets", function()
    assert.same({ h.main, h.thread }, proc.threads(h.pid))
    local m = assert(proc.signals(h.pid, h.main))
    local t = assert(proc.signals(h.pid, h.thread))
    local p = assert(proc.signals(h.pid))
    assert.equal(h.pid, m.pid); assert.equal(h.main, m.tid)
    assert.equal(h.pid, t.pid); assert.equal(h.thread, t.tid)
    for _, x in ipairs { m, t } do
      assert.equal("sigtest", x.name)
      assert.equal("S", x.state)
      assert.equal("sleeping", x.state_name)
      assert.equal(2, x.threads)
      assert.is_false(x.kernel)
      assert.equal(p.ppid, x.ppid)
      assert.equal(p.uid, x.uid)
    end
    assert.same({ n "INT" }, m.pending)
    assert.same(sorted { n "INT", h.rtmax - 1 }, m.blocked)
    assert.same({ n "USR2" }, t.pending)
    assert.same(sorted { n "USR2", h.rtmax - 1 }, t.blocked)
    -- per-process sets are the same from every thread
    for _, x in ipairs { m, t } do
      assert.same({ h.rtmax - 1 }, x.shared_pending)
      assert.same(p.ignored, x.ignored)
      assert.same(p.caught, x.caught)
    end
  end)

  it("a thread id given as pid reads that thread, reporting its process", function()
    local t = assert(proc.signals(h.thread))
    assert.equal(h.pid, t.pid)
    assert.equal(h.thread, t.tid)
    assert.same({ n "USR2" }, t.pending)
  end)

  it("reads the status file once, relative to a directory fd of /proc/PID", function()
    if os.execute("command -v strace >/dev/null 2>&1") ~= true then
      pending("strace is not installed") return
    end
    if select(2, sh.run("strace -o /dev/null true 2>&1")) ~= 0 then
      pending("strace cannot trace here (ptrace not allowed?)") return
    end
    local log = sh.tmpfile()
    local _, code = sh.run({ "strace", "-f", "-o", log, "-e", "trace=open,openat,read,pread64",
      "lua5.4", "-e", 'package.cpath="' .. sh.build .. '/?.so;"..package.cpath; '
      .. 'assert(require("netops.core").proc.signals(' .. h.pid .. '))' })
    assert.equal(0, code)
    local trace = sh.read(log)
    os.remove(log)
    local dirfd = trace:match('openat%(AT_FDCWD, "/proc/' .. h.pid .. '", [^)]*O_DIRECTORY[^)]*%) = (%d+)')
    assert.is_truthy(dirfd, trace)
    local fd = trace:match("openat%(" .. dirfd .. ', "status", [^)]*O_CLOEXEC[^)]*%) = (%d+)')
    assert.is_truthy(fd, trace)
    local reads = 0
    for _ in trace:gmatch("read%(" .. fd .. ", \"Name:") do reads = reads + 1 end
    assert.equal(1, reads)
    local _, any = trace:gsub("%f[%w]p?read6?4?%(" .. fd .. ",", "")
    assert.equal(1, any, trace)
  end)

  it("pids() lists visible processes ascending, this one and the helper included", function()
    local pids = assert(proc.pids())
    local me = tonumber(sh.run("echo $PPID"):match("%d+"))
    local seen = {}
    for i, pid in ipairs(pids) do
      if i > 1 then assert.is_true(pid > pids[i - 1]) end
      seen[pid] = true
    end
    assert.is_true(seen[me], "own pid " .. tostring(me) .. " missing")
    assert.is_true(seen[h.pid])
    assert.is_nil(seen[h.thread], "a thread id is not a process")
  end)

  it("find() with masks = false (read from /proc/PID/stat) agrees with the full scan", function()
    local function index(list)
      local t = {}
      for _, e in ipairs(list) do t[e.pid] = e end
      return t
    end
    local agreed, why = false, ""
    for _ = 1, 3 do                 -- other processes may start or exit meanwhile
      local before = index(proc.find({}, nil))
      local brief = index(proc.find { ignoring = { "TERM", "PIPE" }, masks = false })
      local full = index(proc.find { ignoring = { "TERM", "PIPE" } })
      local after = index(proc.find({}, nil))
      agreed, why = true, ""
      for pid in pairs(before) do
        if after[pid] and (brief[pid] == nil) ~= (full[pid] == nil) then
          agreed, why = false, "pid " .. pid .. " differs"
        end
      end
      if agreed then break end
    end
    assert.is_true(agreed, why)
    local e
    for _, x in ipairs(proc.find { ignoring = "TERM", catching = "USR1", blocking = "INT", masks = false }) do
      if x.pid == h.pid then e = x end
    end
    assert.is_table(e)
    assert.same({ pid = h.pid, tid = h.pid, name = "sigtest", state = "S", state_name = "sleeping",
                  ppid = e.ppid, threads = 2, kernel = false }, e)
    assert.is_true(e.ppid > 0)
    local u = proc.find({ user = true, masks = false, ignoring = "TERM" })
    for _, x in ipairs(u) do assert.is_false(x.kernel) end
  end)

  it("find() matches the helper by what it ignores, catches, blocks and has pending", function()
    local function has(list, pid)
      for _, e in ipairs(list) do if e.pid == pid then return true end end
      return false
    end
    assert.is_true(has(proc.find { ignoring = "TERM" }, h.pid))
    assert.is_true(has(proc.find { ignoring = { "TERM", "PIPE" }, catching = { "HUP", "USR1" } }, h.pid))
    assert.is_true(has(proc.find { blocking = "INT", pending = "RTMAX-1" }, h.pid))
    assert.is_false(has(proc.find { ignoring = "HUP" }, h.pid))
    assert.is_false(has(proc.find { catching = "TERM" }, h.pid))
    assert.has_error(function() proc.find { ignoring = "NOPE" } end)
  end)
end)

describe("netops.proc filters", function()
  it("scan() and find() refuse an unknown filter key (a typo would match every process)", function()
    local core = require "netops.core"
    local ok, err = pcall(core.proc.scan, { ignoring = { 15 } })
    assert.is_false(ok)
    assert.matches("unknown filter field 'ignoring' (known: ignored, caught, blocked, pending, user, masks)",
      tostring(err), 1, true)
    ok, err = pcall(proc.find, { ignorng = "TERM" })
    assert.is_false(ok)
    assert.matches("proc.find: unknown filter key 'ignorng'", tostring(err), 1, true)
  end)
end)

describe("netops.proc failures", function()
  it("a vanished pid gives nil, 'no such process N', ESRCH", function()
    local pid = vanished_pid()
    local e, msg, code = proc.signals(pid)
    assert.is_nil(e)
    assert.equal("no such process " .. pid, msg)
    assert.equal(proc.ESRCH, code)
    local t, tmsg, tcode = proc.threads(pid)
    assert.is_nil(t)
    assert.equal("no such process " .. pid, tmsg)
    assert.equal(proc.ESRCH, tcode)
  end)

  it("a tid of another process gives 'no such thread'", function()
    local pid = tonumber(sh.run("echo $PPID"):match("%d+"))
    local other = vanished_pid()
    local e, msg, code = proc.signals(pid, other)
    assert.is_nil(e)
    assert.equal("no such thread " .. other .. " in process " .. pid, msg)
    assert.equal(proc.ESRCH, code)
  end)

  it("raises on impossible pids", function()
    assert.has_error(function() proc.signals(0) end)
    assert.has_error(function() proc.signals(-1) end)
    assert.has_error(function() proc.signals("abc") end)
    assert.has_error(function() proc.signals(1.5) end)
    assert.has_error(function() proc.signals(2 ^ 40 // 1) end)
    assert.has_error(function() proc.signals(1, 0) end)
    assert.has_error(function() proc.threads(0) end)
  end)

  it("find() skips processes that are gone by the time they are read", function()
    local gone = vanished_pid()
    local me = tonumber(sh.run("echo $PPID"):match("%d+"))
    local found, errors = proc.find({}, { gone, me, gone })
    assert.same({}, errors)
    assert.equal(1, #found)
    assert.equal(me, found[1].pid)
    local all = assert(proc.find {})
    assert.is_true(#all > 1)
    for _, e in ipairs(all) do assert.are_not.equal(gone, e.pid) end
    assert.has_error(function() proc.find({}, { 0 }) end)
    assert.has_error(function() proc.find({}, "1") end)
  end)

  it("kernel threads (pid 2) decode without error and agree with the file", function()
    local text = sh.read("/proc/2/status")
    local kthread = text and (text:match("\nKthread:%s+1\n")
                              or (not text:match("\nKthread:") and not text:match("\nVmSize:")))
    if not kthread then
      pending("pid 2 is not a visible kernel thread here (a container?)") return
    end
    local e = assert(proc.signals(2))
    assert.equal(text:match("Name:%s+(%S+)"), e.name)
    assert.same(hand_decode(text:match("SigIgn:%s+(%x+)")), e.ignored)
    assert.same(hand_decode(text:match("SigCgt:%s+(%x+)")), e.caught)
    assert.same(hand_decode(text:match("SigBlk:%s+(%x+)")), e.blocked)
    assert.is_true(e.kernel)
  end)

  it("pid 1 agrees with its status file read by hand", function()
    local text = assert(sh.read("/proc/1/status"))
    local e = assert(proc.signals(1))
    assert.equal(1, e.pid)
    assert.equal(text:match("Name:\t([^\n]*)"), e.name)
    assert.same(hand_decode(text:match("SigIgn:%s+(%x+)")), e.ignored)
    assert.same(hand_decode(text:match("SigCgt:%s+(%x+)")), e.caught)
  end)
end)

describe("netops.proc.printable", function()
  it("keeps printable UTF-8, escapes controls, bidi and bytes that are not UTF-8", function()
    assert.equal("sshd: root@pts/0", proc.printable("sshd: root@pts/0"))
    assert.equal("caf\195\169 \240\159\152\128 \"q\"", proc.printable("caf\195\169 \240\159\152\128 \"q\""))
    assert.equal("a\\\\b", proc.printable("a\\b"))                       -- \ reads back
    assert.equal("\\x00\\x1b\\x7f\\x9b", proc.printable("\0\27\127\155"))
    assert.equal("\\xc2\\x85 \\xe2\\x80\\xa8 \\xe2\\x81\\xa6", proc.printable("\194\133 \226\128\168 \226\129\166"))
    -- overlong, surrogate, beyond U+10FFFF, truncated: each byte escaped
    assert.equal("\\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 \\xe2\\x80",
                 proc.printable("\192\175 \237\160\128 \244\144\128\128 \226\128"))
    local seen = {}
    local out = proc.printable("a\155\"\t\195\169", function(bytes, cp)
      seen[#seen + 1] = { bytes, cp or false }
      return "?"
    end)
    assert.equal("a???\195\169", out)
    assert.same({ { "\155", false }, { '"', 34 }, { "\t", 9 } }, seen)
  end)

  it("finds the bytes to look at as the pattern [%c\\\"\128-\255] does (C, core.proc.special)", function()
    local special = require("netops.core").proc.special
    local pattern = '[%c\\"\128-\255]'
    for b = 0, 255 do
      local s = "ab" .. string.char(b) .. "c"
      assert.equal(s:find(pattern), special(s), "byte " .. b)
      assert.equal(s:find(pattern, 4), special(s, 4), "byte " .. b .. " from 4")
    end
    assert.is_nil(special(""))
    assert.is_nil(special("abc", 4))
    assert.is_nil(special("abc", 99))
    assert.equal(3, special("a\0\0", 3))
    assert.has_error(function() special("abc", 0) end)
  end)
end)

describe("odd processes", function()
  it("a task name with terminal controls is printed escaped, valid UTF-8 kept", function()
    -- 14 bytes (a task name holds 15): an 8-bit CSI, ESC [, DEL, a tab, "é",
    -- a byte that is not UTF-8, CSI as UTF-8 (U+009B), RIGHT-TO-LEFT OVERRIDE.
    local name = "x\155\27[\127\t\195\169\255\194\155\226\128\174"
    local shown = "x\\x9b\\x1b[\\x7f\\x09\195\169\\xff\\xc2\\x9b\\xe2\\x80\\xae"
    local h = start_helper(30, name)
    local ok, err = pcall(function()
      assert.equal(name, assert(proc.signals(h.pid)).name)
      local function clean(out, what)
        -- nothing a terminal acts on: no C0 but newline, no DEL, no C1 byte or
        -- character, no bidi control, and valid UTF-8 throughout
        assert.is_nil(out:find("[%z\1-\9\11-\31\127]"), what)
        assert.truthy(utf8.len(out), what)
        for _, cp in utf8.codes(out) do
          assert.is_false((cp >= 0x80 and cp <= 0x9f) or (cp >= 0x202a and cp <= 0x202e), what)
        end
      end
      local out = sh.run(sh.cmd("checksignals", h.pid))
      clean(out, "checksignals PID")
      assert.equal(h.pid .. " " .. shown .. " (sleeping)", out:match("^[^\n]*"))
      out = sh.run(sh.cmd("checksignals", "--all", "--ignoring", "TERM", "--catching", "USR1"))
      clean(out, "checksignals --all")
      assert.truthy(("\n" .. out):find("\n" .. h.pid .. " " .. shown .. "\n", 1, true), out)
      for _, args in ipairs { { "--json", h.pid }, { "--all", "--json", "--catching", "USR1" } } do
        local json = sh.run(sh.cmd("checksignals", table.unpack(args)))
        clean(json, "checksignals " .. table.concat(args, " "))
        -- valid JSON; each byte that is not UTF-8 as the code point of its value
        assert.equal("'x\\x9b\\x1b[\\x7f\\t\\xe9\\xff\\x9b\\u202e'\n", json_query(json,
          "ascii([p['name'] for p in d if p['pid'] == " .. h.pid .. "][0])"))
      end
    end)
    stop_helper(h)
    assert(ok, err)
  end)

  it("a task name with a newline, a backslash and a non-UTF-8 byte survives", function()
    local name = "a\nb\\c\255"
    local h = start_helper(30, name)
    local ok, err = pcall(function()
      local e = assert(proc.signals(h.pid))
      assert.equal(name, e.name)
      local out = sh.run(sh.cmd("checksignals", h.pid))
      assert.equal(h.pid .. " a\\x0ab\\\\c\\xff (sleeping)", out:match("^[^\n]*"))
      local json = sh.run(sh.cmd("checksignals", "--json", h.pid))
      assert.equal("'a\\nb\\\\c\\xff'\n", json_query(json, "ascii(d[0]['name'])"))
    end)
    stop_helper(h)
    assert(ok, err)
  end)

  it("a status file larger than the first buffer (3000 groups) still decodes", function()
    if not sh.is_root() then pending("needs root: setgroups") return end
    local h = start_helper(30, nil, "SIGTEST_GROUPS=3000 ")
    local ok, err = pcall(function()
      local text = assert(sh.read("/proc/" .. h.pid .. "/status"))
      assert.is_true(#text > 16384, "status is only " .. #text .. " bytes")
      local e = assert(proc.signals(h.pid))
      assert.same({ signals.number("PIPE"), signals.number("TERM") }, e.ignored)
      assert.same({ h.rtmax - 1 }, e.shared_pending)
      local t = assert(proc.signals(h.pid, h.thread))
      assert.same({ signals.number("USR2") }, t.pending)
      local found = proc.find({ ignoring = "TERM", pending = "RTMAX-1" }, { h.pid })
      assert.equal(1, #found)
      assert.equal(h.pid, found[1].pid)
    end)
    stop_helper(h)
    assert(ok, err)
  end)

  it("a zombie decodes, its state says so", function()
    -- python forks a child that exits and never reaps it (a shell might)
    local p = assert(io.popen("exec python3 -c " .. sh.quote("import os, time\n"
      .. "pid = os.fork()\nif pid == 0: os._exit(0)\n"
      .. "print(pid, os.getpid(), flush=True)\ntime.sleep(20)\n")))
    local z, parent = p:read("l"):match("^(%d+) (%d+)$")
    z = tonumber(z)
    local e
    for _ = 1, 300 do
      e = proc.signals(z)
      if e and e.state == "Z" then break end
      os.execute("sleep 0.01")
    end
    local text = sh.read("/proc/" .. z .. "/status")
    sh.run({ "kill", "-KILL", parent })
    p:close()
    assert.is_table(e)
    assert.equal("Z", e.state)
    assert.equal("zombie", e.state_name)
    assert.same(hand_decode(text:match("SigIgn:%s+(%x+)")), e.ignored)
  end)

  it("unreadable processes give the reason (private /proc with hidepid=1, as nobody)", function()
    -- (sh.need_root calls `pending` from a module, where busted does not define it)
    if not sh.is_root() then pending("needs root: a private /proc mount with hidepid=1") return end
    if os.execute("command -v unshare >/dev/null && command -v setpriv >/dev/null") ~= true then
      pending("unshare or setpriv missing") return
    end
    -- a copy of what the command needs, readable by nobody
    local dir = sh.tmpdir()
    sh.run("chmod 755 " .. sh.quote(dir) .. " && mkdir -p " .. sh.quote(dir .. "/build/netops")
      .. " " .. sh.quote(dir .. "/examples") .. " && cp -r lua " .. sh.quote(dir)
      .. " && cp " .. sh.quote(sh.build .. "/netops/core.so") .. " " .. sh.quote(dir .. "/build/netops/")
      .. " && cp examples/checksignals.lua " .. sh.quote(dir .. "/examples/"))
    local asnobody = "setpriv --reuid=65534 --regid=65534 --clear-groups env NETOPS_BUILD=build "
    local script = "cd " .. sh.quote(dir) .. " && mount -t proc -o hidepid=1 proc /proc && echo mounted && "
      .. asnobody .. "lua5.4 -e " .. sh.quote('package.path="lua/?.lua;lua/?/init.lua;"..package.path; '
        .. 'package.cpath="build/?.so;"..package.cpath; print(require("netops").proc.signals(1))')
      .. "; " .. asnobody .. "lua5.4 examples/checksignals.lua 1; echo rc=$?; "
      .. asnobody .. "lua5.4 examples/checksignals.lua --all --ignoring TERM >/dev/null; echo rc=$?"
    local out = sh.run({ "unshare", "-m", "sh", "-c", script }, { stderr = true })
    sh.rmtree(dir)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    if lines[1] ~= "mounted" then
      pending("no private /proc mount here: " .. tostring(lines[1])) return
    end
    table.remove(lines, 1)
    assert.matches("^nil\t/proc/1/status: [%w ]+\t%d+$", lines[1], 1, false)
    local reason = lines[1]:match("status: ([%w ]+)")
    assert.is_truthy(reason == "operation not permitted" or reason == "permission denied", reason)
    assert.equal("checksignals: /proc/1/status: " .. reason, lines[2])
    assert.equal("rc=1", lines[3])
    assert.matches("^checksignals: could not read %d+ processes %(/proc/%d+/stat: " .. reason
      .. ", %.%.%.%); the list below is incomplete$", lines[4])
    assert.equal("rc=1", lines[5])
  end)
end)

describe("checksignals", function()
  local h
  before_each(function() h = start_helper(60) end)
  after_each(function() stop_helper(h) end)

  local function run(...)
    return sh.run(sh.cmd("checksignals", ...), { stderr = true })
  end

  it("prints the helper's sets in the seed's line format", function()
    local out, code = run(h.pid)
    assert.equal(0, code, out)
    local rm1 = h.rtmax - 1
    local expect = table.concat({
      h.pid .. " sigtest (sleeping)",
      "Pnd: SIGINT (2)",
      "Shd: SIGRTMAX-1 (" .. rm1 .. ")",
      "Blk: SIGINT (2), SIGRTMAX-1 (" .. rm1 .. ")",
      "Ign: SIGPIPE (13), SIGTERM (15)",
    }, "\n") .. "\n"
    assert.equal(expect, out:sub(1, #expect))
    local cgt = out:match("\nCgt: ([^\n]*)\n$")
    assert.is_truthy(cgt, out)
    assert.is_truthy(cgt:find("SIGHUP (1), SIGUSR1 (10), ", 1, true), cgt)
    assert.is_truthy(cgt:find("SIGRTMIN+3 (" .. (h.rtmin + 3) .. ")", 1, true), cgt)
    assert.equal(cgt, signals.format(proc.signals(h.pid).caught))
  end)

  it("--threads adds a block for the thread whose sets differ", function()
    local out, code = run("--threads", h.pid)
    assert.equal(0, code, out)
    local block = out:match("\nthread " .. h.thread .. ":\n(.*)$")
    assert.equal("  Pnd: SIGUSR2 (12)\n  Blk: SIGUSR2 (12), SIGRTMAX-1 (" .. (h.rtmax - 1) .. ")\n", block)
    assert.is_falsy(out:find("thread " .. h.main .. ":", 1, true))
  end)

  it("a thread id given as PID shows its process and that thread's sets", function()
    local out, code = run(h.thread)
    assert.equal(0, code, out)
    assert.equal(h.pid .. " sigtest (sleeping), thread " .. h.thread, out:match("^[^\n]*"))
    assert.is_truthy(out:find("\nPnd: SIGUSR2 (12)\n", 1, true), out)
  end)

  it("--json gives the same data", function()
    local out, code = sh.run(sh.cmd("checksignals", "--json", "--threads", h.pid))
    assert.equal(0, code, out)
    local q = json_query(out, "d[0]['pid'], d[0]['name'], d[0]['state'], "
      .. "[s['signal'] for s in d[0]['ignored']], [s['name'] for s in d[0]['blocked']], "
      .. "[s['signal'] for s in d[0]['pending']], [s['signal'] for s in d[0]['shared_pending']], "
      .. "d[0]['threads'][0]['tid'], [s['name'] for s in d[0]['threads'][0]['pending']]")
    assert.equal(string.format("%d sigtest S [13, 15] ['SIGINT', 'SIGRTMAX-1'] [2] [%d] %d ['SIGUSR2']\n",
      h.pid, h.rtmax - 1, h.thread), q)
  end)

  it("--all --ignoring TERM lists the helper with pid and name", function()
    local out, code = run("--all", "--ignoring", "TERM")
    assert.equal(0, code, out)
    assert.is_truthy(out:find("\n" .. h.pid .. " sigtest\n", 1, true) or out:find("^" .. h.pid .. " sigtest\n"), out)
    for line in out:gmatch("[^\n]+") do assert.matches("^%d+ .+$", line) end
    local not_ign = run("--all", "--ignoring", "HUP", "--user")
    assert.is_falsy(not_ign:find("\n" .. h.pid .. " ", 1, true))
    local both = run("--all", "--catching", "USR1,SIGRTMIN+3", "--blocking", "INT", "--pending", "RTMAX-1")
    assert.is_truthy(both:find(h.pid .. " sigtest", 1, true), both)
    local json = sh.run(sh.cmd("checksignals", "--all", "--ignoring", "sigterm", "--json"))
    assert.equal("sigtest\n", json_query(json, "[p['name'] for p in d if p['pid'] == " .. h.pid .. "][0]"))
  end)

  it("--user leaves kernel threads out", function()
    local text = sh.read("/proc/2/status")
    if not text or not text:match("Kthread:%s+1") then pending("no visible kernel thread") return end
    local all = run("--all", "--ignoring", "TERM")
    local user = run("--all", "--ignoring", "TERM", "--user")
    assert.is_truthy(all:find("^2 ") or all:find("\n2 "), all)
    assert.is_falsy(user:find("^2 ") or user:find("\n2 "))
    assert.is_truthy(user:find(h.pid .. " sigtest", 1, true))
  end)

  it("--all skips processes that come and go during the scan", function()
    -- a bounded churn of short-lived processes next to repeated scans
    local churn = assert(io.popen("i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done; echo done"))
    for _ = 1, 5 do
      local out, code = sh.run(sh.cmd("checksignals", "--all", "--ignoring", "TERM"), { stderr = true })
      assert.equal(0, code, out)
      assert.is_falsy(out:find("checksignals:", 1, true), out)
    end
    assert.equal("done\n", churn:read("a"))
    churn:close()
  end)

  it("--decode names a pasted mask; bad masks exit 1", function()
    assert.equal("SIGINT (2), SIGUSR1 (10), SIGUSR2 (12), SIGTERM (15)\n", (run("--decode", "0000000000004a02")))
    assert.equal("(none)\n", (run("--decode", "0x0")))
    local out, code = run("--decode", "xyz")
    assert.equal(1, code)
    assert.equal("checksignals: not a signal mask: 'xyz' (hex digits expected, at most 1024)\n", out)
    assert.equal("[2, 15]\n", json_query((sh.run(sh.cmd("checksignals", "--decode", "4002", "--json"))),
      "[s['signal'] for s in d[0]['signals']]"))
  end)

  it("exits 1 with a clear message for bad, missing or vanished PIDs", function()
    local gone = vanished_pid()
    local cases = {
      { "abc", "checksignals: not a process id: 'abc'\n" },
      { "0", "checksignals: not a process id: '0'\n" },
      { tostring(gone), "checksignals: no such process " .. gone .. "\n" },
    }
    for _, c in ipairs(cases) do
      local out, code = run(c[1])
      assert.equal(1, code, c[1])
      assert.equal(c[2], out)
    end
    -- the good one is still reported next to a bad one
    local out, code = run(h.pid, tostring(gone))
    assert.equal(1, code)
    assert.is_truthy(out:find(h.pid .. " sigtest (sleeping)", 1, true))
  end)

  it("exits 2 on usage errors", function()
    for _, argv in ipairs { { "--bogus" }, {}, { "--all", "1" }, { "--ignoring", "TERM", "1" },
                            { "--all", "--ignoring", "NOPE" }, { "--decode" } } do
      local _, code = run(table.unpack(argv))
      assert.equal(2, code, table.concat(argv, " "))
    end
    local out, code = run("--help")
    assert.equal(0, code)
    assert.matches("^Usage: checksignals", out)
  end)

  it("a usage error is one line with a suggestion, then the usage, on stderr; exit 2", function()
    local out, code = sh.run(sh.join(sh.cmd("checksignals", "--all", "--ignorin", "TERM")) .. " 2>&1 >/dev/null")
    assert.equal(2, code)
    local first, rest = out:match("^([^\n]*)\n(.*)$")
    assert.equal("checksignals: unknown option '--ignorin'; did you mean '--ignoring'?", first)
    assert.matches("^Usage: checksignals ", rest)
    -- a flag takes no value: --json=no is refused, not read as --json
    out, code = sh.run(sh.join(sh.cmd("checksignals", "--json=no", h.pid)) .. " 2>&1 >/dev/null")
    assert.equal(2, code)
    assert.matches("^checksignals: option '%-%-json' does not take arguments\nUsage: checksignals ", out)
    out, code = run("--all", "--ignoring", "NOPE")
    assert.equal(2, code)
    assert.matches("^checksignals: %-%-ignoring: [^\n]*NOPE[^\n]*\nUsage: checksignals ", out)
  end)

  it("takes --opt=value as --opt value", function()
    local a, ca = sh.run(sh.cmd("checksignals", "--all", "--ignoring=TERM", "--catching=USR1"))
    local b, cb = sh.run(sh.cmd("checksignals", "--all", "--ignoring", "TERM", "--catching", "USR1"))
    assert.equal(0, ca)
    assert.equal(0, cb)
    assert.truthy(a:find(h.pid .. " sigtest\n", 1, true), a)
    assert.truthy(b:find(h.pid .. " sigtest\n", 1, true), b)
    assert.equal("SIGINT (2), SIGTERM (15)\n", (run("--decode=4002")))
  end)

  it("--all exits 1 when no process matched, as pgrep does", function()
    -- no process can ignore SIGKILL (kernel threads show every bit ignored: --user)
    local out, code = sh.run(sh.cmd("checksignals", "--all", "--user", "--ignoring", "KILL"), { stderr = true })
    assert.equal(1, code)
    assert.equal("", out)
    out, code = sh.run(sh.cmd("checksignals", "--all", "--user", "--ignoring", "KILL", "--json"), { stderr = true })
    assert.equal(1, code)
    assert.equal("[]\n", out)
    out, code = sh.run(sh.cmd("checksignals", "--all", "--user", "--ignoring", "TERM"), { stderr = true })
    assert.equal(0, code, out)
  end)

  it("--version prints the netops version; --help the options and exit statuses", function()
    local out, code = run("--version")
    assert.equal(0, code)
    assert.equal(require("netops")._VERSION .. "\n", out)
    out, code = sh.run(sh.cmd("checksignals", "-h"))
    assert.equal(0, code)
    for _, opt in ipairs { "--threads", "--all", "--ignoring", "--decode", "--json", "--version", "pgrep" } do
      assert.truthy(out:find(opt, 1, true), opt)
    end
  end)

  it("runs in-process: main(args) returns the exit status and never exits", function()
    local main = require("netops.cli.checksignals").main
    local dir = sh.tmpdir()
    local saved = { stdout = io.stdout, stderr = io.stderr }
    local status = {}
    local ok, err = pcall(function()
      io.stdout, io.stderr = assert(io.open(dir .. "/out", "w")), assert(io.open(dir .. "/err", "w"))
      status[1] = main { "--decode", "4a02" }
      status[2] = main { tostring(h.pid) }
      status[3] = main { "--all", "--user", "--ignoring", "KILL" }
      status[4] = main { "--bogus" }
      status[5] = main { "--decode", "xyz" }
    end)
    for k, f in pairs(saved) do if io[k] ~= f then io[k]:close() end io[k] = f end
    local out, errout = sh.read(dir .. "/out"), sh.read(dir .. "/err")
    sh.rmtree(dir)
    assert(ok, err)
    assert.same({ 0, 0, 1, 2, 1 }, status)
    assert.matches("^SIGINT %(2%), SIGUSR1 %(10%), SIGUSR2 %(12%), SIGTERM %(15%)\n" .. h.pid .. " sigtest %(sleeping%)\n", out)
    assert.matches("^checksignals: unknown option '%-%-bogus'\nUsage: checksignals .*\nchecksignals: not a signal mask: 'xyz'", errout)
  end)
end)

describe("strings with a NUL byte, which C would cut", function()
  local core = require "netops.core"
  it("raise in signals.number, signals.decode and the syslog binding", function()
    for _, f in ipairs {
      function() core.signals.number("TERM\0junk") end,
      function() core.signals.decode("4a02\0ff") end,
      function() core.log.open("netops-test\0junk") end,
      function() core.log.write("info", "step ok\0 and more") end,
    } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches("NUL", tostring(err), 1, true)
    end
  end)
end)
