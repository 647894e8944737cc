import Foundation
import WardenPolicy

/// The real `ToolchainProbe`: the kernel's answers about this machine's files. The one
/// place warden stats, reads magic numbers and resolves symlinks for toolchain lookups.
public struct FileSystemProbe: ToolchainProbe {
    public init() {}

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    public func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    public func isELF(_ path: String) -> Bool {
        guard let fh = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? fh.close() }
        return (try? fh.read(upToCount: 4)) == Data([0x7f, 0x45, 0x4c, 0x46])
    }

    /// The path with every link resolved; for one that does not exist (yet: a cache
    /// directory warden creates), its longest existing ancestor resolved and the rest kept,
    /// so a rule through `~/.cache -> /data/cache` names what the kernel will reach.
    public func realPath(_ path: String) -> String {
        if let p = realpath(path, nil) {
            defer { free(p) }
            return String(cString: p)
        }
        guard path.hasPrefix("/"), path != "/", errno == ENOENT else { return path }
        let parent = (path as NSString).deletingLastPathComponent
        let resolved = realPath(parent)
        return (resolved == "/" ? "" : resolved) + "/" + (path as NSString).lastPathComponent
    }

    public func contents(ofDirectory path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }
}

extension Toolchain {
    /// This machine's toolchains, for the user whose home is `home` (RUSTUP_HOME from
    /// warden's own environment, as rustup reads it).
    public static func local(home: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> Toolchain {
        Toolchain(probe: FileSystemProbe(), home: home, environment: environment)
    }
}
