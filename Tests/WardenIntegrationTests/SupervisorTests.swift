import Foundation
import Testing
import WardenOutput
@testable import WardenSandbox

@Suite(.serialized, .enabled(if: Kernel.enabled)) struct SupervisorTests {
    @Test func childStartsInsideTheRunsCgroupWhichIsRemovedAfterwards() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        // The child reports its pid and its own view, then waits while the test looks at
        // it from outside.
        let script = "echo $$ > pid; cat /proc/self/cgroup > cg.txt; while [ ! -e go ]; do sleep 0.01; done"
        let (p, _, _) = try startWarden(["run", "--mode", "observe", "--", "sh", "-c", script], cwd: dir)
        #expect(eventually { !read(dir + "/pid").isEmpty && !read(dir + "/cg.txt").isEmpty })
        let pid = read(dir + "/pid").trimmingCharacters(in: .whitespacesAndNewlines)
        let outside = read("/proc/\(pid)/cgroup").split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let log = try EventLogContents.read(path: eventLogPath(dir))
        let run = try #require(log.lastRun?.start)
        let seen = try #require(outside)
        #expect(run.cgroup.hasSuffix(seen) && seen.contains("warden-run-"), "child in \(seen), run cgroup \(run.cgroup)")
        // Inside, the run's cgroup is the root of the child's cgroup namespace.
        #expect(read(dir + "/cg.txt").split(separator: "\n").contains("0::/"), "\(read(dir + "/cg.txt"))")
        #expect(!FileManager.default.fileExists(atPath: run.cgroup))
        // The supervisor's exec record carries the run's cgroup id.
        let exec = try #require(log.lastRun?.events.first)
        #expect(exec.event.action == .exec && exec.event.pathOrAddr.hasSuffix("/sh") || exec.event.pathOrAddr.hasSuffix("/dash"))
        #expect(exec.event.containerId != 0)
    }

    @Test func aDoubleForkedDaemonDoesNotOutliveTheRun() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let script = "setsid sh -c 'sleep 300 & echo $! > daemon.pid; wait' </dev/null >/dev/null 2>&1 & "
            + "while [ ! -s daemon.pid ]; do sleep 0.01; done"
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", script], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let pid = try #require(Int32(read(dir + "/daemon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(eventually { processIsGone(pid) }, "daemon \(pid) survived the run")
        let cg = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start?.cgroup)
        #expect(!FileManager.default.fileExists(atPath: cg))
    }

    @Test func killingWardenWithSIGKILLStillKillsTheSandbox() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let script = "setsid sh -c 'sleep 300 & echo $! > daemon.pid; wait' </dev/null >/dev/null 2>&1 & echo $$ > child.pid; exec sleep 300"
        let (p, _, _) = try startWarden(["run", "--mode", "observe", "--", "sh", "-c", script], cwd: dir)
        #expect(eventually { !read(dir + "/daemon.pid").isEmpty && !read(dir + "/child.pid").isEmpty })
        let child = try #require(Int32(read(dir + "/child.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        let daemon = try #require(Int32(read(dir + "/daemon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        // The run's cgroup, seen from outside: it must be found before the kill.
        let root = try #require(RunCgroup.mountPoint(mountinfo: read("/proc/self/mountinfo")))
        let own = try #require(RunCgroup.ownPath(procSelfCgroup: read("/proc/\(child)/cgroup")), "the child's cgroup could not be read")
        let cgPath = root + own
        #expect(own.contains("warden-run-") && FileManager.default.fileExists(atPath: cgPath + "/cgroup.procs"), "the control: \(cgPath)")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(eventually { processIsGone(child) && processIsGone(daemon) }, "sandboxed processes survived warden's death")
        #expect(eventually { !FileManager.default.fileExists(atPath: cgPath) }, "\(cgPath) survived warden's death")
    }

    @Test func sigtermIsForwardedAndTheExitCodeReportsTheSignal() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        // The child status below says the signal, not a timer, ended the command.
        let (p, _, _) = try startWarden(["run", "--mode", "observe", "--", "sh", "-c", "echo $$ > child.pid; exec sleep 300"], cwd: dir)
        #expect(eventually { !read(dir + "/child.pid").isEmpty })
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + SIGTERM)
        let end = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end)
        #expect(end.childStatus == "killed by signal \(SIGTERM)")
    }

    @Test func everyCapabilityIsDroppedAndNoNewPrivsIsSet() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "grep -E '^(Cap|NoNewPrivs|Uid)' /proc/self/status > st.txt"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let st = read(dir + "/st.txt")
        for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(st.contains("\(field):\t0000000000000000"), "\(field) in\n\(st)")
        }
        #expect(st.contains("NoNewPrivs:\t1"))
        #expect(st.contains("Uid:\t0\t0\t0\t0"), "as plain root the child stays uid 0")
    }

    @Test func underSudoTheChildRunsAsTheInvokingUser() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        chmod(dir, 0o777)
        let env = baseEnvironment(["SUDO_UID": "65534", "SUDO_GID": "65534", "SUDO_USER": "nobody"])
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "id -u > ids.txt; id -g >> ids.txt; echo $HOME >> ids.txt; touch made"], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/ids.txt").split(separator: "\n").prefix(2) == ["65534", "65534"])
        let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/made")
        #expect((attrs[.ownerAccountID] as? NSNumber)?.intValue == 65534)
        // The audit trail is root's and readable by the invoking user's group: the user
        // reads it, the build (running as that user) cannot write it.
        for file in [eventLogPath(dir), metricsPath(dir)] {
            let logAttrs = try FileManager.default.attributesOfItem(atPath: file)
            #expect((logAttrs[.ownerAccountID] as? NSNumber)?.intValue == 0 && (logAttrs[.groupOwnerAccountID] as? NSNumber)?.intValue == 65534)
            #expect((logAttrs[.posixPermissions] as? NSNumber)?.intValue == 0o640, "\(file)")
        }
    }

    @Test func environmentIsScrubbedToTheBaselineAndAllowEnvRead() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": "[allow.env]\nread = [\"KEEP_ME\", \"BUILD_*\"]\n"])
        let env = baseEnvironment(["GITHUB_TOKEN": "s3cret", "AWS_SECRET_ACCESS_KEY": "s3cret", "KEEP_ME": "1", "BUILD_NO": "2", "LC_ALL": "C"])
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "env > env.txt"], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        let seen = read(dir + "/env.txt")
        #expect(!seen.contains("s3cret"))
        #expect(seen.contains("KEEP_ME=1\n") && seen.contains("BUILD_NO=2\n") && seen.contains("LC_ALL=C\n"))
        #expect(seen.contains("PWD=\(dir)\n"))
    }
}
