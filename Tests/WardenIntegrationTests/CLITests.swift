import Foundation
import Testing
import WardenOutput
import WardenPolicy
import WardenRun

@Suite(.serialized, .enabled(if: Kernel.enabled)) struct ExitCodeTests {
    @Test func childStatusPassesThrough() throws {
        try Kernel.requireRoot()
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "exit 3"], cwd: try makeDir())
        #expect(r.status == 3)
    }

    @Test func commandNotFoundIs127() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let r = try warden(["run", "--mode", "observe", "--", "no-such-program-xyz"], cwd: dir)
        #expect(r.status == 127)
        #expect(r.stderr.contains("command not found: no-such-program-xyz"))
        #expect(!FileManager.default.fileExists(atPath: eventLogPath(dir)), "nothing half-done")
    }

    @Test func notExecutableIs126() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["script.sh": "echo hi\n"])
        let r = try warden(["run", "--mode", "observe", "--", "./script.sh"], cwd: dir)
        #expect(r.status == 126, "\(r.stderr)")
        let end = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end)
        #expect(end.setupFailure?.hasPrefix("exec: ") == true && end.exitCode == 126)
    }

    /// Every hook the default policy restricts is enforced here: enforce mode runs.
    @Test func enforceModeRunsWithTheDefaultPolicy() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let r = try warden(["run", "--", "sh", "-c", "touch ran"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("enforcing: file_open=landlock, rename_unlink=landlock, connect=cgroup-bpf"))
        #expect(FileManager.default.fileExists(atPath: dir + "/ran"))
    }

    @Test func policyErrorsAreLocatedAndExit2() throws {
        let dir = try makeDir(["warden.toml": "mode = \"observe\"\nmdoe = \"enforce\"\n"])
        let r = try warden(["run", "--", "sh", "-c", "touch ran"], cwd: dir)
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(dir)/warden.toml:2: mdoe: unknown key; did you mean 'mode'?"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"))

        let clean = try makeDir()
        let bad = try warden(["run", "--policy", "missing.toml", "--", "true"], cwd: clean)
        #expect(bad.status == 2 && bad.stderr.contains("\(clean)/missing.toml: no such file"), "\(bad.stderr)")
    }

    @Test func usageErrorsExit2() throws {
        let dir = try makeDir()
        #expect(try warden(["run"], cwd: dir).status == 2)
        #expect(try warden(["run", "--mode", "audit", "--", "true"], cwd: dir).status == 2)
        #expect(try warden(["frobnicate"], cwd: dir).status == 2)
        let b = try warden(["build"], cwd: dir)
        #expect(b.status == 2 && b.stderr.contains("no Package.swift or Cargo.toml"))
        #expect(try warden(["report", "--format", "xml"], cwd: dir).status == 2)
        #expect(try warden(["report"], cwd: dir).status == 2, "no event log yet")
    }

    @Test func withoutPrivilegesWardenRefusesClearly() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        chmod(dir, 0o777)
        let r = try warden(["run", "--mode", "observe", "--", "true"], cwd: dir,
                           prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("insufficient privileges"))
    }
}

@Suite(.serialized, .enabled(if: Kernel.enabled)) struct DoctorTests {
    @Test func doctorReportsLayersAndWhetherEnforceCanRun() throws {
        try Kernel.requireRoot()
        let doctor = try warden(["doctor"], cwd: try makeDir())
        #expect(doctor.status == 0, "\(doctor.stdout)")
        #expect(doctor.stdout.contains("tier 2 files/exec (Landlock): Landlock ABI"))
        #expect(doctor.stdout.contains("OK   network (cgroup-BPF): connect4/6 and sendmsg4/6 programs load"))
        #expect(doctor.stdout.contains("enforce mode can run here."))
        #expect(doctor.stdout.contains("OK   cgroup v2: cgroup2 at "))
        #expect(doctor.stdout.contains("active LSMs: ") && doctor.stdout.contains("landlock"), "\(doctor.stdout)")
        let unprivileged = try warden(["doctor"], cwd: try makeDir(),
                                      prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        #expect(unprivileged.status == 125, "without root nothing can be enforced")
        #expect(unprivileged.stdout.contains("FAIL privileges"))
        let observe = try warden(["doctor", "--mode", "observe"], cwd: try makeDir())
        #expect(observe.status == 0)
    }

    /// doctor mounts securityfs to read the active LSMs when it is not mounted, and leaves
    /// it as it found it. Both starting states are set up in a private mount namespace (the
    /// host's mounts are not touched); the LSM list in the output shows doctor read it.
    @Test(arguments: [false, true]) func doctorLeavesSecurityfsAsItFoundIt(mounted: Bool) throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let setUp = mounted
            ? "mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security"
            : "while mountpoint -q /sys/kernel/security; do umount /sys/kernel/security; done"
        let script = "\(setUp); mountpoint -q /sys/kernel/security && echo before mounted > state || echo before unmounted > state; "
            + "\(wardenPath) doctor > doctor.txt; mountpoint -q /sys/kernel/security && echo after mounted >> state || echo after unmounted >> state"
        let r = try runProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], cwd: dir)
        #expect(r.status == 0, "\(r.out)")
        let word = mounted ? "mounted" : "unmounted"
        #expect(read(dir + "/state") == "before \(word)\nafter \(word)\n", "\(read(dir + "/state"))")
        let doctor = read(dir + "/doctor.txt")
        #expect(doctor.contains("active LSMs: ") && doctor.contains("landlock"), "doctor did not read the LSM list: \(doctor)")
        #expect(doctor.contains("securityfs mounted read-only for this check, then unmounted") == !mounted, "\(doctor)")
    }
}

