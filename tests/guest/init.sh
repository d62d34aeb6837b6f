#!/bin/sh
# PID 1 of the test guest (copied into the image; part of its cache key).
# Mounts what a Debian 12 host has, then the cgroups: with cgroup_no_v1=all on the kernel
# command line a pure cgroup-v2 tree laid out as systemd lays it out (every controller
# delegated down to the session scope the work runs in, PID 1 in init.scope); otherwise the
# legacy layout (one v1 hierarchy per controller, cgroup2 at unified/) as a control.
# Then the shared run script, then power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mnt() { mountpoint -q "$3" || mount -t "$1" ${4:+-o "$4"} "$2" "$3"; }
mnt proc proc /proc; mnt sysfs sys /sys; mnt devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mnt devpts devpts /dev/pts gid=5,mode=620,ptmxmode=666; mnt tmpfs shm /dev/shm mode=1777
mnt tmpfs run /run mode=755
mkdir -p /run/lock && chmod 1777 /run/lock
CG=/sys/fs/cgroup SCOPE=
if grep -qw cgroup_no_v1=all /proc/cmdline; then
  mnt cgroup2 cgroup2 $CG nsdelegate,memory_recursiveprot
  SCOPE=$CG/user.slice/user-0.slice/session-1.scope
  mkdir -p $CG/init.scope $SCOPE
  echo $$ > $CG/init.scope/cgroup.procs
  for d in $CG $CG/user.slice $CG/user.slice/user-0.slice; do
    for c in $(cat $d/cgroup.controllers); do echo "+$c" > $d/cgroup.subtree_control; done
  done
else
  mnt tmpfs cgroup $CG mode=755
  for c in $(awk '$4 == 1 {print $1}' /proc/cgroups); do mkdir -p $CG/$c; mnt cgroup cgroup $CG/$c $c; done
  mkdir -p $CG/unified; mnt cgroup2 cgroup2 $CG/unified nsdelegate
fi
ip link set lo up; hostname pystack-guest
modprobe 9pnet_virtio; modprobe 9p
mkdir -p /mnt/src /mnt/wheels /mnt/out
o=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o $o,ro src /mnt/src; mount -t 9p -o $o,ro wheels /mnt/wheels; mount -t 9p -o $o out /mnt/out
sh -c "${SCOPE:+echo \$\$ > $SCOPE/cgroup.procs;} exec sh /mnt/src/run.sh"
sync; umount /mnt/out
busybox poweroff -f; echo o > /proc/sysrq-trigger
