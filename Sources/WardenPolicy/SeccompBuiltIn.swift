/// The built-in seccomp rules: the `basic` and `strict` profiles and the boundary rules
/// every run gets in a filter of its own.
extension SeccompProfile {
    /// Calls that act on the host rather than on a build: refused by `basic`.
    public static let hostCalls = [
        "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "delete_module", "finit_module",
        "fsconfig", "fsmount", "fsopen", "fspick", "init_module", "io_uring_enter", "io_uring_register",
        "io_uring_setup", "iopl", "ioperm", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
        "mount", "mount_setattr", "move_mount", "open_by_handle_at", "open_tree", "perf_event_open",
        "pivot_root", "process_vm_writev", "ptrace", "quotactl", "reboot", "request_key", "setdomainname",
        "sethostname", "setns", "settimeofday", "swapoff", "swapon", "syslog", "umount2", "unshare",
        "userfaultfd", "vhangup",
    ]

    /// What compilers, linkers, interpreters and build tools call (glibc, Rust, Swift, Go
    /// and Python runtimes included), for `strict`: everything else is refused with EPERM.
    /// The set*id calls are here because make and shells drop privileges with them; with
    /// no capabilities and no_new_privs they cannot raise any.
    public static let buildCalls = [
        "_llseek", "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "chdir", "chmod",
        "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "clone", "clone3", "close", "close_range",
        "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit",
        "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat",
        "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
        "fremovexattr", "fsetxattr", "lremovexattr", "lsetxattr", "removexattr", "setxattr",
        "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv", "get_mempolicy", "get_robust_list",
        "getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer",
        "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
        "getresuid", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday",
        "getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "ioctl",
        "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr",
        "link", "linkat", "listen", "listxattr", "llistxattr", "lseek", "lstat", "madvise", "membarrier",
        "memfd_create", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mmap", "mprotect", "mremap",
        "msync", "munlock", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "open", "openat", "openat2",
        "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64", "preadv",
        "preadv2", "prlimit64", "process_vm_readv", "pselect6", "pwrite64", "pwritev", "pwritev2", "read",
        "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
        "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
        "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity",
        "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_setaffinity", "sched_yield", "seccomp",
        "select", "semctl", "semget", "semop", "sendfile", "sendmmsg", "sendmsg", "sendto", "set_mempolicy",
        "set_robust_list", "set_tid_address", "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid",
        "setpriority", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsid", "setuid",
        "setsockopt", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "socket", "socketpair",
        "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
        "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
        "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
        "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "wait4", "waitid",
        "write", "writev",
    ]

