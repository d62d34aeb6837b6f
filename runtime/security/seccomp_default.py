"""pystack's default seccomp profile (Docker's default profile's rules).

Docker's shape: deny (EPERM) by default, allow a list of ordinary syscalls, allow a few only
with safe arguments (clone without namespace flags, socket without AF_VSOCK, personality with
the 5 harmless values), clone3 -> ENOSYS so libc falls back to clone, and relax groups of
syscalls when the container holds the capability that makes them meaningful.  Stricter than
Docker on purpose (the task's list): ptrace, adjtimex/clock_adjtime and name_to_handle_at are
refused unless the matching capability is granted.
"""

from __future__ import annotations

from pystack.runtime.security.seccomp_model import Arg, Profile, Rule

ALLOW = "SCMP_ACT_ALLOW"
ENOSYS = 38
AF_VSOCK = 40
CLONE_NS_FLAGS = 0x7E020000     # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

_ALLOWED_TEXT = """
accept accept4 access alarm arch_prctl bind brk cachestat capget capset chdir chmod chown
clock_getres clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup
dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchownat fcntl fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate futex
futex_requeue futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64
getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresuid getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getxattr getxattrat
inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents ioprio_get ioprio_set io_setup io_submit kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen listmount
listxattr listxattrat llistxattr lremovexattr lseek lsetxattr lstat madvise map_shadow_stack
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap modify_ldt mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink
mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap nanosleep newfstatat
open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recvfrom recvmmsg recvmsg
remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
semctl semget semop semtimedop sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid
setgroups setitimer setpgid setpriority setregid setresgid setresuid setreuid setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setxattr setxattrat
shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socketpair splice stat statfs
statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create
timerfd_gettime timerfd_settime times tkill truncate umask uname unlink unlinkat uretprobe utime
utimensat utimes vfork vmsplice wait4 waitid write writev
_llseek _newselect chown32 clock_getres_time64 clock_gettime64 clock_nanosleep_time64
fadvise64_64 fchown32 fcntl64 fstat64 fstatat64 fstatfs64 ftruncate64 futex_time64 getegid32
geteuid32 getgid32 getgroups32 getresgid32 getresuid32 getuid32 io_pgetevents_time64 ipc
lchown32 lstat64 mmap2 mq_timedreceive_time64 mq_timedsend_time64 ppoll_time64 pselect6_time64
recv recvmmsg_time64 rt_sigtimedwait_time64 sched_rr_get_interval_time64 semtimedop_time64
send sendfile64 setfsgid32 setfsuid32 setgid32 setgroups32 setregid32 setresgid32 setresuid32
setreuid32 setuid32 sigprocmask sigreturn socketcall stat64 statfs64 timer_gettime64
timer_settime64 timerfd_gettime64 timerfd_settime64 truncate64 ugetrlimit utimensat_time64
waitpid
"""
ALLOWED: tuple[str, ...] = tuple(_ALLOWED_TEXT.split())

# capability -> syscalls it unlocks (Docker's includes.caps groups, plus the stricter ones)
BY_CAP: dict[str, tuple[str, ...]] = {
    "CAP_SYS_ADMIN": (
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
        "pivot_root", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
        "syslog", "umount", "umount2", "unshare", "name_to_handle_at"),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at", "name_to_handle_at"),
    "CAP_SYS_BOOT": ("reboot",),
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_SYS_MODULE": ("delete_module", "init_module", "finit_module"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": ("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                       "process_vm_writev", "ptrace"),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex",
                     "clock_adjtime", "clock_adjtime64"),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYS_NICE": ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    "CAP_SYSLOG": ("syslog",),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
}


def default_profile() -> Profile:
    rules: list[Rule] = [Rule(names=tuple(ALLOWED), action=ALLOW)]
    rules += [Rule(names=("personality",), action=ALLOW, args=(Arg(0, "SCMP_CMP_EQ", v),))
              for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)]
    rules.append(Rule(names=("socket",), action=ALLOW,
                      args=(Arg(0, "SCMP_CMP_NE", AF_VSOCK),)))
    rules.append(Rule(names=("clone",), action=ALLOW, excludes_caps=("CAP_SYS_ADMIN",),
                      args=(Arg(0, "SCMP_CMP_MASKED_EQ", CLONE_NS_FLAGS, 0),)))
    rules.append(Rule(names=("clone3",), action="SCMP_ACT_ERRNO", errno_ret=ENOSYS,
                      excludes_caps=("CAP_SYS_ADMIN",)))
    for cap, calls in BY_CAP.items():
        rules.append(Rule(names=calls, action=ALLOW, includes_caps=(cap,)))
    return Profile(default_action="SCMP_ACT_ERRNO", default_errno=1, rules=tuple(rules))
