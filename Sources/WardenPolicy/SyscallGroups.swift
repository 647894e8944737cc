/// Named sets of system calls for `[[syscall.rule]] names = ["@mount"]`: the one table.
/// Members are names; which of them exist, and their numbers, depend on the architecture
/// (aarch64 has no `open`, `fork` or `iopl`): libseccomp resolves them per architecture
/// when the filter is built, and `warden seccomp groups` shows the result for x86_64 and
/// aarch64. A member may be another group.
public enum SyscallGroups {
    public struct Group: Sendable {
        public var name: String
        public var about: String
        public var members: [String]
    }

    public static let all: [Group] = [
        Group(name: "@clock", about: "set the system clock",
              members: ["adjtimex", "clock_adjtime", "clock_settime", "settimeofday"]),
        Group(name: "@debug", about: "trace or inspect other processes and the kernel",
              members: ["kcmp", "lookup_dcookie", "perf_event_open", "pidfd_getfd", "process_vm_readv", "process_vm_writev", "ptrace"]),
        Group(name: "@ipc", about: "SysV and POSIX IPC, pipes, memfd",
              members: ["memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
                        "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "semctl", "semget", "semop", "semtimedop",
                        "shmat", "shmctl", "shmdt", "shmget"]),
        Group(name: "@keyring", about: "the kernel's key retention service",
              members: ["add_key", "keyctl", "request_key"]),
        Group(name: "@module", about: "load and unload kernel modules",
              members: ["delete_module", "finit_module", "init_module"]),
        Group(name: "@mount", about: "mount, unmount and change the root",
              members: ["chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount",
                        "open_tree", "pivot_root", "umount2"]),
        Group(name: "@network-io", about: "sockets: create, connect, listen, send, receive",
              members: ["accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
                        "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
                        "socket", "socketpair"]),
        Group(name: "@obsolete", about: "calls no current program makes",
              members: ["_sysctl", "afs_syscall", "create_module", "get_kernel_syms", "getpmsg", "putpmsg", "query_module",
                        "security", "sysfs", "tuxcall", "uselib", "ustat", "vserver"]),
        Group(name: "@process", about: "create, run, signal and wait for processes",
              members: ["clone", "clone3", "execve", "execveat", "fork", "kill", "pidfd_open", "pidfd_send_signal",
                        "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setns", "tgkill", "tkill", "unshare", "vfork", "wait4", "waitid"]),
        Group(name: "@raw-io", about: "direct port I/O",
              members: ["ioperm", "iopl"]),
        Group(name: "@reboot", about: "reboot or load a new kernel",
              members: ["kexec_file_load", "kexec_load", "reboot"]),
        Group(name: "@swap", about: "enable and disable swap",
              members: ["swapoff", "swapon"]),
        Group(name: "@privileged", about: "everything that acts on the host rather than on a build",
              members: ["@clock", "@module", "@mount", "@raw-io", "@reboot", "@swap", "@keyring", "acct", "bpf", "capset",
                        "fanotify_init", "nfsservctl", "open_by_handle_at", "quotactl", "quotactl_fd", "setdomainname",
                        "sethostname", "syslog", "vhangup"]),
    ]

    public static func group(_ name: String) -> Group? { all.first { $0.name == name } }

    /// The names of a list of names and groups, groups replaced by their members
    /// (recursively), each name once, in first-seen order.
    public static func expand(_ names: [String]) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        func add(_ n: String) {
            if let g = group(n) {
                g.members.forEach(add)
            } else if seen.insert(n).inserted {
                out.append(n)
            }
        }
        names.forEach(add)
        return out
    }
}
