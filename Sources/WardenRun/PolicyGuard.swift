import Foundation
import WardenPolicy

/// Keeps a build from choosing the next run's policy. Where the build may write a policy
/// file (a make project's `warden.toml`, any file in observe mode), a change made during
/// a run is caught at its end, recorded, and kept in warden's state directory; the next
/// run in that workspace refuses to start while the file still holds what the build
/// wrote, until the user accepts it (`--accept-policy-change`) or changes the file.
public struct PolicyGuard: Sendable {
    /// Every file whose content shapes the policy, present or not: a build could also
    /// create one where there was none.
    public var files: [String]

    public init(workspace: String, loaded: LoadedPolicy) {
        // The manifests too: they decide the build system (and so the output directory the
        // build may write) and the workspace member.
        var files = [workspace + "/" + PolicyLoader.fileName, workspace + "/" + PolicyLoader.workspaceFileName,
                     workspace + "/Package.swift", workspace + "/Cargo.toml"]
        files += loaded.sources.filter { $0.hasPrefix("/") }
        files += [loaded.effective.syscallOCIProfile?.value].compactMap { $0 }
        var seen = Set<String>()
        self.files = files.filter { seen.insert($0).inserted }
    }

    /// What each file holds now (nil: absent).
    public func snapshot() -> [String: Data?] {
        Dictionary(uniqueKeysWithValues: files.map { ($0, FileManager.default.contents(atPath: $0)) })
    }

    /// The files that differ between two snapshots or scans: other bytes, or present in
    /// one only.
    public static func changes(_ before: [String: Data?], _ after: [String: Data?]) -> [String] {
        Set(before.keys).union(after.keys).filter { (before[$0] ?? nil) != (after[$0] ?? nil) }.sorted()
    }

    /// Names whose files decide a run's workspace or policy, wherever they are: a build
    /// that writes one below its workspace (or removes one above it) changes what a later
    /// run from another directory finds.
    public static let names: Set<String> = [PolicyLoader.fileName, PolicyLoader.workspaceFileName, "Package.swift", "Cargo.toml"]

    /// The files that would shape a run started in `cwd`: those names in `cwd` and in every
    /// directory above it.
    public static func candidates(from cwd: String) -> Set<String> {
        Set(directoryChain(from: cwd).flatMap { dir in names.map { (dir == "/" ? "" : dir) + "/" + $0 } })
    }

    /// Every file with one of `names` below `workspace` and what it holds, without
    /// following symlinks and leaving out `excluded` trees (the build's separate output
    /// directory, .git). Bounded (depth 64, 200,000 entries) so a huge tree costs a
    /// bounded walk. Taken before and after a run: a manifest the build changed through a
    /// hard link or swapped in by renaming a directory shows up even though no event
    /// named it.
    public static func scan(_ workspace: String, excluding excluded: [String]) -> [String: Data?] {
        var out: [String: Data?] = [:]
        // The workspace itself made into a repository (git looks there first from inside).
        if looksLikeGitDirectory(workspace) { gitRecords(workspace, into: &out) }
        walk(workspace) { path, name, kind in
            switch kind {
            // Git's configuration and hooks, in every repository of the workspace
            // (excluded trees included: the top .git is one), named `.git` or not.
            case S_IFDIR where name == ".git", S_IFREG where name == ".git":
                gitRecords(path, into: &out)
                return false
            case S_IFDIR where !excluded.contains(path):
                if looksLikeGitDirectory(path) { gitRecords(path, into: &out) }
                return true
            case S_IFREG where names.contains(name):
                out[path] = FileManager.default.contents(atPath: path)
            case S_IFLNK where names.contains(name):
                // A policy file or manifest by link: what it points at and what that holds,
                // so a build that rewrites the target (or plants the link) is seen.
                out[path] = linkRecord(path)
            default: break
            }
            return false
        }
        return out
    }

    /// Every entry named `.git` (directory or gitfile) below `root`, without following
    /// symlinks or entering one; bounded like `scan`.
    public static func gitEntries(_ root: String) -> [String] {
        var out: [String] = []
        walk(root) { path, name, kind in
            if name == ".git", kind == S_IFDIR || kind == S_IFREG {
                out.append(path)
                return false
            }
            return kind == S_IFDIR
        }
        return out.sorted()
    }

