import Foundation
import WardenOutput
import WardenPolicy
import WardenSandbox

/// `warden status`: the effective policy with provenance, the layers, the last run. One
/// document, shown as text or (`--json`) with these stable keys: workspace, root_marker,
/// cwd, build_system, member, policy_sources, settings[], exec_allowed[], lists{},
/// implicit_rules[] (absent when fs.default is unrestricted), warnings[], layers[],
/// enforce_blocked_by[], event_log, last_run.
public struct StatusDocument: Codable, Sendable {
    /// A policy value and where it came from.
    public struct Value: Codable, Sendable {
        public var key: String
        public var value: String
        public var origin: String
    }

    /// An allowlist entry: the program it resolves to and the helpers it brings in.
    public struct Program: Codable, Sendable {
        public var entry: String
        public var resolved: String?
        public var helpers: [String]
        public var origin: String
    }

    public struct Rule: Codable, Sendable {
        public var access: String
        public var path: String
        public var why: String
    }

    public struct LastRun: Codable, Sendable {
        public var runId: String
        public var runsRecorded: Int
        public var command: [String]
        public var mode: String?
        public var exitCode: Int32?
        public var eventsTotal: Int
        public var allowedTotal: Int
        public var violationsTotal: Int
        public var enforced: [String]?
        public var assurance: String?
        public var findings: [Report.Finding]
        public var damagedLines: Int
        enum CodingKeys: String, CodingKey {
            case runId = "run_id", runsRecorded = "runs_recorded", command, mode, exitCode = "exit_code"
            case eventsTotal = "events_total", allowedTotal = "allowed_total", violationsTotal = "violations_total"
            case enforced, assurance, findings, damagedLines = "damaged_lines"
        }
    }

    public var workspace: String
    public var rootMarker: String?
    public var cwd: String
    public var buildSystem: String
    public var member: String?
    public var policySources: [String]
    public var settings: [Value]
    public var execAllowed: [Program]
    public var lists: [String: [Value]]
    public var implicitRules: [Rule]?
    public var warnings: [String]
    public var layers: [LayerStatus]
    public var enforceBlockedBy: [Hook]
    public var eventLog: String
    public var lastRun: LastRun?
    public var eventLogError: String?

    enum CodingKeys: String, CodingKey {
        case workspace, rootMarker = "root_marker", cwd, buildSystem = "build_system", member, policySources = "policy_sources"
        case settings, execAllowed = "exec_allowed", lists, implicitRules = "implicit_rules", warnings, layers
        case enforceBlockedBy = "enforce_blocked_by", eventLog = "event_log", lastRun = "last_run", eventLogError = "event_log_error"
    }
}

