import Foundation
import WardenPolicy

/// Denials of one run, grouped by the policy rule that would allow them.
public struct Report: Sendable, Codable, Equatable {
    public struct Finding: Sendable, Codable, Equatable {
        public var rule: String          // policy key, e.g. allow.fs.read_extra
        public var action: String
        public var target: String        // path or address
        public var neededPerm: String
        /// TOML that would allow it; nil when the target is a secret (never suggested).
        public var suggestedLine: String?

        /// What to do about it in a line, or nil for a secret (never to be allowed).
        public var advice: String? {
            if rule == "refused_by_kernel" { return "refused by the kernel although the policy allows the name: counted as a denial" }
            return suggestedLine.map { "allow with `\($0)`" }
        }
        public var count: Int
        public var units: [String]
        /// Packages whose build scripts or macros did it (EventRecord.package).
        public var packages: [String] = []
        public var blocked: Bool         // false: observe mode, would have been denied

        /// "build_script; package serde": who did it, for one line of text.
        public var by: String {
            units.joined(separator: ", ") + (packages.isEmpty ? "" : "; package " + packages.joined(separator: ", "))
        }

        enum CodingKeys: String, CodingKey {
            case rule, action, target, neededPerm = "needed_perm", suggestedLine = "suggested_line", count, units, packages, blocked
        }
    }

    /// Calls notify rules sent to warden's agent, grouped by call, answer and rule.
    public struct NotifiedCall: Sendable, Codable, Equatable {
        public var syscall: String
        public var answer: String    // "allow", or "errno NAME"
        public var rule: String?
        public var count: Int
        public var units: [String]
    }

    /// Refusals the policy expects, grouped by target: not findings, shown apart.
    public struct ExpectedRefusal: Sendable, Codable, Equatable {
        public var action: String
        public var target: String
        public var reason: String
        public var count: Int
    }

    public var runId: String?
    public var command: [String]
    public var mode: String?
    public var exitCode: Int32?
    public var layers: [LayerStatus]
    public var hardening: [HardeningStep]
    public var assurance: String?
    public var warnings: [String]
    public var eventsTotal: Int
    public var allowedTotal: Int
    public var violationsTotal: Int
    public var findings: [Finding]
    public var expectedRefusals: [ExpectedRefusal]
    /// Enforce mode: operations the kernel allowed although the policy forbids them (the
    /// event is "allowed" and keeps the line that would allow it).
    public var allowedButForbidden: [Finding]
    public var incompleteLog: Bool
    /// Records the kernel could not deliver: the findings may be incomplete when > 0.
    public var lostEvents: UInt64
    /// Enforce mode: operations the kernel allowed although the policy forbids them.
    public var enforceMismatches: UInt64?
    /// Enforce mode: refusals whose events were lost (counted as denials).
    public var unrecordedRefusals: UInt64?
    /// What each unit's processes used, by unit name (units that ran).
    public var perUnitUsage: [String: UnitUsage]?
    /// Events counted but not written to the log (a full disk), and why.
    public var unwrittenEvents: UInt64?
    public var writeError: String?
    /// Calls warden's notify agent answered (absent when there were none).
    public var notified: [NotifiedCall]?

    enum CodingKeys: String, CodingKey {
        case runId = "run_id", command, mode, exitCode = "exit_code", layers, hardening, assurance, warnings
        case eventsTotal = "events_total", allowedTotal = "allowed_total", violationsTotal = "violations_total"
        case findings, expectedRefusals = "expected_refusals", allowedButForbidden = "allowed_but_forbidden"
        case incompleteLog = "incomplete_log"
        case lostEvents = "lost_events", enforceMismatches = "enforce_mismatches", unrecordedRefusals = "unrecorded_refusals"
        case notified
        case perUnitUsage = "per_unit_usage", unwrittenEvents = "unwritten_events", writeError = "write_error"
    }

