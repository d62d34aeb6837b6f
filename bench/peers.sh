#!/bin/sh
# The build benchmark's peers (bench/build_bench.py): BuildKit inside Debian 12's dockerd 20.10
# (`docker.io`, with containerd and runc) and `buildah bud --layers` (Debian's buildah 1.28).
#
#   sh bench/peers.sh install   apt-get install docker.io buildah containerd runc (starts nothing)
#   sh bench/peers.sh start     containerd + dockerd in the background, without systemd
#   sh bench/peers.sh env       the variables build_bench.py reads (eval "$(sh bench/peers.sh env)")
#   sh bench/peers.sh status    what is running, and what of it is on the host
#   sh bench/peers.sh stop      stop both daemons, remove everything they made (state dir included)
#
# Made to share a machine with other work: all state (data roots, sockets, pid files, logs,
# buildah's storage) sits in one directory of its own, $PYSTACK_BENCH_PEERS (default
# $TMPDIR/pystack-bench-peers); dockerd runs with --bridge=none --iptables=false
# --ip-forward=false --ip-masq=false (no docker0, no iptables/nft rule, no sysctl change), its
# containers' cgroups under their own parent, and the builds run with --network=none.
# /etc is not touched: dockerd gets its own config file (its key.json in the state dir), containerd its own config,
# buildah its own storage.conf/containers.conf through CONTAINERS_STORAGE_CONF/CONTAINERS_CONF.
# `start` records the host's links, nft ruleset, iptables rules and mounts; `stop` compares.
set -eu
D=${PYSTACK_BENCH_PEERS:-${TMPDIR:-/tmp}/pystack-bench-peers}
CG=bench-peers-docker                  # cgroup parent of dockerd's (build) containers
DOCKER=/usr/bin/docker                    # Debian's 20.10 client (BuildKit without buildx)

snapshot() {  # dir: the host state a daemon could change
  ip -o link show | sed 's/^[0-9]*: //; s/ link\/.*//' | awk '{print $1}' | sort > "$1/links"
  nft list ruleset > "$1/nft" 2>&1 || true
  { iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -v '^#' > "$1/iptables" || true
  awk '{print $5, $9}' /proc/self/mountinfo | sort > "$1/mounts"
  sysctl -n net.ipv4.ip_forward > "$1/ip_forward" 2>/dev/null || true
}

env_lines() {
  echo "export PYSTACK_BENCH_DOCKER=$DOCKER"
  echo "export PYSTACK_BENCH_DOCKER_HOST=unix://$D/docker.sock"
  echo "export PYSTACK_BENCH_DOCKER_PIDS='$(cat "$D/dockerd.pid" "$D/containerd.pid" 2>/dev/null | tr '\n' ' ')'"
  echo "export PYSTACK_BENCH_BUILDAH=/usr/bin/buildah"
  echo "export PYSTACK_BENCH_BUILDAH_STORAGE=$D/buildah/storage.conf"
  echo "export PYSTACK_BENCH_BUILDAH_CONF=$D/buildah/containers.conf"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # what, test command...: up to 30 s
  what=$1; shift
  i=0
  until "$@" > /dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 150 ] || { echo "$what did not come up; see $D/$what.log" >&2; exit 1; }
    sleep 0.2
  done
}

start() {
  [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/buildah ] || { echo "run: sh $0 install" >&2; exit 1; }
  mkdir -p "$D/containerd" "$D/buildah" "$D/before"
  [ -s "$D/before/links" ] || snapshot "$D/before"
  cat > "$D/containerd/config.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/containerd/containerd.sock"
[ttrpc]
  address = "$D/containerd/containerd.sock.ttrpc"
[debug]
  address = "$D/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/containerd/opt"
EOF
  echo "{\"deprecated-key-path\": \"$D/key.json\"}" > "$D/daemon.json"   # not /etc/docker
  cat > "$D/buildah/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$D/buildah/root"
runroot = "$D/buildah/run"
EOF
  # runc: Debian's crun 1.8 refuses this host's hybrid cgroups; root here lacks
  # CAP_SYS_RESOURCE, so the rlimits stay within the current hard limits.
  nofile=$(awk '/^Max open files/ {print $5}' /proc/self/limits)
  nproc=$(awk '/^Max processes/ {print $4}' /proc/self/limits)
  [ "$nproc" = unlimited ] || [ "$nproc" -le 32768 ] || nproc=32768
  cat > "$D/buildah/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "none"
[engine]
runtime = "runc"
EOF
  if alive "$D/containerd.pid"; then
    echo "containerd already running (pid $(cat "$D/containerd.pid"))"
  else
    setsid nohup /usr/bin/containerd --config "$D/containerd/config.toml" \
        > "$D/containerd.log" 2>&1 < /dev/null &
    echo $! > "$D/containerd.pid"
    wait_for containerd test -S "$D/containerd/containerd.sock"
    echo "containerd pid $(cat "$D/containerd.pid")"
  fi
  if alive "$D/dockerd.pid"; then
    echo "dockerd already running (pid $(cat "$D/dockerd.pid"))"
  else
    setsid nohup /usr/sbin/dockerd --config-file "$D/daemon.json" \
        -H "unix://$D/docker.sock" --containerd "$D/containerd/containerd.sock" \
        --data-root "$D/docker" --exec-root "$D/exec" --pidfile "$D/dockerd.pid.own" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false --storage-driver=overlay2 \
        --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent="$CG" \
        > "$D/dockerd.log" 2>&1 < /dev/null &
    echo $! > "$D/dockerd.pid"
    wait_for dockerd "$DOCKER" -H "unix://$D/docker.sock" info
    echo "dockerd pid $(cat "$D/dockerd.pid")"
  fi
  "$DOCKER" -H "unix://$D/docker.sock" version --format 'docker {{.Server.Version}} (API {{.Server.APIVersion}})'
  /usr/bin/buildah --version
}