    /// Visits what lies below `root` without following symlinks (lstat), descending where
    /// `visit` says so; bounded (depth 64, 200,000 entries) so a huge tree costs a bounded
    /// walk.
    static func walk(_ root: String, _ visit: (_ path: String, _ name: String, _ kind: mode_t) -> Bool) {
        var visited = 0
        func walk(_ dir: String, _ depth: Int) {
            guard depth <= 64, let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in entries {
                visited += 1
                if visited > 200_000 { return }
                let path = dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                if visit(path, name, st.st_mode & S_IFMT) { walk(path, depth + 1) }
            }
        }
        walk(root, 0)
    }

    /// Whether a `scan` record is git's (a gitfile, a repository's config or hook) rather
    /// than a policy file or manifest.
    public static func isGitRecord(_ path: String) -> Bool {
        !names.contains((path as NSString).lastPathComponent)
    }

    /// A link's record: its target, then the bytes it leads to (nil: a dangling link).
    static func linkRecord(_ path: String) -> Data? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return nil }
        return Data("symlink to \(target)\n".utf8) + (FileManager.default.contents(atPath: path) ?? Data())
    }

    /// A directory git would take for a repository whatever its name: `HEAD` with
    /// `objects/` and `refs/` beside it (git's own test; git follows links to them), or a
    /// `commondir` file naming where they are — the shape a build can give any directory
    /// it may write.
    static func looksLikeGitDirectory(_ dir: String) -> Bool {
        var st = stat()
        guard lstat(dir + "/HEAD", &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
        if lstat(dir + "/commondir", &st) == 0 { return true }
        return ["objects", "refs"].allSatisfy { stat(dir + "/" + $0, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR }
    }

    /// What git runs from a `.git` entry: a gitfile's target line, and in a git directory
    /// its `config` and hooks, its submodules' (`modules/…`) too. Keyed by path, for `scan`.
    static func gitRecords(_ entry: String, into out: inout [String: Data?]) {
        var st = stat()
        guard lstat(entry, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFREG {
            out[entry] = FileManager.default.contents(atPath: entry)
            return
        }
        func walk(_ dir: String, _ depth: Int) {
            guard depth <= 6, let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in entries where !["objects", "refs", "logs", "lfs"].contains(name) {
                let path = dir + "/" + name
                guard lstat(path, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(path, depth + 1)
                case S_IFREG where name == "config" || name == "commondir" || (dir as NSString).lastPathComponent == "hooks":
                    out[path] = FileManager.default.contents(atPath: path)
                case S_IFLNK where name == "config" || name == "commondir" || (dir as NSString).lastPathComponent == "hooks":
                    out[path] = linkRecord(path)
                default: continue
                }
            }
        }
        walk(entry, 0)
        // A `commondir` moves the configuration and hooks git reads to another directory.
        if let common = (FileManager.default.contents(atPath: entry + "/commondir")).map({ String(decoding: $0, as: UTF8.self) })?
            .trimmingCharacters(in: .whitespacesAndNewlines), !common.isEmpty {
            walk(((common.hasPrefix("/") ? common : entry + "/" + common) as NSString).standardizingPath, 1)
        }
    }

    /// What the state directory keeps of a run that changed policy files.
    public struct Marker: Codable, Equatable, Sendable {
        public var runId: String
        /// Each changed file's content after the run, base64 (absent: the build removed it).
        public var files: [String: String?]
        enum CodingKeys: String, CodingKey { case runId = "run_id", files }
    }

    public static let markerName = "policy-changed.json"

    public static func marker(runId: String, after: [String: Data?], changed: [String]) -> Marker {
        Marker(runId: runId, files: Dictionary(uniqueKeysWithValues: changed.map { ($0, after[$0].flatMap { $0?.base64EncodedString() }) }))
    }

    /// The files that still hold what the marked run left in them.
    public static func stillChanged(_ marker: Marker) -> [String] {
        marker.files.keys.filter { path in
            let current = FileManager.default.contents(atPath: path)
            return current?.base64EncodedString() == marker.files[path] ?? nil
        }.sorted()
    }
}
