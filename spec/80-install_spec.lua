-- The man pages (doc/man/NAME.N.md, rendered by pandoc) and the bash
-- completions (`make completion`) of every command, kept in step with the
-- commands: each names every option the command's --help lists.  Installing
-- them (`make install`, `make uninstall`, the rock) is tested by
-- .ci/package-test.sh.
local sh = require "helpers.sh"

local top = sh.run("pwd"):gsub("%s+$", "")
local VERSION = require("netops")._VERSION:match("^netops (%S+)$")
-- pandoc, man and bash are not netops: not under the ASan pass's LD_PRELOAD
local plain = "env -u LD_PRELOAD "

local commands = sh.make_var("COMMANDS")
table.sort(commands)
local is_command = {}
for _, name in ipairs(commands) do is_command[name] = true end

-- The options a command's --help lists in its option list.
local function help_options(name)
  local build = sh.build:sub(1, 1) == "/" and sh.build or top .. "/" .. sh.build
  local out, code = sh.run({ "env", "NETOPS_BUILD=" .. build, "lua5.4", "examples/" .. name .. ".lua", "--help" },
                           { stderr = true })
  assert.equal(0, code, out)
  local opts, seen = {}, {}
  local function add(o) if not seen[o] then seen[o] = true; opts[#opts + 1] = o end end
  -- the option list: lines that start with blanks and a dash; the names
  -- stand before the two blanks that start the description
  for line in out:gmatch("[^\n]+") do
    if line:match("^%s+%-") then
      local names = line:match("^%s+(.-)%s%s") or line
      for o in names:gmatch("%-%-?%a[%w%-]*") do add(o) end
    end
  end
  assert.is_true(#opts >= 2, name .. " --help lists no options:\n" .. out)
  return opts
end

local function section(name) return name == "netops-failover" and "8" or "1" end

describe("man pages", function()
  it("one source per command, doc/man/NAME.N.md, and no other", function()
    local want = {}
    for _, name in ipairs(commands) do want[#want + 1] = "doc/man/" .. name .. "." .. section(name) .. ".md" end
    table.sort(want)
    local have = {}
    for f in sh.run("ls doc/man/*.md"):gmatch("%S+") do have[#have + 1] = f end
    assert.same(want, have)
  end)

  for _, name in ipairs(commands) do
    local src = "doc/man/" .. name .. "." .. section(name) .. ".md"

    it(name .. "(" .. section(name) .. "): the title block names the netops version and the sections are there", function()
      local text = assert(sh.read(src), src)
      assert.equal(("%% %s(%s) netops %s | netops manual\n"):format(name:upper(), section(name), VERSION),
                   text:match("^[^\n]*\n"))
      for _, s in ipairs { "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES", "SEE ALSO" } do
        assert.truthy(text:find("\n# " .. s .. "\n", 1, true), src .. " has no " .. s .. " section")
      end
      assert.matches("\n# NAME\n\n" .. name:gsub("%-", "%%-") .. " %- %S", text)
    end)

    it(name .. "(" .. section(name) .. "): pandoc renders it, man -l shows it, and it names every option of --help", function()
      local dir = sh.tmpdir()
      finally(function() sh.rmtree(dir) end)
      local page = dir .. "/" .. name .. "." .. section(name)
      local out, code = sh.run(plain .. "pandoc --standalone --from markdown-smart --to man --output "
                               .. sh.quote(page) .. " " .. sh.quote(src), { stderr = true })
      assert.equal(0, code, out)
      -- man's own warnings (groff: bad requests, unknown escapes) go to stderr
      local warnings = sh.run(plain .. "sh -c " .. sh.quote("LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "
                              .. sh.quote(page) .. " 2>&1 >/dev/null"))
      assert.equal("", warnings)
      local text = sh.run(plain .. "sh -c " .. sh.quote("LC_ALL=C.UTF-8 MANWIDTH=80 man -l " .. sh.quote(page)
                          .. " | col -bx"))
      assert.matches("\nNAME\n +" .. name:gsub("%-", "%%-") .. " +%- ", text)
      for _, o in ipairs(help_options(name)) do
        assert.truthy(text:find(o, 1, true), name .. "'s man page does not mention " .. o)
      end
    end)
  end
end)

describe("bash completion", function()
  local build = sh.build
  lazy_setup(function()
    -- the completions as make install installs them; the C core is not
    -- rebuilt (-o): under the ASan pass it is the ASan build
    local out, code = sh.run({ "make", "--no-print-directory", "-s", "-o", build .. "/netops/core.so",
                               "BUILD=" .. build, "completion" }, { stderr = true })
    assert.equal(0, code, out)
  end)

  it("a hand-written completion (doc/completion/NAME) only for sssh and commands that are no netops.cli module", function()
    for f in sh.run("ls doc/completion"):gmatch("%S+") do
      assert.truthy(is_command[f], "doc/completion/" .. f .. " is no command's")
      local module = "lua/netops/cli/" .. f:gsub("%-", "_") .. ".lua"
      assert.truthy(f == "sssh" or not sh.read(module),
        f .. " is a netops.cli module now: export parser() and remove doc/completion/" .. f
        .. " (make completion then generates it from the parser)")
    end
  end)

  for _, name in ipairs(commands) do
    it(name .. ": the completion is defined and offers every --long option of --help", function()
      local file = build .. "/completion/" .. name
      -- the function `complete -p NAME` names, called as bash would on `NAME --<TAB>`
      local script = '. "$1" || exit 1\n'
        .. 'spec=$(complete -p "$2") || exit 1\n'
        .. 'fn=$(printf "%s\\n" "$spec" | sed -n "s/.* -F \\([^ ]*\\) .*/\\1/p")\n'
        .. '[ -n "$fn" ] || { echo "no -F function: $spec"; exit 1; }\n'
        .. 'COMP_WORDS=("$2" --); COMP_CWORD=1; COMP_LINE="$2 --"; COMP_POINT=${#COMP_LINE}\n'
        .. '"$fn" "$2" -- "$2" 2>/dev/null\n'
        .. 'printf "%s\\n" "${COMPREPLY[@]}"\n'
      local out, code = sh.run(plain .. "bash -c " .. sh.quote(script) .. " bash " .. sh.quote(file) .. " "
                               .. sh.quote(name), { stderr = true })
      assert.equal(0, code, out)
      local offered = {}
      for w in out:gmatch("%S+") do offered[w] = true end
      for _, o in ipairs(help_options(name)) do
        if o:match("^%-%-") then
          assert.truthy(offered[o], name .. "'s completion does not offer " .. o .. "; it offers: " .. out)
        end
      end
    end)
  end
end)
