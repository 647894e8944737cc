import Foundation
import Testing
import WardenOutput

/// `action = "notify"`: calls go to warden's agent through the child's seccomp listener;
/// each is recorded and answered by the policy. The probe is SyscallRuleIntegrationTests'.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct NotifyTests {
    let calls = SyscallRuleIntegrationTests()

    static let rules = """
        [[syscall.rule]]
        names = ["getppid"]
        action = "notify"
        errno = "EXDEV"
        args = [{ index = 0, op = "ge", value = 10 }]

        [[syscall.rule]]
        names = ["getppid"]
        action = "notify"
        answer = "allow"
        args = [{ index = 0, op = "lt", value = 10 }]
        """

    func notified(_ dir: String) throws -> [NotifyRecord] {
        try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).notified
    }

    /// The rule's answer: allowed below 10, EXDEV from 10; one record per call with the
    /// arguments and the rule's line. The same calls succeed without warden.
    @Test func theAgentAnswersByTheRuleAndRecordsEachCall() throws {
        try Kernel.requireRoot()
        let dir = try calls.project()
        #expect(try calls.control(dir, ["call", "5", "11"]) == "getppid(5) errno=0\ngetppid(11) errno=0")
        let r = try calls.confined(dir, Self.rules, ["call", "5", "11"])
        #expect(r.status == 0 && SyscallRuleIntegrationTests.withoutPid(r.stdout) == "getppid(5) errno=0\ngetppid(11) errno=18", "\(r.stdout) \(r.stderr)")
        let records = try notified(dir)
        #expect(records.map(\.answer) == ["allow", "errno"] && records.map(\.errno) == [nil, 18], "\(records)")
        #expect(records.map { $0.args.first } == [5, 11] && records.allSatisfy { $0.syscall == "getppid" && $0.comm == "probe" && $0.mode == "enforce" && $0.unit == "other" }, "\(records)")
        #expect(records.map(\.rule) == ["\(dir)/warden.toml:8", "\(dir)/warden.toml:2"])
        let start = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start)
        #expect(start.hardening.contains { $0.primitive == "seccomp" && $0.detail.contains("notify listener on") }, "\(start.hardening)")
        let report = try warden(["report"], cwd: dir)
        #expect(report.stdout.contains("notified: getppid ×1 → allow (other; rule \(dir)/warden.toml:8)"), "\(report.stdout)")
        #expect(report.stdout.contains("notified: getppid ×1 → errno 18 (other; rule \(dir)/warden.toml:2)"), "\(report.stdout)")
    }

    /// Observe mode: every notified call is allowed, and recorded with the answer it got.
    @Test func observeModeAllowsAndRecords() throws {
        try Kernel.requireRoot()
        let dir = try calls.project()
        let r = try calls.confined(dir, Self.rules, ["call", "5", "11"], mode: "observe")
        #expect(r.status == 0 && SyscallRuleIntegrationTests.withoutPid(r.stdout) == "getppid(5) errno=0\ngetppid(11) errno=0", "\(r.stdout)")
        let records = try notified(dir)
        #expect(records.count == 2 && records.allSatisfy { $0.answer == "allow" && $0.mode == "observe" }, "\(records)")
    }

    /// A flood: 20 000 notified calls, each answered (refused) and recorded, the run ends.
    @Test func theAgentSurvivesAFlood() throws {
        try Kernel.requireRoot()
        let dir = try calls.project()
        let n = 20_000
        let rule = "[[syscall.rule]]\nnames = [\"getppid\"]\naction = \"notify\"\n"
        let started = Date()
        let r = try calls.confined(dir, rule, ["flood", String(n)])
        let seconds = Date().timeIntervalSince(started)
        #expect(r.status == 0 && SyscallRuleIntegrationTests.withoutPid(r.stdout) == "flood \(n) refused \(n)", "\(r.stdout) \(r.stderr)")
        let records = try notified(dir)
        #expect(records.count == n && records.allSatisfy { $0.answer == "errno" && $0.errno == 1 })
        #expect(Set(records.map { $0.args[0] }).count == n, "every call recorded once")
        print("notify flood: \(n) calls answered and recorded in \(String(format: "%.1f", seconds)) s")
    }

    /// A background process that keeps notifying after the command has ended: the run
    /// still ends (the agent stops between two calls, the cgroup is killed), and a
    /// workspace rule allowing a call cannot lift the refusal a `--policy` rule adds.
    @Test func aBackgroundFloodDoesNotHoldTheRunOpen() throws {
        try Kernel.requireRoot()
        let dir = try calls.project()
        let allowing = "net.default = \"allow\"\n[[syscall.rule]]\nnames = [\"getppid\"]\naction = \"notify\"\nanswer = \"allow\"\n"
        try (allowing + "args = [{ index = 0, op = \"ge\", value = 10 }]\n").write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let user = try makeDir(["user.toml": "[[syscall.rule]]\nnames = [\"getppid\"]\naction = \"notify\"\nerrno = \"EACCES\"\n"
            + "args = [{ index = 0, op = \"eq\", value = 20 }]\n"])
        let narrowed = try warden(["run", "--policy", user + "/user.toml", "--", "./probe", "call", "20", "5"], cwd: dir)
        #expect(SyscallRuleIntegrationTests.withoutPid(narrowed.stdout) == "getppid(20) errno=13\ngetppid(5) errno=0",
                "\(narrowed.stdout) \(narrowed.stderr)")
        try allowing.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let started = Date()
        let r = try warden(["run", "--", "sh", "-c", "./probe flood 100000000 > /dev/null & sleep 1; echo parent done"], cwd: dir)
        #expect(r.stdout == "parent done\n" && r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 60, "the run ended")
        let end = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end, "and wrote its record")
        #expect(end.exitCode == 0)
    }

    /// warden killed while the build waits on notified calls: the build does not stay
    /// blocked (the listener closes with warden, and its guard kills the run's cgroup).
    @Test func aDeadWardenLeavesNoBlockedChild() throws {
        try Kernel.requireRoot()
        let dir = try calls.project()
        try ("net.default = \"allow\"\n[[syscall.rule]]\nnames = [\"getppid\"]\naction = \"notify\"\n")
            .write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let (p, out, _) = try startWarden(["run", "--", "./probe", "flood", "100000000"], cwd: dir)
        let line = out.fileHandleForReading.availableData
        let pid = try #require(Int32(String(decoding: line, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("pid=") }?.dropFirst(4) ?? ""))
        #expect(eventually { ((try? EventLogContents.read(path: eventLogPath(dir)))?.lastRun?.notified.count ?? 0) > 100 })
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(eventually(30) { processIsGone(pid) }, "the probe \(pid) outlived warden")
    }

    /// A cargo build script's notified call is recorded with its unit (build_script).
    @Test func aBuildScriptsCallNamesItsUnit() throws {
        try Kernel.requireRoot()
        let dir = try RealBuildTests().serdeCrate(buildScript: "fn main() { println!(\"ppid {}\", std::os::unix::process::parent_id()); }\n")
        let policy = read(dir + "/warden.toml") + "\n[[syscall.rule]]\nnames = [\"getppid\"]\naction = \"notify\"\nanswer = \"allow\"\n"
        try policy.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let r = try warden(["build", "--", "--offline"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let records = try notified(dir)
        #expect(records.contains { $0.unit == "build_script" && $0.syscall == "getppid" && $0.answer == "allow" },
                "\(records.map { "\($0.comm) \($0.unit ?? "?")" })")
    }
}