    /// What keeps the build inside its sandbox whatever the profile allows, added on top
    /// of every filter (built-in or OCI): `clone3` fails with ENOSYS, so libc falls back
    /// to `clone`, whose flags a filter can see (clone3 passes them in memory); `clone`
    /// and `unshare` with a namespace flag, `prlimit64` on another process (warden, its
    /// guard), and the terminal ioctls that inject input (TIOCSTI) or act on the console
    /// (TIOCLINUX) fail with EPERM. Masked comparisons: the kernel reads ioctl's command as 32 bits, so
    /// high bits set by the caller must not slip past an equality test.
    /// `io_uring_setup` fails with EPERM: its operations (open, chmod, connect) reach the
    /// kernel without a system call a filter could judge.
    /// No set-user-ID or set-group-ID bit either (`setIDRules`): a build run as root would
    /// otherwise leave a setuid-root program behind (`chmod u+s /usr/bin/X`, or a new one
    /// in its output).
    public static let boundaryRules: [SeccompRule] = {
        let namespaceFlags: [UInt64] = [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000,
                                        0x4000_0000, 0x80]  // NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
        var rules = [SeccompRule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38)]
        // unshare takes the same flags, in the same argument.
        rules += ["clone", "unshare"].flatMap { name in
            namespaceFlags.map {
                SeccompRule(names: [name], action: "SCMP_ACT_ERRNO", errnoRet: eperm, args: [SeccompArg(index: 0, value: $0, valueTwo: $0, op: "SCMP_CMP_MASKED_EQ")])
            }
        }
        rules.append(SeccompRule(names: ["prlimit64"], action: "SCMP_ACT_ERRNO", errnoRet: eperm,
                                 args: [SeccompArg(index: 0, value: 0, op: "SCMP_CMP_NE")]))
        // io_uring performs opens, chmods and connects without a system call a filter sees.
        rules.append(SeccompRule(names: ["io_uring_setup"], action: "SCMP_ACT_ERRNO", errnoRet: eperm))
        rules += [UInt64(0x5412), 0x541C].map {  // TIOCSTI, TIOCLINUX
            SeccompRule(names: ["ioctl"], action: "SCMP_ACT_ERRNO", errnoRet: eperm,
                        args: [SeccompArg(index: 1, value: 0xFFFF_FFFF, valueTwo: $0, op: "SCMP_CMP_MASKED_EQ")])
        }
        return rules + setIDRules + socketFamilyRules + attributeRules
    }()

    /// The inode-flag ioctls (`chattr`: immutable, append-only, no-dump) fail with EPERM
    /// on any file: nothing traces them, and where the read-only view keeps a file on a
    /// writable mount (the caller's files behind descriptors 0–2) they would change it
    /// unseen. (Descriptors 0–2 cannot be told apart by number: `touch` reopens its file
    /// on descriptor 0.) The command compared on its low 32 bits, as the kernel reads it.
    public static let attributeRules: [SeccompRule] = [UInt64(0x4008_6602), 0x4004_6602, 0x401C_5820].map {
        // FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR
        SeccompRule(names: ["ioctl"], action: "SCMP_ACT_ERRNO", errnoRet: eperm,
                    args: [SeccompArg(index: 1, value: 0xFFFF_FFFF, valueTwo: $0, op: "SCMP_CMP_MASKED_EQ")])
    }

    /// Signals to warden itself, a filter of each run's own: without Landlock's signal
    /// scoping (ABI 6) a build run as plain root could kill warden — and its guard — and
    /// leave its own processes running with the run's cgroup programs detached. EPERM for
    /// `kill` of warden's pid, of its process group (negative) and of everyone (-1), and
    /// for the calls that name warden's pid in their first argument (`tgkill`,
    /// `rt_sigqueueinfo`, `rt_tgsigqueueinfo`, `pidfd_open`). `tkill` names a thread, and
    /// warden's thread ids are not known in advance: EPERM always (libc uses `tgkill`).
    /// `pidfd_send_signal` also takes a /proc/PID directory, which no filter can see:
    /// ENOSYS, as before Linux 5.1, so runtimes fall back to `kill`. Pids are compared on
    /// their low 32 bits, as the kernel reads them.
    public static func wardenShield(pid: Int32, pgid: Int32, arch: String) -> SeccompProfile {
        func names(_ v: Int32) -> SeccompArg {
            SeccompArg(index: 0, value: 0xFFFF_FFFF, valueTwo: UInt64(UInt32(bitPattern: v)), op: "SCMP_CMP_MASKED_EQ")
        }
        var rules = Set([pid, -pgid, -1]).sorted().map { SeccompRule(names: ["kill"], action: "SCMP_ACT_ERRNO", errnoRet: eperm, args: [names($0)]) }
        rules += ["tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open"].map {
            SeccompRule(names: [$0], action: "SCMP_ACT_ERRNO", errnoRet: eperm, args: [names(pid)])
        }
        rules.append(SeccompRule(names: ["tkill"], action: "SCMP_ACT_ERRNO", errnoRet: eperm))
        rules.append(SeccompRule(names: ["pidfd_send_signal"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        return SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", architectures: [arch], syscalls: rules)
    }

    /// Socket families a build has no use for — vsock (to the hypervisor), bluetooth, CAN,
    /// packet, … — fail with EAFNOSUPPORT, as on a kernel without them; unix, inet, inet6
    /// and netlink (getaddrinfo's address check) stay.
    public static let socketFamilyRules: [SeccompRule] = {
        let kept: Set<UInt64> = [1, 2, 10, 16]
        let refused = (3...45).map(UInt64.init).filter { !kept.contains($0) }
        return refused.map { SeccompRule(names: ["socket"], action: "SCMP_ACT_ERRNO", errnoRet: 97, args: [SeccompArg(index: 0, value: $0, op: "SCMP_CMP_EQ")]) }
            + [SeccompRule(names: ["socket"], action: "SCMP_ACT_ERRNO", errnoRet: 97, args: [SeccompArg(index: 0, value: 46, op: "SCMP_CMP_GE")])]
    }()

    /// EPERM for every call that sets a mode with S_ISUID (04000) or S_ISGID (02000):
    /// chmod and its forms, creat, mknod, and open/openat when they create (O_CREAT or
    /// O_TMPFILE; otherwise the mode argument is unused and may hold anything). openat2
    /// passes its mode in memory a filter cannot read: it fails with ENOSYS, and callers
    /// fall back to openat.
    public static let setIDRules: [SeccompRule] = {
        func has(_ index: UInt32, _ bits: UInt64) -> SeccompArg { SeccompArg(index: index, value: bits, valueTwo: bits, op: "SCMP_CMP_MASKED_EQ") }
        let setID: [UInt64] = [0o4000, 0o2000]
        let creating: [UInt64] = [0o100, 0o20000000]  // O_CREAT, __O_TMPFILE
        var rules: [SeccompRule] = []
        for (name, mode) in [("chmod", UInt32(1)), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2), ("creat", 1), ("mknod", 1), ("mknodat", 2)] {
            rules += setID.map { SeccompRule(names: [name], action: "SCMP_ACT_ERRNO", errnoRet: eperm, args: [has(mode, $0)]) }
        }
        for (name, flags) in [("open", UInt32(1)), ("openat", 2)] {
            for c in creating {
                rules += setID.map { SeccompRule(names: [name], action: "SCMP_ACT_ERRNO", errnoRet: eperm, args: [has(flags, c), has(flags + 1, $0)]) }
            }
        }
        rules.append(SeccompRule(names: ["openat2"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        return rules
    }()

    /// Under an exec allowlist: no `execveat(fd, "", …, AT_EMPTY_PATH)` (fexecve), which
    /// runs an open descriptor — a memfd the build filled — that no path rule covers.
    public static let noDescriptorExec = SeccompRule(names: ["execveat"], action: "SCMP_ACT_ERRNO", errnoRet: eperm,
                                                     args: [SeccompArg(index: 4, value: 0x1000, valueTwo: 0x1000, op: "SCMP_CMP_MASKED_EQ")])

    public static func builtIn(_ p: SyscallProfile) -> SeccompProfile? {
        switch p {
        case .none: return nil
        case .basic:
            return SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", syscalls: [SeccompRule(names: hostCalls, action: "SCMP_ACT_ERRNO", errnoRet: eperm)])
        case .allowlist:
            return SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: eperm, syscalls: [])
        case .strict:
            return SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: eperm,
                                  syscalls: [SeccompRule(names: buildCalls, action: "SCMP_ACT_ALLOW")])
        }
    }
}
