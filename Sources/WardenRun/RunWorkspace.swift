import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// Preparing the workspace and the run's own files before the child starts: what Landlock
/// cannot grant later (directories and lock files that must exist), links a build planted.
extension Runner {
    /// The output directory and the lock file get write rules, and rules follow symlinks:
    /// a build that planted `.build -> /etc` (or a lock file linked elsewhere) in an earlier
    /// run would be granted writing there. Inside the workspace both must be what they seem.
    func refuseLinksOutOfTheWorkspace(_ output: String) throws(WardenFailure) {
        var checked = [output]
        if let lock = session.policy.buildSystem.lockFile { checked.append(session.workspace + "/" + lock) }
        for path in checked where pathIsWithin(path, session.workspace) && path != session.workspace {
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }  // created by warden or the build
            let kind = st.st_mode & S_IFMT
            let real = ProgramLookup.realPath(path)
            if kind == S_IFLNK || real != path || (path == output ? kind != S_IFDIR : kind != S_IFREG) {
                throw WardenFailure("\(path) is \(kind == S_IFLNK ? "a symbolic link" : real != path ? "reached through a symbolic link" : "not what it should be") "
                                    + "(it resolves to \(real)); warden lets the build write there and will not follow a link out of the "
                                    + "workspace: remove it (a build may have planted it) and run again. Nothing was run.",
                                    code: WardenExit.sandbox)
            }
        }
    }

    /// Every path the plan grants (its write paths, what the mount view keeps writable,
    /// `allow.fs.read_extra`) is reached as the kernel resolves it, links included: a link
    /// an earlier build planted where it could write (its workspace, a write path) would
    /// move the grant — `write_extra = ["gen"]` with `gen -> /etc`. A link on the way that
    /// lies there stops the run; one outside them (`~/.cache -> /data/cache`) is the user's.
    func refusePlantedLinks(_ plan: FilesystemPlan) throws(WardenFailure) {
        let buildWritable = [session.workspace] + plan.mountWritable
        let policy = session.policy.effective
        let granted = plan.mountWritable + policy.fsReadExtra.map(\.value)
        for path in granted {
            var prefix = ""
            for component in path.split(separator: "/") {
                prefix += "/" + component
                var st = stat()
                guard lstat(prefix, &st) == 0 else { break }  // not there yet: nothing followed
                guard st.st_mode & S_IFMT == S_IFLNK else { continue }
                guard let place = buildWritable.first(where: { pathIsWithin(prefix, $0) }) else { continue }
                throw WardenFailure("\(prefix) is a symbolic link (to \(ProgramLookup.realPath(prefix))) inside \(place), which a build may write, "
                                    + "and the policy grants \(path) through it; remove the link (a build may have planted it) "
                                    + "or name the real path. Nothing was run.", code: WardenExit.sandbox)
            }
        }
    }

    /// SwiftPM writes Package.resolved only for a package with dependencies (a
    /// `.package(` in the manifest); Cargo always writes Cargo.lock.
    func needsLockFile() -> Bool {
        guard session.policy.buildSystem == .swiftpm else { return true }
        let manifest = (try? String(contentsOfFile: session.workspace + "/Package.swift", encoding: .utf8)) ?? ".package("
        return manifest.contains(".package(")
    }

    /// Creates the build tool's missing lock file with `lockFilePlaceholder`, owned by the
    /// child's user. O_EXCL|O_NOFOLLOW: a name the workspace already holds (a dangling
    /// symlink included) is never written through.
    func createLockFilePlaceholder() throws(WardenFailure) -> (path: String, content: String)? {
        let system = session.policy.buildSystem
        guard let lock = system.lockFile, let content = system.lockFilePlaceholder, needsLockFile() else { return nil }
        let path = session.workspace + "/" + lock
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0 {
            if errno == EEXIST { return nil }
            throw WardenFailure("cannot create the missing \(path) for the build: \(Errno(rawValue: errno))", code: WardenExit.sandbox)
        }
        defer { close(fd) }
        let written = content.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, content.utf8.count) }
        if written != content.utf8.count {
            unlink(path)
            throw WardenFailure("cannot write the missing \(path) for the build: \(Errno(rawValue: errno))", code: WardenExit.sandbox)
        }
        if session.identity.switchIDs { fchown(fd, session.identity.uid, session.identity.gid) }
        return (path, content)
    }

    /// Removes a placeholder lock file the build did not fill in: nothing half-done stays.
    func removeUnfilledLockFile(_ placeholder: (path: String, content: String)) {
        var st = stat()
        guard lstat(placeholder.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
              let now = FileManager.default.contents(atPath: placeholder.path),
              now == Data(placeholder.content.utf8) else { return }
        unlink(placeholder.path)
    }

    /// Makes a missing toolchain cache directory (and the missing directories above it,
    /// up to the home), owned by the build's user, as the tool would have. Best effort:
    /// without it the tool only loses its cache.
    func createCacheDirectory(_ path: String, home: String) {
        guard pathIsWithin(path, home), path != home else { return }
        var dir = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        let id = session.identity
        for name in path.dropFirst(home.count).split(separator: "/").map(String.init) where dir >= 0 {
            var next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                // Warden is root: it makes only what the user could make there (a link in
                // the home, say `~/.cache -> /etc`, must not get the user a directory in
                // /etc), and hands it over through the descriptor, never by name.
                var st = stat()
                guard fstat(dir, &st) == 0, !id.switchIDs || st.st_uid == id.uid, mkdirat(dir, name, 0o755) == 0 else { break }
                next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next >= 0 && id.switchIDs { fchown(next, id.uid, id.gid) }
            }
            close(dir)
            dir = next
        }
        if dir >= 0 { close(dir) }
    }

    func createOutputDirectory(_ path: String) throws(WardenFailure) {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw WardenFailure("cannot create the build output directory \(path): \(error.localizedDescription)", code: WardenExit.sandbox)
        }
        if session.identity.switchIDs { chown(path, session.identity.uid, session.identity.gid) }
    }

    /// A fresh 0700 directory for the run's temporary files, owned by the child's user.
    func makePrivateTmp() throws(WardenFailure) -> String {
        let base = session.environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        var template = Array("\(base)/warden-tmp-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw WardenFailure("cannot create a temporary directory in \(base): \(Errno(rawValue: errno))", code: WardenExit.sandbox)
        }
        let path = String(cString: made)
        if session.identity.switchIDs { chown(path, session.identity.uid, session.identity.gid) }
        return path
    }

    func makeAlias() throws {
        let alias = URL(fileURLWithPath: outputs.events).deletingLastPathComponent().appendingPathComponent("warden.log").path
        let target = URL(fileURLWithPath: outputs.events).lastPathComponent
        if let existing = try? FileManager.default.destinationOfSymbolicLink(atPath: alias), existing == target { return }
        if FileManager.default.fileExists(atPath: alias) || (try? FileManager.default.destinationOfSymbolicLink(atPath: alias)) != nil {
            throw WardenFailure("\(alias) exists and is not a link to \(target); not replacing it", code: WardenExit.sandbox)
        }
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: target)
    }
}
