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
build = {
  type = "builtin",
  modules = {
    -- libc only: everything but the kernel conntrack binding
    ["netops.core"] = {
      sources = {
        "csrc/clock.c",
        "csrc/conntrackd.c",
        "csrc/core.c",
        "csrc/ctd_reply.c",
        "csrc/file.c",
        "csrc/inet.c",
        "csrc/lockfile.c",
        "csrc/lua_conntrackd.c",
        "csrc/lua_failover.c",
        "csrc/lua_file.c",
        "csrc/lua_inet.c",
        "csrc/lua_log.c",
        "csrc/lua_probe.c",
        "csrc/lua_proc.c",
        "csrc/lua_signals.c",
        "csrc/lua_spawn.c",
        "csrc/luax.c",
        "csrc/probe.c",
        "csrc/proc.c",
        "csrc/signals.c",
        "csrc/spawn.c",
        "csrc/trust.c",
      },
      defines = { "_GNU_SOURCE" },
    },
    -- the kernel conntrack binding, loaded only by netops.conntrack; with
    -- the libc-only code it calls (luax.c, inet.c, clock.c and the spawn.c
    -- its sleep needs), compiled in again because Lua keeps each C module's
    -- symbols to itself
    ["netops.ctnetlink"] = {
      sources = {
        "csrc/conntrack.c",
        "csrc/ct_text.c",
        "csrc/lua_conntrack.c",
        "csrc/lua_ct_text.c",
        "csrc/luax.c",
        "csrc/inet.c",
        "csrc/clock.c",
        "csrc/spawn.c",
        "csrc/file.c",
      },
      defines = { "_GNU_SOURCE" },
      libraries = { "netfilter_conntrack", "nfnetlink", "mnl" },
      incdirs = { "$(NETFILTER_CONNTRACK_INCDIR)", "$(MNL_INCDIR)" },
      libdirs = { "$(NETFILTER_CONNTRACK_LIBDIR)", "$(MNL_LIBDIR)" },
    },
    ["netops"] = "lua/netops/init.lua",
    -- the default failover policy, found by netops-failover when installed
    ["netops.policies.primary_backup"] = "examples/primary-backup.lua",
    ["netops.conntrack"] = "lua/netops/conntrack.lua",
    ["netops.conntrackd"] = "lua/netops/conntrackd.lua",
    ["netops.failover"] = "lua/netops/failover.lua",
    ["netops.failover.doctor"] = "lua/netops/failover/doctor.lua",
    ["netops.failover.history"] = "lua/netops/failover/history.lua",
    ["netops.failover.log"] = "lua/netops/failover/log.lua",
    ["netops.failover.metrics"] = "lua/netops/failover/metrics.lua",
    ["netops.failover.queue"] = "lua/netops/failover/queue.lua",
    ["netops.proc"] = "lua/netops/proc.lua",
    ["netops.signals"] = "lua/netops/signals.lua",
    ["netops.inet"] = "lua/netops/inet.lua",
    ["netops.retry"] = "lua/netops/retry.lua",
    -- the commands: examples/NAME.lua launches netops.cli.NAME
    ["netops.cli"] = "lua/netops/cli/init.lua",
    ["netops.cli.checksignals"] = "lua/netops/cli/checksignals.lua",
    ["netops.cli.netops_failover"] = "lua/netops/cli/netops_failover.lua",
    ["netops.cli.failover_tester"] = "lua/netops/cli/failover_tester.lua",
    ["netops.cli.netops_conntrack"] = "lua/netops/cli/netops_conntrack.lua",
    ["netops.cli.normalize"] = "lua/netops/cli/normalize.lua",
    ["netops.cli.sssh"] = "lua/netops/cli/sssh.lua",
  },
  install = {
    bin = {
      ["checksignals"] = "examples/checksignals.lua",
      ["normalize"] = "examples/normalize.lua",
      ["sssh"] = "examples/sssh.lua",
      ["netops-failover"] = "examples/netops-failover.lua",
      ["netops-conntrack"] = "examples/netops-conntrack.lua",
      ["failover-tester"] = "examples/failover-tester.lua",
    },
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
