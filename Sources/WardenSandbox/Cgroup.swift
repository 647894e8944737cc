import Foundation
import CWardenShim
import SystemPackage

/// A per-run cgroup v2 directory: created before the child, entered atomically by it
/// (clone3 + CLONE_INTO_CGROUP), killed and removed when the run ends.
public final class RunCgroup: @unchecked Sendable {
    public let path: String
    /// The cgroup id (the directory's inode on cgroup2), what BPF's
    /// bpf_get_current_cgroup_id() returns for processes inside.
    public let id: UInt64
    public let fd: FileDescriptor
    private var removed = false

    /// Finds where cgroup v2 is mounted (pure v2 at /sys/fs/cgroup, hybrid at
    /// /sys/fs/cgroup/unified, or anywhere else mountinfo says).
    public static func mountPoint(mountinfo: String) -> String? {
        for line in mountinfo.split(separator: "\n") {
            // Fields: id parent maj:min root mountpoint options ... - fstype source superopts
            let parts = line.split(separator: " ")
            guard let dash = parts.firstIndex(of: "-"), dash + 1 < parts.count, parts.count > 4 else { continue }
            if parts[dash + 1] == "cgroup2" { return unescapeMountinfo(String(parts[4])) }
        }
        return nil
    }

    static func unescapeMountinfo(_ s: String) -> String {
        // mountinfo escapes space, tab, newline and backslash as \ooo.
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "\\", let end = s.index(i, offsetBy: 4, limitedBy: s.endIndex),
               let v = UInt8(s[s.index(after: i)..<end], radix: 8) {
                out.append(Character(Unicode.Scalar(v)))
                i = end
            } else {
                out.append(s[i])
                i = s.index(after: i)
            }
        }
        return out
    }

    /// This process's own cgroup v2 path, from the "0::" line of /proc/self/cgroup.
    public static func ownPath(procSelfCgroup: String) -> String? {
        for line in procSelfCgroup.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    /// Creates `warden-<pid>-<n>` below warden's own cgroup.
    public static func create(label: String) throws(SandboxError) -> RunCgroup {
        guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
              let mount = mountPoint(mountinfo: mountinfo) else {
            throw .noCgroup2("no cgroup2 filesystem is mounted (see /proc/self/mountinfo)")
        }
        guard warden_is_cgroup2(mount) == 1 else {
            throw .noCgroup2("\(mount) is not a cgroup2 filesystem")
        }
        let own = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)).flatMap(ownPath) ?? "/"
        let parent = (mount + own).replacingOccurrences(of: "//", with: "/")
        let base = parent.hasSuffix("/") ? String(parent.dropLast()) : parent
        var attempt = 0
        while true {
            let path = "\(base)/warden-\(label)-\(getpid())-\(attempt)"
            if mkdir(path, 0o755) == 0 {
                do {
                    let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
                    var st = stat()
                    guard fstat(fd.rawValue, &st) == 0 else {
                        let e = Errno(rawValue: errno)
                        try? fd.close()
                        rmdir(path)
                        throw SandboxError.cgroup("inspect", path: path, e)
                    }
                    return RunCgroup(path: path, id: UInt64(st.st_ino), fd: fd)
                } catch let e as SandboxError {
                    throw e
                } catch {
                    rmdir(path)
                    throw .cgroup("open", path: path, (error as? Errno) ?? .ioError)
                }
            }
            let e = Errno(rawValue: errno)
            if e == .fileExists, attempt < 100 {
                attempt += 1
                continue
            }
            if e == .permissionDenied || e == .notPermitted || e == .readOnlyFileSystem {
                throw .notPrivileged("cannot create a cgroup under \(base) (\(e))")
            }
            throw .cgroup("create", path: path, e)
        }
    }

    init(path: String, id: UInt64, fd: FileDescriptor) {
        self.path = path
        self.id = id
        self.fd = fd
    }

    /// Caps the tasks (processes and threads) in the cgroup at `max` (pids.max): unlike
    /// RLIMIT_NPROC it binds uid 0 too, and counts only the run's. The pids controller is
    /// enabled for warden's own cgroup's children first when it is not; the kernel
    /// refuses that where warden's cgroup holds processes and is not the root (a session
    /// scope under systemd). nil when set, else why not.
    public func limitTasks(_ max: UInt64) -> String? {
        let parent = (path as NSString).deletingLastPathComponent
        func contents(_ file: String) -> String { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }
        func has(_ list: String) -> Bool { list.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("pids") }
        guard has(contents(parent + "/cgroup.controllers")) else { return "the pids controller is not available in \(parent) (cgroup v1 holds it?)" }
        if !has(contents(parent + "/cgroup.subtree_control")), let e = RunCgroup.write("+pids", to: parent + "/cgroup.subtree_control") {
            return "the pids controller could not be enabled below \(parent) (\(e))"
        }
        if let e = RunCgroup.write("\(max)", to: path + "/pids.max") { return "\(path)/pids.max could not be written (\(e))" }
        return nil
    }

    /// Writes a cgroup control file in one write(2); the kernel's refusal, or nil.
    static func write(_ value: String, to file: String) -> Errno? {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return Errno(rawValue: errno) }
        defer { close(fd) }
        let n = value.utf8CString.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, value.utf8.count) }
        return n == value.utf8.count ? nil : Errno(rawValue: n < 0 ? errno : EIO)
    }

    /// The pids currently in the cgroup.
    public func processes() -> [Int32] {
        guard let s = try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8) else { return [] }
        return s.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Kills every process inside and removes the directory; waits (bounded) for the
    /// kernel to finish tearing the processes down.
    public func destroy() throws(SandboxError) {
        guard !removed else { return }
        for _ in 0..<500 {
            let killed = warden_cgroup_kill(path)
            if killed != 0, killed != -ENOENT {
                throw .cgroup("kill the processes of", path: path, Errno(rawValue: -killed))
            }
            if rmdir(path) == 0 || errno == ENOENT {
                removed = true
                try? fd.close()
                return
            }
            guard errno == EBUSY else { throw .cgroup("remove", path: path, Errno(rawValue: errno)) }
            usleep(10_000)
        }
        throw .cgroup("remove (still busy after 5 s)", path: path, .resourceBusy)
    }

    deinit {
        if !removed { try? destroy() }
    }
}
