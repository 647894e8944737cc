import Foundation

/// seccomp filters as data: the OCI runtime-spec `linux.seccomp` object (what
/// `warden seccomp export` writes and `import` reads), the built-in profiles, and the
/// compiled form the sandbox layer hands to libseccomp. Pure: no kernel calls.

/// The OCI runtime-spec `linux.seccomp` object. Docker's profile files add `archMap`
/// and per-rule `includes` / `excludes`; `DockerProfile` reads those.
public struct SeccompProfile: Codable, Equatable, Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var syscalls: [SeccompRule]?

    public init(defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil, syscalls: [SeccompRule]? = nil) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.syscalls = syscalls
    }
}

public struct SeccompRule: Codable, Equatable, Sendable {
    public var names: [String]
    public var action: String
    public var errnoRet: UInt32?
    public var args: [SeccompArg]?

    public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [SeccompArg]? = nil) {
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.args = args
    }
}

public struct SeccompArg: Codable, Equatable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64?
    public var op: String

    public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: String) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// Docker's profile format: OCI fields plus conditions on capabilities, architectures
/// and kernel version, resolved by `resolved(for:)` into a plain OCI profile.
public struct DockerProfile: Codable, Sendable {
    public struct Condition: Codable, Sendable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }

    public struct Rule: Codable, Sendable {
        public var names: [String]?
        public var name: String?  // older files
        public var action: String
        public var errnoRet: UInt32?
        public var args: [SeccompArg]?
        public var includes: Condition?
        public var excludes: Condition?
    }

    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchMap]?
    public var syscalls: [Rule]?

    public struct ArchMap: Codable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    /// The machine a profile is resolved for. warden's sandbox holds no capabilities.
    public struct Target: Sendable {
        public var arch: String         // "SCMP_ARCH_X86_64"
        public var kernel: [Int]        // [6, 18]
        public var capabilities: Set<String> = []
        public init(arch: String, kernel: [Int]) {
            self.arch = arch
            self.kernel = kernel
        }

        /// This machine, as warden's sandbox sees it: no capabilities.
        public static var current: Target {
            let v = ProcessInfo.processInfo.operatingSystemVersion
            #if arch(x86_64)
                let arch = "SCMP_ARCH_X86_64"
            #elseif arch(arm64)
                let arch = "SCMP_ARCH_AARCH64"
            #else
                let arch = "SCMP_ARCH_NATIVE"
            #endif
            return Target(arch: arch, kernel: [v.majorVersion, v.minorVersion])
        }
    }

    /// Keeps the rules that apply to `target` (includes all met, excludes not met) and
    /// drops the conditions, giving a plain OCI profile for this machine.
    public func resolved(for target: Target) -> SeccompProfile {
        func kernelAtLeast(_ v: String) -> Bool {
            let want = v.split(separator: ".").compactMap { Int($0) }
            for (a, b) in zip(target.kernel + [0, 0], want + [0, 0]) where a != b { return a > b }
            return true
        }
        func met(_ c: Condition) -> Bool {
            if let caps = c.caps, !caps.isEmpty, !Set(caps).isSubset(of: target.capabilities) { return false }
            if let arches = c.arches, !arches.isEmpty, !arches.contains(SeccompProfile.dockerArchName(target.arch)) { return false }
            if let k = c.minKernel, !kernelAtLeast(k) { return false }
            return true
        }
        func anyMet(_ c: Condition) -> Bool {
            if let caps = c.caps, !Set(caps).isDisjoint(with: target.capabilities) { return true }
            if let arches = c.arches, arches.contains(SeccompProfile.dockerArchName(target.arch)) { return true }
            if let k = c.minKernel, kernelAtLeast(k) { return true }
            return false
        }
        let rules = (syscalls ?? []).compactMap { r -> SeccompRule? in
            if let inc = r.includes, !met(inc) { return nil }
            if let exc = r.excludes, anyMet(exc) { return nil }
            return SeccompRule(names: r.names ?? r.name.map { [$0] } ?? [], action: r.action, errnoRet: r.errnoRet, args: r.args)
        }
        return SeccompProfile(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: [target.arch], syscalls: rules)
    }
}

/// A filter ready for libseccomp: kernel action values and syscall names.
public struct CompiledFilter: Equatable, Sendable {
    public struct Rule: Equatable, Sendable {
        public var name: String
        public var action: UInt32
        public var args: [Arg]
        /// Where the rule came from, for errors ("syscall.deny[2]", "profile rule 14").
        public var origin: String
    }

    public struct Arg: Equatable, Sendable {
        public var index: UInt32
        public var op: UInt32      // libseccomp's enum scmp_compare
        public var value: UInt64
        public var valueTwo: UInt64
    }

    public var defaultAction: UInt32
    public var rules: [Rule]
}

public struct SeccompError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension SeccompProfile {
    /// The kernel's SECCOMP_RET_* values, as libseccomp's SCMP_ACT_* produce them.
    public static let actAllow: UInt32 = 0x7fff_0000
    public static let actLog: UInt32 = 0x7ffc_0000
    public static func actErrno(_ e: UInt32) -> UInt32 { 0x0005_0000 | (e & 0xffff) }
    static let eperm: UInt32 = 1

    /// An action name (and errno) as the kernel value.
    public static func action(_ name: String, errnoRet: UInt32?) throws(SeccompError) -> UInt32 {
        switch name {
        case "SCMP_ACT_ALLOW": return actAllow
        case "SCMP_ACT_LOG": return actLog
        case "SCMP_ACT_ERRNO": return actErrno(errnoRet ?? eperm)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0x0000_0000
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        default:
            throw SeccompError("action \(name) is not supported (use SCMP_ACT_ALLOW, ERRNO, LOG, KILL, KILL_PROCESS or TRAP)")
        }
    }

