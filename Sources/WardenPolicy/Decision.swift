/// The policy's answer for one file operation the kernel reported, computed the way the
/// tier-2 Landlock rules decide it: a path is covered by a rule on itself or on any
/// directory above it. Used for observe-mode verdicts ("would be denied") and to tell a
/// Landlock denial from an ordinary permission error in enforce mode.
public struct FileDecider: Sendable, Equatable {
    /// `attr`: a change of mode, owner or extended attributes, a write to the file's metadata.
    /// `unixConnect`: a connect (or an addressed send) to a unix socket named by a path.
    /// `link`: the existing file a hard link names (writable through the new name).
    public enum Operation: Sendable { case open, rename, unlink, exec, create, attr, link, unixConnect }

    /// Paths (real, symlinks resolved) under which reading is allowed; nil: unrestricted.
    public var read: [String]?
    /// Paths under which writing, creating, renaming and removing are allowed; nil: unrestricted.
    public var write: [String]?
    /// Files and directories that may be executed; nil: whatever may be read may run.
    public var exec: [String]?
    /// Unix sockets (and directories of them) that may be connected to beyond the write
    /// paths; nil: any (net.default = "allow").
    public var unix: [String]?
    /// Paths under a write rule that stay read-only (FilesystemPlan.protected).
    public var protected: [String] = []
    /// Below it, every `.git` entry stays read-only too (FilesystemPlan.gitRoot).
    public var gitRoot: String?

    public init(read: [String]?, write: [String]?, exec: [String]?, unix: [String]? = nil, protected: [String] = []) {
        self.read = read
        self.write = write
        self.exec = exec
        self.unix = unix
        self.protected = protected
    }

    /// From a strict plan (nil: fs unrestricted) and the exec allowlist's files (nil:
    /// exec.default = "allow"). `realPath` resolves symlinks, as Landlock does when a
    /// rule is added.
    public init(plan: FilesystemPlan?, executables: [String]?, unixSockets: [String]? = nil, realPath: (String) -> String) {
        let writes = plan.map { $0.write.map { realPath($0.path) } }
        read = plan.map { $0.read.map { realPath($0.path) } + (writes ?? []) }
        write = writes
        exec = executables?.map(realPath)
        unix = unixSockets?.map(realPath)
        protected = plan?.protected.map { realPath($0.path) } ?? []
        gitRoot = plan?.gitRoot.map(realPath)
    }

    /// Whether the operation is allowed, and the policy line that would allow it.
    public func decide(_ op: Operation, path raw: String, read wantsRead: Bool, write wantsWrite: Bool) -> (allowed: Bool, needed: String) {
        decide(op, normalized: FileDecider.normalize(raw), read: wantsRead, write: wantsWrite)
    }

    /// `decide` for a path already passed through `normalize` (the agent's hot path).
    public func decide(_ op: Operation, normalized path: String, read wantsRead: Bool, write wantsWrite: Bool) -> (allowed: Bool, needed: String) {
        // The kernel could not name the whole path (deeper or longer than the walk goes):
        // no rule can be shown to cover it.
        if path.hasPrefix("?") { return (false, "") }
        // Pipes, sockets, memfds and anonymous inodes have no place in the tree; path
        // rules (and Landlock) do not apply to opening them. Executing one still needs
        // the allowlist.
        if !path.hasPrefix("/") && op != .exec { return (true, "") }
        func covered(_ list: [String]?) -> Bool { list.map { $0.contains { pathIsWithin(path, $0) } } ?? true }
        let writable = covered(write) && !protected.contains { pathIsWithin(path, $0) } && !FilesystemPlan.isGitPath(path, below: gitRoot)
        let parent = FileDecider.parent(path)
        switch op {
        case .exec:
            if let exec { return (exec.contains { pathIsWithin(path, $0) }, PolicyKey.execAllowed.needed(path)) }
            return (covered(read), PolicyKey.fsReadExtra.needed(path))
        case .rename, .unlink, .create, .attr:
            return (writable, PolicyKey.fsWriteExtra.needed(parent))
        case .link:
            return (writable, PolicyKey.fsWriteExtra.needed(path))
        case .unixConnect:
            // The build's own sockets live in its write paths; anything else must be named.
            guard let unix else { return (true, "") }
            let own = write != nil && writable
            return (own || unix.contains { pathIsWithin(path, $0) }, PolicyKey.netUnix.needed(path))
        case .open:
            if wantsWrite && !writable { return (false, PolicyKey.fsWriteExtra.needed(parent)) }
            if wantsRead && !covered(read) { return (false, PolicyKey.fsReadExtra.needed(path)) }
            return (true, "")
        }
    }

    /// Removes empty, "." and ".." components (lexically: the kernel already resolved
    /// what it could; a failed call's name is only joined to its directory).
    public static func normalize(_ path: String) -> String {
        guard path.hasPrefix("/") else { return path }
        var parts: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { _ = parts.popLast(); continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }
}
