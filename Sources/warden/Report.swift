import ArgumentParser
import Foundation
import WardenOutput
import WardenPolicy
import WardenRun

extension Warden {
    struct Status: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the effective policy with where each value comes from, the layers, and recent events.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Event log to summarise (default: this workspace's, in warden's state directory).", valueName: "file"))
        var events: String?

        @Flag(help: "Print a JSON document (documented keys) instead of text.")
        var json = false

        func execute() throws(WardenFailure) -> Int32 {
            let session = try Session.load(global.policyOptions)
            let path = events.map { $0.hasPrefix("/") ? $0 : session.cwd + "/" + $0 }
                ?? OutputPaths.defaultEvents(workspace: session.workspace, environment: session.environment)
            let doc = StatusView.document(session, eventsPath: path)
            if json {
                try printJSON(doc)
            } else {
                print(StatusView.text(doc), terminator: "")
            }
            return WardenExit.success
        }
    }

    struct Report: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(abstract: "Summarise a run's denials as text, JSON or SARIF 2.1.0.")

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, sarif, markdown, prometheus }

        @Option(help: "text, json, sarif, markdown (a CI job summary) or prometheus (the text exposition format, one run).")
        var format: Format = .text

        @Option(name: .long, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
        var output: String?

        @Option(name: .long, help: ArgumentHelp("Event log to read (default: this directory's, in warden's state directory).", valueName: "file"))
        var events: String?

        @Option(name: .long, help: "Report this run id instead of the last one; \"all\" for every run in the log (SARIF: one run each).")
        var run: String?

        func execute() throws(WardenFailure) -> Int32 {
            let cwd = FileManager.default.currentDirectoryPath
            let (path, log) = try Warden.readEventLog(events, cwd: cwd)
            let selected = try selectRuns(log, path: path)
            let reports = selected.map { WardenOutput.Report(run: $0, log: log) }
            let data: Data
            do {
                switch format {
                case .text: data = Data(reports.map { $0.text() }.joined(separator: "\n").utf8)
                case .markdown: data = Data(reports.map { $0.markdown() }.joined(separator: "\n").utf8)
                case .prometheus:
                    guard selected.count == 1, let r = selected[0] else {
                        throw WardenFailure("--format prometheus needs one run (not --run all, and a log with a run in it)", code: WardenExit.usage)
                    }
                    // The snapshot beside the log has the run's resource counters when it is this run's.
                    let snapshot = (path as NSString).deletingLastPathComponent + "/warden-metrics.json"
                    let metrics = FileManager.default.contents(atPath: snapshot).flatMap { try? JSONDecoder().decode(MetricsSnapshot.self, from: $0) }
                    data = Data(PrometheusMetrics.text(run: r, metrics: metrics).utf8)
                case .json: data = reports.count == 1 ? try reports[0].json() : try JSONEncoder().encode(reports)
                case .sarif: data = try sarif(reports, last: selected.last ?? nil, cwd: cwd)
                }
            } catch {
                throw WardenFailure("cannot render the report: \(error)", code: WardenExit.usage)
            }
            if let output {
                do {
                    try writeAtomically(data, to: output.hasPrefix("/") ? output : cwd + "/" + output)
                } catch {
                    throw WardenFailure("cannot write \(output): \(error)", code: WardenExit.usage)
                }
            } else {
                try? FileHandle.standardOutput.write(contentsOf: data)
            }
            return WardenExit.success
        }

        /// The runs `--run` names: the last, one by id, or all.
        func selectRuns(_ log: EventLogContents, path: String) throws(WardenFailure) -> [EventLogContents.Run?] {
            switch run {
            case "all"?: return log.runs.isEmpty ? [nil] : log.runs
            case let id?:
                guard let r = log.runs.first(where: { $0.runId == id }) else {
                    throw WardenFailure("run '\(id)' is not in \(path)", code: WardenExit.usage)
                }
                return [r]
            case nil: return [log.lastRun]
            }
        }

        /// SARIF with URIs relative to %SRCROOT%, the repository's top level (GitHub resolves
        /// them against the checkout), else the workspace.
        func sarif(_ reports: [WardenOutput.Report], last: EventLogContents.Run?, cwd: String) throws -> Data {
            let workspace = last?.start?.workspace ?? cwd
            let root = Warden.repositoryRoot(from: workspace) ?? workspace
            func relative(_ file: String) -> String { file.hasPrefix(root + "/") ? String(file.dropFirst(root.count + 1)) : file }
            let policy = (last?.start?.policyFile).flatMap { file -> SarifWriter.PolicyText? in
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
                return SarifWriter.PolicyText(uri: relative(file), text: text)
            }
            // With the built-in default there is no policy file: point at the workspace's
            // build file, which exists, rather than a phantom warden.toml.
            let buildFile = ["Package.swift", "Cargo.toml", "Makefile", "makefile", "GNUmakefile"]
                .map { workspace + "/" + $0 }.first { FileManager.default.fileExists(atPath: $0) }
            let fallback = relative(buildFile ?? workspace + "/warden.toml")
            return try SarifWriter(toolVersion: Warden.version, policy: policy, fallbackURI: fallback).document(reports)
        }
    }

    /// The event log `--events` names (relative to `cwd`), else this directory's in the
    /// state directory, read whole.
    static func readEventLog(_ events: String?, cwd: String) throws(WardenFailure) -> (path: String, log: EventLogContents) {
        let env = ProcessInfo.processInfo.environment
        let path = events.map { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 }
            ?? OutputPaths.defaultEvents(workspace: Session.workspace(for: cwd, environment: env).root, environment: env)
        do {
            return (path, try EventLogContents.read(path: path))
        } catch {
            throw WardenFailure("cannot read the event log \(path): \(error.localizedDescription)", code: WardenExit.usage)
        }
    }

    /// Pretty, sorted-key JSON on standard output.
    static func printJSON<T: Encodable>(_ value: T) throws(WardenFailure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(value)
            data.append(UInt8(ascii: "\n"))
            try? FileHandle.standardOutput.write(contentsOf: data)
        } catch {
            throw WardenFailure("cannot encode JSON: \(error)", code: WardenExit.usage)
        }
    }

    /// The top of the git work tree holding `dir` (the directory with `.git`), if any.
    static func repositoryRoot(from dir: String) -> String? {
        directoryChain(from: dir).first { FileManager.default.fileExists(atPath: ($0 == "/" ? "" : $0) + "/.git") }
    }

    struct Doctor: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check what this kernel offers each layer and whether the policy's mode can be enforced here.")

        @OptionGroup var global: GlobalOptions

        @Flag(help: "Print a JSON document (documented keys) instead of text.")
        var json = false

        func execute() throws(WardenFailure) -> Int32 {
            let session = try Session.load(global.policyOptions)
            if json {
                let doc = WardenRun.Doctor.document(session)
                try printJSON(doc)
                return doc.ok ? WardenExit.success : WardenExit.sandbox
            }
            let (text, ok) = WardenRun.Doctor.report(session)
            print(text, terminator: "")
            return ok ? WardenExit.success : WardenExit.sandbox
        }
    }

    /// Internal helpers for warden's own tests; hidden from help.
    struct Debug: ParsableCommand {
        static let configuration = CommandConfiguration(
            shouldDisplay: false, subcommands: [EmitEvents.self])

        struct EmitEvents: ParsableCommand, WardenCommand {
            static let configuration = CommandConfiguration(abstract: "Append synthetic events to a log, in batches, until killed or done.")

            @Option var events: String
            @Option var count: Int = 1_000_000
            @Option var batch: Int = 64

            func execute() throws(WardenFailure) -> Int32 {
                do {
                    let log = try EventLog(path: events)
                    let runId = "debug-\(getpid())"
                    var written = 0
                    while written < count {
                        var lines: [Data] = []
                        for i in 0..<min(batch, count - written) {
                            let e = WardenEvent(pid: UInt32(getpid()), tgid: UInt32(getpid()), timeNs: UInt64(written + i),
                                                unit: .buildScript, action: .open, verdict: .denied, containerId: 1, caps: 0,
                                                pathOrAddr: "/home/user/.ssh/id_rsa-\(written + i)-" + String(repeating: "x", count: 120),
                                                neededPerm: "allow.fs.read_extra=/home/user/.ssh")
                            lines.append(try log.encode(EventRecord(runId: runId, source: "debug", mode: "observe", event: e)))
                        }
                        try log.append(lines)
                        written += lines.count
                    }
                } catch {
                    throw WardenFailure("\(error)", code: 1)
                }
                return 0
            }
        }
    }
}