    static let ops: [String: UInt32] = [
        "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
    ]

    /// Docker names architectures like OCI does; its `arches` conditions use short names.
    static func dockerArchName(_ oci: String) -> String {
        switch oci {
        case "SCMP_ARCH_X86_64": return "amd64"
        case "SCMP_ARCH_AARCH64": return "arm64"
        default: return oci
        }
    }

    /// Compiles to kernel values. `observe`: every refusing action becomes LOG, so the
    /// filter records what it would refuse and refuses nothing.
    public func compiled(observe: Bool) throws(SeccompError) -> CompiledFilter {
        func soften(_ a: UInt32) -> UInt32 { observe && a != SeccompProfile.actAllow ? SeccompProfile.actLog : a }
        let def = soften(try SeccompProfile.action(defaultAction, errnoRet: defaultErrnoRet))
        var rules: [CompiledFilter.Rule] = []
        for (i, r) in (syscalls ?? []).enumerated() {
            let action = soften(try SeccompProfile.action(r.action, errnoRet: r.errnoRet))
            var args: [CompiledFilter.Arg] = []
            for a in r.args ?? [] {
                guard let op = SeccompProfile.ops[a.op] else { throw SeccompError("rule \(i + 1): comparison \(a.op) is not an SCMP_CMP_* operator") }
                guard a.index < 6 else { throw SeccompError("rule \(i + 1): argument index \(a.index) is not 0…5") }
                args.append(CompiledFilter.Arg(index: a.index, op: op, value: a.value, valueTwo: a.valueTwo ?? 0))
            }
            for name in r.names { rules.append(CompiledFilter.Rule(name: name, action: action, args: args, origin: "profile rule \(i + 1)")) }
        }
        return CompiledFilter(defaultAction: def, rules: rules)
    }

    /// The profile with `boundaryRules` added; rules for those calls that repeat one
    /// (an earlier export of the same profile) are not added twice.
    public func withBoundary() -> SeccompProfile {
        var out = self
        let existing = syscalls ?? []
        out.syscalls = existing + SeccompProfile.boundaryRules.filter { !existing.contains($0) }
        return out
    }

    /// The profile without the boundary rules (nor the descriptor-exec rule): what goes
    /// into the profile's own filter, beside `boundaryFilter`.
    public func withoutBoundary() -> SeccompProfile {
        var out = self
        let boundary = SeccompProfile.boundaryRules + [SeccompProfile.noDescriptorExec]
        out.syscalls = (syscalls ?? []).filter { !boundary.contains($0) }
        return out
    }

    /// The filter installed beside every profile's: everything allowed but what the
    /// boundary rules refuse (and, under an exec allowlist, descriptor execs). A filter of
    /// its own because, within one filter, a profile's unconditional ALLOW of a call (an
    /// allowlist's `chmod`) would override the conditional refusals of the same call;
    /// across filters the kernel takes the most restrictive answer.
    public static func boundaryFilter(execAllowlist: Bool, arch: String) -> SeccompProfile {
        SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", architectures: [arch],
                       syscalls: boundaryRules + (execAllowlist ? [noDescriptorExec] : []))
    }

    /// Adds `names` as refused (EPERM) calls, replacing whatever the profile said of them:
    /// `syscall.deny` always wins.
    public func denying(_ names: [(name: String, origin: String)]) -> SeccompProfile {
        var out = self
        let denied = Set(names.map(\.name))
        out.syscalls = (syscalls ?? []).compactMap { r in
            let kept = r.names.filter { !denied.contains($0) }
            return kept.isEmpty ? nil : SeccompRule(names: kept, action: r.action, errnoRet: r.errnoRet, args: r.args)
        }
        if !names.isEmpty { out.syscalls!.append(SeccompRule(names: names.map(\.name), action: "SCMP_ACT_ERRNO", errnoRet: SeccompProfile.eperm)) }
        return out
    }

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
        return rules + setIDRules + socketFamilyRules
    }()

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
        case .strict:
            return SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: eperm,
                                  syscalls: [SeccompRule(names: buildCalls, action: "SCMP_ACT_ALLOW")])
        }
    }
}

extension EffectivePolicy {
    /// The filters a run installs: the profile's own (unless it allows everything) and the
    /// boundary filter. `seccompProfile` is the two as one profile, for export and display.
    public func seccompFilters(ociProfile: SeccompProfile?, arch: String) -> [SeccompProfile] {
        let own = seccompProfile(ociProfile: ociProfile, arch: arch)?.withoutBoundary()
        let boundary = SeccompProfile.boundaryFilter(execAllowlist: execDefault.value == .allowlist, arch: arch)
        guard let own, own.defaultAction != "SCMP_ACT_ALLOW" || !(own.syscalls ?? []).isEmpty else { return [boundary] }
        return [own, boundary]
    }

    /// The filter this policy asks for: the OCI profile file or the built-in profile
    /// (the file wins when both are set), with `syscall.deny` added on top, and always the
    /// boundary rules (with `syscall.profile = "none"` they are the whole filter).
    /// `ociProfile` is the parsed `syscall.oci_profile` file.
    public func seccompProfile(ociProfile: SeccompProfile?, arch: String) -> SeccompProfile? {
        let base = ociProfile ?? SeccompProfile.builtIn(syscallProfile.value)
        var p = (base ?? SeccompProfile(defaultAction: "SCMP_ACT_ALLOW")).denying(syscallDeny.map { ($0.value, $0.origin.description) })
        p.architectures = [arch]
        p = p.withBoundary()
        if execDefault.value == .allowlist { p.syscalls = (p.syscalls ?? []) + [SeccompProfile.noDescriptorExec] }
        return p
    }
}
