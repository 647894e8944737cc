import Foundation
import Testing
import WardenPolicy

/// seccomp on this kernel: the built-in profiles refuse what they should and let builds
/// run; an imported Docker-format profile is enforced and round-trips through export.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct SeccompIntegrationTests {
    /// Calls a raw syscall from inside the sandbox and prints "name errno".
    static func probe(_ name: String, _ nr: Int, _ args: [Int] = []) -> String {
        "/usr/bin/python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); r = l.syscall(\(([nr] + args).map { "ctypes.c_long(\($0))" }.joined(separator: ", "))); "
            + "print(\"\(name)\", 0 if r >= 0 else ctypes.get_errno())' >> out"
    }

    func run(_ policy: String, _ script: String, mode: String = "enforce") throws -> (Outcome, String) {
        let dir = try makeDir(["warden.toml": "net.default = \"allow\"\n" + policy])
        let r = try warden(["run", "--mode", mode, "--", "sh", "-c", script], cwd: dir)
        return (r, read(dir + "/out"))
    }

    /// x86_64 numbers; the suite runs where the integration tests run.
    static let hostCalls = [
        probe("bpf", 321, [9, 0, 0]),                // BPF_PROG_DETACH: detach warden's programs
        probe("io_uring_setup", 425, [1, 0]),        // a ring whose requests seccomp cannot see
        probe("unshare", 272, [0x1000_0000]),        // CLONE_NEWUSER: regain capabilities in a new namespace
        probe("ptrace", 101, [16, 1]),               // PTRACE_ATTACH to init
        probe("perf_event_open", 298, [0, 0, -1, -1, 0]),
    ].joined(separator: "; ")

    @Test func basicRefusesHostCallsWithEPERM() throws {
        try Kernel.requireRoot()
        let (r, out) = try run("", Self.hostCalls + "; echo done >> out")
        #expect(r.status == 0, "\(r.stderr)")
        for call in ["bpf", "io_uring_setup", "unshare", "ptrace", "perf_event_open"] {
            #expect(out.contains("\(call) 1\n"), "\(call) was not refused with EPERM by the filter:\n\(out)")
        }
        #expect(out.hasSuffix("done\n"))
        #expect(r.stderr.contains("syscalls=seccomp"))
        // Without the filter, creating a user namespace works: the refusal above was seccomp's.
        let (free, freeOut) = try run("syscall.profile = \"none\"\n", Self.probe("unshare", 272, [0x1000_0000]))
        #expect(free.status == 0 && freeOut == "unshare 0\n", "\(freeOut) \(free.stderr)")
        // Observe mode logs instead of refusing.
        let (observed, observedOut) = try run("", Self.probe("unshare", 272, [0x1000_0000]), mode: "observe")
        #expect(observed.status == 0 && observedOut == "unshare 0\n", "\(observedOut)")
    }

    @Test func strictAllowsABuildAndRefusesTheRest() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let policy = read(dir + "/warden.toml").replacingOccurrences(of: "profile = \"basic\"", with: "profile = \"strict\"")
        try policy.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let r = try warden(["run", "--", "make"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/hello"))
        // personality is not something builds call: refused under strict, fine without it.
        let (strict, out) = try run("syscall.profile = \"strict\"\n", Self.probe("personality", 135, [0xffff_ffff]))
        #expect(strict.status == 0 && out == "personality 1\n", "\(out) \(strict.stderr)")
        let (basic, basicOut) = try run("", Self.probe("personality", 135, [0xffff_ffff]))
        #expect(basic.status == 0 && basicOut == "personality 0\n", "\(basicOut)")
    }

    /// A Docker-format profile: an allowlist with an argument condition and rules that
    /// only apply with CAP_SYS_ADMIN (which the sandbox never has).
    static let dockerProfile = """
        {
          "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
          "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
          "syscalls": [
            {"names": [\(SeccompProfile.buildCalls.map { "\"\($0)\"" }.joined(separator: ", "))], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
            {"names": ["unshare", "mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["brand_new_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.0"}}
          ]
        }
        """

    @Test func importedDockerProfileIsEnforcedAndRoundTrips() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["docker.json": Self.dockerProfile])
        let imported = try warden(["seccomp", "import", "docker.json", "--profile-out", "profile.json", "--output", "fragment.toml"], cwd: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        let fragment = read(dir + "/fragment.toml")
        #expect(fragment.contains("oci_profile = \"\(dir)/profile.json\""))
        #expect(fragment.contains("skipped when the filter is built): ") && fragment.contains("brand_new_call"), "\(fragment)")
        try ("net.default = \"allow\"\n" + fragment).write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let script = Self.probe("personality-query", 135, [0xffff_ffff]) + "; " + Self.probe("personality-set", 135, [8])
            + "; " + Self.probe("unshare", 272, [0x1000_0000])
        let r = try warden(["run", "--", "sh", "-c", script], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/out") == "personality-query 0\npersonality-set 1\nunshare 1\n", "\(read(dir + "/out"))")

        // Export gives back the profile with warden's boundary rules added (what the
        // kernel enforces); importing the export changes nothing.
        let exported = try warden(["seccomp", "export", "--output", "exported.json"], cwd: dir)
        #expect(exported.status == 0, "\(exported.stderr)")
        let decode = { (p: String) throws -> SeccompProfile in try JSONDecoder().decode(SeccompProfile.self, from: Data(contentsOf: URL(fileURLWithPath: p))) }
        #expect(try decode(dir + "/exported.json") == decode(dir + "/profile.json").withBoundary())
        #expect(try warden(["seccomp", "import", "exported.json", "--profile-out", "again.json", "--output", "again.toml"], cwd: dir).status == 0)
        #expect(try decode(dir + "/again.json") == decode(dir + "/exported.json"))
        try Self.checkOCIShape(dir + "/exported.json")
    }

    /// The OCI runtime-spec's linux.seccomp shape: only its keys, its action and operator
    /// names, architectures named SCMP_ARCH_*.
    static func checkOCIShape(_ path: String) throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let actions: Set<String> = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
                                    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"]
        #expect(Set(doc.keys).isSubset(of: ["defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata", "syscalls"]))
        #expect(actions.contains(doc["defaultAction"] as? String ?? ""))
        #expect((doc["architectures"] as? [String])?.allSatisfy { $0.hasPrefix("SCMP_ARCH_") } == true)
        for rule in try #require(doc["syscalls"] as? [[String: Any]]) {
            #expect(Set(rule.keys).isSubset(of: ["names", "action", "errnoRet", "args"]))
            #expect((rule["names"] as? [String])?.isEmpty == false && actions.contains(rule["action"] as? String ?? ""))
            for arg in rule["args"] as? [[String: Any]] ?? [] {
                #expect(Set(arg.keys).isSubset(of: ["index", "value", "valueTwo", "op"]) && (arg["op"] as? String)?.hasPrefix("SCMP_CMP_") == true)
            }
        }
    }

    @Test func limitsApplyAndCannotBeRaised() throws {
        try Kernel.requireRoot()
        let (r, out) = try run("[limits]\nopen_files = 64\ncpu_seconds = 30\n",
                               "ulimit -n >> out; ulimit -t >> out; ulimit -n 128 2>/dev/null; echo \"raise $?\" >> out")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(out == "64\n30\nraise 2\n", "\(out)")
    }
}