@Suite(.serialized, .enabled(if: Kernel.enabled)) struct WorkflowTests {
    @Test func initWritesAPresetAndRefusesToOverwrite() throws {
        let dir = try makeDir(["Cargo.toml": "[package]\nname = \"x\"\nversion = \"0.1.0\"\n"])
        let first = try warden(["init"], cwd: dir)
        #expect(first.status == 0 && first.stdout.contains("cargo preset"))
        #expect(read(dir + "/warden.toml").contains("\"rustc\""))
        let again = try warden(["init"], cwd: dir)
        #expect(again.status == 2 && again.stderr.contains("--force"))
        #expect(try warden(["init", "--force", "--preset", "make"], cwd: dir).status == 0)
        #expect(read(dir + "/warden.toml").contains("\"make\""))
        let status = try warden(["status"], cwd: dir)
        #expect(status.status == 0)
        #expect(status.stdout.contains("exec.default = \"allowlist\"    # \(dir)/warden.toml:"), "\(status.stdout)")
    }

    /// A real cargo build of a dependency-free crate, observed; then the reports.
    @Test func buildObserveThenReportAndStatus() throws {
        try Kernel.requireRoot()
        let dir = try makeDir([
            "Cargo.toml": "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            "warden.toml": "mode = \"observe\"\nexec.default = \"allowlist\"\n[allow.exec]\nallowed = [\"make\"]\n",
        ])
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "fn main() { println!(\"hi\"); }\n".write(toFile: dir + "/src/main.rs", atomically: true, encoding: .utf8)
        let env = baseEnvironment(["CARGO_HOME": dir + "/.cargo-home"])
        let r = try warden(["build", "--log-alias", "--", "--offline"], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/target/debug/demo"))
        let alias = (eventLogPath(dir) as NSString).deletingLastPathComponent + "/warden.log"
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: alias)) == "warden-events.jsonl")

        let log = try EventLogContents.read(path: eventLogPath(dir))
        let run = try #require(log.lastRun)
        #expect(run.start?.command == ["cargo", "build", "--offline"])
        #expect(run.start?.buildSystem == "cargo")
        // Only make is allowed: cargo, rustc and the linker would each be denied.
        let wouldDeny = Set(run.events.filter { $0.event.action == .exec && $0.event.verdict == .denied }.map { ($0.event.pathOrAddr as NSString).lastPathComponent })
        #expect(wouldDeny.isSuperset(of: ["cargo", "rustc"]), "\(wouldDeny)")
        #expect(run.events.allSatisfy { !$0.isBlocked })
        let exec = try #require(run.events.first { $0.event.action == .exec && $0.event.verdict == .denied })
        #expect(exec.event.neededPerm == "allow.exec.allowed=\(exec.event.pathOrAddr)")
        #expect(run.events.contains { $0.event.unit == .compiler } && run.events.contains { $0.event.unit == .linker })

        let metrics = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        #expect(metrics.finished && metrics.violationsTotal >= 2 && metrics.blockedTotal == 0 && metrics.cpuTimeMs > 0)

        let text = try warden(["report"], cwd: dir)
        #expect(text.status == 0 && text.stdout.contains("would deny exec") && text.stdout.contains("allow with: allow.exec.allowed = ["))
        let sarif = try warden(["report", "--format", "sarif", "--output", "out.sarif"], cwd: dir)
        #expect(sarif.status == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out.sarif"))) as? [String: Any])
        let result = try #require(((doc["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])?.first)
        let loc = (result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
        #expect((loc?["artifactLocation"] as? [String: Any])?["uri"] as? String == "warden.toml")
        #expect((loc?["region"] as? [String: Any])?["startLine"] as? Int == 4, "the allow.exec.allowed line")

        let status = try warden(["status"], cwd: dir)
        #expect(status.stdout.contains("mode = \"observe\"              # \(dir)/warden.toml:1"), "\(status.stdout)")
        #expect(status.stdout.contains("write \(dir)/target    # build output (cargo, implicit)"))
        #expect(status.stdout.contains("would deny exec"))
    }
}

@Suite struct CrashSafetyTests {
    /// SIGKILL a writer mid-stream, several times: every complete line parses, a cut
    /// line is only ever the last one, readers skip it and the next open removes it.
    @Test func eventLogSurvivesSIGKILL() throws {
        let dir = try makeDir()
        let path = dir + "/warden-events.jsonl"
        for round in 0..<5 {
            let (p, _, _) = try startWarden(["debug", "emit-events", "--events", path, "--count", "100000000", "--batch", "\(64 + round * 100)"], cwd: dir)
            #expect(eventually { ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) > (round + 1) * 200_000 })
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let log = try EventLogContents.read(path: path)
            #expect(log.invalidLines.isEmpty, "round \(round): damaged lines \(log.invalidLines.prefix(5))")
            #expect(log.runs.last?.events.count ?? 0 > 0)
        }
        // A run that appends afterwards finds the file clean.
        let r = try warden(["debug", "emit-events", "--events", path, "--count", "1"], cwd: dir)
        #expect(r.status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.last == UInt8(ascii: "\n"))
        let log = EventLogContents.parse(data)
        #expect(!log.tornTail && log.invalidLines.isEmpty)
    }
}
