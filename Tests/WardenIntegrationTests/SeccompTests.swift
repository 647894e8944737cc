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

    /// Host calls `basic` refuses, each made so that it succeeds as root without warden
    /// (x86_64 numbers; the suite runs where the integration tests run). Prints one
    /// "call result" line per call, the result "ok" or the errno's name. unshare comes
    /// last: once in a new user namespace, the other calls would mean something else.
    static let hostCallProbe = """
        import ctypes, errno, os, struct
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def call(nr, *args):
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
            return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
        def buf(n):
            b = ctypes.create_string_buffer(n)
            return b, ctypes.addressof(b)
        out = []
        attr, a = buf(72)
        struct.pack_into("IIII", attr, 0, 2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY, 4-byte keys and values, 1 entry
        out.append("bpf-map " + call(321, 0, a, 72))  # BPF_MAP_CREATE
        out.append("bpf-unknown " + call(321, 4096, 0, 0))  # no such command: reaches the kernel without CAP_BPF
        params, p = buf(120)
        out.append("io_uring_setup " + call(425, 1, p))
        pe, e = buf(128)
        struct.pack_into("IIQ", pe, 0, 1, 64, 0)  # PERF_TYPE_SOFTWARE, size, PERF_COUNT_SW_CPU_CLOCK
        struct.pack_into("Q", pe, 40, 1 | 1 << 5 | 1 << 6)  # disabled, exclude_kernel, exclude_hv: allowed unprivileged
        out.append("perf_event_open " + call(298, e, 0, -1, -1, 0))
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            os.read(r, 1)
            os._exit(0)
        out.append("ptrace " + call(101, 16, child, 0, 0))  # PTRACE_ATTACH to its own child
        os.kill(child, 9)
        os.waitpid(child, 0)
        out.append("unshare-noflags " + call(272, 0))  # no namespace: changes nothing, reaches the kernel
        out.append("unshare " + call(272, 0x10000000))  # CLONE_NEWUSER
        open("out", "w").write("\\n".join(out) + "\\n")
        """

    static func results(_ text: String) -> [String: String] {
        Dictionary(text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }) { $1 }
    }

    /// Each call is made three times. Without warden, as root: every call succeeds (the
    /// control; the unknown bpf command is EINVAL, the kernel's answer). Under warden with
    /// `syscall.profile = "none"` (no capabilities, only the boundary rules): the calls
    /// that need no capability still succeed, creating a BPF map fails with EPERM for want
    /// of CAP_BPF while an unknown bpf command reaches the kernel (EINVAL), and unshare with
    /// a namespace flag and io_uring_setup are refused (the boundary rules). Under `basic`: every one is
    /// EPERM, the filter's answer. Observe mode logs instead of refusing (capabilities are
    /// dropped there too).
    @Test func basicRefusesHostCallsWithEPERM() throws {
        try Kernel.requireRoot()
        let calls = ["bpf-map", "bpf-unknown", "io_uring_setup", "perf_event_open", "ptrace", "unshare-noflags", "unshare"]
        let control = try makeDir(["probe.py": Self.hostCallProbe])
        let c = try runProcess("/usr/bin/python3", ["probe.py"], cwd: control)
        let free = Self.results(read(control + "/out"))
        #expect(c.status == 0 && free == ["bpf-map": "ok", "bpf-unknown": "EINVAL", "io_uring_setup": "ok", "perf_event_open": "ok",
                                          "ptrace": "ok", "unshare-noflags": "ok", "unshare": "ok"], "the control, without warden: \(free) \(c.out)")

        func confined(_ policy: String, mode: String = "enforce") throws -> (Outcome, [String: String]) {
            let dir = try makeDir(["probe.py": Self.hostCallProbe, "warden.toml": "net.default = \"allow\"\n" + policy])
            let r = try warden(["run", "--mode", mode, "--", "/usr/bin/python3", "probe.py"], cwd: dir)
            return (r, Self.results(read(dir + "/out")))
        }
        let (none, unfiltered) = try confined("syscall.profile = \"none\"\n")
        #expect(none.status == 0, "\(none.stderr)")
        // io_uring_setup and unshare with a flag are the boundary rules', present with every profile.
        #expect(unfiltered == ["bpf-map": "EPERM", "bpf-unknown": "EINVAL", "io_uring_setup": "EPERM", "perf_event_open": "ok",
                               "ptrace": "ok", "unshare-noflags": "ok", "unshare": "EPERM"], "without the filter, in the sandbox: \(unfiltered)")
        let (basic, filtered) = try confined("")
        #expect(basic.status == 0, "\(basic.stderr)")
        #expect(basic.stderr.contains("syscalls=seccomp"))
        #expect(calls.allSatisfy { filtered[$0] == "EPERM" }, "not refused by the filter: \(filtered)")
        let (observed, logged) = try confined("", mode: "observe")
        var allowed = unfiltered
        allowed["unshare"] = "ok"
        allowed["io_uring_setup"] = "ok"
        #expect(observed.status == 0 && logged == allowed, "observe mode refused something: \(logged)")
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
