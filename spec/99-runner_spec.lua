-- The test runner itself (spec/run.sh): throwaway projects with spec files
-- and C tests that crash, exit early, print phantom results or stop short
-- of their plan, run by the runner; the runner's verdict (closing line and
-- exit status) must be the truth.  NETOPS_RUNNER names the run.sh under
-- test (default spec/run.sh; the runner*.lua files beside it go along), so
-- the same cases can judge another version of the runner.
local sh = require "helpers.sh"

local RUNNER = os.getenv("NETOPS_RUNNER") or "spec/run.sh"

-- A project in a temp dir: the runner under test in spec/, a .busted, a
-- packaging stub (one step), a spec file with one passing test, files
-- { [path] = text }; each spec/c/NAME.c is compiled to build/ctest/NAME
-- unless nobuild[NAME].  So each closing line counts 2 passes more than
-- the files given.
local function project(files, nobuild)
  local dir = sh.tmpdir()
  local rdir = RUNNER:match("^(.*)/[^/]*$") or "."
  assert(os.execute("mkdir -p " .. sh.quote(dir .. "/spec/c") .. " " .. sh.quote(dir .. "/.ci")
                    .. " && cp " .. sh.quote(RUNNER) .. " " .. sh.quote(dir .. "/spec/run.sh")
                    .. " && for f in " .. sh.quote(rdir) .. "/runner*.lua; do [ ! -e \"$f\" ] || cp \"$f\" "
                    .. sh.quote(dir .. "/spec/") .. "; done"))
  sh.write(dir .. "/.busted", 'return { default = { lua = "lua5.4", ROOT = { "spec" }, pattern = "_spec",'
           .. ' ["auto-insulate"] = true } }\n')
  sh.write(dir .. "/.ci/package-test.sh", 'echo "ok 1 - package: stub"\necho "1..1"\n')
  sh.write(dir .. "/spec/0-ok_spec.lua", 'it("passes", function() end)\n')
  for path, text in pairs(files) do
    sh.write(dir .. "/" .. path, text)
    local name = path:match("^spec/c/(.+)%.c$")
    if name and not (nobuild or {})[name] then
      local out, code = sh.run("mkdir -p " .. sh.quote(dir .. "/build/ctest") .. " && cc -std=c11 -D_GNU_SOURCE -O0 -o "
                               .. sh.quote(dir .. "/build/ctest/" .. name) .. " " .. sh.quote(dir .. "/" .. path),
                               { stderr = true })
      assert(code == 0, out)
    end
  end
  return dir
end

-- Run the runner in dir with no outside test settings; returns its output,
-- exit status and closing line.
local function runner(dir, env)
  local out, code = sh.run("cd " .. sh.quote(dir) .. " && env -u NETOPS_SANITIZE_BUILD -u NETOPS_VALGRIND"
                           .. " -u NETOPS_PASSES -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS NETOPS_BUILD=build "
                           .. (env or "") .. " sh spec/run.sh", { stderr = true })
  return out, code, out:match("([^\n]*)\n?$")
end

