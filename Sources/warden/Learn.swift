import ArgumentParser
import Foundation
import WardenOutput
import WardenPolicy
import WardenRun
import WardenSandbox

/// What `--fail-on` fails a run (or `warden diff`) on, with exit 78.
enum FailOn: String, ExpressibleByArgument, CaseIterable {
    /// Anything the policy does not allow: observe-mode findings, secrets and .git included.
    case wouldDeny = "would-deny"
    /// Rules `init --from-last-run` would add (secrets and .git are never rules).
    case newRules = "new-rules"
}

/// Live metrics and CI gates for `run` and `build`.
struct LiveOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "After a run whose command succeeded, exit 78 when it did something the policy does not allow (would-deny) or that "
            + "would add rules to the learned policy (new-rules). The command's own failure and 77 come first.", valueName: "what"))
    var failOn: FailOn?

    @Option(name: .long, help: ArgumentHelp("Serve /metrics (Prometheus) and /events (recent events, JSON) on this port during the run; 0 picks a free one.", valueName: "port"))
    var metricsPort: Int?

    @Option(name: .long, help: ArgumentHelp("Address for --metrics-port: an IPv4 or IPv6 literal.", valueName: "ip"))
    var metricsAddress = "127.0.0.1"

    @Flag(name: .shortAndLong, help: "No status line on the terminal while the build runs.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print each denial (or would-be denial) as it happens.")
    var verbose = false

    /// Runs `runner` with the metrics server (when asked) and applies `--fail-on`.
    func run(_ runner: Runner, session: Session) throws(WardenFailure) -> Int32 {
        var runner = runner
        let watch = RunWatch()
        runner.watch = watch
        var server: MetricsServer?
        if let metricsPort {
            var v4 = in_addr(), v6 = in6_addr()
            guard inet_pton(AF_INET, metricsAddress, &v4) == 1 || inet_pton(AF_INET6, metricsAddress, &v6) == 1 else {
                throw WardenFailure("--metrics-address '\(metricsAddress)' is not an IPv4 or IPv6 address", code: WardenExit.usage)
            }
            let s = try MetricsServer.start(address: metricsAddress, port: metricsPort, watch: watch)
            let shown = metricsAddress.contains(":") ? "[\(metricsAddress)]" : metricsAddress
            stderrLine("metrics on http://\(shown):\(s.port)/metrics and /events for the duration of the run")
            if !metricsAddress.hasPrefix("127.") && metricsAddress != "::1" {
                stderrLine("warning: --metrics-address \(metricsAddress) is not loopback: anyone who can reach it reads this run's events")
            }
            server = s
        }
        defer { server?.stop() }
        let progress = LiveProgress(watch: watch, statusLine: !quiet && LiveProgress.stderrIsTerminal, verbose: verbose)
        if progress.drawsStatusLine { runner.log = { progress.log($0) } }
        progress.start()
        defer { progress.stop() }
        let code: Int32
        do {
            code = try runner.run()
        } catch {
            progress.stop()
            throw error
        }
        progress.stop()
        guard code == WardenExit.success, let failOn else { return code }
        let violations = watch.violations
        switch failOn {
        case .wouldDeny:
            guard !violations.isEmpty else { return code }
            stderrLine("--fail-on would-deny: \(violations.count) operation(s) the policy does not allow; see `warden report` "
                       + "(exit \(WardenExit.drift))")
        case .newRules:
            let learned = LearnedPolicy.learn(from: violations, workspace: session.workspace, home: session.identity.home)
            guard !learned.rules.isEmpty else { return code }
            stderrLine("--fail-on new-rules: the run needed \(learned.rules.count) rule(s) the policy does not have: "
                       + learned.rules.map(\.rule.description).joined(separator: "; ") + " (exit \(WardenExit.drift))")
        }
        return WardenExit.drift
    }
}

/// Where a learned policy comes from: one run of an event log.
struct RunSource {
    var path: String
    var run: EventLogContents.Run
    var notes: [String]

    /// The run `id` (default: the last) of the log at `events` (default: the workspace's).
    static func load(events: String?, run id: String?, cwd: String, environment: [String: String]) throws(WardenFailure) -> RunSource {
        let path = events.map { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 }
            ?? OutputPaths.defaultEvents(workspace: Session.workspace(for: cwd, environment: environment).root, environment: environment)
        guard FileManager.default.fileExists(atPath: path) else {
            throw WardenFailure("no event log at \(path): record a run first (warden run --mode observe -- <build>), or name a log "
                                + "with --from-events", code: WardenExit.usage)
        }
        let log: EventLogContents
        do {
            log = try EventLogContents.read(path: path)
        } catch {
            throw WardenFailure("cannot read the event log \(path): \(error.localizedDescription)", code: WardenExit.usage)
        }
        if log.runs.isEmpty {
            let why = log.invalidLines.first.map { "line \($0) is not a warden record" } ?? "it holds no run"
            throw WardenFailure("\(path) is not a warden event log with a run in it: \(why)", code: WardenExit.usage)
        }
        let chosen: EventLogContents.Run
        if let id {
            guard let r = log.runs.first(where: { $0.runId == id }) else {
                throw WardenFailure("run '\(id)' is not in \(path) (its runs: \(log.runs.suffix(5).map(\.runId).joined(separator: ", ")))",
                                    code: WardenExit.usage)
            }
            chosen = r
        } else {
            chosen = log.runs.last!
        }
        guard chosen.start != nil else {
            throw WardenFailure("run \(chosen.runId) in \(path) has no start record: the log is damaged", code: WardenExit.usage)
        }
        var notes: [String] = []
        if !log.invalidLines.isEmpty {
            notes.append("\(log.invalidLines.count) damaged line(s) in \(path) were skipped (first: line \(log.invalidLines[0]))")
        }
        if chosen.end == nil { notes.append("run \(chosen.runId) did not finish (still running, or killed): it may have needed more") }
        if let lost = chosen.end?.lostEvents, lost > 0 {
            notes.append("\(lost) event(s) of run \(chosen.runId) were lost: what they needed is not learned (raise --ring-buffer-mib)")
        }
        return RunSource(path: path, run: chosen, notes: notes)
    }
}

