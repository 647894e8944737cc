import Foundation
import Testing
import WardenPolicy

/// `[[syscall.rule]]` on this kernel: each action does what the kernel documents, each
/// comparison selects the calls it should, a group covers its members, no rule reopens
/// the boundary filter, and a policy exported to OCI and imported back behaves the same.
/// Every probe runs once without warden first (the control): getppid succeeds, no SIGSYS.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct SyscallRuleIntegrationTests {
    init() {}
    /// getppid ignores its arguments but seccomp sees the registers, so one harmless call
    /// carries every condition. `thread` makes the call from a second thread.
    static let probe = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <pthread.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/syscall.h>
        #include <unistd.h>

        static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
            (void)sig; (void)ctx;
            char buf[96];
            int n = snprintf(buf, sizeof buf, "sigsys code=%d syscall=%d\\n", si->si_code, si->si_syscall);
            write(1, buf, (size_t)n);
        }

        static void *in_thread(void *arg) {
            (void)arg;
            long r = syscall(SYS_getppid);
            printf("thread returned %s\\n", r > 0 ? "ppid" : "error");
            return NULL;
        }

        int main(int argc, char **argv) {
            setvbuf(stdout, NULL, _IONBF, 0);
            const char *mode = argc > 1 ? argv[1] : "";
            printf("pid=%d\\n", getpid());
            if (!strcmp(mode, "thread")) {
                pthread_t t;
                pthread_create(&t, NULL, in_thread, NULL);
                pthread_join(t, NULL);
                printf("main alive\\n");
                return 0;
            }
            if (!strcmp(mode, "flood")) {
                long n = argc > 2 ? strtol(argv[2], NULL, 0) : 0, refused = 0;
                for (long i = 0; i < n; i++) if (syscall(SYS_getppid, i, 0L, 0L, 0L, 0L, 0L) < 0) refused++;
                printf("flood %ld refused %ld\\n", n, refused);
                return 0;
            }
            if (!strcmp(mode, "unshare")) {
                long r = syscall(SYS_unshare, 0x10000000L); /* CLONE_NEWUSER */
                printf("unshare errno=%d\\n", r < 0 ? errno : 0);
                return 0;
            }
            if (!strcmp(mode, "ipc")) {
                int fds[2];
                long p = syscall(SYS_pipe2, fds, 0);
                int pe = p < 0 ? errno : 0;
                long m = syscall(SYS_memfd_create, "probe", 0);
                printf("pipe2 errno=%d memfd_create errno=%d\\n", pe, m < 0 ? errno : 0);
                return 0;
            }
            struct sigaction sa = {0};
            sa.sa_sigaction = on_sigsys;
            sa.sa_flags = SA_SIGINFO;
            sigaction(SIGSYS, &sa, NULL);
            for (int i = 2; i < argc; i++) {
                errno = 0;
                long r = syscall(SYS_getppid, strtol(argv[i], NULL, 0), 0L, 0L, 0L, 0L, 0L);
                printf("getppid(%s) errno=%d\\n", argv[i], r > 0 ? 0 : errno);
            }
            return 0;
        }
        """

    #if arch(x86_64)
        static let getppid = 110
    #else
        static let getppid = 173
    #endif

    /// A workspace with the probe built, and the same probe run without warden.
    func project() throws -> String {
        let dir = try makeDir(["probe.c": Self.probe])
        let cc = try runProcess("/usr/bin/cc", ["-pthread", "-o", dir + "/probe", dir + "/probe.c"])
        #expect(cc.status == 0, "\(cc.out)")
        return dir
    }

    func control(_ dir: String, _ args: [String]) throws -> String {
        let r = try runProcess(dir + "/probe", args, cwd: dir)
        #expect(r.status == 0)
        return Self.withoutPid(r.out)
    }

    static func withoutPid(_ s: String) -> String { s.split(separator: "\n").filter { !$0.hasPrefix("pid=") }.joined(separator: "\n") }

    func confined(_ dir: String, _ rules: String, _ args: [String], mode: String = "enforce") throws -> Outcome {
        try ("net.default = \"allow\"\n" + rules).write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        return try warden(["run", "--mode", mode, "--", "./probe"] + args, cwd: dir)
    }

    static func rule(_ action: String, _ extra: String = "") -> String {
        "[[syscall.rule]]\nnames = [\"getppid\"]\naction = \"\(action)\"\n\(extra)"
    }

    @Test func errnoReturnsTheNamedErrno() throws {
        try Kernel.requireRoot()
        let dir = try project()
        #expect(try control(dir, ["call", "5"]) == "getppid(5) errno=0")
        let r = try confined(dir, Self.rule("errno", "errno = \"EXDEV\"\n"), ["call", "5"])
        #expect(r.status == 0 && Self.withoutPid(r.stdout) == "getppid(5) errno=18", "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("syscalls=seccomp"))
        let numbered = try confined(dir, Self.rule("errno", "errno = 77\n"), ["call", "5"])
        #expect(Self.withoutPid(numbered.stdout) == "getppid(5) errno=77", "\(numbered.stdout)")
    }

    /// TRAP: the call is not made and SIGSYS arrives with si_code SYS_SECCOMP (1) and the
    /// call's number; the program's handler runs and the program goes on.
    @Test func trapDeliversSIGSYSWithTheCall() throws {
        try Kernel.requireRoot()
        let dir = try project()
        #expect(try !control(dir, ["call", "5"]).contains("sigsys"))
        let r = try confined(dir, Self.rule("trap"), ["call", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("sigsys code=1 syscall=\(Self.getppid)\n"), "\(r.stdout)")
    }

    /// KILL_THREAD kills the calling thread only: from a second thread the main thread
    /// lives on; from the only thread the process dies of SIGSYS (128 + 31).
    /// KILL_PROCESS kills the whole process from any thread.
    @Test func killThreadAndKillProcess() throws {
        try Kernel.requireRoot()
        let dir = try project()
        #expect(try control(dir, ["thread"]) == "thread returned ppid\nmain alive")
        let thread = try confined(dir, Self.rule("kill_thread"), ["thread"])
        #expect(thread.status == 0 && Self.withoutPid(thread.stdout) == "main alive", "\(thread.stdout) \(thread.stderr)")
        let only = try confined(dir, Self.rule("kill_thread"), ["call", "5"])
        #expect(only.status == 159 && Self.withoutPid(only.stdout) == "", "\(only.stdout) \(only.stderr)")
        #expect(only.stderr.contains("killed by signal 31"), "\(only.stderr)")
        let process = try confined(dir, Self.rule("kill_process"), ["thread"])
        #expect(process.status == 159 && Self.withoutPid(process.stdout) == "", "\(process.stdout) \(process.stderr)")
    }

    /// LOG: the call goes through and the kernel writes an audit record (type 1326) with
    /// the process, the call's number and the action (0x7ffc0000).
    @Test func logAllowsAndTheKernelRecordsIt() throws {
        try Kernel.requireRoot()
        let dir = try project()
        // The kernel rate-limits these records (observe-mode runs of other tests log many):
        // a few attempts, a while apart, each with a pid of its own.
        var found = false
        for _ in 0..<6 where !found {
            let r = try confined(dir, Self.rule("log"), ["call", "5"])
            #expect(r.status == 0 && Self.withoutPid(r.stdout) == "getppid(5) errno=0", "\(r.stdout)")
            let pid = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("pid=") }.map { String($0.dropFirst(4)) })
            let needle = "pid=\(pid) comm=\"probe\""
            found = eventually(3) {
                let log = (try? runProcess("/usr/bin/dmesg", []))?.out ?? ""
                return log.split(separator: "\n").contains { $0.contains(needle) && $0.contains("syscall=\(Self.getppid) ") && $0.contains("code=0x7ffc0000") }
            }
        }
        #expect(found, "no seccomp audit record for any of six LOG calls")
    }

    /// ALLOW lifts a built-in profile's refusal: personality is refused under strict (the
    /// control), allowed with the rule.
    @Test func allowLiftsTheProfilesRefusal() throws {
        try Kernel.requireRoot()
        let dir = try project()
        let strict = "[syscall]\nprofile = \"strict\"\n"
        let script = "./probe call 5; /usr/bin/python3 -c 'import ctypes; print(\"personality\", ctypes.CDLL(None).personality(0xffffffff) >= 0)'"
        try strict.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let without = try warden(["run", "--", "sh", "-c", script], cwd: dir)
        #expect(without.stdout.contains("personality False"), "strict refuses personality: \(without.stdout) \(without.stderr)")
        try (strict + "[[syscall.rule]]\nnames = [\"personality\"]\naction = \"allow\"\n").write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let with = try warden(["run", "--", "sh", "-c", script], cwd: dir)
        #expect(with.status == 0 && with.stdout.contains("personality True"), "\(with.stdout) \(with.stderr)")
    }

    /// A conditional allow of a call `basic` refuses outright (ptrace) lifts the refusal for
    /// the matching calls only: PTRACE_PEEKDATA (2) keeps basic's EPERM where the kernel
    /// alone answers ESRCH (3, no such tracee), while PTRACE_TRACEME (0) goes through.
    @Test func aConditionalAllowLiftsOnlyWhatItMatches() throws {
        try Kernel.requireRoot()
        let dir = try project()
        let script = "/usr/bin/python3 -c 'import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            + "for req in (2, 0):\n    r = libc.ptrace(req, 1, 0, 0)\n    print(req, r, ctypes.get_errno() if r < 0 else 0)'"
        #expect(try runProcess("/bin/sh", ["-c", script]).out == "2 -1 3\n0 0 0\n", "the control: ESRCH, then TRACEME works")
        let rules = "[syscall]\nprofile = \"basic\"\n[[syscall.rule]]\nnames = [\"ptrace\"]\naction = \"allow\"\n"
            + "args = [{ index = 0, op = \"eq\", value = 0 }]\n"
        try ("net.default = \"allow\"\n" + rules).write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let r = try warden(["run", "--", "sh", "-c", script], cwd: dir)
        #expect(r.stdout == "2 -1 1\n0 0 0\n", "\(r.stdout) \(r.stderr)")
    }

    /// Each comparison, with the call made for arguments below, at and above the value.
    @Test(arguments: [
        ("eq", "", ["0", "1", "0"]), ("ne", "", ["1", "0", "1"]), ("lt", "", ["1", "0", "0"]), ("le", "", ["1", "1", "0"]),
        ("gt", "", ["0", "0", "1"]), ("ge", "", ["0", "1", "1"]), ("masked_eq", ", mask = 0xf0", ["0", "0", "1"]),
    ])
    func eachComparison(_ op: String, _ mask: String, _ refused: [String]) throws {
        try Kernel.requireRoot()
        let dir = try project()
        // 0x10 & 0xf0 = 0x10: masked_eq matches only the third value (0x1f & 0xf0 = 0x10).
        let values = op == "masked_eq" ? ["0x09", "0x0a", "0x1f"] : ["9", "10", "11"]
        let value = op == "masked_eq" ? "0x10" : "10"
        #expect(try control(dir, ["call"] + values).split(separator: "\n").allSatisfy { $0.hasSuffix("errno=0") })
        let r = try confined(dir, Self.rule("errno", "errno = \"EXDEV\"\nargs = [{ index = 0, op = \"\(op)\", value = \(value)\(mask) }]\n"), ["call"] + values)
        let got = Self.withoutPid(r.stdout).split(separator: "\n").map { $0.hasSuffix("errno=18") ? "1" : "0" }
        #expect(r.status == 0 && got == refused, "\(op): \(r.stdout) \(r.stderr)")
    }

    /// A group: `@ipc` refuses pipe2 and memfd_create (both fine without the rule).
    @Test func aGroupCoversItsMembers() throws {
        try Kernel.requireRoot()
        let dir = try project()
        #expect(try control(dir, ["ipc"]) == "pipe2 errno=0 memfd_create errno=0")
        let rules = "[[syscall.rule]]\nnames = [\"@ipc\"]\naction = \"errno\"\nerrno = \"EACCES\"\n"
        let free = try confined(dir, "", ["ipc"])
        #expect(Self.withoutPid(free.stdout) == "pipe2 errno=0 memfd_create errno=0", "\(free.stdout) \(free.stderr)")
        let r = try confined(dir, rules, ["ipc"])
        #expect(r.status == 0 && Self.withoutPid(r.stdout) == "pipe2 errno=13 memfd_create errno=13", "\(r.stdout) \(r.stderr)")
    }

    /// The boundary filter is a filter of its own: an `allow` rule for unshare (a whole
    /// group of them, under every profile) does not reopen user namespaces.
    @Test(arguments: ["none", "basic", "strict"])
    func aRuleCannotReopenTheBoundary(_ profile: String) throws {
        try Kernel.requireRoot()
        let dir = try project()
        #expect(try control(dir, ["unshare"]) == "unshare errno=0")
        let rules = "[syscall]\nprofile = \"\(profile)\"\n[[syscall.rule]]\nnames = [\"unshare\", \"@process\", \"io_uring_setup\"]\naction = \"allow\"\n"
        let r = try confined(dir, rules, ["unshare"])
        #expect(r.status == 0 && Self.withoutPid(r.stdout) == "unshare errno=1", "\(profile): \(r.stdout) \(r.stderr)")
    }

    /// Export writes the rules (conditions and errno included) into the OCI profile; that
    /// profile imported as syscall.oci_profile, without the rules, refuses the same calls.
    @Test func anExportedPolicyBehavesTheSameImported() throws {
        try Kernel.requireRoot()
        let dir = try project()
        let rules = Self.rule("errno", "errno = \"EXDEV\"\nargs = [{ index = 0, op = \"masked_eq\", mask = 0xf0, value = 0x10 }]\n")
        let direct = try confined(dir, rules, ["call", "0x09", "0x1f"])
        #expect(Self.withoutPid(direct.stdout) == "getppid(0x09) errno=0\ngetppid(0x1f) errno=18", "\(direct.stdout)")
        #expect(try warden(["seccomp", "export", "--output", "exported.json"], cwd: dir).status == 0)
        let profile = try JSONDecoder().decode(SeccompProfile.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/exported.json")))
        #expect(profile.syscalls?.contains(SeccompRule(names: ["getppid"], action: "SCMP_ACT_ERRNO", errnoRet: 18,
                                                        args: [SeccompArg(index: 0, value: 0xf0, valueTwo: 0x10, op: "SCMP_CMP_MASKED_EQ")])) == true)
        try SeccompIntegrationTests.checkOCIShape(dir + "/exported.json")
        let imported = try confined(dir, "[syscall]\noci_profile = \"\(dir)/exported.json\"\n", ["call", "0x09", "0x1f"])
        #expect(imported.status == 0 && Self.withoutPid(imported.stdout) == Self.withoutPid(direct.stdout), "\(imported.stdout) \(imported.stderr)")
    }

    /// Mistakes only the kernel's tables can find, and contradictions, stop the run with 2
    /// and the line; nothing runs.
    @Test func unknownNamesAndConflictsExitTwo() throws {
        try Kernel.requireRoot()
        let dir = try project()
        let unknown = try confined(dir, "\n[[syscall.rule]]\nnames = [\"getppid\", \"no_such_call\"]\naction = \"log\"\n", ["call", "1"])
        #expect(unknown.status == 2 && unknown.stderr.contains("warden.toml:3: syscall.rule: 'no_such_call' is not a system call"), "\(unknown.stderr)")
        #expect(!unknown.stdout.contains("pid="))
        let conflict = try confined(dir, Self.rule("errno") + "\n" + Self.rule("allow"), ["call", "1"])
        #expect(conflict.status == 2 && conflict.stderr.contains("warden.toml:6: syscall.rule: conflicting rules for getppid"), "\(conflict.stderr)")
        #expect(!conflict.stdout.contains("pid="))
    }
}
