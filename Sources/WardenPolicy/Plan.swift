/// What strict filesystem mode allows for one run, fully expanded: the workspace,
/// the output directory, the system baseline, the toolchain's paths and `allow.fs.*`.
public struct FilesystemPlan: Sendable, Equatable, Codable {
    public var read: [PathRule]
    public var write: [PathRule]
    /// Readable, never writable, although a write rule above covers them: a workspace's
    /// `.git` and policy files when the whole workspace is the build's output (make).
    public var protected: [PathRule] = []
    /// Below this directory (a writable workspace), nothing named `.git`, nor anything in
    /// one, is writable, existing or not: a nested repository's or submodule's git
    /// directory or gitfile is read by the user's git as much as the top one.
    public var gitRoot: String?
    /// Kept writable in the child's read-only mount view beside `write`, though the rules
    /// refuse writing them (`Toolchain.accessProbed`).
    public var viewWritable: [PathRule] = []

    public init(read: [PathRule], write: [PathRule], protected: [PathRule] = [], gitRoot: String? = nil, viewWritable: [PathRule] = []) {
        self.read = read
        self.write = write
        self.protected = protected
        self.gitRoot = gitRoot
        self.viewWritable = viewWritable
    }

    /// What the child's mount view keeps writable: every other mount is read-only.
    public var mountWritable: [String] { (write + viewWritable).map(\.path) }

    /// Whether `path` is a `.git` entry, or inside one, below `gitRoot`.
    public func isGitPath(_ path: String) -> Bool { FilesystemPlan.isGitPath(path, below: gitRoot) }

    /// The same for any root (the decider keeps the root resolved).
    public static func isGitPath(_ path: String, below root: String?) -> Bool {
        guard let root, pathIsWithin(path, root) else { return false }
        return path.split(separator: "/").contains(".git")
    }

    public func allowsRead(_ path: String) -> PathRule? {
        read.first { pathIsWithin(path, $0.path) } ?? allowsWrite(path)
            ?? protected.first { pathIsWithin(path, $0.path) }
    }

    public func allowsWrite(_ path: String) -> PathRule? {
        guard !protected.contains(where: { pathIsWithin(path, $0.path) }), !isGitPath(path) else { return nil }
        return write.first { pathIsWithin(path, $0.path) }
    }
}

/// Facts about the machine a plan needs; gathered by the caller, so planning stays pure.
public struct RunContext: Sendable {
    public var workspace: String
    public var buildSystem: BuildSystem
    public var home: String?
    public var environment: [String: String]
    public var tmpdir: String?
    /// Files git's configuration names (`GitConfiguration.namedFiles`) that exist.
    public var gitNamedFiles: [String]

    public init(workspace: String, buildSystem: BuildSystem, home: String?, environment: [String: String], tmpdir: String? = nil,
                gitNamedFiles: [String] = []) {
        self.workspace = workspace
        self.buildSystem = buildSystem
        self.home = home
        self.environment = environment
        self.tmpdir = tmpdir
        self.gitNamedFiles = gitNamedFiles
    }
}

extension EffectivePolicy {
    /// The expanded filesystem rules, or nil when `fs.default = "unrestricted"`.
    public func filesystemPlan(_ ctx: RunContext) -> FilesystemPlan? {
        guard fsDefault.value == .strict else { return nil }
        let out = ctx.buildSystem.outputDirectory(workspace: ctx.workspace, environment: ctx.environment)
        var read = [PathRule(ctx.workspace, "workspace root (implicit)")]
        let owner = ctx.buildSystem == .swiftpm || ctx.buildSystem == .cargo ? ctx.buildSystem.rawValue : "the workspace, no known build system"
        var write = [PathRule(out, "build output (\(owner), implicit)")]
        if let lock = ctx.buildSystem.lockFile {
            write.append(PathRule(ctx.workspace + "/" + lock, "lock file of \(ctx.buildSystem.rawValue) (implicit)"))
        }
        read += SystemBaseline.read.map { PathRule($0, "system baseline") }
        write += SystemBaseline.write.map { PathRule($0, "system baseline") }
        if let tmp = ctx.tmpdir, tmp.hasPrefix("/"), !write.contains(where: { pathIsWithin(tmp, $0.path) }) {
            write.append(PathRule(tmp, "TMPDIR (private to the run)"))
        }
        if let home = ctx.home {
            let tc = Toolchain.homePaths(ctx.buildSystem, home: home)
            read += tc.read
            write += tc.write
        }
        read += SystemBaseline.git(ctx.buildSystem, home: ctx.home, named: ctx.gitNamedFiles)
        read += fsReadExtra.map { PathRule($0.value, "allow.fs.read_extra (\($0.origin))") }
        write += fsWriteExtra.map { PathRule($0.value, "allow.fs.write_extra (\($0.origin))") }
        // Where the build may write its whole workspace, what decides the next run stays
        // read-only: git's hooks and configuration (they run outside any sandbox) and the
        // policy files. Kept out by a read-only bind mount on tier 2 (Landlock cannot
        // carve a path out of a rule above it), by the trie on tier 1.
        let protected = [".git", PolicyLoader.fileName, PolicyLoader.workspaceFileName]
            .map { ctx.workspace + "/" + $0 }
            .filter { p in write.contains { pathIsWithin(p, $0.path) } && !fsWriteExtra.contains { pathIsWithin($0.value, p) } }
            .map { PathRule($0, "read-only: the workspace is writable, but \($0.split(separator: "/").last ?? "") decides what runs next") }
        let workspaceWritable = write.contains { pathIsWithin(ctx.workspace, $0.path) }
        let probed = ctx.home.map { Toolchain.accessProbed(ctx.buildSystem, home: $0) } ?? []
        return FilesystemPlan(read: read, write: write, protected: protected, gitRoot: workspaceWritable ? ctx.workspace : nil,
                              viewWritable: probed)
    }

    /// Warnings for rules that expose a known secret (e.g. `read_extra = ["~"]`).
    /// `realPath` resolves symlinks as the kernel will when the rule is applied: a rule
    /// through a link (or `/proc/self/cwd/…`) to `~/.ssh` exposes it as much as the name.
    public func secretWarnings(_ plan: FilesystemPlan?, home: String?, realPath: (String) -> String = { $0 }) -> [String] {
        guard let plan, let home else { return [] }
        func resolved(_ rules: [PathRule]) -> [PathRule] {
            rules.map { r in
                let real = realPath(r.path)
                return real == r.path ? r : PathRule(real, "\(r.why), through \(r.path)")
            }
        }
        let plans = [plan, FilesystemPlan(read: resolved(plan.read), write: resolved(plan.write))]
        var out: [String] = []
        for secret in SystemBaseline.secrets(home: home) {
            for p in plans {
                if let rule = p.allowsWrite(secret) {
                    out.append("\(rule.path) (\(rule.why)) lets the build write \(secret)")
                    break
                } else if let rule = p.allowsRead(secret) {
                    out.append("\(rule.path) (\(rule.why)) lets the build read \(secret)")
                    break
                }
            }
        }
        return out
    }

    /// The exec decision for a resolved program path, with the policy line that would
    /// allow it when denied. `resolvedAllowlist` holds the allowlist's absolute paths.
    public func execDecision(_ path: String, resolvedAllowlist: Set<String>) -> (allowed: Bool, needed: String) {
        let needed = PolicyKey.execAllowed.needed(path)
        if execDefault.value == .allow { return (true, needed) }
        return (resolvedAllowlist.contains(path), needed)
    }
}