extension Warden.Init {
    /// `init --from-last-run` / `--from-events`: merges what the run needed into warden.toml.
    func learn() throws(WardenFailure) -> Int32 {
        let cwd = FileManager.default.currentDirectoryPath
        let env = ProcessInfo.processInfo.environment
        let identity = Identity.current(environment: env)
        let source = try RunSource.load(events: fromEvents, run: run, cwd: cwd, environment: env)
        let start = source.run.start!
        let workspace = Session.workspace(for: cwd, environment: env).root
        let path = workspace + "/" + PolicyLoader.fileName
        let notes = Self.notes(source, start: start, workspace: workspace, path: path)
        let existing = try ExistingPolicy.read(path)
        let text = existing?.text ?? Self.newPolicyText(source)
        let fragment: PolicyFragment
        do {
            fragment = try PolicyParser(source: path, home: identity.home).parse(text)
        } catch {
            throw WardenFailure("\(error.description). Nothing was changed.", code: WardenExit.usage)
        }
        let learned = LearnedPolicy.learn(from: source.run.events, workspace: start.workspace, home: identity.home, covered: fragment.allows)
        let additions = learned.rules.map {
            PolicyEditor.Addition(key: PolicyKey(rawValue: $0.rule.key)!, value: $0.rule.value, comment: $0.comment)
        }
        let modeChanges = mode.map { $0 != fragment.mode?.value } ?? false
        var out = notes.map { "note: \($0)\n" }.joined()
            + learned.leftOut.map { "left out: \($0.action) \(WardenOutput.Report.printable($0.target)) — \($0.why)\n" }.joined()
        if additions.isEmpty && !modeChanges && existing != nil {
            out += "\(path) already allows everything run \(source.run.runId) needed; nothing to change\n"
            print(out, terminator: "")
            return WardenExit.success
        }
        var editor = PolicyEditor(text: text, source: path, home: identity.home)
        let merged: String
        do {
            merged = try editor.apply(additions, mode: mode)
        } catch {
            let lines = learned.rules.map { "  \($0.rule)  # \($0.comment)" }.joined(separator: "\n")
            throw WardenFailure("cannot merge into \(path): \(error). Nothing was changed; add these by hand:\n\(lines)", code: WardenExit.usage)
        }
        if dryRun {
            print(merged, terminator: merged.hasSuffix("\n") ? "" : "\n")
            try? FileHandle.standardError.write(contentsOf: Data(out.utf8))
            return WardenExit.success
        }
        // Keep an existing file's owner and mode; a new one belongs to the user (sudo's caller).
        let owner: (uid: UInt32, gid: UInt32)? = existing.map { ($0.uid, $0.gid) } ?? (identity.switchIDs ? (identity.uid, identity.gid) : nil)
        do {
            try writeAtomically(Data(merged.utf8), to: path, owner: owner, mode: existing?.mode ?? 0o644)
        } catch {
            throw WardenFailure("cannot write \(path): \(error). Nothing was changed.", code: WardenExit.usage)
        }
        out += "\(existing == nil ? "wrote" : "updated") \(path) from run \(source.run.runId): \(additions.count) rule(s) added"
        if let mode, modeChanges { out += ", mode = \"\(mode.rawValue)\"" }
        out += "\n"
        for r in learned.rules { out += "  + \(r.rule)  # \(r.comment)\n" }
        print(out, terminator: "")
        return WardenExit.success
    }

    /// What learning from this run leaves out, besides the rules: another workspace, policy
    /// files other than the one written.
    static func notes(_ source: RunSource, start: RunRecord, workspace: String, path: String) -> [String] {
        var notes = source.notes
        if start.workspace != workspace {
            notes.append("run \(source.run.runId) was in \(start.workspace), not \(workspace)")
        }
        let extra = start.policySources.filter { $0 != path && $0 != DefaultPolicy.source && $0.hasPrefix("/") }
        if !extra.isEmpty {
            notes.append("the run also used \(extra.joined(separator: ", ")); its rules are not copied into \(path)")
        }
        return notes
    }

