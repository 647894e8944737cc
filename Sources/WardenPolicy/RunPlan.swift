/// What a run decides before it touches the kernel: the filesystem plan (with the nested
/// repositories found on disk kept read-only), the decider the agent judges events with,
/// and the exec allowlist's files. Plain data from the policy and from what the session
/// found on disk, so it is tested without root; the run then builds Landlock, tier 1 and
/// the agent from it.
public struct RunPlan: Sendable, Equatable {
    public var filesystem: FilesystemPlan?
    public var decider: FileDecider
    /// The allowlisted programs, resolved (nil: exec.default = "allow").
    public var executables: [String]?
    /// Unix sockets the build may connect to beyond its write paths (nil: any).
    public var unixSockets: [String]?

    /// `gitEntries`: the git directories and gitfiles below a root (PolicyGuard.gitEntries),
    /// asked only when the plan keeps a repository read-only; `allowedPrograms`: the
    /// allowlist, resolved.
    public init(policy: EffectivePolicy, context: RunContext, gitEntries: (String) -> [String], allowedPrograms: [String],
                realPath: (String) -> String) {
        var plan = policy.filesystemPlan(context)
        if let root = plan?.gitRoot {
            let top = root + "/.git"
            plan?.protected += gitEntries(root).filter { $0 != top }.map { PathRule($0, "read-only: a nested git directory or gitfile") }
        }
        filesystem = plan
        executables = policy.execDefault.value == .allowlist ? allowedPrograms : nil
        unixSockets = policy.netDefault.value == .deny ? SystemBaseline.unixSockets + policy.netUnix.map(\.value) : nil
        decider = FileDecider(plan: plan, executables: executables, unixSockets: unixSockets, realPath: realPath)
    }
}
