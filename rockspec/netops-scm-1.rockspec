-- netops: Lua 5.4 tools for network and firewall operators, with a C core.
rockspec_format = "3.0"
package = "netops"
version = "scm-1"
source = {
  -- `luarocks pack` works offline from a checkout: see .ci/package-test.sh,
  -- which points this at the local clone.
  url = "git+file:///usr/src/netops",
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
dependencies = {
  "lua >= 5.4",
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
build = {
  type = "builtin",
  modules = {
    ["netops.core"] = {
      sources = {
        "csrc/conntrackd.c",
        "csrc/ctd_reply.c",
        "csrc/file.c",
        "csrc/core.c",
        "csrc/luax.c",
        "csrc/conntrack.c",
        "csrc/ct_text.c",
        "csrc/inet.c",
        "csrc/lua_conntrack.c",
        "csrc/lua_conntrackd.c",
        "csrc/lua_file.c",
        "csrc/lua_inet.c",
        "csrc/lua_log.c",
        "csrc/lua_probe.c",
        "csrc/lua_proc.c",
        "csrc/lua_signals.c",
        "csrc/lua_spawn.c",
        "csrc/probe.c",
        "csrc/proc.c",
        "csrc/signals.c",
        "csrc/spawn.c",
        "csrc/trust.c",
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
    ["netops.proc"] = "lua/netops/proc.lua",
    ["netops.signals"] = "lua/netops/signals.lua",
    ["netops.inet"] = "lua/netops/inet.lua",
    ["netops.retry"] = "lua/netops/retry.lua",
  },
  install = {
    bin = {
      ["checksignals"] = "examples/checksignals.lua",
      ["normalize"] = "examples/normalize.lua",
      ["sssh"] = "examples/sssh.lua",
      ["netops-failover"] = "examples/netops-failover.lua",
      ["failover-tester"] = "examples/failover-tester.lua",
    },
  },
}
