#!/bin/sh
# Packaging, offline, each into a throwaway tree: `make install PREFIX=...`
# (luarocks make from a copy of the checkout, man pages, completions, docs),
# `make rock` (a rocks server: source rock and manifest) and `luarocks
# install --only-server=DIST netops` from it; then the installed module,
# commands, man pages and completions are exercised, `make uninstall` must
# leave nothing of netops, and the checkout must be as clean as before.
# Prints TAP so spec/run.sh counts it.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
step() { # step NAME COMMAND...
  name=$1; shift; n=$((n + 1))
  if "$@" >"$tmp/log" 2>&1; then echo "ok $n - package: $name"
  else echo "not ok $n - package: $name"; sed 's/^/#   /' "$tmp/log" | tail -20; fails=$((fails + 1)); fi
}
lr() { luarocks --lua-version 5.4 "$@"; }
mk() { make --no-print-directory -C "$top" BUILD="${NETOPS_BUILD:-build}" "$@"; }
# Offline: the Lua libraries the rockspec depends on are Debian's packages.
LUAROCKS_CONFIG="$top/rockspec/luarocks-debian.lua"; export LUAROCKS_CONFIG

cd "$top" || exit 1
# The commands (the Makefile's COMMANDS) and the interpreter luarocks installs for.
cmds=$(printf 'print:\n\t@echo $(COMMANDS)\n' | make -s --no-print-directory -f Makefile -f - print)
lua_bin=$(lr config variables.LUA)
version=$(sed -n 's/.*_VERSION = "netops \([^"]*\)".*/\1/p' lua/netops/init.lua)
# The checkout's state, but for the build directories.
checkout_state() { git -C "$top" status --porcelain --ignored | grep -Ev '^!! (build|build-asan)/$' | sort; }
checkout_state > "$tmp/state-before"

# `make install` needs the build dependencies only: its dry run names no
# package of DEPS_TEST that DEPS_BUILD does not have.
step "make -n install installs no test tool" sh -c '
  deps() { printf "print:\n\t@echo \$(%s)\n" "$1" | make -s --no-print-directory -f Makefile -f - print; }
  build=" $(deps DEPS_BUILD) "; test_only=""
  for p in $(deps DEPS_TEST); do case "$build" in *" $p "*) ;; *) test_only="$test_only $p";; esac; done
  [ -n "$test_only" ] || { echo "no DEPS_TEST"; exit 1; }
  words=" $(make -n --no-print-directory install PREFIX=/nonexistent | tr -s " \t\\\\" "\n\n\n" | tr "\n" " ") "
  bad=0; for p in $test_only; do case "$words" in *" $p "*) echo "make -n install names $p"; bad=1;; esac; done
  exit $bad'

step "make install PREFIX=TREE" mk install PREFIX="$tmp/make"
step "make rock DIST=DIR: the source rock and a manifest" sh -c "make --no-print-directory -C '$top' rock DIST='$tmp/dist' && \
  test -f '$tmp/dist/netops-$version-1.src.rock' && grep -q netops '$tmp/dist/manifest'"
step "luarocks install --only-server=DIST netops" lr --tree "$tmp/inst" install --only-server="$tmp/dist" netops
step "the rock ships the default policy and sample configs" sh -c "cd '$tmp/inst/lib/luarocks/rocks-5.4/netops/$version-1/conf' && \
  cmp primary-backup.lua '$top/examples/primary-backup.lua' && cmp keepalived.conf '$top/examples/keepalived.conf' && \
  cmp conntrackd.conf '$top/examples/conntrackd.conf'"
for tree in make inst; do
  step "require netops from the $tree tree" sh -c "eval \"\$(luarocks --lua-version 5.4 --tree '$tmp/$tree' path)\" && \
    cd / && lua5.4 -e 'local n = require \"netops\"; assert(n.core, \"no core\"); print(n._VERSION)'"
  step "netops.conntrack loads its C module netops.ctnetlink from the $tree tree" sh -c "eval \"\$(luarocks --lua-version 5.4 --tree '$tmp/$tree' path)\" && \
    cd / && lua5.4 -e 'assert(require(\"netops.conntrack\").open); assert(package.loaded[\"netops.ctnetlink\"])'"
  for cmd in $cmds; do
    step "$cmd installed in the $tree tree" test -x "$tmp/$tree/bin/$cmd"
    # the launcher itself (not luarocks' shell wrapper, which loads luarocks.loader at every start),
    # started by the interpreter the rock is for, without env(1)
    step "$cmd in the $tree tree is the Lua launcher, #!$lua_bin" sh -c "head -1 '$tmp/$tree/bin/$cmd' | grep -qx '#!$lua_bin'"
  done
done
# The installed commands find their own tree: no LUA_PATH, another directory.
noenv="env -u LUA_PATH -u LUA_PATH_5_4 -u LUA_CPATH -u LUA_CPATH_5_4 -u LUA_INIT -u LUA_INIT_5_4"
[ -f "$top/examples/normalize.lua" ] &&
  step "installed normalize runs" sh -c "cd / && echo 2001:0DB8::0001 | $noenv '$tmp/inst/bin/normalize' | grep -qx '2001:db8::1'"
