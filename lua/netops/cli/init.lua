--- netops.cli: what every netops command shares (the option parser set-up,
-- --help, --version, usage errors), and the pattern each command follows.
--
-- # A command is a module
-- lua/netops/cli/NAME.lua (NAME with `-` as `_`: netops-failover is
-- netops.cli.netops_failover) returns `{ main = main }`, where
-- `main(args) -> exit status`: args is the argument list without the program
-- name; main never calls os.exit (it returns; a `<close>` variable does the
-- cleaning); it writes through io.stdout and io.stderr only.  Specs call it
-- in-process (`require("netops.cli.normalize").main { "--version" }`) as
-- well as through a real process.  Add it to the rockspec's modules
-- (`["netops.cli.NAME"] = "lua/netops/cli/NAME.lua"`).  It also exports
-- `parser()`, its argparse parser: `make completion` writes the bash
-- completion from it (doc/completion/NAME, when present, is used instead).
-- Its man page is doc/man/NAME.N.md (spec/80 checks that it names every
-- option --help lists).
--
-- # The launcher
-- examples/NAME.lua is the launcher, executable in git
-- (`git update-index --chmod=+x`), and the rockspec installs it as bin/NAME
-- (wrap_bin_scripts = false: no luarocks wrapper).  Copy
-- examples/normalize.lua and change only the `local NAME = "..."` line: the
-- files must stay identical but for that line (spec/00 checks it).  What it
-- does, in order:
-- 1. Under a Lua older than 5.4 (Debian's `lua` is 5.3 or 5.1, `lua` wins
--    over `lua5.4` in the alternatives), it re-runs itself with lua5.4 or
--    lua54.  Lua 5.1/5.3 without a C module can only start a process through
--    the shell (os.execute), so this is the one place a shell runs: every
--    argument single-quoted ('\'' for a quote), the exit status passed through
--    (5.1 returns the wait status, 5.2+ true/nil, "exit"/"signal", code; a
--    signal n becomes 128+n as a shell would say).  No lua5.4: one line on
--    stderr, exit 127.  The whole file is plain Lua 5.1 (no goto, //, <close>,
--    integer-only functions), because it is parsed before the check runs.
-- 2. It finds netops beside its own real file: arg[0]'s symlinks followed
--    with luafilesystem (pure Lua cannot read a link; lfs is a declared
--    dependency, and without it arg[0] is taken as it is).  DIR/../lua (a
--    checkout's examples/, with the C modules in DIR/../build or
--    $NETOPS_BUILD) or DIR/../share/lua/5.4 and lib/lua/5.4 (PREFIX/bin of an
--    installed tree), each only if netops/init.lua is there; else Lua's own
--    path (LUA_PATH, `luarocks path`).  Not found: one line, exit 127.
-- 3. `os.exit(require("netops.cli.NAME").main(args), true)`: closing the
--    state runs the pending `__gc`/`__close`.
--
-- # Options: argparse, through this module
--     local cli = require "netops.cli"
--     local p = cli.parser("normalize", "One canonical text per address.", EPILOG)
--     p:flag("--rewrite", "...")
--     p:option("--max-wait", "..."):argname("<seconds>")
--     p:argument("file", "..."):args("*")
--     function M.main(args)
--       local o, status = cli.parse(p, args)
--       if not o then return status end          -- help, version or usage error shown
--       if bad(o) then return cli.usage_error(p, "--all takes no PID") end
-- cli.parser adds `-h, --help` and `--version` as plain flags and cli.parse
-- answers them (help on stdout, exit 0; `netops X.Y.Z` from netops._VERSION
-- in lua/netops/init.lua, the one place of the version, exit 0).  argparse
-- takes `--opt value` and `--opt=value`, and suggests a name on a typo.  A
-- usage error is one line on stderr, "NAME: what is wrong" (the suggestion
-- joined to it), then the usage line(s); exit 2.  Do not declare arguments
-- or options required in argparse (`args "+"`, `count "1"`), check them
-- after cli.parse: `--help` and `--version` must work alone.  A flag given a
-- value (`--json=no`) is a usage error.  Values are checked by the command
-- (cli.usage_error for a bad one), not by argparse's convert.
-- JSON output: dkjson (`require "dkjson"`), see checksignals.lua.
local argparse = require "argparse"

local cli = {}
local names = setmetatable({}, { __mode = "k" })   -- parser -> command name

--- The version line every command prints for --version: `netops X.Y.Z`.
function cli.version()
  return require("netops")._VERSION
end

--- An argparse parser for command `name`, with -h/--help and --version.
function cli.parser(name, description, epilog)
  local p = argparse(name, description, epilog):add_help(false):help_max_width(79)
  p:flag("-h --help", "Show this help and exit.")
  p:flag("--version", "Show the netops version and exit.")
  names[p] = name
  return p
end

local function usage(p)
  local u = p:get_usage()
  return u:sub(-1) == "\n" and u or u .. "\n"
end

--- A usage error: "NAME: msg" and the usage on stderr; returns 2.
function cli.usage_error(p, msg)
  io.stderr:write(names[p], ": ", (msg:gsub("\n+", "; "):gsub("; Did you mean", "; did you mean")), "\n", usage(p))
  return 2
end

--- Parses args with p: the results, or nil and the exit status after
-- --help (0), --version (0) or a usage error (2) was answered.
function cli.parse(p, args)
  local ok, res = p:pparse(args)
  if not ok then return nil, cli.usage_error(p, res) end
  if res.help then
    io.stdout:write(p:get_help(), "\n")
    return nil, 0
  end
  if res.version then
    io.stdout:write(cli.version(), "\n")
    return nil, 0
  end
  return res
end

return cli