public enum StatusView {
    public static func document(_ session: Session, eventsPath: String) -> StatusDocument {
        let p = session.policy.effective
        func value(_ key: String, _ v: String, _ o: Provenance) -> StatusDocument.Value { .init(key: key, value: v, origin: o.description) }
        var settings = [
            value("mode", p.mode.value.rawValue, p.mode.origin), value("fs.default", p.fsDefault.value.rawValue, p.fsDefault.origin),
            value("net.default", p.netDefault.value.rawValue, p.netDefault.origin),
            value("net.listen", p.netListen.value.rawValue, p.netListen.origin),
            value("exec.default", p.execDefault.value.rawValue, p.execDefault.origin),
            value("syscall.profile", p.syscallProfile.value.rawValue, p.syscallProfile.origin),
        ]
        if let oci = p.syscallOCIProfile { settings.append(value("syscall.oci_profile", oci.value, oci.origin)) }
        if !p.notifyRules.isEmpty {
            settings.append(value("syscall.notify_default", p.syscallNotifyDefault.value.rawValue, p.syscallNotifyDefault.origin))
        }
        for (limit, v) in p.limits.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            settings.append(value("limits.\(limit.rawValue)", String(v.value), v.origin))
        }
        let allow = session.resolvedAllowlist()
        let programs = p.execAllowed.map { e in
            let path = allow.resolved[e.value]
            let helpers = path.map { ProgramLookup.implementationHelpers(e.value, resolved: $0, home: session.identity.home) } ?? []
            return StatusDocument.Program(entry: e.value, resolved: path, helpers: helpers, origin: e.origin.description)
        }
        let resolved = HostResolver.resolve(p.netHosts.map(\.value))
        let hosts = zip(p.netHosts, resolved).map { entry, r -> StatusDocument.Value in
            guard case .name = entry.value.host else { return value("allow.net.hosts", r.entry, entry.origin) }
            let answer = r.error.map { "does not resolve: \($0)" } ?? r.addresses.joined(separator: ", ")
            return value("allow.net.hosts", "\(r.entry) → \(answer)", entry.origin)
        }
        let lists: [String: [StatusDocument.Value]] = [
            "allow.net.hosts": hosts,
            "allow.fs.read_extra": p.fsReadExtra.map { value("allow.fs.read_extra", $0.value, $0.origin) },
            "allow.net.unix": p.netUnix.map { value("allow.net.unix", $0.value, $0.origin) },
            "allow.fs.write_extra": p.fsWriteExtra.map { value("allow.fs.write_extra", $0.value, $0.origin) },
            "allow.env.read": p.envRead.map { value("allow.env.read", $0.value, $0.origin) },
            "syscall.deny": p.syscallDeny.map { value("syscall.deny", $0.value, $0.origin) },
            "syscall.rule": p.syscallRules.map { value("syscall.rule", $0.value.summary, $0.origin) },
        ]
        let plan = p.filesystemPlan(session.runContext())
        let implicit = plan.map { plan in
            plan.read.filter { !$0.why.hasPrefix("allow.fs") && $0.why != "system baseline" }.map { StatusDocument.Rule(access: "read", path: $0.path, why: $0.why) }
                + plan.write.filter { !$0.why.hasPrefix("allow.fs") && $0.why != "system baseline" }.map { StatusDocument.Rule(access: "write", path: $0.path, why: $0.why) }
        }
        let warnings = p.secretWarnings(plan, home: session.identity.home, realPath: ProgramLookup.realPath).map { "policy exposes a secret: \($0)" }
        let layers = session.layers()
        let missing = p.mode.value == .enforce ? LayerProbe.unenforced(layers).map(\.hook) : []
        var doc = StatusDocument(workspace: session.workspace, rootMarker: session.rootMarker, cwd: session.cwd,
                                 buildSystem: session.policy.buildSystem.rawValue, member: session.policy.member,
                                 policySources: session.policy.sources, settings: settings, execAllowed: programs, lists: lists,
                                 implicitRules: implicit, warnings: warnings, layers: layers, enforceBlockedBy: missing,
                                 eventLog: eventsPath)
        addLastRun(to: &doc, eventsPath: eventsPath)
        return doc
    }

    /// The last run in the event log, as `status` shows it; the tier a run actually had
    /// is known only after its canaries, so it says what it was.
    static func addLastRun(to doc: inout StatusDocument, eventsPath: String) {
        guard FileManager.default.fileExists(atPath: eventsPath) else { return }
        do {
            let log = try EventLogContents.read(path: eventsPath)
            guard let run = log.lastRun else { return }
            let report = Report(run: run, log: log)
            doc.lastRun = .init(runId: run.runId, runsRecorded: log.runs.count, command: report.command, mode: report.mode,
                                exitCode: report.exitCode, eventsTotal: report.eventsTotal, allowedTotal: report.allowedTotal,
                                violationsTotal: report.violationsTotal,
                                enforced: run.start.map { $0.layers.filter(\.enforcing).map { "\($0.hook)=\($0.layer)" } },
                                assurance: run.start?.assurance, findings: report.findings, damagedLines: log.invalidLines.count)
        } catch {
            doc.eventLogError = error.localizedDescription
        }
    }

    public static func text(_ session: Session, eventsPath: String) -> String {
        text(document(session, eventsPath: eventsPath))
    }

    public static func text(_ doc: StatusDocument) -> String {
        var out = "workspace: \(doc.workspace)"
            + (doc.rootMarker.map { " (the nearest directory with \($0))" } ?? " (the working directory: no Package.swift, Cargo.toml or warden.toml above it)")
            + "\n"
        if doc.cwd != doc.workspace { out += "working directory: \(doc.cwd)\n" }
        out += "policy sources (merged in order): \(doc.policySources.joined(separator: " → "))\n"
        if let m = doc.member { out += "workspace member: \(m)\n" }
        out += "build system: \(doc.buildSystem)\n\n"
        for s in doc.settings {
            let text = s.key.hasPrefix("limits.") ? "\(s.key) = \(s.value)" : "\(s.key) = \"\(s.value)\""
            out += text + String(repeating: " ", count: max(1, 30 - text.count)) + "# \(s.origin)\n"
        }
        func list(_ key: String, _ items: [(String, String)]) {
            out += "\(key):\(items.isEmpty ? " (none)" : "")\n"
            for (v, o) in items { out += "  \(v)    # \(o)\n" }
        }
        list("allow.exec.allowed", doc.execAllowed.map { e in
            guard let path = e.resolved else { return ("\(e.entry) (not found on PATH)", e.origin) }
            var shown = e.entry == path ? path : "\(e.entry) → \(path)"
            if !e.helpers.isEmpty {
                let names = e.helpers.map { ($0 as NSString).lastPathComponent }
                shown += " (+\(e.helpers.count) helper\(e.helpers.count == 1 ? "" : "s"): \(names.joined(separator: ", ")))"
            }
            return (shown, e.origin)
        })
        for key in ["allow.net.hosts", "allow.net.unix", "allow.fs.read_extra", "allow.fs.write_extra", "allow.env.read", "syscall.deny", "syscall.rule"] {
            list(key, (doc.lists[key] ?? []).map { ($0.value, $0.origin) })
        }
        if let rules = doc.implicitRules {
            out += "\nstrict filesystem, implicit rules:\n"
            for r in rules { out += "  \(r.access == "read" ? "read " : "write") \(r.path)    # \(r.why)\n" }
            out += "  write a private TMPDIR created for each run (removed afterwards)\n"
            out += "  system baseline: read \(SystemBaseline.read.count) paths, write \(SystemBaseline.write.joined(separator: ", "))\n"
        }
        for w in doc.warnings { out += "warning: \(w)\n" }
        out += "\nlayers (hook: layer):\n"
        for l in doc.layers { out += l.text(notEnforcing: " (not enforcing)") }
        if !doc.enforceBlockedBy.isEmpty {
            out += "  enforce mode cannot run here: nothing enforces \(doc.enforceBlockedBy.map(\.rawValue).joined(separator: ", ")); "
                + "relax those rules or use `--mode observe`\n"
        }
        out += "\nrecent events (\(doc.eventLog)):\n"
        if let error = doc.eventLogError { return out + "  cannot read: \(error)\n" }
        guard let run = doc.lastRun else {
            return out + (FileManager.default.fileExists(atPath: doc.eventLog) ? "  no runs recorded\n" : "  no event log yet\n")
        }
        out += "  runs recorded: \(run.runsRecorded); last: \(run.runId) (\(Report.printable(run.command.joined(separator: " "))))\n"
        out += "  mode \(run.mode ?? "?"), exit code \(run.exitCode.map(String.init) ?? "unknown (unfinished)"), "
        out += "events \(run.eventsTotal), allowed \(run.allowedTotal), denied/would deny \(run.violationsTotal)\n"
        if let enforced = run.enforced {
            out += "  last run enforced: \(enforced.isEmpty ? "nothing" : enforced.joined(separator: ", ")) (assurance \(run.assurance ?? "?"))\n"
        }
        for f in run.findings.prefix(5) {
            out += "  \(f.blocked ? "denied" : "would deny") \(f.action) \(Report.printable(f.target)) → \(Report.printable(f.advice ?? "a secret: do not allow"))\n"
        }
        if run.damagedLines > 0 { out += "  warning: \(run.damagedLines) damaged line(s) in the log\n" }
        return out
    }
}
