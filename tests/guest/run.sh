#!/bin/bash
# tests/guest/run.sh: run a command, as root, in a copy of this checkout on a Debian 12 guest
# (Debian's 6.1 kernel) booted with qemu, on a pure cgroup-v2 hierarchy (or v1, as a control).
#
#   tests/guest/run.sh [-c v2|v1] [-o OUTDIR] -- COMMAND [ARG...]
#
# 1. image:  mmdebstrap a bookworm root (kernel + the packages scripts/install.sh wants) with
#            tests/guest/init.sh as PID 1, mkfs.ext4 -d it; cached in $CACHE/image-<hash of
#            the package list, init.sh and this script's image settings>.
# 2. wheels: `pip wheel` the checkout with its dev extras on the host, cached by the hash of
#            pyproject.toml; the guest installs only from them (no index, no network).
# 3. boot:   qemu with KVM where it gives hardware virtualization, else an emulated CPU (TCG),
#            NO network device, the image as a throwaway snapshot, three 9p shares: the
#            checkout's files + the run script (read-only), the wheels (read-only), OUTDIR.
# 4. guest:  copies the checkout, runs `sh scripts/install.sh` (everything is already in the
#            image, so apt installs nothing), then COMMAND, then powers off.
# OUTDIR (default $CACHE/out-<time>) gets console.log, info.txt, setup.log, cmd.log, times.txt,
# rc.  Exit status: COMMAND's; 125 if the guest reported none (see console.log/setup.log).
# Environment: PYSTACK_GUEST_CACHE (/var/cache/pystack-guest), MEM (4096), SMP (2),
# ACCEL (auto|kvm|tcg), TIMEOUT (seconds; 3600 kvm, 5400 tcg), REBUILD=1.
set -eu
usage() { sed -n '5p' "$0" >&2; exit 2; }
MODE=v2 OUT=
while getopts c:o:h opt; do
  case $opt in c) MODE=$OPTARG ;; o) OUT=$OPTARG ;; *) usage ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || usage
[ "$(id -u)" = 0 ] || { echo "tests/guest/run.sh: run as root" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
CACHE=${PYSTACK_GUEST_CACHE:-/var/cache/pystack-guest}
MEM=${MEM:-4096} SMP=${SMP:-2} ACCEL=${ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
  # /dev/kvm can exist without vmx/svm (a paravirtual KVM): qemu cannot use it for this kernel.
  if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case $ACCEL in
  kvm) QACCEL=(-enable-kvm -cpu host); TIMEOUT=${TIMEOUT:-3600} ;;
  tcg) QACCEL=(-accel tcg,thread=multi -cpu max); TIMEOUT=${TIMEOUT:-5400} ;;
  *) usage ;;
esac
case $MODE in
  v2) CGARGS="systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all" ;;
  v1) CGARGS="systemd.unified_cgroup_hierarchy=0" ;;
  *) usage ;;
