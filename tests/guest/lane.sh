#!/bin/sh
# The CI's guest lane: root integration tests on a pure cgroup-v2 Debian 12 guest (kernel
# 6.1) through tests/guest/run.sh.  Under an emulated CPU (no usable KVM, as on the CI
# machines) the whole integration suite takes most of an hour, so the lane runs the parts
# that depend on the kernel and the cgroup mode: cgroups, the runtime (overlay mounts,
# namespaces, rootfs, limits, exec, health), the security probes and attacks, and the stack
# lifecycle end to end.  LANE_TESTS replaces that list (e.g. LANE_TESTS=tests/integration
# for all of it); extra arguments go to pytest; MODE=v1 runs the legacy hierarchy as a
# control.  Tests needing the network (the `realsw` images, built with apt) are left out.
set -eu
cd "$(dirname "$0")/../.."
TESTS=${LANE_TESTS:-tests/integration/cgroups tests/integration/runtime tests/integration/security tests/integration/stack/test_stack_lifecycle.py tests/integration/stack/test_users.py}
# shellcheck disable=SC2086
exec bash tests/guest/run.sh -c "${MODE:-v2}" \
  -o "${OUT:-${PYSTACK_GUEST_CACHE:-/var/cache/pystack-guest}/lane-${MODE:-v2}}" -- \
  .venv/bin/pytest -p no:cacheprovider -ra -v -m "not realsw" $TESTS "$@"
