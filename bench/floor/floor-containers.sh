#!/bin/sh
# Physical floor for "start a container": N times (default 1), sequentially
# (or in parallel with -p), do what a minimal runtime must do by hand:
#   mkdir the overlay dirs (upper, work, merged) -> unshare mount+uts+ipc+pid+net (+fork)
#   -> overlay mount (lower = busybox rootfs) -> chroot merged /bin/true
#   -> (namespaces die with the process) -> rm the overlay dirs.
# -p: start the N in parallel instead of one after the other.
# -c: also make a cgroup-v1 child in the memory, pids and cpu hierarchies for
#     each one, join it before chroot, and rmdir it afterwards.
# Needs a busybox rootfs at $TMPDIR/pystack-busybox-rootfs (bench/floor/README.md).
# usage: sh floor-containers.sh [-p] [-c] [N]
set -eu
PAR=0; CG=0
while [ $# -gt 0 ]; do
  case $1 in
    -p) PAR=1; shift ;;
    -c) CG=1; shift ;;
    *) break ;;
  esac
done
N=${1:-1}
CGROOT=/sys/fs/cgroup
CGCTL="memory pids cpu"
TMPDIR=${TMPDIR:-/tmp}
LOWER="$TMPDIR/pystack-busybox-rootfs"
[ -x "$LOWER/bin/busybox" ] || { echo "no rootfs at $LOWER: see bench/floor/README.md" >&2; exit 2; }
BASE=$(mktemp -d "$TMPDIR/pystack-floor.XXXXXX")

one() {
  d="$BASE/c$1"
  mkdir -p "$d/upper" "$d/work" "$d/merged"
  cgs=""
  if [ "$CG" = 1 ]; then
    for c in $CGCTL; do mkdir -p "$CGROOT/$c/pystack-floor/c$1"; cgs="$cgs $CGROOT/$c/pystack-floor/c$1"; done
  fi
  unshare --mount --uts --ipc --pid --net --fork sh -c '
    l=$1; d=$2; shift 2
    for g in "$@"; do echo 0 > "$g/cgroup.procs"; done
    mount -t overlay overlay -o "lowerdir=$l,upperdir=$d/upper,workdir=$d/work" "$d/merged" &&
    exec chroot "$d/merged" /bin/true' sh "$LOWER" "$d" $cgs
  for g in $cgs; do rmdir "$g"; done
  rm -rf "$d"
}

i=1
while [ "$i" -le "$N" ]; do
  if [ "$PAR" = 1 ]; then one "$i" & else one "$i"; fi
  i=$((i + 1))
done
wait
rmdir "$BASE"
if [ "$CG" = 1 ]; then for c in $CGCTL; do rmdir "$CGROOT/$c/pystack-floor" 2>/dev/null || true; done; fi
