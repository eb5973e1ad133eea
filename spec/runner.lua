-- spec/runner.lua: run the tests and count each distinct test once.
-- Called by spec/run.sh from the repository root; see there for usage.
--
-- Every spec file runs in a busted process of its own: a crash or an
-- os.exit loses at most that file, and is a failure under its name.  The
-- tests a file declares come from `busted --list`; each declared test that
-- reports no result is a failure.  Results are read only from the file the
-- output handler spec/runner_busted.lua appends to, never from what tests
-- print.  Each C test (one per spec/c/NAME.c, binary BUILD/ctest/NAME) and
-- the packaging steps print TAP on stdout, read with stderr kept apart:
-- a plan line is required, the tests must be numbered 1..N in order and
-- match the plan, a cut-off last line does not count, a missing binary
-- fails.  A process that exits non-zero or dies by a signal is a failure.
--
-- Passes (NETOPS_PASSES, default: plain, plus asan when
-- NETOPS_SANITIZE_BUILD is set, plus valgrind when NETOPS_VALGRIND=1):
--   plain     specs, packaging, C tests, against NETOPS_BUILD (build)
--   asan      specs and C tests against NETOPS_SANITIZE_BUILD (ASan+UBSan)
--   valgrind  the C tests of NETOPS_BUILD under valgrind
-- A test is identified by spec file + name, or program + number; it counts
-- once: failed if it failed in any pass, else passed if it passed in one,
-- else skipped.  Each pass gets a line, then the closing line
-- "N passed, N failed, N skipped".  Logs: BUILD/test-output/PASS/.
local unpack = table.unpack

-- --ignore-lua: already lua5.4; else busted reruns itself through a shell
-- (the .busted `lua` setting), which turns a signal into "exit 1"
local BUSTED = { "lua5.4", "/usr/bin/busted", "--ignore-lua" }
local TIMEOUT = tonumber(os.getenv("NETOPS_TEST_TIMEOUT") or "") or 600
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local build = os.getenv("NETOPS_BUILD") or "build"
local asan_build = os.getenv("NETOPS_SANITIZE_BUILD")
if asan_build == "" then asan_build = nil end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a"); f:close()
  return s
end

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a"); p:close()
  return out
end

local cwd = sh("pwd"):gsub("\n$", "")
local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  return cwd .. "/" .. p
end

