#!/bin/sh
# Packaging, offline: `luarocks make` from the checkout, `luarocks pack` of a
# source rock, `luarocks install ./netops-scm-1.src.rock`, each into a
# throwaway tree; then the installed module and commands are exercised.
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
# Offline: the Lua libraries the rockspec depends on are Debian's packages.
LUAROCKS_CONFIG="$top/rockspec/luarocks-debian.lua"; export LUAROCKS_CONFIG

cd "$top" || exit 1
step "luarocks make from the checkout" lr --tree "$tmp/make" make rockspec/netops-scm-1.rockspec
# A source rock needs a source: a tarball of this tree, named in a copy of
# the rockspec.  No network, no git server.
step "make the source tarball" sh -c "tar -C '$top' -czf '$tmp/netops-scm-1.tar.gz' \
  --exclude=./build --exclude=./build-asan --exclude=./.git --exclude='*.o' --exclude='*.so' \
  --exclude='*.rock' --transform 's,^\\.,netops,' ."
sed "s|url = \"git+file:///usr/src/netops\",|url = \"file://$tmp/netops-scm-1.tar.gz\", dir = \"netops\",|" \
  rockspec/netops-scm-1.rockspec > "$tmp/netops-scm-1.rockspec"
step "luarocks pack" sh -c "cd '$tmp' && luarocks --lua-version 5.4 pack netops-scm-1.rockspec"
step "luarocks install ./netops-scm-1.src.rock" sh -c "cd '$tmp' && luarocks --lua-version 5.4 --tree '$tmp/inst' install ./netops-scm-1.src.rock"
for tree in make inst; do
  step "require netops from the $tree tree" sh -c "eval \"\$(luarocks --lua-version 5.4 --tree '$tmp/$tree' path)\" && \
    cd / && lua5.4 -e 'local n = require \"netops\"; assert(n.core, \"no core\"); print(n._VERSION)'"
  step "netops.conntrack loads its C module netops.ctnetlink from the $tree tree" sh -c "eval \"\$(luarocks --lua-version 5.4 --tree '$tmp/$tree' path)\" && \
    cd / && lua5.4 -e 'assert(require(\"netops.conntrack\").open); assert(package.loaded[\"netops.ctnetlink\"])'"
  for cmd in $(sed -n '/bin = {/,/}/s/.*\["\([a-z-]*\)"\].*/\1/p' "$top/rockspec/netops-scm-1.rockspec"); do
    step "$cmd installed in the $tree tree" test -x "$tmp/$tree/bin/$cmd"
    # the launcher itself, not luarocks' shell wrapper (which loads luarocks.loader at every start)
    step "$cmd in the $tree tree is the Lua launcher" sh -c "head -1 '$tmp/$tree/bin/$cmd' | grep -qx '#!/usr/bin/env lua5.4'"
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
echo "1..$n"
exit $((fails > 0))