local dirs = {}
local function new(files, nobuild)
  local d = project(files, nobuild)
  dirs[#dirs + 1] = d
  return d
end

local OK_C = '#include <stdio.h>\nint main(void) { puts("ok 1 - fine"); puts("1..1"); return 0; }\n'

describe("spec/run.sh", function()
  after_each(function()
    for i = #dirs, 1, -1 do sh.rmtree(dirs[i]); dirs[i] = nil end
  end)

  it("fails a spec file that calls os.exit(0) in its 2nd of 3 tests, and still runs the next file", function()
    local d = new {
      ["spec/a_spec.lua"] = [[describe("a", function()
        it("one", function() end)
        it("two exits", function() os.exit(0) end)
        it("three fails", function() assert.is_true(false) end)
      end)]],
      ["spec/b_spec.lua"] = [[describe("b", function()
        it("passes", function() end)
        it("fails", function() assert.equal(1, 2) end)
      end)]],
    }
    local out, code, last = runner(d)
    -- passed: a one, b passes and the two every project has; failed: a two and a three
    -- (declared, no result), the a file's process, b fails
    assert.equal("4 passed, 4 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches('spec/a_spec.lua[^\n]*\n[^\n]*busted exited 0 before the end of the file %(during "a two exits"%)', out)
  end)

  it("fails a spec file whose busted dies of SIGSEGV, counting every test it declared", function()
    local d = new {
      ["spec/a_spec.lua"] = [[describe("a", function()
        it("one", function() end)
        it("crashes", function()
          local pid = io.open("/proc/self/stat"):read("n")
          os.execute("kill -SEGV " .. pid)
        end)
        for i = 1, 50 do it("fails " .. i, function() assert.equal(0, i) end) end
      end)]],
      ["spec/b_spec.lua"] = [[describe("b", function() it("fails", function() error("b") end) end)]],
    }
    local out, code, last = runner(d)
    -- passed: a one and the two every project has; failed: 51 declared a tests, the a
    -- file's process, b fails
    assert.equal("3 passed, 53 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches("spec/a_spec.lua[^\n]*\n[^\n]*killed by signal 11 %(SIGSEGV%)", out)
  end)

  it("does not count ok/not ok lines that tests or their children print", function()
    local d = new {
      ["spec/a_spec.lua"] = [[describe("a", function()
        it("child prints", function()
          os.execute("echo 'ok 41 - phantom'; echo 'not ok 7 - in a log' >&2")
        end)
        it("prints", function() io.write("ok 42 - phantom\n"); io.stderr:write("not ok 8\n") end)
      end)]],
      ["spec/c/quiet.c"] = '#include <stdio.h>\nint main(void) { puts("ok 1 - real"); fflush(stdout);\n'
        .. '  fputs("ok 2 - phantom on stderr\\nnot ok 3 - on stderr\\n", stderr); puts("1..1"); return 0; }\n',
    }
    local out, code, last = runner(d)
    assert.equal("5 passed, 0 failed, 0 skipped", last, out)
    assert.equal(0, code)
  end)

  it("fails a C test whose forked child prints an extra ok line on stdout", function()
    local d = new {
      ["spec/c/fork.c"] = '#include <stdio.h>\n#include <sys/wait.h>\n#include <unistd.h>\n'
        .. 'int main(void) { puts("ok 1 - real"); fflush(stdout);\n'
        .. '  if (fork() == 0) { puts("ok 41 - phantom"); fflush(stdout); _exit(0); }\n'
        .. '  wait(NULL); puts("1..1"); return 0; }\n',
    }
    local out, code, last = runner(d)
    assert.equal("3 passed, 1 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches("test number 41 out of sequence", out)
  end)

  it("fails a C test that aborts after 105 of 110 planned tests, not counting its cut-off line", function()
    local d = new {
      ["spec/c/aborts.c"] = '#include <stdio.h>\n#include <stdlib.h>\n'
        .. 'int main(void) { puts("1..110"); for (int i = 1; i <= 105; i++) printf("ok %d\\n", i);\n'
        .. '  printf("ok 106"); fflush(stdout); abort(); }\n',
    }
    local out, code, last = runner(d)
    -- passed: 105 and the two every project has; failed: 106..110 and the program
    assert.equal("107 passed, 6 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches("killed by signal 6 %(SIGABRT%)", out)
    assert.matches("cut%-off line: ok 106", out)
  end)

  it("fails a C test that reports fewer tests than its plan, or no plan", function()
    local d = new {
      ["spec/c/short.c"] = '#include <stdio.h>\nint main(void) { puts("1..5"); puts("ok 1"); puts("ok 2");'
        .. ' puts("ok 3"); return 0; }\n',
      ["spec/c/noplan.c"] = '#include <stdio.h>\nint main(void) { puts("ok 1"); puts("ok 2"); return 0; }\n',
    }
    local out, code, last = runner(d)
    -- passed: 3 + 2 + the two every project has; failed: short #4, #5, both programs
    assert.equal("7 passed, 4 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches("the plan says 5 tests, 3 reported", out)
    assert.matches("no plan line", out)
  end)

  it("fails when a C test has no binary", function()
    local d = new({ ["spec/c/gone.c"] = OK_C }, { gone = true })
    local out, code, last = runner(d)
    assert.equal("2 passed, 1 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches("no test binary build/ctest/gone", out)
  end)

  it("counts each test once over the plain, asan and valgrind passes; failing in one pass is failing", function()
    local d = new {
      ["spec/a_spec.lua"] = [[describe("a", function()
        it("passes everywhere", function() end)
        it("passes against build only", function() assert.equal("build", os.getenv("NETOPS_BUILD")) end)
      end)]],
      ["spec/c/two.c"] = '#include <stdio.h>\nint main(void) { puts("1..2"); puts("ok 1"); puts("ok 2"); return 0; }\n',
    }
    assert(os.execute("cp -r " .. sh.quote(d .. "/build") .. " " .. sh.quote(d .. "/build-asan")))
    local out, code, last = runner(d, "NETOPS_SANITIZE_BUILD=build-asan NETOPS_VALGRIND=1")
    assert.equal("5 passed, 1 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
    assert.matches("\nplain: 6 passed, 0 failed, 0 skipped\nasan: 4 passed, 1 failed, 0 skipped\n"
                   .. "valgrind: 2 passed, 0 failed, 0 skipped\n5 passed", out)
  end)

  it("fails a C test that leaks under valgrind", function()
    local d = new {
      ["spec/c/leaks.c"] = '#include <stdio.h>\n#include <stdlib.h>\nvoid *volatile p;\n'
        .. 'int main(void) { p = malloc(64); p = NULL; puts("ok 1"); puts("1..1"); return 0; }\n',
    }
    local out, code, last = runner(d, "NETOPS_VALGRIND=1")
    assert.equal("3 passed, 1 failed, 0 skipped", last, out)
    assert.are_not.equal(0, code)
  end)

  it("does not double a C test's output under valgrind when a forked child calls _exit", function()
    local d = new {
      ["spec/c/forks.c"] = '#include <stdio.h>\n#include <sys/wait.h>\n#include <unistd.h>\n'
        .. 'int main(void) { puts("ok 1 - before the fork"); pid_t p = fork(); if (p == 0) _exit(0);\n'
        .. '  waitpid(p, NULL, 0); puts("1..1"); return 0; }\n',
    }
    local out, code, last = runner(d, "NETOPS_PASSES=valgrind")
    assert.equal("1 passed, 0 failed, 0 skipped", last, out)
    assert.equal(0, code)
  end)

  it("counts pending tests and TAP SKIP lines as skipped, with their reasons", function()
    local d = new {
      ["spec/a_spec.lua"] = [[describe("a", function()
        it("waits", function() pending("needs a frobnicator") end)
        it("runs", function() end)
      end)]],
      ["spec/c/skips.c"] = '#include <stdio.h>\nint main(void) { puts("ok 1 # SKIP no widget here"); puts("1..1");'
        .. ' return 0; }\n',
    }
    local out, code, last = runner(d)
    assert.equal("3 passed, 0 failed, 2 skipped", last, out)
    assert.equal(0, code)
    assert.matches("needs a frobnicator", out)
    assert.matches("no widget here", out)
  end)

  it("fails a spec file that does not load, under its name", function()
    local d = new { ["spec/a_spec.lua"] = "describe('a', function() it('x', function() end)\n" }
    local out, code, last = runner(d)
    assert.are_not.equal(0, code)
    local passed, failed = last:match("^(%d+) passed, (%d+) failed, 0 skipped$")
    assert.equal("2", passed, out)
    assert.truthy(tonumber(failed) >= 1, out)
    assert.matches("FAILED spec/a_spec.lua", out)
  end)
end)

describe("spec/helpers/sh.lua", function()
  it("sh.run with stdin text removes the temp file it fed the command from", function()
    local made, tmpname = {}, os.tmpname
    finally(function() os.tmpname = tmpname end)
    os.tmpname = function() local p = tmpname(); made[#made + 1] = p; return p end
    local out, code = sh.run("cat", { stdin = "hello\n" })
    os.tmpname = tmpname
    assert.same({ "hello\n", 0 }, { out, code })
    assert.equal(1, #made)
    assert.is_nil(io.open(made[1]), made[1] .. " is left behind")
  end)
end)