step "installed checksignals runs from another directory" sh -c "cd / && \
  $noenv '$tmp/inst/bin/checksignals' --all --ignoring TERM >/dev/null && $noenv '$tmp/inst/bin/checksignals' 1 >/dev/null"
step "installed commands run as bin/NAME from their tree" sh -c "cd '$tmp/inst' && echo 2001:DB8::2 | $noenv bin/normalize | grep -qx '2001:db8::2'"
# The installed launchers: through a symlink on PATH, started by an older
# lua (re-run with lua5.4), --version.
mkdir -p "$tmp/links"; ln -s "$tmp/inst/bin/normalize" "$tmp/links/normalize"
step "installed normalize through a symlink on PATH" sh -c "cd / && echo 2001:DB8::3 | \
  PATH='$tmp/links:'\"\$PATH\" $noenv normalize | grep -qx '2001:db8::3'"
# A symlink from another tree's bin/ (whose C core resolves the link): the
# tree beside the real file runs.
mkdir -p "$tmp/other/bin" "$tmp/other/share/lua/5.4/netops/cli" "$tmp/other/lib/lua/5.4/netops"
cp "$tmp/inst/lib/lua/5.4/netops/core.so" "$tmp/other/lib/lua/5.4/netops/"
echo 'error("the tree beside the symlink was used")' > "$tmp/other/share/lua/5.4/netops/init.lua"
cp "$tmp/other/share/lua/5.4/netops/init.lua" "$tmp/other/share/lua/5.4/netops/cli/normalize.lua"
ln -s "$tmp/inst/bin/normalize" "$tmp/other/bin/normalize"
step "installed normalize through a symlink in another tree's bin/ uses its own tree" sh -c "cd / && \
  echo 2001:DB8::5 | $noenv '$tmp/other/bin/normalize' | grep -qx '2001:db8::5'"
for lua in lua5.1 lua5.3; do
  step "installed normalize started by $lua" sh -c "cd / && echo 2001:DB8::4 | $noenv $lua '$tmp/inst/bin/normalize' | grep -qx '2001:db8::4'"
done
step "installed checksignals --version" sh -c "cd / && $noenv '$tmp/inst/bin/checksignals' --version | grep -qx 'netops [0-9]*\.[0-9]*\.[0-9]*'"
# Installed, netops-failover finds its default policy (shipped with the rock)
# without a checkout: the policy's fault handler runs (and fails: no conntrackd).
step "installed netops-failover finds the default policy" sh -c "eval \"\$(luarocks --lua-version 5.4 --tree '$tmp/inst' path)\" && \
  cd / && lua5.4 -e 'assert(package.searchpath(\"netops.policies.primary_backup\", package.path))' && \
  $noenv '$tmp/inst/bin/netops-failover' --log stderr --socket /nonexistent/ctl --lock '$tmp/lock' fault 2>&1 | \
  grep -q 'FAULT: step reset_timers FAILED'"

# make install: the man pages render, the completions complete, the docs are there.
for cmd in $cmds; do
  page=$(ls "$tmp/make/share/man/man"?/"$cmd".[18] 2>/dev/null)
  step "man -l renders the installed $cmd page with its NAME line" sh -c "[ -n '$page' ] && \
    MANWIDTH=80 man -l '$page' | col -bx | grep -A1 -x 'NAME' | grep -Eq '^ +$cmd +- '"
  step "bash finds the installed completion of $cmd" bash -c ". '$tmp/make/share/bash-completion/completions/$cmd' && \
    complete -p '$cmd'"
done
step "sssh completes host names without bash-completion" bash -c ". '$tmp/make/share/bash-completion/completions/sssh' && \
  COMP_WORDS=(sssh localhos) COMP_CWORD=1 && _sssh && [ \"\${COMPREPLY[*]}\" = localhost ]"
if [ -f /usr/share/bash-completion/bash_completion ]; then
  step "sssh completes with ssh's completion under bash-completion" bash -c ". /usr/share/bash-completion/bash_completion && \
    . '$tmp/make/share/bash-completion/completions/sssh' && complete -p sssh && declare -F _ssh"
fi
step "make install puts the default policy and sample configs in share/doc/netops" sh -c "cd '$tmp/make/share/doc/netops' && \
  cmp primary-backup.lua '$top/examples/primary-backup.lua' && cmp keepalived.conf '$top/examples/keepalived.conf' && \
  cmp conntrackd.conf '$top/examples/conntrackd.conf' && \
  cmp netops-conntrack-metrics.timer '$top/examples/netops-conntrack-metrics.timer'"
step "make uninstall PREFIX=TREE leaves nothing of netops" sh -c "make --no-print-directory -C '$top' uninstall PREFIX='$tmp/make' && \
  left=\$(cd '$tmp/make' && find . -type f ! -path ./lib/luarocks/rocks-5.4/manifest; grep -rl netops . || :) && \
  { [ -z \"\$left\" ] || { echo \"left: \$left\"; exit 1; }; }"
step "the checkout is as clean as before (luarocks built elsewhere)" sh -c "checkout_state() { git -C '$top' status --porcelain --ignored | \
  grep -Ev '^!! (build|build-asan)/\$' | sort; }; checkout_state | diff '$tmp/state-before' -"
echo "1..$n"
exit $((fails > 0))
