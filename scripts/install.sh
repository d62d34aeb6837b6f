#!/bin/sh
# Installs everything pystack needs on Debian 12, as root: the apt packages and a venv
# in ./.venv with pystack (editable) and its dev tools.  Safe to run again.
set -eu
cd "$(dirname "$0")/.."
APT_PACKAGES="python3 python3-venv python3-dev gcc git iproute2 nftables busybox-static tini \
  skopeo docker-registry apache2-utils ca-certificates openssl util-linux procps mmdebstrap \
  openssh-client"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's docker-registry package starts nothing without systemd; make sure nothing runs.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[dev]'