    /// The header and default policy a learned warden.toml starts from.
    static func newPolicyText(_ source: RunSource) -> String {
        var command = WardenOutput.Report.printable((source.run.start?.command ?? []).joined(separator: " "))
        if command.count > 80 { command = String(command.prefix(79)) + "…" }
        return """
            # warden policy learned by `warden init --from-last-run` from run \(source.run.runId)
            # (`\(command)`).
            # Each learned entry says which part of the build needed it: review them before you
            # commit. Reference: the README's "Policy reference".
            \(DefaultPolicy.toml)

            """
    }
}

/// The warden.toml being merged into: its text, and the owner and mode it keeps.
struct ExistingPolicy {
    var text: String
    var uid: UInt32, gid: UInt32, mode: mode_t

    /// nil when there is no file; a link or other non-file is refused, not followed.
    static func read(_ path: String) throws(WardenFailure) -> ExistingPolicy? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw WardenFailure("\(path) is not a regular file (a link?); not writing through it. Nothing was changed.", code: WardenExit.usage)
        }
        do {
            return ExistingPolicy(text: try String(contentsOfFile: path, encoding: .utf8), uid: st.st_uid, gid: st.st_gid,
                                  mode: st.st_mode & 0o7777)
        } catch {
            throw WardenFailure("cannot read \(path): \(error.localizedDescription). Nothing was changed.", code: WardenExit.usage)
        }
    }
}

extension Warden {
    struct Diff: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a run with a policy: what it did that the policy does not allow, and the rules learning would add.",
            discussion: "Exit 0, or with --fail-on 78 when there is such drift (2 for a bad log, run or policy). Operations the run's "
                + "own policy allowed are not judged again.")

        @Option(name: .long, help: ArgumentHelp("Policy file to compare with (default: the workspace's warden.toml).", valueName: "file"))
        var against: String?

        @Option(name: .long, help: "The run to compare (default: the last one).")
        var run: String?

        @Option(name: .long, help: ArgumentHelp("Event log to read (default: this workspace's, in warden's state directory).", valueName: "file"))
        var events: String?

        @Option(name: .long, help: ArgumentHelp("Exit 78 on would-deny (anything not allowed) or new-rules (rules learning would add).", valueName: "what"))
        var failOn: FailOn?

        func execute() throws(WardenFailure) -> Int32 {
            let cwd = FileManager.default.currentDirectoryPath
            let env = ProcessInfo.processInfo.environment
            let home = Identity.current(environment: env).home
            let source = try RunSource.load(events: events, run: run, cwd: cwd, environment: env)
            let start = source.run.start!
            let policyPath = against.map { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 }
                ?? Session.workspace(for: cwd, environment: env).root + "/" + PolicyLoader.fileName
            var fragment = PolicyFragment()
            if FileManager.default.fileExists(atPath: policyPath) {
                do {
                    fragment = try PolicyParser(source: policyPath, home: home).parse(String(contentsOfFile: policyPath, encoding: .utf8))
                } catch let e as PolicyError {
                    throw WardenFailure(e.description, code: WardenExit.usage)
                } catch {
                    throw WardenFailure("cannot read \(policyPath): \(error.localizedDescription)", code: WardenExit.usage)
                }
            } else if against != nil {
                throw WardenFailure("--against \(policyPath): no such file", code: WardenExit.usage)
            }
            let notAllowed = source.run.events.filter { r in r.isViolation && !(r.event.allowingRule.map(fragment.allows) ?? false) }
            let learned = LearnedPolicy.learn(from: source.run.events, workspace: start.workspace, home: home, covered: fragment.allows)
            var out = "warden diff: run \(source.run.runId) (\(start.mode)) against \(FileManager.default.fileExists(atPath: policyPath) ? policyPath : "no warden.toml")\n"
            for n in source.notes { out += "note: \(n)\n" }
            if notAllowed.isEmpty {
                out += "nothing the policy does not allow\n"
            } else {
                out += "\(notAllowed.count) operation(s) the policy does not allow:\n"
                var seen = Set<String>()
                for r in notAllowed where seen.insert(r.event.action.name + "\u{0}" + r.event.pathOrAddr).inserted {
                    out += "  \(r.isBlocked ? "denied" : "would deny") \(r.event.action.name) \(WardenOutput.Report.printable(r.event.pathOrAddr)) (\(r.event.unit.name))\n"
                }
            }
            if !learned.rules.isEmpty {
                out += "rules learning would add (\(learned.rules.count)):\n"
                for r in learned.rules { out += "  + \(r.rule)  # \(r.comment)\n" }
            }
            for l in learned.leftOut { out += "never learned: \(l.action) \(WardenOutput.Report.printable(l.target)) — \(l.why)\n" }
            print(out, terminator: "")
            switch failOn {
            case .wouldDeny? where !notAllowed.isEmpty, .newRules? where !learned.rules.isEmpty:
                stderrLine("--fail-on \(failOn!.rawValue): drift found (exit \(WardenExit.drift))")
                return WardenExit.drift
            default:
                return WardenExit.success
            }
        }
    }
}
