/// The merged policy a run enforces, each value with the source that set it.
public struct EffectivePolicy: Sendable, Equatable {
    public var mode: Located<Mode>
    public var fsDefault: Located<FsDefault>
    public var netDefault: Located<NetDefault>
    public var netListen = Located(NetListen.deny, .builtIn)
    public var execDefault: Located<ExecDefault>
    public var execAllowed: [Located<String>]
    public var netHosts: [Located<HostPort>]
    /// Unix sockets (or directories of them) the build may connect to by path.
    public var netUnix: [Located<String>] = []
    public var fsWriteExtra: [Located<String>]
    public var fsReadExtra: [Located<String>]
    public var envRead: [Located<String>]
    public var syscallDeny: [Located<String>]
    public var syscallProfile: Located<SyscallProfile>
    public var syscallOCIProfile: Located<String>?
    /// Every source's `[[syscall.rule]]`, in merge order (a repeated rule keeps its first place).
    public var syscallRules: [Located<SyscallRuleSpec>] = []
    /// What the notify agent answers when a rule has no `answer` (errno unless set).
    public var syscallNotifyDefault = Located(NotifyAnswer.errno, .builtIn)
    public var limits: [ResourceLimit: Located<UInt64>]

    /// Merges in order: later sources win for scalars; lists append and drop repeats
    /// (the first place that named a value stays its provenance). `base` must set every
    /// scalar: it is the built-in default.
    public static func merge(base: PolicyFragment, _ layers: [PolicyFragment]) -> EffectivePolicy {
        guard let mode = base.mode, let fs = base.fsDefault, let net = base.netDefault, let exec = base.execDefault else {
            preconditionFailure("the built-in default policy must set every scalar")
        }
        var out = EffectivePolicy(
            mode: mode, fsDefault: fs, netDefault: net, execDefault: exec,
            execAllowed: [], netHosts: [], fsWriteExtra: [], fsReadExtra: [], envRead: [], syscallDeny: [],
            syscallProfile: base.syscallProfile ?? Located(.none, .builtIn), syscallOCIProfile: nil, limits: [:])
        for f in [base] + layers {
            if let v = f.mode { out.mode = v }
            if let v = f.fsDefault { out.fsDefault = v }
            if let v = f.netDefault { out.netDefault = v }
            if let v = f.netListen { out.netListen = v }
            if let v = f.execDefault { out.execDefault = v }
            append(&out.execAllowed, f.execAllowed)
            append(&out.netHosts, f.netHosts)
            append(&out.netUnix, f.netUnix)
            append(&out.fsWriteExtra, f.fsWriteExtra)
            append(&out.fsReadExtra, f.fsReadExtra)
            append(&out.envRead, f.envRead)
            append(&out.syscallDeny, f.syscallDeny)
            append(&out.syscallRules, f.syscallRules)
            if let v = f.syscallNotifyDefault { out.syscallNotifyDefault = v }
            if let v = f.syscallProfile { out.syscallProfile = v }
            if let v = f.syscallOCIProfile { out.syscallOCIProfile = v }
            out.limits.merge(f.limits) { $1 }
        }
        return out
    }

    private static func append<T>(_ list: inout [Located<T>], _ more: [Located<T>]) {
        for item in more where !list.contains(where: { $0.value == item.value }) {
            list.append(item)
        }
    }

    /// Whether an environment variable passes `allow.env.read` (exact or `PREFIX*`).
    public func allowsEnv(_ name: String) -> Bool {
        envRead.contains { EffectivePolicy.envPattern($0.value, matches: name) }
    }

    static func envPattern(_ pattern: String, matches name: String) -> Bool {
        if pattern.hasSuffix("*") { return name.hasPrefix(pattern.dropLast()) }
        return pattern == name
    }
}
