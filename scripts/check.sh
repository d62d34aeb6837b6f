#!/bin/sh
# The whole test command (what .ci/run runs): lint, types, the import contract, pytest on
# this host, then the guest lane: the root integration tests again on a pure cgroup-v2
# Debian 12 guest (kernel 6.1) under qemu (tests/guest/lane.sh; PYSTACK_GUEST_LANE=0 leaves
# it out).  pytest's exit 5 (no tests collected) is a failure.  Extra arguments go to the
# host's pytest.
set -u
cd "$(dirname "$0")/.."
V=.venv/bin
set -e
echo "== ruff"; $V/ruff check .
echo "== mypy --strict"; $V/mypy -p pystack
echo "== import-linter"; PYTHONPATH=.typecheck $V/lint-imports
set +e
echo "== pytest (host)"
$V/pytest -ra -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; rc=1; fi
if [ "$rc" -eq 0 ] && [ "${PYSTACK_GUEST_LANE:-1}" != 0 ]; then
  echo "== guest lane (pure cgroup v2, Debian 12 kernel)"
  sh tests/guest/lane.sh
  rc=$?
fi
exit "$rc"
