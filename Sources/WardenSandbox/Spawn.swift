import CWardenShim
import Foundation
import SystemPackage
import WardenPolicy

/// Who the child runs as. Under sudo: the invoking user (SUDO_UID/SUDO_GID), so build
/// outputs are not owned by root. Otherwise: the current user.
public struct Identity: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var user: String?
    public var home: String?
    /// True when the child must switch to uid/gid (warden runs as root for someone else).
    public var switchIDs: Bool

    public static func current(environment: [String: String]) -> Identity {
        let euid = geteuid()
        if euid == 0, let s = environment["SUDO_UID"], let uid = UInt32(s), uid != 0,
           let g = environment["SUDO_GID"], let gid = UInt32(g) {
            let pw = passwd(uid)
            return Identity(uid: uid, gid: gid, user: pw?.name ?? environment["SUDO_USER"], home: normalizedHome(pw?.home), switchIDs: true)
        }
        // HOME wins when it is a usable absolute path; else the passwd entry; else none
        // (then `~` in a policy is an error and no home-directory rule applies).
        let pw = passwd(euid)
        return Identity(uid: euid, gid: getegid(), user: pw?.name ?? environment["USER"],
                        home: normalizedHome(environment["HOME"]) ?? normalizedHome(pw?.home), switchIDs: false)
    }

    static func passwd(_ uid: uid_t) -> (name: String, home: String)? {
        var pwd = Glibc.passwd()
        var result: UnsafeMutablePointer<Glibc.passwd>?
        var buf = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil else { return nil }
        return (String(cString: pwd.pw_name), String(cString: pwd.pw_dir))
    }
}

/// Finds programs the way execvp would, but ahead of time, in the parent.
public enum ProgramLookup {
    public static func resolve(_ name: String, path: String?, cwd: String) -> String? {
        if name.contains("/") {
            let full = name.hasPrefix("/") ? name : cwd + "/" + name
            return isExecutableFile(full) ? full : (FileManager.default.fileExists(atPath: full) ? full : nil)
        }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let base = dir.isEmpty ? cwd : String(dir)
            let full = base + "/" + name
            if isExecutableFile(full) { return full }
        }
        return nil
    }

    /// GCC's internal programs for `name` (Toolchain.compilerInternals) on this machine.
    public static func compilerInternals(_ name: String) -> [String] {
        Toolchain.local(home: nil).compilerInternals(name)
    }

    /// What allowlisting `name` brings in on this machine (Toolchain.implementationHelpers).
    public static func implementationHelpers(_ name: String, resolved: String, home: String?) -> [String] {
        Toolchain.local(home: home).implementationHelpers(name, resolved: resolved)
    }

    static func isExecutableFile(_ path: String) -> Bool { FileSystemProbe().isExecutableFile(path) }

    /// The file the kernel will actually execute (symlinks resolved).
    public static func realPath(_ path: String) -> String { FileSystemProbe().realPath(path) }
}

/// C copies of strings for the child (argv, envp, read-only paths), NULL-terminated and
/// freed with the array. nil when strdup runs out of memory: a missing copy must not
/// become a NULL the child takes for the end of its argv (or mounts as a path).
final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init?(_ strings: [String]) {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        p.initialize(repeating: nil, count: strings.count + 1)
        for (i, s) in strings.enumerated() {
            guard let copy = strdup(s) else {
                for j in 0..<i { free(p[j]) }
                p.deallocate()
                return nil
            }
            p[i] = copy
        }
        pointer = p
        count = strings.count
    }

    deinit {
        for i in 0..<count { free(pointer[i]) }
        pointer.deallocate()
    }

    /// The copies as `const char *const *` (none is NULL below `count`); nil when empty.
    func withElements<R>(_ body: (UnsafePointer<UnsafePointer<CChar>>?) -> R) -> R {
        guard count > 0 else { return body(nil) }
        return pointer.withMemoryRebound(to: UnsafePointer<CChar>.self, capacity: count) { body($0) }
    }
}

public struct ChildSpec: Sendable {
    public var program: String
    public var arguments: [String]   // argv, including argv[0]
    public var environment: [String]
    public var cwd: String
    public var identity: Identity
    public var rlimits: [(resource: Int32, soft: UInt64, hard: UInt64)]
    public var confinement: Confinement?

    public init(program: String, arguments: [String], environment: [String], cwd: String, identity: Identity,
                rlimits: [(resource: Int32, soft: UInt64, hard: UInt64)] = [(Int32(RLIMIT_CORE.rawValue), 0, 0)],
                confinement: Confinement? = nil) {
        self.confinement = confinement
        self.program = program
        self.arguments = arguments
        self.environment = environment
        self.cwd = cwd
        self.identity = identity
        self.rlimits = rlimits
    }
}

public struct Child: Sendable {
    public let pid: pid_t
    public let pidfd: Int32
    /// The seccomp listener of the NOTIFY rules (warden's agent answers it), or -1.
    public var notifyFD: Int32 = -1
}

/// How the child ended.
public struct ChildExit: Sendable, Equatable {
    public var exitStatus: Int32?
    public var signal: Int32?
    public var forwardedSignal: Int32?
    /// CPU time (user + system) of the child and the descendants it waited for.
    public var cpuTimeMs: UInt64 = 0
    public var pageFaults: UInt64 = 0
    /// Block I/O in bytes (the kernel counts 512-byte blocks).
    public var ioReadBytes: UInt64 = 0
    public var ioWriteBytes: UInt64 = 0

    /// Shell-style: the exit status, or 128 + the signal that killed it.
    public var shellCode: Int32 { exitStatus ?? (128 + (signal ?? 0)) }

