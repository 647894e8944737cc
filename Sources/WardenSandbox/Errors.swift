import SystemPackage

/// Everything that can stop warden from starting or supervising the child, each with
/// the exit code the CLI documents.
public enum SandboxError: Error, CustomStringConvertible, Equatable {
    case noCgroup2(String)
    case notPrivileged(String)
    case cgroup(String, path: String, Errno)
    case commandNotFound(String)
    case notExecutable(String, Errno)
    case spawn(stage: String, Errno)
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
        case .spawn(let stage, let e) where stage == "exec":
            return e == .noSuchFileOrDirectory ? 127 : 126
        default: return 125
        }
    }
}
