#!/bin/sh
# make demo: the main job on its embedded default.  Until the firewall HA lab
# lands, it shows address canonicalization on the seed's own example.
cd "$(dirname "$0")/.." || exit 1
echo "== normalize: the seed's addresses, as an application wrote them"
printf '%s\n' 2001:db8:0:0:0:0:cafe:1111 2001:db8::a:1:2:3:4 \
  2001:0DB8:AAAA:0000:0000:0000:0000:000C 2001:db8::1:0:0:0:4 |
  lua5.4 examples/normalize.lua