stop_pid() {  # name pidfile
  [ -f "$2" ] || return 0
  p=$(cat "$2")
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p"
    i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p"
    echo "stopped $1 (pid $p)"
  fi
  rm -f "$2"
}

ours() {  # pids of processes whose command line names the state dir (shims, runc, buildah)
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF "$D/" && echo "${p#/proc/}"
  done
  return 0
}

stop() {
  [ -d "$D" ] || { echo "nothing to stop ($D does not exist)"; return 0; }
  if alive "$D/dockerd.pid"; then
    ids=$("$DOCKER" -H "unix://$D/docker.sock" ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || "$DOCKER" -H "unix://$D/docker.sock" rm -f $ids > /dev/null
  fi
  stop_pid dockerd "$D/dockerd.pid"
  stop_pid containerd "$D/containerd.pid"
  for p in $(ours); do kill -KILL "$p" 2>/dev/null && echo "killed leftover pid $p"; done
  if [ -f "$D/buildah/storage.conf" ]; then
    CONTAINERS_STORAGE_CONF="$D/buildah/storage.conf" CONTAINERS_CONF="$D/buildah/containers.conf" \
      /usr/bin/buildah rm --all > /dev/null 2>&1 || true
  fi
  # mounts under the state dir (overlay layers, shm, the state dirs' own bind mounts), deepest first
  awk '{print $5}' /proc/self/mountinfo | grep -F "$D/" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" && echo "unmounted $m"
  done
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$CG" ] && find "$h$CG" -depth -type d -exec rmdir {} \; && echo "removed cgroup $h$CG"
  done
  ip link show docker0 > /dev/null 2>&1 && ip link del docker0 && echo "removed docker0"
  # dockerd's plugin socket dir is fixed (/run/docker/plugins): removed when empty
  rmdir /run/docker/plugins /run/docker 2>/dev/null && echo "removed /run/docker" || true
  if [ -s "$D/before/links" ]; then
    mkdir -p "$D/after"
    snapshot "$D/after"
    check "$D/before" "$D/after"
  fi
  rm -rf "$D"
  echo "removed $D"
}

check() {  # before after: what changed on the host while the peers ran
  # (other programs on the machine change links/rules too: their lines are shown, not judged;
  # of the nft ruleset only the table lines)
  for f in links nft iptables mounts ip_forward; do
    if ! diff -q "$1/$f" "$2/$f" > /dev/null; then
      echo "host $f changed since start (by other programs too):"
      diff "$1/$f" "$2/$f" | grep '^[<>]' | { [ $f = nft ] && grep 'table ' || cat; } \
        | head -20 | sed 's/^/  /' || true
    fi
  done
  grep -qiE 'docker' "$2/links" "$2/nft" "$2/iptables" && echo "LEFT: docker objects" \
    || echo "no docker link, chain or rule on the host"
  grep -q '^:FORWARD DROP' "$2/iptables" && echo "LEFT: iptables FORWARD policy DROP" || true
  grep -F "$D/" "$2/mounts" && echo "LEFT: mounts under $D" || true
  left=$(ours)
  [ -z "$left" ] || echo "LEFT: processes $left"
}

status() {
  for n in containerd dockerd; do
    if alive "$D/$n.pid"; then echo "$n running (pid $(cat "$D/$n.pid"))"; else echo "$n stopped"; fi
  done
  echo "processes naming $D: $(ours | tr '\n' ' ')"
  echo "mounts under $D: $(awk '{print $5}' /proc/self/mountinfo | grep -cF "$D/" || true)"
  ip -o link show | grep -i docker || echo "no docker link"
  { iptables-save 2>/dev/null; nft list ruleset 2>/dev/null; } | grep -i docker || echo "no docker rule"
}

case ${1:-} in
  install)
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      docker.io containerd runc buildah ;;
  start) start ;;
  env) env_lines ;;
  status) status ;;
  stop) stop ;;
  *) echo "usage: sh $0 install|start|env|status|stop" >&2; exit 2 ;;
esac
