/// How the policy's seccomp keys become the filters a run installs. Up to three filters,
/// each judging every call; the kernel takes the most restrictive answer of all:
/// - the profile's own: the OCI file or built-in profile, with the `allow` rules of
///   `[[syscall.rule]]` replacing what it says of their calls, and `syscall.deny`;
/// - the rules' own: every other `[[syscall.rule]]` (errno, kill, trap, log, notify) over
///   a default of allow, so a conditional refusal holds whatever the profile allows;
/// - the boundary filter, which no rule can loosen.
extension EffectivePolicy {
    /// The `[[syscall.rule]]`s that loosen (`allow`), merged into the profile's filter.
    var allowRules: [Located<SyscallRuleSpec>] { syscallRules.filter { $0.value.action == .allow } }
    /// The rest but notify, in a filter of their own.
    var restrictingRules: [Located<SyscallRuleSpec>] { syscallRules.filter { $0.value.action != .allow && $0.value.action != .notify } }
    /// The notify rules: installed last, with a listener warden's agent answers.
    public var notifyRules: [Located<SyscallRuleSpec>] { syscallRules.filter { $0.value.action == .notify } }

    /// The filters a run installs, in order. `seccompProfile` is them as one profile, for
    /// export and display.
    public func seccompFilters(ociProfile: SeccompProfile?, arch: String) -> [SeccompProfile] {
        var out: [SeccompProfile] = []
        if let own = ownProfile(ociProfile: ociProfile, arch: arch), own.defaultAction != "SCMP_ACT_ALLOW" || !(own.syscalls ?? []).isEmpty {
            out.append(own)
        }
        if !restrictingRules.isEmpty {
            out.append(SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", architectures: [arch],
                                      syscalls: restrictingRules.map { $0.value.oci() }))
        }
        out.append(SeccompProfile.boundaryFilter(execAllowlist: execDefault.value == .allowlist, arch: arch))
        // Last: the child hands its listener to warden right after installing it, so no
        // other filter's installation waits on an agent that has no listener yet.
        if !notifyRules.isEmpty {
            out.append(SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", architectures: [arch],
                                      syscalls: notifyRules.map { $0.value.oci() }))
        }
        return out
    }

    /// The profile's own filter: OCI file or built-in profile (the file wins when both are
    /// set), `allow` rules replacing what it says of their calls, `syscall.deny` on top.
    func ownProfile(ociProfile: SeccompProfile?, arch: String) -> SeccompProfile? {
        let base = (ociProfile ?? SeccompProfile.builtIn(syscallProfile.value))?.withoutBoundary()
        var p = base ?? SeccompProfile(defaultAction: "SCMP_ACT_ALLOW")
        let allowed = allowRules.map { $0.value.oci() }
        if !allowed.isEmpty {
            let replaced = Set(allowed.flatMap(\.names))
            let kept = (p.syscalls ?? []).compactMap { r in
                let kept = r.names.filter { !replaced.contains($0) }
                return kept.isEmpty ? nil : SeccompRule(names: kept, action: r.action, errnoRet: r.errnoRet, args: r.args)
            }
            p.syscalls = kept + allowed + SeccompProfile.keptRefusals(of: p.syscalls ?? [], narrowedBy: allowed)
        }
        p = p.denying(syscallDeny.map { ($0.value, $0.origin.description) })
        p.architectures = [arch]
        return p
    }

    /// Every filter of the run as one profile (what `warden seccomp export` writes): the
    /// profile's own rules, the other rules, the boundary rules.
    public func seccompProfile(ociProfile: SeccompProfile?, arch: String) -> SeccompProfile? {
        var p = ownProfile(ociProfile: ociProfile, arch: arch) ?? SeccompProfile(defaultAction: "SCMP_ACT_ALLOW")
        p.syscalls = (p.syscalls ?? []) + (restrictingRules + notifyRules).map { $0.value.oci() }
        p = p.withBoundary()
        if execDefault.value == .allowlist { p.syscalls = (p.syscalls ?? []) + [SeccompProfile.noDescriptorExec] }
        return p
    }

    /// The actions the rules use, for the hardening outcome and status ("errno, trap").
    public var syscallRuleActions: [RuleAction] {
        RuleAction.allCases.filter { a in syscallRules.contains { $0.value.action == a } }
    }
}

extension SeccompProfile {
    static let negated = ["SCMP_CMP_EQ": "SCMP_CMP_NE", "SCMP_CMP_NE": "SCMP_CMP_EQ", "SCMP_CMP_LT": "SCMP_CMP_GE",
                          "SCMP_CMP_GE": "SCMP_CMP_LT", "SCMP_CMP_LE": "SCMP_CMP_GT", "SCMP_CMP_GT": "SCMP_CMP_LE"]

    /// A conditional `allow` of a call the profile refused outright lifts the refusal for
    /// the matching calls only: the others keep the profile's answer, as rules on the
    /// negated conditions (a call is refused when any condition fails). Where that cannot
    /// be said — several allow rules for one call, or `masked_eq`, which has no negation —
    /// the allow replaces the refusal whole, as the README says.
    static func keptRefusals(of profile: [SeccompRule], narrowedBy allowed: [SeccompRule]) -> [SeccompRule] {
        var out: [SeccompRule] = []
        for name in Set(allowed.flatMap(\.names)) {
            let allows = allowed.filter { $0.names.contains(name) }
            guard allows.count == 1, let conditions = allows[0].args, !conditions.isEmpty,
                  let refusal = profile.first(where: { $0.names.contains(name) && $0.args == nil && $0.action != "SCMP_ACT_ALLOW" }),
                  conditions.allSatisfy({ negated[$0.op] != nil }) else { continue }
            for c in conditions {
                let not = SeccompArg(index: c.index, value: c.value, op: negated[c.op]!)
                out.append(SeccompRule(names: [name], action: refusal.action, errnoRet: refusal.errnoRet, args: [not]))
            }
        }
        return out.sorted { ($0.names[0], $0.args?.first?.index ?? 0) < ($1.names[0], $1.args?.first?.index ?? 0) }
    }
}
