#!/bin/sh
# Brings up examples/demo on pystack's own engine (run as root, after scripts/install.sh):
# builds the busybox image from Debian's busybox-static (tests/support/busybox.py's recipe),
# imports it as local/busybox:latest, `pystack up -d --wait`s the stack and shows `pystack ps`
# and the web page on the published port.  Stop it with the `down` line printed at the end.
set -eu
cd "$(dirname "$0")/.."
PYSTACK=.venv/bin/pystack
STACK=examples/demo/stack.yml
if ! $PYSTACK image inspect local/busybox:latest >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  .venv/bin/python -c "
import sys
from pathlib import Path
sys.path.insert(0, '.')
from tests.support.busybox import build_rootfs, rootfs_tar
tmp = Path(sys.argv[1])
rootfs_tar(build_rootfs(tmp / 'rootfs'), tmp / 'rootfs.tar')
" "$tmp"
  $PYSTACK image import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' "$tmp/rootfs.tar" local/busybox:latest >/dev/null
  echo "imported local/busybox:latest"
fi
$PYSTACK -f $STACK up -d --wait --wait-timeout 30
$PYSTACK -f $STACK ps
printf 'GET http://127.0.0.1:18080/ -> '
.venv/bin/python -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:18080/', timeout=5).read().decode(), end='')"
sleep 2
$PYSTACK -f $STACK logs --tail 2 worker
echo "stop it with: $PYSTACK -f $STACK down"
