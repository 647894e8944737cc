import Foundation
import WardenOutput
import WardenPolicy
import WardenSandbox

/// `warden status`: the effective policy with provenance, the layers, recent events.
public enum StatusView {
    public static func text(_ session: Session, eventsPath: String) -> String {
        let p = session.policy.effective
        var out = "workspace: \(session.workspace)"
            + (session.rootMarker.map { " (the nearest directory with \($0))" } ?? " (the working directory: no Package.swift, Cargo.toml or warden.toml above it)")
            + "\n"
        if session.cwd != session.workspace { out += "working directory: \(session.cwd)\n" }
        out += "policy sources (merged in order): \(session.policy.sources.joined(separator: " → "))\n"
        if let m = session.policy.member { out += "workspace member: \(m)\n" }
        out += "build system: \(session.policy.buildSystem.rawValue)\n\n"
        func scalar(_ key: String, _ value: String, _ origin: Provenance) {
            let text = "\(key) = \"\(value)\""
            out += text + String(repeating: " ", count: max(1, 30 - text.count)) + "# \(origin)\n"
        }
        scalar("mode", p.mode.value.rawValue, p.mode.origin)
        scalar("fs.default", p.fsDefault.value.rawValue, p.fsDefault.origin)
        scalar("net.default", p.netDefault.value.rawValue, p.netDefault.origin)
        scalar("exec.default", p.execDefault.value.rawValue, p.execDefault.origin)
        scalar("syscall.profile", p.syscallProfile.value.rawValue, p.syscallProfile.origin)
        if let oci = p.syscallOCIProfile { scalar("syscall.oci_profile", oci.value, oci.origin) }
        for (limit, v) in p.limits.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let text = "limits.\(limit.rawValue) = \(v.value)"
            out += text + String(repeating: " ", count: max(1, 30 - text.count)) + "# \(v.origin)\n"
        }
        let allow = session.resolvedAllowlist()
        func list(_ key: String, _ items: [(String, Provenance)]) {
            out += "\(key):\(items.isEmpty ? " (none)" : "")\n"
            for (v, o) in items { out += "  \(v)    # \(o)\n" }
        }
        list("allow.exec.allowed", p.execAllowed.map { e in
            guard let path = allow.resolved[e.value] else { return ("\(e.value) (not found on PATH)", e.origin) }
            var shown = e.value == path ? path : "\(e.value) → \(path)"
            let helpers = ProgramLookup.implementationHelpers(e.value, resolved: path, home: session.identity.home)
            if !helpers.isEmpty {
                let names = helpers.map { ($0 as NSString).lastPathComponent }
                shown += " (+\(helpers.count) helper\(helpers.count == 1 ? "" : "s"): \(names.joined(separator: ", ")))"
            }
            return (shown, e.origin)
        })
        let resolved = HostResolver.resolve(p.netHosts.map(\.value))
        list("allow.net.hosts", zip(p.netHosts, resolved).map { entry, r in
            guard case .name = entry.value.host else { return (r.entry, entry.origin) }
            let answer = r.error.map { "does not resolve: \($0)" } ?? r.addresses.joined(separator: ", ")
            return ("\(r.entry) → \(answer)", entry.origin)
        })
        list("allow.fs.read_extra", p.fsReadExtra.map { ($0.value, $0.origin) })
        list("allow.fs.write_extra", p.fsWriteExtra.map { ($0.value, $0.origin) })
        list("allow.env.read", p.envRead.map { ($0.value, $0.origin) })
        list("syscall.deny", p.syscallDeny.map { ($0.value, $0.origin) })

        let plan = p.filesystemPlan(session.runContext())
        if let plan {
            out += "\nstrict filesystem, implicit rules:\n"
            for r in plan.read where !r.why.hasPrefix("allow.fs") && r.why != "system baseline" { out += "  read  \(r.path)    # \(r.why)\n" }
            for r in plan.write where !r.why.hasPrefix("allow.fs") && r.why != "system baseline" { out += "  write \(r.path)    # \(r.why)\n" }
            out += "  write a private TMPDIR created for each run (removed afterwards)\n"
            out += "  system baseline: read \(SystemBaseline.read.count) paths, write \(SystemBaseline.write.joined(separator: ", "))\n"
        }
        for w in p.secretWarnings(plan, home: session.identity.home, realPath: ProgramLookup.realPath) { out += "warning: policy exposes a secret: \(w)\n" }

        out += "\nlayers (hook: layer):\n"
        let layers = session.layers()
        for l in layers {
            out += "  \(l.hook): \(l.layer)\(l.enforcing ? " (enforcing)" : " (not enforcing)") — \(l.detail)\n"
        }
        let missing = LayerProbe.unenforced(layers)
        if p.mode.value == .enforce && !missing.isEmpty {
            out += "  enforce mode cannot run here: nothing enforces \(missing.map(\.hook).joined(separator: ", ")); "
                + "relax those rules or use `--mode observe`\n"
        }

        out += "\nrecent events (\(eventsPath)):\n"
        guard FileManager.default.fileExists(atPath: eventsPath) else { return out + "  no event log yet\n" }
        do {
            let log = try EventLogContents.read(path: eventsPath)
            guard let run = log.lastRun else { return out + "  no runs recorded\n" }
            let report = Report(run: run, log: log)
            out += "  runs recorded: \(log.runs.count); last: \(run.runId) (\(report.command.joined(separator: " ")))\n"
            out += "  mode \(report.mode ?? "?"), exit code \(report.exitCode.map(String.init) ?? "unknown (unfinished)"), "
            out += "events \(report.eventsTotal), allowed \(report.allowedTotal), denied/would deny \(report.violationsTotal)\n"
            if let start = run.start {
                // The tier a run actually had is known only after its canaries: say what it was.
                let enforced = start.layers.filter(\.enforcing).map { "\($0.hook)=\($0.layer)" }
                out += "  last run enforced: \(enforced.isEmpty ? "nothing" : enforced.joined(separator: ", ")) (assurance \(start.assurance))\n"
            }
            for f in report.findings.prefix(5) { out += "  \(f.blocked ? "denied" : "would deny") \(f.action) \(f.target) → \(f.suggestedLine ?? "a secret: do not allow")\n" }
            if !log.invalidLines.isEmpty { out += "  warning: \(log.invalidLines.count) damaged line(s) in the log\n" }
        } catch {
            out += "  cannot read: \(error.localizedDescription)\n"
        }
        return out
    }
}