    public var description: String {
        if let s = exitStatus { return "exited with status \(s)" }
        return "killed by signal \(signal ?? 0)"
    }
}

public enum Supervisor {
    /// Highest capability number this kernel knows, so every one can be dropped.
    static func capLastCap() -> Int32 {
        if let s = try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8),
           let n = Int32(s.trimmingCharacters(in: .whitespacesAndNewlines)) { return n }
        return 63
    }

    /// Starts the child inside `cgroup`. Returns once it has exec'd.
    public static func spawn(_ spec: ChildSpec, in cgroup: RunCgroup) throws(SandboxError) -> Child {
        // Swift's buffered stdout must not be duplicated into the child.
        fflush(nil)
        guard let argv = CStringArray(spec.arguments), let envp = CStringArray(spec.environment),
              let readOnly = CStringArray(spec.confinement?.readOnlyPaths ?? []),
              let writable = CStringArray(spec.confinement?.writablePaths ?? []) else {
            throw .spawn(stage: .none, .noMemory)
        }
        let limits = spec.rlimits.map { warden_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        let filters = spec.confinement?.seccomp ?? []
        var result = warden_spawn_result()
        // The copies must outlive the call, not just the reads of their pointers.
        let rc: Int32 = withExtendedLifetime((argv, envp, readOnly, writable)) { spec.program.withCString { program in
            spec.cwd.withCString { cwd in
                limits.withUnsafeBufferPointer { rl in
                    filters.withUnsafeBufferPointer { fp in
                        readOnly.withElements { rp in writable.withElements { wp in
                            var cfg = warden_spawn_config(
                                path: program, argv: argv.pointer, envp: envp.pointer, cwd: cwd,
                                cgroup_fd: cgroup.fd.rawValue, set_ids: spec.identity.switchIDs ? 1 : 0,
                                uid: spec.identity.uid, gid: spec.identity.gid, cap_last_cap: capLastCap(),
                                rlimits: rl.baseAddress, rlimit_count: Int32(rl.count),
                                landlock_fd: spec.confinement?.landlockFD ?? -1,
                                seccomp: fp.baseAddress, seccomp_count: Int32(fp.count),
                                readonly_paths: rp, readonly_count: Int32(readOnly.count),
                                notify_filter: spec.confinement?.notifyFilter ?? -1,
                                readonly_root: spec.confinement?.writablePaths == nil ? 0 : 1,
                                writable_paths: wp, writable_count: Int32(writable.count))
                            return warden_spawn(&cfg, &result)
                        } }
                    }
                }
            }
        } }
        guard rc == 0 else {
            let stage = SpawnStage(rawValue: result.stage) ?? .none
            let e = Errno(rawValue: result.error)
            if stage == .clone && (e == .notPermitted || e == .permissionDenied) {
                throw .notPrivileged("the kernel refused to start a process in \(cgroup.path) (\(e))")
            }
            throw .spawn(stage: stage, e)
        }
        return Child(pid: result.pid, pidfd: result.pidfd, notifyFD: result.notify_fd)
    }

    /// Waits for the child, forwarding SIGINT/SIGTERM/SIGHUP/SIGQUIT from `signalFD`
    /// (see `installSignalForwarding`) to its process group.
    public static func wait(_ child: Child, signalFD: Int32) throws(SandboxError) -> ChildExit {
        var status: Int32 = 0
        var last: Int32 = 0
        var usage = rusage()
        let rc = warden_supervise(child.pid, child.pidfd, signalFD, &status, &last, &usage)
        guard rc == 0 else { throw .supervise(Errno(rawValue: -rc)) }
        close(child.pidfd)
        let forwarded = last == 0 ? nil : last
        var exit = status & 0x7f == 0
            ? ChildExit(exitStatus: (status >> 8) & 0xff, signal: nil, forwardedSignal: forwarded)
            : ChildExit(exitStatus: nil, signal: status & 0x7f, forwardedSignal: forwarded)
        func ms(_ t: timeval) -> UInt64 { UInt64(max(0, t.tv_sec)) * 1000 + UInt64(max(0, t.tv_usec)) / 1000 }
        exit.cpuTimeMs = ms(usage.ru_utime) + ms(usage.ru_stime)
        exit.pageFaults = UInt64(max(0, usage.ru_minflt)) + UInt64(max(0, usage.ru_majflt))
        exit.ioReadBytes = UInt64(max(0, usage.ru_inblock)) * 512
        exit.ioWriteBytes = UInt64(max(0, usage.ru_oublock)) * 512
        return exit
    }

    /// Installs the forwarding handlers; returns the descriptor `wait` reads, or -1 when
    /// there is none (`wait` then forwards nothing).
    public static func installSignalForwarding() -> Int32 {
        max(warden_signal_pipe(), -1)
    }

    /// Starts the guard that kills and removes the cgroup if warden dies. Close the
    /// returned descriptor after cleaning up normally.
    /// Starts the guard: when warden's end of the returned pipe closes, it kills and
    /// removes `cgroup`, and removes `tmpdir` too unless `releaseGuard` said warden did.
    public static func startGuard(for cgroup: RunCgroup, tmpdir: String?) throws(SandboxError) -> Int32 {
        let fd = warden_spawn_guard(cgroup.path, tmpdir)
        guard fd >= 0 else { throw .cgroup("start the guard for", path: cgroup.path, Errno(rawValue: -fd)) }
        return fd
    }

    /// Tells the guard warden finished and cleaned up itself, then lets it go.
    public static func releaseGuard(_ fd: Int32) {
        var done = UInt8(ascii: "d")
        _ = write(fd, &done, 1)
        close(fd)
    }
}