esac
OUT=${OUT:-$CACHE/out-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$CACHE" "$OUT"; OUT=$(cd "$OUT" && pwd); rm -f "$OUT/rc" "$OUT/times.txt"
say() { echo "== guest lane $(date +%T): $*"; }
took() { echo "$1: $(( $(date +%s) - $2 )) s" | tee -a "$OUT/times.txt"; }
say "mode $MODE, accel $ACCEL, out $OUT"

need=""
for t in qemu-system-x86_64:qemu-system-x86 mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs; do
  command -v "${t%%:*}" >/dev/null || need="$need ${t#*:}"
done
if [ -n "$need" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

# 1. The image: the kernel and boot tools, and every package scripts/install.sh wants (read
#    from it, so the guest's install finds them all and needs no network).
APT=$(sed -n '/^APT_PACKAGES="/,/"/p' "$SRC/scripts/install.sh" | sed 's/^APT_PACKAGES=//' | tr -d '"\\')
PKGS="linux-image-amd64 initramfs-tools kmod mount util-linux procps iproute2 nftables \
python3 python3-venv python3-dev python3-pip gcc git passwd ca-certificates $APT"
PKGS=$(echo $PKGS | tr ' ' '\n' | sort -u | tr '\n' ' ')
KEY=$(printf '%s\n' "$PKGS" | cat - "$HERE/init.sh" | sha256sum | cut -c1-12)
IMG=$CACHE/image-$KEY
if [ "${REBUILD:-}" = 1 ] || [ ! -f "$IMG/.done" ]; then
  say "building the guest image in $IMG"; t=$(date +%s)
  rm -rf "$IMG"; mkdir -p "$IMG"; R=$IMG/root
  mmdebstrap --variant=minbase --include="$(echo $PKGS | tr ' ' ,)" bookworm "$R" \
    >"$IMG/mmdebstrap.log" 2>&1 || { tail -30 "$IMG/mmdebstrap.log" >&2; exit 1; }
  install -m 755 "$HERE/init.sh" "$R/sbin/pystack-guest-init"
  echo pystack-guest >"$R/etc/hostname"
  printf '127.0.0.1 localhost pystack-guest\n::1 localhost\n' >"$R/etc/hosts"
  cp "$R"/boot/vmlinuz-* "$IMG/vmlinuz"; cp "$R"/boot/initrd.img-* "$IMG/initrd.img"
  mkfs.ext4 -q -F -L pystack-guest -d "$R" "$IMG/rootfs.img" 8G
  rm -rf "$R"; touch "$IMG/.done"
  took "image build" "$t"
fi

# 2. The shares: the checkout's files (tracked and untracked, not ignored) and the wheels.
RUN=$(mktemp -d "$CACHE/run-XXXXXX")
trap 'rm -rf "$RUN"' EXIT
mkdir -p "$RUN/w"
(cd "$SRC" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf -) |
  tar -C "$RUN/w" -xf -
WH=$CACHE/wheels-$(sha256sum <"$SRC/pyproject.toml" | cut -c1-12)
if [ ! -f "$WH/.done" ]; then
  say "building wheels in $WH"; t=$(date +%s)
  rm -rf "$WH"; cp -a "$RUN/w" "$RUN/b"              # pip builds in the tree: use a copy
  # The checkout's own venv (scripts/install.sh made it with Debian's python3 and pip), so
  # nothing beyond the README's install is needed; else whatever python3 has pip.
  PY=python3; [ -x "$SRC/.venv/bin/python" ] && PY=$SRC/.venv/bin/python
  "$PY" -m pip wheel -q -w "$WH" "$RUN/b[dev]" setuptools wheel pip
  rm -rf "$RUN/b"; touch "$WH/.done"
  took "wheels" "$t"
fi
printf '%q ' "$@" >"$RUN/cmd"
cat >"$RUN/run.sh" <<'GUEST'
#!/bin/sh
# In the guest, as root, in the work cgroup: facts, copy, setup, the command.
O=/mnt/out
{ uname -r; cat /proc/cmdline; grep cgroup /proc/mounts
  echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
  echo "own cgroup: $(cat /proc/self/cgroup)"; nproc; ip -br link; python3 --version; } >$O/info.txt 2>&1
echo "guest booted: $(cut -d. -f1 /proc/uptime) s" >>$O/times.txt
mkdir -p /root/w && cp -a /mnt/src/w/. /root/w/ && cd /root/w || exit 1
export PIP_NO_INDEX=1 PIP_FIND_LINKS=/mnt/wheels PIP_DISABLE_PIP_VERSION_CHECK=1
t=$(date +%s)
sh scripts/install.sh >$O/setup.log 2>&1; s=$?
echo "guest setup (rc=$s): $(( $(date +%s) - t )) s" >>$O/times.txt
if [ $s -eq 0 ]; then
  t=$(date +%s)
  { bash /mnt/src/cmd </dev/null 2>&1; echo $? >$O/rc; } | tee $O/cmd.log
  echo "guest command (rc=$(cat $O/rc)): $(( $(date +%s) - t )) s" >>$O/times.txt
else
  tail -20 $O/setup.log
fi
GUEST

# 3. Boot; the guest's PID 1 powers off when the command is done.
say "booting"; t=$(date +%s)
set +e
timeout "$TIMEOUT" qemu-system-x86_64 "${QACCEL[@]}" -m "$MEM" -smp "$SMP" \
  -nographic -no-reboot -nic none -device virtio-rng-pci \
  -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
  -drive "file=$IMG/rootfs.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$RUN,mount_tag=src,security_model=none,readonly=on" \
  -virtfs "local,path=$WH,mount_tag=wheels,security_model=none,readonly=on" \
  -virtfs "local,path=$OUT,mount_tag=out,security_model=none" \
  -append "console=ttyS0 root=/dev/vda rw init=/sbin/pystack-guest-init quiet panic=1 $CGARGS" \
  </dev/null >"$OUT/console.log" 2>&1
q=$?
set -e
took "guest in all (qemu rc=$q)" "$t"
cat "$OUT/times.txt"
[ -s "$OUT/rc" ] || { echo "tests/guest/run.sh: the guest reported no exit status; see $OUT" >&2
                      tail -30 "$OUT/console.log" >&2; exit 125; }
say "command exit status $(cat "$OUT/rc"); logs in $OUT"
exit "$(cat "$OUT/rc")"