    public init(run: EventLogContents.Run?, log: EventLogContents) {
        runId = run?.runId
        command = run?.start?.command ?? []
        mode = run?.start?.mode
        exitCode = run?.end?.exitCode
        lostEvents = run?.end?.lostEvents ?? 0
        enforceMismatches = run?.end?.enforceMismatches
        unrecordedRefusals = run?.end?.unrecordedRefusals
        perUnitUsage = run?.end?.perUnitUsage?.filter { !$0.value.isEmpty }
        unwrittenEvents = run?.end?.unwrittenEvents
        writeError = run?.end?.writeError
        layers = run?.start?.layers ?? []
        hardening = run?.start?.hardening ?? []
        assurance = run?.start?.assurance
        warnings = run?.start?.warnings ?? []
        notified = Report.group(run?.notified ?? [])
        let events = run?.events ?? []
        eventsTotal = events.count
        allowedTotal = run?.end?.allowedTotal.map(Int.init) ?? events.filter { $0.event.verdict == .allowed }.count
        violationsTotal = run?.end?.violationsTotal.map(Int.init) ?? events.filter(\.isViolation).count
        incompleteLog = log.tornTail || !log.invalidLines.isEmpty || (run != nil && run?.end == nil)
        var grouped: [String: Finding] = [:]
        var order: [String] = []
        for r in events where r.isViolation {
            let e = r.event
            let key = e.ruleKey + "\u{0}" + e.action.name + "\u{0}" + e.pathOrAddr
            if var f = grouped[key] {
                f.count += 1
                if !f.units.contains(e.unit.name) { f.units.append(e.unit.name) }
                if let p = r.package, !f.packages.contains(p) { f.packages.append(p) }
                grouped[key] = f
            } else {
                order.append(key)
                grouped[key] = Finding(rule: e.ruleKey, action: e.action.name, target: e.pathOrAddr, neededPerm: e.neededPerm,
                                       suggestedLine: e.suggestedPolicyLine, count: 1, units: [e.unit.name],
                                       packages: r.package.map { [$0] } ?? [], blocked: r.isBlocked)
            }
        }
        findings = order.map { grouped[$0]! }.sorted { ($0.rule, $0.target) < ($1.rule, $1.target) }
        var expected: [ExpectedRefusal] = []
        for r in events where r.isExpectedRefusal {
            if let i = expected.firstIndex(where: { $0.target == r.event.pathOrAddr && $0.action == r.event.action.name }) {
                expected[i].count += 1
            } else {
                expected.append(ExpectedRefusal(action: r.event.action.name, target: r.event.pathOrAddr,
                                                reason: r.expectedRefusal ?? "", count: 1))
            }
        }
        expectedRefusals = expected
        allowedButForbidden = events.filter { $0.mode == "enforce" && $0.event.verdict == .allowed && !$0.event.neededPerm.isEmpty
            && ($0.event.action != .connect || $0.event.isUnixSocketConnect) }
            .map { r in
                Finding(rule: r.event.ruleKey, action: r.event.action.name, target: r.event.pathOrAddr, neededPerm: r.event.neededPerm,
                        suggestedLine: nil, count: 1, units: [r.event.unit.name], packages: r.package.map { [$0] } ?? [],
                        blocked: false)
            }
    }

    // MARK: text

