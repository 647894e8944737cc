import ArgumentParser
import Foundation
import WardenOutput
import WardenPolicy
import WardenRun

extension Warden.Seccomp {
    struct Generate: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a least-privilege seccomp allowlist from the system calls observed runs made.",
            discussion: """
                Each run's record holds how often it made each system call (counted by the trace layer). \
                The profile allows their union, plus what warden's child needs before exec, and refuses \
                every other call with EPERM. --format oci writes an OCI profile for syscall.oci_profile; \
                --format toml a warden.toml fragment (syscall.profile = "allowlist" and one allow rule).
                """)

        @Option(name: .long, help: ArgumentHelp("A run to learn from (repeatable; default: the last run).", valueName: "id"))
        var run: [String] = []

        @Option(name: .long, help: ArgumentHelp("Event log to read (default: this workspace's, in warden's state directory).", valueName: "file"))
        var events: String?

        @Option(help: "oci or toml.")
        var format = "oci"

        @Option(name: .long, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
        var output: String?

        func execute() throws(WardenFailure) -> Int32 {
            guard format == "oci" || format == "toml" else {
                throw WardenFailure("--format \(format): use oci or toml", code: WardenExit.usage)
            }
            let cwd = FileManager.default.currentDirectoryPath
            let (path, log) = try Warden.readEventLog(events, cwd: cwd)
            let runs = try selected(log, path: path)
            var counts: [[String: UInt64]] = []
            for r in runs {
                guard let calls = r.end?.syscalls, !calls.isEmpty else {
                    throw WardenFailure("run \(r.runId) in \(path) has no system call counts (it did not finish, or ran without the trace layer)",
                                        code: WardenExit.usage)
                }
                counts.append(calls)
            }
            let names = SeccompGenerator.allowlist(counts)
            if format == "oci" {
                try writeJSON(SeccompGenerator.profile(names, arch: DockerProfile.Target.current.arch), to: output.map { absolute($0, cwd) })
                return WardenExit.success
            }
            let text = SeccompGenerator.toml(names, runs: runs.map(\.runId))
            guard let output else {
                print(text, terminator: "")
                return WardenExit.success
            }
            do {
                try text.write(toFile: absolute(output, cwd), atomically: true, encoding: .utf8)
            } catch {
                throw WardenFailure("cannot write \(output): \(error.localizedDescription)", code: WardenExit.usage)
            }
            return WardenExit.success
        }

        func absolute(_ p: String, _ cwd: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }

        func selected(_ log: EventLogContents, path: String) throws(WardenFailure) -> [EventLogContents.Run] {
            if run.isEmpty {
                guard let last = log.lastRun else { throw WardenFailure("no run in \(path)", code: WardenExit.usage) }
                return [last]
            }
            var out: [EventLogContents.Run] = []
            for id in run {
                guard let r = log.runs.first(where: { $0.runId == id }) else {
                    throw WardenFailure("run '\(id)' is not in \(path)", code: WardenExit.usage)
                }
                out.append(r)
            }
            return out
        }
    }
}
