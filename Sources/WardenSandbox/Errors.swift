import SystemPackage

/// Everything that can stop warden from starting or supervising the child, each with
/// the exit code the CLI documents.
public enum SandboxError: Error, CustomStringConvertible, Equatable {
    case noCgroup2(String)
    case notPrivileged(String)
    case cgroup(String, path: String, Errno)
    case commandNotFound(String)
    case notExecutable(String, Errno)
    case spawn(stage: SpawnStage, Errno)
    case supervise(Errno)
    case confinement(String, Errno)
    /// A name, the key that wrote it, and where.
    case unknownSyscall(String, String)
    case cannotEnforce(String)

    public var description: String {
        switch self {
        case .noCgroup2(let why):
            return "cgroup v2 is required: \(why)"
        case .notPrivileged(let why):
            return "insufficient privileges: \(why); run warden as root (e.g. with sudo)"
        case .cgroup(let what, let path, let e):
            return "cannot \(what) \(path): \(e) (errno \(e.rawValue))"
        case .commandNotFound(let name):
            return "command not found: \(name) (searched the child's PATH)"
        case .notExecutable(let path, let e):
            return "cannot execute \(path): \(e)"
        case .spawn(let stage, let e):
            return "could not start the child (\(stage)): \(e) (errno \(e.rawValue))"
        case .supervise(let e):
            return "lost track of the child: \(e)"
        case .confinement(let what, let e):
            return "cannot \(what): \(e) (errno \(e.rawValue))"
        case .unknownSyscall(let name, let origin):
            return "\(origin): '\(name)' is not a system call on x86_64 or aarch64"
        case .cannotEnforce(let why):
            return why
        }
    }

    /// 125: warden could not set up the sandbox; 126/127 as a shell reports them.
    public var exitCode: Int32 {
        switch self {
        case .commandNotFound: return 127
        case .unknownSyscall: return 2
        case .notExecutable: return 126
        case .spawn(.exec, let e):
            return e == .noSuchFileOrDirectory ? 127 : 126
        default: return 125
        }
    }
}

/// The step of the child's way to exec that failed (`enum warden_stage` in CWardenShim.h;
/// SpawnStageTests ties the two).
public enum SpawnStage: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0, pipe, clone, pdeathsig, signals, pgrp, stdio, rlimit, securebits, bounding, ambient,
         groups, gid, uid, caps, noNewPrivs, chdir, landlock, seccomp, exec, mounts, notify

    public var description: String {
        switch self {
        case .none: return "unknown stage"
        case .pipe: return "pipe"
        case .clone: return "clone3 into the run's cgroup"
        case .pdeathsig: return "PR_SET_PDEATHSIG"
        case .signals: return "signal reset"
        case .pgrp: return "setsid"
        case .stdio: return "stdio"
        case .rlimit: return "setrlimit"
        case .securebits: return "securebits"
        case .bounding: return "capability bounding set"
        case .ambient: return "ambient capabilities"
        case .groups: return "setgroups"
        case .gid: return "setresgid"
        case .uid: return "setresuid"
        case .caps: return "capset"
        case .noNewPrivs: return "PR_SET_NO_NEW_PRIVS"
        case .chdir: return "chdir"
        case .landlock: return "landlock_restrict_self"
        case .seccomp: return "seccomp filter"
        case .exec: return "exec"
        case .mounts: return "read-only bind mounts"
        case .notify: return "seccomp listener hand-over"
        }
    }
}
