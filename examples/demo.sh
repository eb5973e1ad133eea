#!/bin/sh
# make demo: the project's main job on its embedded default - the firewall HA
# lab.  Namespaces client, fw1, fw2, server; real keepalived + conntrackd
# (FTFW) + nftables (drop policy, SNAT to the VIPs); long TCP streams, IPv4 and
# IPv6; failovers and fail-backs; netops-failover commits on each.  Everything
# it creates lives in its own namespaces and temp dir, removed at the end.
#   DEMO_TRANSITIONS=N   number of failovers + fail-backs (default 4)
#   DEMO_POLICY=FILE     another policy (e.g. one that does nothing, to watch it fail)
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
  echo "demo: the HA lab needs root (network namespaces, keepalived, conntrackd, nftables)" >&2
  exit 1
fi
for tool in keepalived conntrackd nft ip python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "demo: $tool is missing (make deps)" >&2; exit 1; }
done
exec lua5.4 spec/lab/demo.lua
