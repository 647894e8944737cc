import TOMLKit

/// Reads `[[syscall.rule]]` (or `rule = [{ … }]` in `[syscall]`). Everything that can be
/// checked without the kernel's syscall tables is checked here, with the line: actions,
/// errno names, comparisons, argument indexes, masks, group names. System call names are
/// checked against libseccomp when a run builds its filter (RunSetup).
extension PolicyParser {
    func syscallRules(_ value: TOMLValueConvertible, _ key: String, _ locator: KeyLocator) throws(PolicyError) -> [Located<SyscallRuleSpec>] {
        guard let array = value.array else {
            throw PolicyError(file: source, line: locator.line(of: key), key: key,
                              message: "expected an array of tables ([[syscall.rule]]), found \(describe(value))")
        }
        var out: [Located<SyscallRuleSpec>] = []
        for (i, element) in array.enumerated() {
            let shown = "\(key)[\(i)]"
            let line = locator.keyLines[shown] ?? locator.line(of: key, element: i)
            guard let table = element.table else {
                throw PolicyError(file: source, line: line, key: shown, message: "expected a table, found \(describe(element))")
            }
            let rule = try syscallRule(table, shown, locator)
            out.append(Located(rule, Provenance(source: source, line: line)))
        }
        return out
    }

    private func syscallRule(_ t: TOMLTable, _ shown: String, _ locator: KeyLocator) throws(PolicyError) -> SyscallRuleSpec {
        func err(_ k: String, _ m: String) -> PolicyError {
            let path = k.isEmpty ? shown : "\(shown).\(k)"
            return PolicyError(file: source, line: locator.line(of: path), key: path, message: m)
        }
        let known = ["names", "action", "errno", "args", "answer"]
        if let bad = t.keys.first(where: { !known.contains($0) }) {
            throw err(bad, "unknown key in a syscall rule; known keys: \(known.joined(separator: ", "))")
        }
        guard let namesValue = t["names"] else { throw err("", "a syscall rule needs names = [\"call\", \"@group\", …]") }
        let list = try names(namesValue, shown, locator)
        guard let actionValue = t["action"] else {
            throw err("", "a syscall rule needs action = \(RuleAction.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " | "))")
        }
        guard let a = actionValue.string, let action = RuleAction(rawValue: a) else {
            throw err("action", "\(actionValue.string.map { "'\($0)'" } ?? describe(actionValue)) is not "
                + RuleAction.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        }
        var errno: UInt32?
        if let e = t["errno"] {
            guard action == .errno || action == .notify else {
                throw err("errno", "errno is only for action = \"errno\" or \"notify\" (this rule's action is \"\(a)\")")
            }
            errno = try errnoValue(e) { err("errno", $0) }
        }
        var answer: NotifyAnswer?
        if let v = t["answer"] {
            guard action == .notify else { throw err("answer", "answer is only for action = \"notify\" (this rule's action is \"\(a)\")") }
            guard let s = v.string, let ans = NotifyAnswer(rawValue: s) else {
                throw err("answer", "\(v.string.map { "'\($0)'" } ?? describe(v)) is not \"errno\" or \"allow\"")
            }
            answer = ans
        }
        var args: [ArgCondition] = []
        if let v = t["args"] {
            guard let arr = v.array else { throw err("args", "expected an array of { index, op, value } tables, found \(describe(v))") }
            for (j, c) in arr.enumerated() {
                args.append(try condition(c, "\(shown).args[\(j)]", locator))
            }
        }
        return SyscallRuleSpec(names: list, action: action, errno: errno, args: args, answer: answer)
    }

    /// `names`: system calls (checked against libseccomp later) and known `@group`s.
    private func names(_ namesValue: TOMLValueConvertible, _ shown: String, _ locator: KeyLocator) throws(PolicyError) -> [String] {
        guard let names = namesValue.array, !names.isEmpty else {
            throw PolicyError(file: source, line: locator.line(of: "\(shown).names"), key: "\(shown).names",
                              message: "expected a non-empty array of syscall names or @groups")
        }
        var list: [String] = []
        for (j, n) in names.enumerated() {
            let line = locator.line(of: "\(shown).names", element: j)
            func nameErr(_ m: String) -> PolicyError { PolicyError(file: source, line: line, key: "\(shown).names[\(j)]", message: m) }
            guard let s = n.string else { throw nameErr("expected a string, found \(describe(n))") }
            if s.hasPrefix("@") {
                guard SyscallGroups.group(s) != nil else {
                    throw nameErr("'\(s)' is not a syscall group; groups: \(SyscallGroups.all.map(\.name).joined(separator: ", "))")
                }
            } else if s.isEmpty || !s.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) {
                throw nameErr("'\(s)' is not a syscall name (lowercase letters, digits, '_') nor a @group")
            }
            list.append(s)
        }
        return list
    }

    /// An errno name ("EACCES") or number (1…4095, what SECCOMP_RET_ERRNO can carry).
    private func errnoValue(_ v: TOMLValueConvertible, _ err: (String) -> PolicyError) throws(PolicyError) -> UInt32 {
        if let s = v.string {
            guard let n = ErrnoName.number(s) else { throw err("'\(s)' is not an errno name (EPERM, EACCES, ENOSYS, …)") }
            return n
        }
        guard let n = v.int else { throw err("expected an errno name or number, found \(describe(v))") }
        guard (1...4095).contains(n) else { throw err("\(n) is not an errno number (1…4095)") }
        return UInt32(n)
    }

    private func condition(_ c: TOMLValueConvertible, _ shown: String, _ locator: KeyLocator) throws(PolicyError) -> ArgCondition {
        func err(_ k: String, _ m: String) -> PolicyError {
            let path = k.isEmpty ? shown : "\(shown).\(k)"
            return PolicyError(file: source, line: locator.line(of: path), key: path, message: m)
        }
        guard let t = c.table else { throw err("", "expected a table { index, op, value }, found \(describe(c))") }
        let known = ["index", "op", "value", "mask"]
        if let bad = t.keys.first(where: { !known.contains($0) }) {
            throw err(bad, "unknown key in an argument condition; known keys: \(known.joined(separator: ", "))")
        }
        guard let iv = t["index"] else { throw err("", "an argument condition needs index (0…5)") }
        guard let index = iv.int, (0...5).contains(index) else {
            throw err("index", "\(iv.int.map(String.init) ?? describe(iv)) is not an argument index: system calls have arguments 0…5")
        }
        let ops = ArgOp.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let ov = t["op"] else { throw err("", "an argument condition needs op (\(ops))") }
        guard let o = ov.string, let op = ArgOp(rawValue: o) else {
            throw err("op", "\(ov.string.map { "'\($0)'" } ?? describe(ov)) is not a comparison: \(ops)")
        }
        guard let vv = t["value"] else { throw err("", "an argument condition needs value (an integer)") }
        guard let value = vv.int else { throw err("value", "expected an integer, found \(describe(vv))") }
        var mask: UInt64?
        if let mv = t["mask"] {
            guard op == .maskedEq else { throw err("mask", "mask is only for op = \"masked_eq\" (this condition's op is \"\(o)\")") }
            guard let m = mv.int else { throw err("mask", "expected an integer, found \(describe(mv))") }
            mask = UInt64(bitPattern: Int64(m))
        } else if op == .maskedEq {
            throw err("", "op = \"masked_eq\" needs a mask (the call matches when argument & mask == value)")
        }
        // Negative numbers are their 64-bit two's complement (AT_FDCWD = -100, a mask of -1).
        return ArgCondition(index: UInt32(index), op: op, value: UInt64(bitPattern: Int64(value)), mask: mask)
    }
}
