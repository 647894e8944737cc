/// Rules that contradict each other, found after the merge (they may come from two
/// files): exit 2 naming both places, rather than a filter that silently keeps one.
extension EffectivePolicy {
    public func checkSyscallRules() throws(PolicyError) {
        var seen: [String: [Located<SyscallRuleSpec>]] = [:]
        let denied = Dictionary(syscallDeny.map { ($0.value, $0.origin) }) { a, _ in a }
        for rule in syscallRules {
            for name in rule.value.names where rule.value.action == .notify && SeccompGenerator.beforeListener.contains(name) {
                throw PolicyError(file: rule.origin.source, line: rule.origin.line, key: "syscall.rule",
                                  message: "\(name) cannot be notified: warden's child makes it after installing the notify filter, before warden can answer")
            }
            for name in SyscallGroups.expand(rule.value.names) {
                if let d = denied[name], rule.value.action == .allow || rule.value.action == .log {
                    throw conflict(rule, name, "syscall.deny at \(d) refuses \(name); this rule would \(rule.value.action.rawValue) it")
                }
                for other in seen[name] ?? [] {
                    if let why = EffectivePolicy.contradiction(other.value, rule.value) {
                        throw conflict(rule, name, "the rule at \(other.origin) \(why)")
                    }
                }
                seen[name, default: []].append(rule)
            }
        }
    }

    /// Why `b` contradicts `a` for a call both name, or nil when they can stand together.
    static func contradiction(_ a: SyscallRuleSpec, _ b: SyscallRuleSpec) -> String? {
        let sameAnswer = a.action == b.action && (a.action != .errno || a.errnoValue == b.errnoValue)
            && (a.action != .notify || (a.answer == b.answer && a.errno == b.errno))
        if sameAnswer { return nil }
        if Set(a.args) == Set(b.args) {
            return "answers the same calls with \(a.describedAction), this one with \(b.describedAction)"
        }
        if a.args.isEmpty || b.args.isEmpty {
            let (whole, part) = a.args.isEmpty ? (a, b) : (b, a)
            return "answers every call with \(whole.describedAction), so the conditional \(part.describedAction) could never decide"
        }
        return nil
    }

    private func conflict(_ rule: Located<SyscallRuleSpec>, _ name: String, _ message: String) -> PolicyError {
        PolicyError(file: rule.origin.source, line: rule.origin.line, key: "syscall.rule",
                    message: "conflicting rules for \(name): \(message)")
    }
}

extension SyscallRuleSpec {
    /// "errno EACCES", "trap", …
    var describedAction: String {
        action == .errno ? "errno \(ErrnoName.name(errnoValue) ?? String(errnoValue))" : action.rawValue
    }
}

extension SyscallRuleSpec {
    /// One line for status and reports: "errno EAFNOSUPPORT: socket when arg0 == 17".
    public var summary: String {
        func hex(_ v: UInt64) -> String { v < 4096 ? String(v) : "0x" + String(v, radix: 16) }
        let conds = args.map { a -> String in
            let sym = ["eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="][a.op.rawValue]
            return a.op == .maskedEq ? "arg\(a.index) & \(hex(a.mask ?? 0)) == \(hex(a.value))" : "arg\(a.index) \(sym ?? a.op.rawValue) \(hex(a.value))"
        }
        let shown = action == .notify ? "notify (answer \(answer?.rawValue ?? "notify_default")\(errno.map { ", errno \(ErrnoName.name($0) ?? String($0))" } ?? ""))" : describedAction
        return "\(shown): \(names.joined(separator: ", "))" + (conds.isEmpty ? "" : " when " + conds.joined(separator: " and "))
    }
}

extension ArgCondition {
    /// Whether a call's argument meets the condition, compared as seccomp does on a 64-bit
    /// architecture: unsigned, all 64 bits.
    public func holds(_ arg: UInt64) -> Bool {
        switch op {
        case .eq: return arg == value
        case .ne: return arg != value
        case .lt: return arg < value
        case .le: return arg <= value
        case .gt: return arg > value
        case .ge: return arg >= value
        case .maskedEq: return arg & (mask ?? 0) == value
        }
    }
}

extension EffectivePolicy {
    /// What warden's agent answers a notified call: of the notify rules that cover it, the
    /// first that refuses, else the first (its `answer`, else `syscall.notify_default`;
    /// errno the rule's, else EPERM) — the most restrictive answer, as across filters, so a
    /// workspace rule cannot lift a refusal the user's `--policy` adds. Observe mode allows
    /// every call. nil rule: no rule covers it (the agent then refuses).
    public func notifyAnswer(syscall name: String, args: [UInt64], observe: Bool) -> (rule: Located<SyscallRuleSpec>?, allow: Bool, errno: UInt32) {
        let matching = notifyRules.filter { r in
            SyscallGroups.expand(r.value.names).contains(name)
                && r.value.args.allSatisfy { c in Int(c.index) < args.count && c.holds(args[Int(c.index)]) }
        }
        let rule = matching.first { ($0.value.answer ?? syscallNotifyDefault.value) != .allow } ?? matching.first
        let answer = rule?.value.answer ?? syscallNotifyDefault.value
        return (rule, observe || (rule != nil && answer == .allow), rule?.value.errnoValue ?? SeccompProfile.eperm)
    }
}