local SIGNALS = { [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [4] = "SIGILL", [6] = "SIGABRT",
                  [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV", [13] = "SIGPIPE",
                  [15] = "SIGTERM" }

-- Run argv with env (a list of "NAME=value", or "-u NAME") under a time
-- limit, stdout and stderr to files of their own, stdin from /dev/null.
-- Returns nil when it exited 0, else a sentence saying how it ended.
local function run(argv, env, out, err)
  local words = { "exec", "env" }
  for _, e in ipairs(env or {}) do
    if e:sub(1, 3) == "-u " then words[#words + 1] = "-u " .. quote(e:sub(4))
    else words[#words + 1] = quote(e) end
  end
  words[#words + 1] = "timeout --foreground -k 30 " .. TIMEOUT
  for _, a in ipairs(argv) do words[#words + 1] = quote(a) end
  local cmd = table.concat(words, " ") .. " </dev/null >" .. quote(out) .. " 2>" .. quote(err)
  local _, how, code = os.execute(cmd)
  if how == "exit" and code == 0 then return nil end
  if how == "signal" then return ("killed by signal %d (%s)"):format(code, SIGNALS[code] or "?") end
  if code == 124 then return ("stopped after %d s (NETOPS_TEST_TIMEOUT)"):format(TIMEOUT) end
  if code > 128 and code < 160 then
    return ("exited %d (signal %d, %s)"):format(code, code - 128, SIGNALS[code - 128] or "?")
  end
  return "exited " .. code
end

local function tail(path, n)
  local lines = {}
  for l in (read(path) or ""):gmatch("[^\n]*") do lines[#lines + 1] = l end
  while #lines > 0 and lines[#lines] == "" do lines[#lines] = nil end
  return table.concat(lines, "\n", math.max(1, #lines - n + 1))
end

------------------------------------------------------------------------
-- Results of one pass: unit (spec file or program) -> list of results
-- { id, name, status = "pass"|"fail"|"skip", why }.

local function new_unit(label)
  return { label = label, results = {} }
end

local function add(unit, id, name, status, why)
  unit.results[#unit.results + 1] = { id = id, name = name, status = status, why = why }
end

------------------------------------------------------------------------
-- busted

local function unescape(s)
  return (s:gsub("\\(.)", { t = "\t", n = "\n", r = "\r", ["\\"] = "\\" }))
end

-- The tests `busted --list` declares: a list of full names (in order).
local function list_spec(file, env, logs)
  local out, err = logs .. ".list", logs .. ".list-err"
  local how = run({ BUSTED[1], BUSTED[2], BUSTED[3], "--list", file }, env, out, err)
  local names, prefix = {}, file .. ":"
  for l in (read(out) or ""):gmatch("[^\n]+") do
    if l:sub(1, #prefix) == prefix then
      local name = l:sub(#prefix + 1):match("^%d+: (.*)$")
      if name then names[#names + 1] = name end
    end
  end
  return names, how
end

-- Read the handler's records; returns tests (list of {name, status, msg}),
-- errors outside tests, whether the end was reached, the test in progress.
local function read_records(path)
  local tests, errors, ended, current = {}, {}, false, nil
  for l in (read(path) or ""):gmatch("([^\n]*)\n") do
    local kind, what, name, msg = l:match("^(%a+)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
    if kind == "start" then current = unescape(name)
    elseif kind == "test" then
      tests[#tests + 1] = { name = unescape(name), status = what, msg = unescape(msg) }
      current = nil
    elseif kind == "error" then errors[#errors + 1] = { what = what, name = unescape(name), msg = unescape(msg) }
    elseif kind == "end" then ended = true end
  end
  return tests, errors, ended, current
end

local STATUS = { success = "pass", pending = "skip", failure = "fail", error = "fail" }

-- The id of the k-th test named name in file (k > 1 only for repeated names).
local function spec_id(file, name, k)
  return file .. ": " .. name .. (k > 1 and " [#" .. k .. "]" or "")
end

local function run_spec(file, env, logdir)
  local unit = new_unit(file)
  local logs = logdir .. "/" .. file:gsub("[/]", "_")
  local declared, list_how = list_spec(file, env, logs)
  if list_how then
    add(unit, file, "busted --list", "fail", "busted --list " .. list_how .. "; see " .. logs .. ".list-err:\n"
        .. tail(logs .. ".list-err", 10))
  end
  local results = logs .. ".results"
  os.remove(results)
  local how = run({ BUSTED[1], BUSTED[2], BUSTED[3], "-o", abspath(here .. "/runner_busted.lua"), "-Xoutput",
                    abspath(results), file }, env, logs .. ".out", logs .. ".err")
  local tests, errors, ended, current = read_records(results)
  local seen, failed = {}, false
  for _, t in ipairs(tests) do
    seen[t.name] = (seen[t.name] or 0) + 1
    add(unit, spec_id(file, t.name, seen[t.name]), t.name, STATUS[t.status] or "fail", t.msg)
    failed = failed or STATUS[t.status] ~= "pass" and STATUS[t.status] ~= "skip"
  end
  local missing = {}
  for _, name in ipairs(declared) do
    missing[name] = (missing[name] or 0) + 1
    if missing[name] > (seen[name] or 0) then
      add(unit, spec_id(file, name, missing[name]), name, "fail", "declared by busted --list, no result")
    end
  end
  for _, e in ipairs(errors) do
    add(unit, file .. ": " .. e.what .. " " .. e.name, e.what .. " " .. e.name, "fail", e.msg)
  end
  local why
  if not ended then
    why = "busted " .. (how or "exited 0") .. " before the end of the file"
          .. (current and (" (during \"" .. current .. "\")") or "")
  elseif how and (not how:match("^exited %d+$") or not failed and #errors == 0) then
    -- busted exits with the number of failures; anything else is news
    why = "busted " .. how .. (failed and "" or " with no failed test")
  end
  if why then
    add(unit, file, "the file's busted process", "fail", why .. "; stderr " .. logs .. ".err:\n" .. tail(logs .. ".err", 10))
  end
  return unit
end

------------------------------------------------------------------------
-- TAP (C tests, packaging): stdout only.

local function parse_tap(text)
  local t = { tests = {}, problems = {} }
  local complete = text:sub(-1) == "\n" or text == ""
  local lines = {}
  for l in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  if not complete then
    t.problems[#t.problems + 1] = "output ends in a cut-off line: " .. text:match("([^\n]*)$")
  end
  for _, l in ipairs(lines) do
    local planned, rest = l:match("^1%.%.(%d+)(.*)$")
    local no, num, tail_ = l:match("^(n?o?t? ?)ok (%d+)(.*)$")
    if planned and (rest == "" or rest:match("^%s*#")) then
      if t.plan then t.problems[#t.problems + 1] = "a second plan line: " .. l end
      t.plan = tonumber(planned)
      t.plan_skip = rest:match("#%s*[Ss][Kk][Ii][Pp]%S*%s*(.*)$")
    elseif num and (no == "" or no == "not ") and (tail_ == "" or tail_:match("^%s")) then
      num = tonumber(num)
      local desc = tail_:gsub("^%s*%-?%s*", "")
      local skip = desc:match("#%s*[Ss][Kk][Ii][Pp]%S*%s*(.*)$")
      desc = desc:gsub("%s*#.*$", "")
      if num ~= #t.tests + 1 then
        t.problems[#t.problems + 1] = ("test number %d out of sequence (expected %d): %s"):format(num, #t.tests + 1, l)
      else
        t.tests[num] = { ok = no == "", skip = skip, desc = desc }
      end
    elseif l:match("^Bail out!") then
      t.problems[#t.problems + 1] = l
    end
  end
  if not t.plan then t.problems[#t.problems + 1] = "no plan line (1..N)"
  elseif t.plan ~= #t.tests then
    t.problems[#t.problems + 1] = ("the plan says %d tests, %d reported"):format(t.plan, #t.tests)
  end
  return t
end

-- Run one TAP program (argv) as unit label; ids are label #N.
local function run_tap(label, argv, env, logdir, opts)
  local unit = new_unit(label)
  local logs = logdir .. "/" .. label:gsub("[/]", "_")
  local how = run(argv, env, logs .. ".out", logs .. ".err")
  local t = parse_tap(read(logs .. ".out") or "")
  for n, r in ipairs(t.tests) do
    local status = not r.ok and "fail" or r.skip and "skip" or "pass"
    add(unit, label .. " #" .. n, r.desc, status, r.skip or (not r.ok and "see " .. logs .. ".out") or nil)
  end
  for n = #t.tests + 1, (t.plan or 0) do
    add(unit, label .. " #" .. n, "(planned)", "fail", "in the plan, never reported")
  end
  if t.plan == 0 and t.plan_skip then add(unit, label, "the program", "skip", t.plan_skip) end
  local problems, failed = t.problems, false
  for _, r in ipairs(t.tests) do failed = failed or not r.ok end
  -- exiting non-zero is how a TAP program says a test failed; a signal or
  -- a non-zero exit without a failed test is a failure of its own
  if how and (not how:match("^exited %d+$") or not failed) then
    table.insert(problems, 1, (opts and opts.what or "it") .. " " .. how)
  end
  if opts and opts.check then opts.check(problems) end
  if #problems > 0 then
    add(unit, label, "the program", "fail", table.concat(problems, "; ") .. "; stderr " .. logs .. ".err:\n"
        .. tail(logs .. ".err", 10))
  end
  return unit
end

local SUPPRESSIONS = "spec/c/valgrind.supp"

local function run_ctest(src, dir, env, logdir, valgrind)
  local name = src:match("([^/]+)%.c$")
  local bin = dir .. "/ctest/" .. name
  if not os.execute("test -x " .. quote(bin)) then
    local unit = new_unit(src)
    add(unit, src, "the program", "fail", "no test binary " .. bin .. " (make ctest)")
    return unit
  end
  if not valgrind then return run_tap(src, { bin }, env, logdir) end
  -- --run-libc-freeres=no: else valgrind flushes stdio in a forked child
  -- that calls _exit, which prints the parent's unwritten TAP lines twice.
  -- Reports of errors and leaks (in the program or a child) are "==PID=="
  -- lines of the log; "--PID--" lines are valgrind's own warnings.
  local vlog = logdir .. "/" .. name .. ".valgrind"
  local argv = { "valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                 "--run-libc-freeres=no", "--errors-for-leak-kinds=definite", "--log-file=" .. vlog, bin }
  -- the project's suppressions: what glibc keeps without freeres (the
  -- cached stacks of joined threads)
  if read(SUPPRESSIONS) then table.insert(argv, 2, "--suppressions=" .. SUPPRESSIONS) end
  return run_tap(src, argv,
                 env, logdir, { what = "under valgrind", check = function(problems)
    if (read(vlog) or ""):match("==%d+==") then
      problems[#problems + 1] = "valgrind reports (" .. vlog .. "):\n" .. tail(vlog, 30)
    end
  end })
end

------------------------------------------------------------------------
-- What to run

local function glob(pattern)
  local t = {}
  for l in sh("for f in " .. pattern .. "; do [ -e \"$f\" ] && echo \"$f\"; done"):gmatch("[^\n]+") do
    t[#t + 1] = l
  end
  table.sort(t)
  return t
end

local function selection(args)
  if #args == 0 then
    return { specs = glob("spec/*_spec.lua"), ctests = glob("spec/c/*.c"), package = ".ci/package-test.sh" }
  end
  local sel = { specs = {}, ctests = {} }
  for _, a in ipairs(args) do
    a = a:gsub("^%./", "")
    if a:match("_spec%.lua$") then sel.specs[#sel.specs + 1] = a
    elseif a:match("^spec/c/[^/]+%.c$") then sel.ctests[#sel.ctests + 1] = a
    elseif a == ".ci/package-test.sh" then sel.package = a
    else
      io.stderr:write("spec/run.sh: not a spec file, spec/c/*.c or .ci/package-test.sh: ", a, "\n")
      os.exit(2)
    end
  end
  return sel
end

local function asan_env()
  local rt = sh((os.getenv("CC") or "cc") .. " -print-file-name=libasan.so"):gsub("%s+$", "")
  if rt:sub(1, 1) ~= "/" then
    io.stderr:write("spec/run.sh: no libasan.so (", rt, ")\n"); os.exit(2)
  end
  return { "NETOPS_BUILD=" .. asan_build, "LD_PRELOAD=" .. rt, "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1",
           "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1" }
end

-- Each pass: a list of jobs (functions returning a unit).
local function pass_jobs(pass, sel, logdir)
  local jobs = {}
  local plain_env = { "-u LD_PRELOAD", "NETOPS_BUILD=" .. build }
  local env = pass == "asan" and asan_env() or plain_env
  local dir = pass == "asan" and asan_build or build
  if pass ~= "valgrind" then
    for _, f in ipairs(sel.specs) do jobs[#jobs + 1] = function() return run_spec(f, env, logdir) end end
  end
  if pass == "plain" and sel.package then
    jobs[#jobs + 1] = function() return run_tap(sel.package, { "sh", sel.package }, plain_env, logdir) end
  end
  for _, c in ipairs(sel.ctests) do
    jobs[#jobs + 1] = function() return run_ctest(c, dir, { "-u LD_PRELOAD" }, logdir, pass == "valgrind") end
  end
  return jobs
end

------------------------------------------------------------------------
-- Reporting

local function indent(s)
  return "      " .. tostring(s):gsub("\n", "\n      ")
end

local function count(results)
  local c = { pass = 0, fail = 0, skip = 0 }
  for _, r in pairs(results) do c[r] = c[r] + 1 end
  return ("%d passed, %d failed, %d skipped"):format(c.pass, c.fail, c.skip), c
end

local function report_unit(pass, unit, seconds)
  local by_id = {}
  for _, r in ipairs(unit.results) do by_id[r.id] = r.status end
  print(("%-8s %s: %s (%d s)"):format(pass, unit.label, (count(by_id)), seconds))
  for _, r in ipairs(unit.results) do
    if r.status == "fail" then
      print("  FAILED " .. r.id); if r.why then print(indent(r.why)) end
    elseif r.status == "skip" then
      print("  skipped " .. r.id .. ": " .. (r.why ~= "" and r.why or "(no reason given)"))
    end
  end
  io.stdout:flush()
end

local RANK = { fail = 3, pass = 2, skip = 1 }

local function main(args)
  local sel = selection(args)
  local passes = {}
  for p in (os.getenv("NETOPS_PASSES") or ("plain" .. (asan_build and " asan" or "")
            .. (os.getenv("NETOPS_VALGRIND") == "1" and " valgrind" or ""))):gmatch("%S+") do
    if p ~= "plain" and p ~= "asan" and p ~= "valgrind" then
      io.stderr:write("spec/run.sh: unknown pass ", p, " (plain, asan, valgrind)\n"); os.exit(2)
    end
    if p == "asan" and not asan_build then
      io.stderr:write("spec/run.sh: the asan pass needs NETOPS_SANITIZE_BUILD\n"); os.exit(2)
    end
    passes[#passes + 1] = p
  end
  local overall, lines, failed_in, order = {}, {}, {}, {}
  for _, pass in ipairs(passes) do
    local logdir = build .. "/test-output/" .. pass
    os.execute("rm -rf " .. quote(logdir) .. " && mkdir -p " .. quote(logdir))
    local this = {}
    for _, job in ipairs(pass_jobs(pass, sel, logdir)) do
      local t0 = os.time()
      local unit = job()
      report_unit(pass, unit, os.time() - t0)
      for _, r in ipairs(unit.results) do
        if not this[r.id] or RANK[r.status] > RANK[this[r.id]] then this[r.id] = r.status end
        if not overall[r.id] or RANK[r.status] > RANK[overall[r.id]] then overall[r.id] = r.status end
        if r.status == "fail" then
          if not failed_in[r.id] then failed_in[r.id] = {}; order[#order + 1] = r.id end
          failed_in[r.id][#failed_in[r.id] + 1] = pass
        end
      end
    end
    lines[#lines + 1] = pass .. ": " .. (count(this))
  end
  if #order > 0 then print("failed:") end
  for _, id in ipairs(order) do print("  " .. id .. " (" .. table.concat(failed_in[id], ", ") .. ")") end
  for _, l in ipairs(lines) do print(l) end
  local closing, c = count(overall)
  if c.pass + c.fail + c.skip == 0 then
    print("no test ran"); c.fail = 1
  end
  print(closing)
  return c.fail == 0 and 0 or 1
end

os.exit(main({ unpack(arg) }))