    /// `s` with control characters shown as `\\xNN`: paths and commands come from the build,
    /// and a terminal would act on the escape sequences in them (erasing report lines).
    public static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7f || (0x80...0x9f).contains(u.value) {
                let hex = String(u.value, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            } else if (0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value) || u.value == 0x200E || u.value == 0x200F {
                // Bidirectional controls would reorder what follows them on screen: a path
                // could show as another.
                out += "\\u{" + String(u.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    public func text() -> String {
        var out = ""
        guard let runId else { return "No run recorded in the event log.\n" }
        out += "warden report — run \(runId)\n"
        out += "command: \(Report.printable(command.joined(separator: " ")))\n"
        out += "mode: \(mode ?? "unknown"), exit code: \(exitCode.map(String.init) ?? "unknown (run did not finish)")\n"
        out += "events: \(eventsTotal) (allowed \(allowedTotal), \(mode == "observe" ? "would be denied" : "denied") \(violationsTotal))\n"
        if !layers.isEmpty {
            out += "layers:\n"
            for l in layers { out += l.text() }
        }
        if let assurance { out += "assurance: \(assurance)\n" }
        if let usage = perUnitUsage, !usage.isEmpty {
            out += "resources by unit:\n"
            for (unit, u) in usage.sorted(by: { $0.value.cpuTimeMs > $1.value.cpuTimeMs }) { out += "  \(unit): \(u.summary)\n" }
        }
        if !hardening.isEmpty {
            out += "hardening: " + hardening.map { "\($0.primitive) \($0.state)" }.joined(separator: ", ") + "\n"
        }
        for n in notified ?? [] {
            out += "notified: \(n.syscall) ×\(n.count) → \(n.answer) (\(n.units.joined(separator: ", ")); rule \(n.rule ?? "none"))\n"
        }
        for w in warnings { out += "warning: \(Report.printable(w))\n" }
        if incompleteLog { out += "note: the event log is incomplete (run still going, crashed, or damaged lines)\n" }
        if lostEvents > 0 { out += "warning: \(lostEvents) event(s) were lost; the denials below may be incomplete\n" }
        if let n = unwrittenEvents {
            out += "warning: \(n) event(s) could not be written to the log (\(Report.printable(writeError ?? "?"))): counted in the "
                + "totals and the exit code, not listed below\n"
        }
        if let n = unrecordedRefusals, n > 0 {
            out += "warning: the kernel refused \(n) call(s) whose events were lost: counted as denials, not listed below\n"
        }
        if let m = enforceMismatches, m > 0 { out += "warning: the kernel allowed \(m) operation(s) the policy forbids\n" }
        for f in allowedButForbidden {
            out += "ALLOWED ALTHOUGH FORBIDDEN (the kernel did not refuse it): \(f.action) \(Report.printable(f.target)) (\(Report.printable(f.by)))\n"
        }
        for x in expectedRefusals {
            out += "refused as expected: \(x.action) \(Report.printable(x.target)) ×\(x.count) — \(x.reason)\n"
        }
        if findings.isEmpty {
            out += "\nNo denials.\n"
            return out
        }
        var currentRule = ""
        for f in findings {
            if f.rule != currentRule {
                currentRule = f.rule
                out += "\n[\(f.rule)]\n"
            }
            let verb = f.blocked ? "denied" : "would deny"
            out += "  \(verb) \(f.action) \(Report.printable(f.target)) ×\(f.count) (\(Report.printable(f.by)))\n"
            if f.rule == "refused_by_kernel" {
                out += "    the kernel refused a name the policy allows: a link changed after the call, a process gone, "
                    + "or a permission; counted as a denial\n"
            } else if let line = f.suggestedLine {
                out += "    allow with: \(Report.printable(line))\n"
            } else {
                out += "    do not allow: \(Report.printable(f.target)) is a secret; a build that reaches for it is what warden is there to stop\n"
            }
        }
        return out
    }

    // MARK: Markdown

    /// `s` as a markdown code span whatever it holds: paths come from the build, and a
    /// backtick in one would close a plain span and let the rest render as markdown or
    /// HTML in the job summary. The fence is one backtick longer than any run inside;
    /// table pipes are escaped; control characters shown (`printable`).
    public static func codeSpan(_ s: String) -> String {
        let text = printable(s).replacingOccurrences(of: "|", with: "\\|")
        var longest = 0, run = 0
        for c in text { run = c == "`" ? run + 1 : 0; longest = max(longest, run) }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = text.hasPrefix("`") || text.hasSuffix("`") || text.isEmpty ? " " : ""
        return fence + pad + text + pad + fence
    }

    /// Text from the build (package names, warnings) with markdown's active characters
    /// escaped, so it shows as written.
    public static func markdownText(_ s: String) -> String {
        var out = ""
        for c in printable(s) {
            if "\\`*_[]<>|#!~&".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// A job summary for CI (`$GITHUB_STEP_SUMMARY`): the run's mode, tier and assurance,
    /// the layer of each hook, the denials grouped by rule with the line that would allow
    /// each, and what may be missing (lost events, enforce mismatches).
    public func markdown() -> String {
        guard let runId else { return "### warden\n\nNo run recorded in the event log.\n" }
        let denied = mode == "observe" ? "would be denied" : "denied"
        var out = "### warden: \(violationsTotal == 0 ? "no denials" : "\(violationsTotal) \(denied)")\n\n"
        out += "| | |\n|---|---|\n"
        out += "| command | \(Report.codeSpan(command.joined(separator: " "))) |\n"
        out += "| mode | \(mode ?? "unknown") |\n"
        out += "| exit code | \(exitCode.map(String.init) ?? "unknown (run did not finish)") |\n"
        let tier = layers.contains { $0.layer == .bpfLSM && $0.enforcing } ? "1 (BPF LSM)"
            : layers.contains { $0.layer == .landlock && $0.enforcing } ? "2 (Landlock, cgroup-BPF, seccomp)" : "none enforcing"
        out += "| tier | \(tier) |\n"
        out += "| assurance | \(assurance ?? "unknown") |\n"
        out += "| events | \(eventsTotal) (allowed \(allowedTotal), \(denied) \(violationsTotal)) |\n"
        out += "| lost events | \(lostEvents)\(lostEvents > 0 ? " — the denials below may be incomplete" : "") |\n"
        if let m = enforceMismatches { out += "| enforce mismatches | \(m) |\n" }
        if let n = unrecordedRefusals, n > 0 { out += "| refusals whose events were lost (denials) | \(n) |\n" }
        if let n = unwrittenEvents {
            out += "| events that could not be written to the log | \(n) (\(Report.markdownText(writeError ?? "?"))) — counted, not listed |\n"
        }
        out += "| run | `\(runId)` |\n\n"
        if let usage = perUnitUsage, !usage.isEmpty {
            out += "| unit | resources |\n|---|---|\n"
            for (unit, u) in usage.sorted(by: { $0.value.cpuTimeMs > $1.value.cpuTimeMs }) { out += "| \(unit) | \(u.summary) |\n" }
            out += "\n"
        }
        if !layers.isEmpty {
            out += "| hook | layer | enforcing |\n|---|---|---|\n"
            for l in layers { out += "| \(l.hook) | \(l.layer) | \(l.enforcing ? (l.openRoutes == nil ? "yes" : "partial") : "no") |\n" }
            out += "\n"
        }
        for w in warnings { out += "> **warning:** \(Report.markdownText(w))\n>\n" }
        if !warnings.isEmpty { out += "\n" }
        for f in allowedButForbidden {
            out += "- **allowed although forbidden** (the kernel did not refuse it): \(f.action) \(Report.codeSpan(f.target))\n"
        }
        if !allowedButForbidden.isEmpty { out += "\n" }
        var rule = ""
        for f in findings {
            if f.rule != rule {
                rule = f.rule
                out += "#### `\(f.rule)`\n\n"
            }
            let by = f.units.joined(separator: ", ") + (f.packages.isEmpty ? "" : "; package " + f.packages.map(Report.markdownText).joined(separator: ", "))
            out += "- \(f.blocked ? "denied" : "would deny") \(f.action) \(Report.codeSpan(f.target)) ×\(f.count) (\(by))"
            if f.rule == "refused_by_kernel", let advice = f.advice {
                out += " — \(advice)\n"
            } else {
                out += f.suggestedLine.map { " — allow with \(Report.codeSpan($0))\n" } ?? " — **a secret: do not allow**\n"
            }
        }
        return out
    }

    // MARK: JSON

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var d = try encoder.encode(self)
        d.append(UInt8(ascii: "\n"))
        return d
    }
}

extension Report {
    static func group(_ records: [NotifyRecord]) -> [NotifiedCall]? {
        guard !records.isEmpty else { return nil }
        var out: [NotifiedCall] = []
        for r in records {
            let answer = r.answer == "allow" ? "allow" : "errno " + (r.errno.map(String.init) ?? "?")
            let unit = r.unit ?? "?"
            if let i = out.firstIndex(where: { $0.syscall == r.syscall && $0.answer == answer && $0.rule == r.rule }) {
                out[i].count += 1
                if !out[i].units.contains(unit) { out[i].units.append(unit) }
            } else {
                out.append(NotifiedCall(syscall: r.syscall, answer: answer, rule: r.rule, count: 1, units: [unit]))
            }
        }
        return out
    }
}
