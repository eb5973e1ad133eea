-- netops: Lua 5.4 tools for network and firewall operators, with a C core.
rockspec_format = "3.0"
package = "netops"
version = "0.1.0-1"
source = {
  -- The release v0.1.0 of the netops repository.  `make rock` packs a source
  -- rock offline instead: its source is a tarball of the checkout (this url
  -- rewritten, the tag dropped), see the Makefile.
  url = "git+file:///usr/src/netops",
  tag = "v0.1.0",
}
description = {
  summary = "Sticky ssh, firewall HA (conntrack/conntrackd), RFC 5952 addresses, signal inspection",
  detailed = [[
netops is a Lua 5.4 module with a C core: RFC 5952 address canonicalization,
/proc signal inspection, spawn-with-retry for sticky ssh, direct kernel
conntrack access through libnetfilter_conntrack and libmnl, a conntrackd
control client and a Lua failover runtime for keepalived.]],
  license = "MIT",
}
-- Offline (here, CI): Debian's packages stand for these, see
-- rockspec/luarocks-debian.lua.
dependencies = {
  "lua >= 5.4",
  "argparse >= 0.7",       -- the commands' option parser
  "dkjson >= 2.5",         -- the commands' JSON output
  "luafilesystem >= 1.7",  -- the launchers follow their symlinks with it
}
external_dependencies = {
  NETFILTER_CONNTRACK = {
    header = "libnetfilter_conntrack/libnetfilter_conntrack.h",
    library = "netfilter_conntrack",
  },
  NFNETLINK = {
    header = "libnfnetlink/libnfnetlink.h",
    library = "nfnetlink",
  },
  MNL = {
    header = "libmnl/libmnl.h",
    library = "mnl",
  },
}
-- The commands find their own tree (see lua/netops/cli/init.lua), so they
-- are installed as they are, without luarocks' shell wrapper and the
-- `require "luarocks.loader"` it runs at every start.
deploy = {
  wrap_bin_scripts = false,
}
-- The Makefile builds and installs (its rock-build and rock-install targets
-- say what and how): the C modules netops.core (libc only) and
-- netops.ctnetlink (the kernel conntrack binding, which alone links the
-- conntrack libraries), the Lua modules precompiled by the interpreter the
-- rock is for, and the commands with that interpreter on their #! line.
build = {
  type = "make",
  build_target = "rock-build",
  install_target = "rock-install",
  variables = {
    CFLAGS = "$(CFLAGS)",
    WERROR = "",
    LUA_INCDIR = "$(LUA_INCDIR)",
    NETFILTER_CONNTRACK_INCDIR = "$(NETFILTER_CONNTRACK_INCDIR)",
    NETFILTER_CONNTRACK_LIBDIR = "$(NETFILTER_CONNTRACK_LIBDIR)",
    MNL_INCDIR = "$(MNL_INCDIR)",
    MNL_LIBDIR = "$(MNL_LIBDIR)",
  },
  install_variables = {
    INST_LUADIR = "$(LUADIR)",
    INST_LIBDIR = "$(LIBDIR)",
    INST_BINDIR = "$(BINDIR)",
    LUA = "$(LUA)",
  },
  install = {
    -- the default failover policy and the sample configurations, to copy
    -- and edit: in the rock's conf/ directory (`make install` also puts
    -- them in PREFIX/share/doc/netops/)
    conf = {
      ["primary-backup.lua"] = "examples/primary-backup.lua",
      ["keepalived.conf"] = "examples/keepalived.conf",
      ["conntrackd.conf"] = "examples/conntrackd.conf",
      ["netops-conntrack-metrics.service"] = "examples/netops-conntrack-metrics.service",
      ["netops-conntrack-metrics.timer"] = "examples/netops-conntrack-metrics.timer",
    },
  },
}
