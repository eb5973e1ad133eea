#!/bin/sh
# Install the Debian packages named as arguments that are missing.  Quiet and
# quick when everything is there; needs root (apt-get) otherwise.
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps: need root to apt-get install:$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Installing a daemon package must not start the daemon on this machine.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
  { echo "deps: apt-get install failed:$missing" >&2; exit 1; }
