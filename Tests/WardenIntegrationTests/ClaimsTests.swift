import Foundation
import Testing
import WardenOutput

/// README claims that only unit tests covered, tried on this kernel: each with the control
/// that shows the tested thing is really what happened.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct ClaimsTests {
    /// `fake NR:ERRNO[,NR:ERRNO…] PROGRAM ARGS…` runs PROGRAM (warden) under a seccomp
    /// filter that answers the listed system calls itself: -ERRNO, or 0 without running
    /// the call when ERRNO is 0. A kernel without Landlock, or one whose Landlock does
    /// nothing, as warden would meet it. x86_64 numbers.
    static let fakeKernel = """
        #include <linux/filter.h>
        #include <linux/seccomp.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <sys/prctl.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            if (argc < 3) return 2;
            struct sock_filter f[64];
            int n = 0;
            f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
            for (char *p = argv[1]; *p && n < 60;) {
                unsigned nr = (unsigned)strtoul(p, &p, 10);
                unsigned e = (unsigned)strtoul(p + 1, &p, 10);
                f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
                f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (e & 0xffff));
                if (*p == ',') p++;
            }
            f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
            struct sock_fprog prog = {(unsigned short)n, f};
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) { perror("seccomp"); return 2; }
            execv(argv[2], argv + 2);
            perror("exec");
            return 127;
        }
        """

    static let noLandlock = "444:38"        // landlock_create_ruleset: ENOSYS
    static let inertLandlock = "446:0"      // landlock_restrict_self: "done", nothing done

    func fake() throws -> String {
        let dir = try scratchDir("fake")
        try Self.fakeKernel.write(toFile: dir + "/fake.c", atomically: true, encoding: .utf8)
        let cc = try runProcess("/usr/bin/cc", ["-o", dir + "/fake", dir + "/fake.c"])
        #expect(cc.status == 0, "\(cc.out)")
        return dir + "/fake"
    }

    /// A workspace outside /tmp with a secret next to it; the default policy (strict
    /// files) restricts file_open.
    func workspace() throws -> (dir: String, secret: String) {
        let dir = try scratchDir("claims")
        let secret = try scratchDir("claims-secret") + "/key"
        try "SECRET\n".write(toFile: secret, atomically: true, encoding: .utf8)
        return (dir, secret)
    }

    /// No layer for a restricted hook: exit 125, the hook named, nothing run. The control:
    /// the same run without the fake kernel runs and refuses the secret.
    @Test func aRestrictedHookWithoutALayerIs125() throws {
        try Kernel.requireRoot()
        let fake = try fake()
        let (dir, secret) = try workspace()
        let script = "cat \(secret) > stolen 2>/dev/null; touch ran"
        let control = try warden(["run", "--", "sh", "-c", script], cwd: dir)
        #expect(control.status == 77 && FileManager.default.fileExists(atPath: dir + "/ran") && read(dir + "/stolen").isEmpty, "\(control.stderr)")
        try FileManager.default.removeItem(atPath: dir + "/ran")
        let r = try warden(["run", "--", "sh", "-c", script], cwd: dir, prefix: [fake, Self.noLandlock])
        #expect(r.status == 125, "\(r.stderr)")
        #expect(r.stderr.contains("the policy restricts hooks no layer enforces here: file_open"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"), "nothing may run")
    }

    /// Landlock that says it applied a ruleset but does nothing: the canary is not
    /// refused, warden refuses to run (125). The control is the run above.
    @Test func aCanaryThatIsNotRefusedIs125() throws {
        try Kernel.requireRoot()
        let fake = try fake()
        let (dir, _) = try workspace()
        let r = try warden(["run", "--", "touch", "ran"], cwd: dir, prefix: [fake, Self.inertLandlock])
        #expect(r.status == 125, "\(r.stderr)")
        #expect(r.stderr.contains("Landlock was applied but a canary could still open"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"), "nothing may run")
    }

    /// --allow-degraded on the kernel without Landlock: the run goes ahead, says DEGRADED
    /// for each unenforced hook, records assurance "partial", and really is unenforced
    /// (the secret is read; the kernel allowed what the policy forbids, so 77).
    @Test func allowDegradedDegrades() throws {
        try Kernel.requireRoot()
        let fake = try fake()
        let (dir, secret) = try workspace()
        let r = try warden(["run", "--allow-degraded", "--", "sh", "-c", "cat \(secret) > stolen"], cwd: dir, prefix: [fake, Self.noLandlock])
        #expect(r.stderr.contains("DEGRADED (--allow-degraded): file_open is not enforced"), "\(r.stderr)")
        #expect(read(dir + "/stolen") == "SECRET\n", "the run was not degraded")
        #expect(r.status == 77, "what the policy forbids went through: \(r.stderr)")
        let start = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start)
        #expect(start.assurance == "partial" && start.warnings.contains { $0.contains("DEGRADED") }, "\(start.assurance) \(start.warnings)")
    }

    /// Landlock scoping (ABI 6): the build cannot connect to an abstract unix socket
    /// outside its domain. The control: the same client connects from outside warden.
    @Test func abstractSocketsOutsideTheRunAreOutOfReach() throws {
        try Kernel.requireRoot()
        let name = "warden-it-\(UUID().uuidString.prefix(8))"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            p[0] = 0
            for (i, b) in name.utf8.enumerated() { p[i + 1] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.utf8.count)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        #expect(bound == 0 && listen(fd, 8) == 0, "errno \(errno)")
        let client = "import socket\ntry:\n    socket.socket(socket.AF_UNIX).connect('\\0\(name)'); print('ok')\nexcept OSError as e:\n    print('errno', e.errno)\n"
        let dir = try makeDir(["warden.toml": "net.default = \"allow\"\n"])
        #expect(try runProcess("/usr/bin/python3", ["-c", client], cwd: dir).out == "ok\n", "the control, without warden")
        let r = try warden(["run", "--", "/usr/bin/python3", "-c", client], cwd: dir)
        #expect(r.stdout == "errno 1\n", "\(r.stdout) \(r.stderr)")
        // The refusal is recorded: one denial, named as `ss` shows it, and the run ends in 77.
        #expect(r.status == 77, "\(r.stderr)")
        let denied = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        #expect(denied.map(\.event.pathOrAddr) == ["@" + name] && denied.first?.event.action == .connect, "\(denied.map(\.event))")
    }

    /// SIGTERM or SIGINT to warden: the command's process group gets it, and everything
    /// else in the run's cgroup is killed, here a daemon in a session of its own that
    /// ignores both signals (the control: /proc shows it ignoring them before the signal).
    @Test(arguments: [SIGTERM, SIGINT]) func aSignalToWardenKillsTheWholeRun(signal: Int32) throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let script = "setsid sh -c 'trap \"\" TERM INT; sleep 300 & echo $! > daemon.tmp; mv daemon.tmp daemon.pid; wait' </dev/null >/dev/null 2>&1 & "
            + "while [ ! -e daemon.pid ]; do sleep 0.01; done; exec sleep 300"
        let (p, _, _) = try startWarden(["run", "--mode", "observe", "--", "sh", "-c", script], cwd: dir)
        #expect(eventually { FileManager.default.fileExists(atPath: dir + "/daemon.pid") })
        let daemon = try #require(Int32(read(dir + "/daemon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        let ignored = read("/proc/\(daemon)/status").split(separator: "\n").first { $0.hasPrefix("SigIgn:") }
            .flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
        #expect(ignored & (1 << (UInt64(signal) - 1)) != 0, "the control: the daemon ignores signal \(signal)")
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + signal)
        #expect(eventually { processIsGone(daemon) }, "the daemon survived warden's \(signal)")
        let cg = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start?.cgroup)
        #expect(!FileManager.default.fileExists(atPath: cg))
    }

    /// The command runs with PR_SET_PDEATHSIG = SIGKILL, as root and as the sudo caller
    /// (changing uid clears it: warden sets it again). The control: 0 without warden.
    @Test(arguments: ["root", "sudo"]) func theCommandDiesWithWarden(identity: String) throws {
        try Kernel.requireRoot()
        let probe = "import ctypes\nsig = ctypes.c_int(-1)\nctypes.CDLL(None).prctl(2, ctypes.byref(sig))\nprint(sig.value)\n"
        let dir = try makeDir()
        chmod(dir, 0o777)
        #expect(try runProcess("/usr/bin/python3", ["-c", probe]).out == "0\n", "the control, without warden")
        let env = identity == "sudo" ? baseEnvironment(["SUDO_UID": "65534", "SUDO_GID": "65534", "SUDO_USER": "nobody"]) : baseEnvironment()
        let r = try warden(["run", "--mode", "observe", "--", "/usr/bin/python3", "-c", probe], cwd: dir, env: env)
        #expect(r.status == 0 && r.stdout == "\(SIGKILL)\n", "\(r.stdout) \(r.stderr)")
    }

    /// Starts `program` with core dumps allowed (RLIMIT_CORE unlimited) and no signal
    /// blocked, under a parent that reports how it ended: "signal N core 0|1" (WCOREDUMP).
    static let coreReporter = """
        import os, resource, signal, sys
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        pid = os.fork()
        if pid == 0:
            # The test runner's threads block most signals; a shell would not.
            signal.signal(signal.SIGXCPU, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execv(sys.argv[2], sys.argv[2:])
        open(sys.argv[1] + ".tmp", "w").write(str(pid))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        _, status = os.waitpid(pid, 0)
        print("signal", os.WTERMSIG(status) if os.WIFSIGNALED(status) else "none", "core", int(os.WCOREDUMP(status)))
        """

    /// warden makes itself non-dumpable (the build, even as root, cannot read its /proc
    /// entries without CAP_SYS_PTRACE). Seen from outside: killed with a signal whose
    /// default action dumps core (SIGXCPU, which neither warden nor Swift's runtime
    /// handles), with core dumps allowed, it leaves no core. The control: a root process
    /// started the same way dumps one.
    @Test func wardenIsNotDumpable() throws {
        try Kernel.requireRoot()
        func killed(_ program: [String], cwd: String, ready: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = ["-c", Self.coreReporter, cwd + "/pid"] + program
            p.currentDirectoryURL = URL(fileURLWithPath: cwd)
            p.environment = baseEnvironment()
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            #expect(eventually { FileManager.default.fileExists(atPath: cwd + "/pid") && FileManager.default.fileExists(atPath: ready) })
            kill(try #require(Int32(read(cwd + "/pid"))), SIGXCPU)
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return text
        }
        let control = try scratchDir("core-control")
        let c = try killed(["/bin/sh", "-c", "touch ready; exec sleep 300"], cwd: control, ready: control + "/ready")
        #expect(c == "signal \(SIGXCPU) core 1\n" && FileManager.default.fileExists(atPath: control + "/core"),
                "the control: a dumpable process dumps core here (core_pattern \(read("/proc/sys/kernel/core_pattern"))): \(c)")
        let dir = try scratchDir("core")
        let w = try killed([wardenPath, "run", "--mode", "observe", "--", "sh", "-c", "touch ready; exec sleep 300"], cwd: dir, ready: dir + "/ready")
        #expect(w == "signal \(SIGXCPU) core 0\n" && !FileManager.default.fileExists(atPath: dir + "/core"), "\(w)")
    }

    /// The audit trail under sudo, at paths the user names outside the workspace: root's,
    /// the invoking user's group, 0640. The control: without SUDO_* the group is root's.
    @Test func namedAuditFilesBelongToRootAndTheCallersGroup() throws {
        try Kernel.requireRoot()
        for (identity, group) in [("sudo", 65534), ("root", 0)] {
            let dir = try makeDir()
            chmod(dir, 0o777)
            let out = try scratchDir("audit")
            let env = identity == "sudo" ? baseEnvironment(["SUDO_UID": "65534", "SUDO_GID": "65534", "SUDO_USER": "nobody"]) : baseEnvironment()
            let r = try warden(["run", "--mode", "observe", "--events", out + "/e.jsonl", "--metrics", out + "/m.json", "--", "true"], cwd: dir, env: env)
            #expect(r.status == 0, "\(r.stderr)")
            for file in [out + "/e.jsonl", out + "/m.json"] {
                let a = try FileManager.default.attributesOfItem(atPath: file)
                #expect((a[.ownerAccountID] as? NSNumber)?.intValue == 0 && (a[.groupOwnerAccountID] as? NSNumber)?.intValue == group,
                        "\(identity) \(file): \(String(describing: a[.ownerAccountID])):\(String(describing: a[.groupOwnerAccountID]))")
                #expect((a[.posixPermissions] as? NSNumber)?.intValue == 0o640, "\(identity) \(file)")
            }
        }
    }

    /// SIGKILL of a real `warden run` while the log is growing: every complete line
    /// parses, a cut line can only be the last, and the next run leaves a clean file. The
    /// control: the log grew between two looks just before the kill.
    @Test func aKilledRunLeavesALogTheNextRunRepairs() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        let log = eventLogPath(dir)
        // Distinct names, so that no event is a repeat that is counted instead of logged.
        let (p, _, _) = try startWarden(["run", "--mode", "observe", "--", "/usr/bin/python3", "-c",
                                         "import itertools\nfor i in itertools.count():\n    open(f'f{i % 100000}', 'w').close()\n"], cwd: dir)
        func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0 }
        #expect(eventually { size() > 2_000_000 })
        let before = size()
        #expect(eventually { size() > before }, "the control: the log is still growing")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let killed = try EventLogContents.read(path: log)
        #expect(killed.invalidLines.isEmpty, "damaged lines: \(killed.invalidLines.prefix(3))")
        #expect((killed.runs.last?.events.count ?? 0) > 1000 && killed.runs.last?.end == nil)
        #expect(try warden(["run", "--mode", "observe", "--", "true"], cwd: dir).status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: log))
        let after = EventLogContents.parse(data)
        #expect(data.last == UInt8(ascii: "\n") && !after.tornTail && after.invalidLines.isEmpty)
        #expect(after.runs.count == killed.runs.count + 1 && after.lastRun?.end != nil)
    }
}
