import Foundation
import Testing
import WardenPolicy
import WardenRun
@testable import WardenSandbox

@Suite struct CgroupDiscoveryTests {
    @Test func findsHybridAndPureLayouts() {
        let hybrid = """
            25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
            26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
            27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
            """
        #expect(RunCgroup.mountPoint(mountinfo: hybrid) == "/sys/fs/cgroup/unified")
        let pure = "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
        #expect(RunCgroup.mountPoint(mountinfo: pure) == "/sys/fs/cgroup")
        let escaped = "40 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n"
        #expect(RunCgroup.mountPoint(mountinfo: escaped) == "/mnt/my cgroups")
        #expect(RunCgroup.mountPoint(mountinfo: "25 30 0:23 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n") == nil)
    }

    @Test func ownCgroupPath() {
        #expect(RunCgroup.ownPath(procSelfCgroup: "12:pids:/x\n0::/user.slice/session-3.scope\n") == "/user.slice/session-3.scope")
        #expect(RunCgroup.ownPath(procSelfCgroup: "4:memory:/a\n") == nil)
    }
}

@Suite struct HostResolverTests {
    /// Only loopback names and literals: nothing here reaches a network.
    @Test func literalsAndLocalhost() throws {
        let hosts = ["127.0.0.1:80", "[::1]:443", "localhost:5432"].map { try! HostPort.parse($0).get() }
        let r = HostResolver.resolve(hosts)
        #expect(r[0].addresses == ["127.0.0.1:80"])
        #expect(r[1].addresses == ["[::1]:443"])
        #expect(r[2].addresses.contains("127.0.0.1:5432"), "\(r[2])")
        #expect(r[2].error == nil)
    }
}

@Suite struct LayerProbeTests {
    func policy(_ text: String) throws -> EffectivePolicy {
        EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try PolicyParser(source: "t", home: nil).parse(text)])
    }

    @Test func aRestrictedHookWithoutALayerIsUnenforced() throws {
        let p = try policy("exec.default = \"allowlist\"\n[syscall]\ndeny = [\"ptrace\"]\n")
        let none = LayerProbe.layers(policy: p, mode: .enforce, landlockABI: nil, landlockProblem: "off", netProblem: "no BPF")
        #expect(Set(LayerProbe.unenforced(none).map(\.hook)) == ["file_open", "rename_unlink", "exec", "connect"])
        let all = LayerProbe.layers(policy: p, mode: .enforce, landlockABI: 7, netProblem: nil)
        #expect(LayerProbe.unenforced(all).isEmpty)
        #expect(all.first { $0.hook == "syscalls" }?.layer == "seccomp")
    }

    @Test func unrestrictedHooksNeedNoLayer() throws {
        let p = try policy("fs.default = \"unrestricted\"\nnet.default = \"allow\"\n")
        let layers = LayerProbe.layers(policy: p, mode: .enforce, landlockABI: nil, netProblem: "no BPF")
        #expect(LayerProbe.unenforced(layers).isEmpty)
    }

    @Test func observeModeEnforcesNothing() throws {
        let layers = LayerProbe.layers(policy: try policy(""), mode: .observe, landlockABI: 7, netProblem: nil)
        #expect(layers.allSatisfy { !$0.enforcing })
        #expect(layers.first { $0.hook == "connect" }?.layer == "cgroup-bpf", "connects are still recorded")
    }
}

/// What allowlisting a program by name brings in: its own helpers, by a fixed rule, and
/// never a script (whose interpreter would come along) or a whole directory.
@Suite struct ImplementationHelperTests {
    @Test func gitBringsItsExecPathPrograms() throws {
        let git = try #require(ProgramLookup.resolve("git", path: "/usr/bin:/bin", cwd: "/"))
        let helpers = ProgramLookup.implementationHelpers("git", resolved: git, home: nil)
        #expect(helpers.contains("/usr/lib/git-core/git"), "\(helpers)")
        #expect(helpers.contains("/usr/lib/git-core/git-remote-http"), "\(helpers)")
        #expect(!helpers.contains("/usr/lib/git-core/git-add--interactive"), "a Perl script would bring perl in")
        #expect(!helpers.contains("/usr/lib/git-core") && !helpers.contains(ProgramLookup.realPath(git)))
        #expect(helpers.allSatisfy { $0.hasPrefix("/usr/lib/git-core/git") })
    }

    @Test func theSwiftDriverBringsItsSubcommands() throws {
        let swift = try #require(ProgramLookup.resolve("swift", path: ProcessInfo.processInfo.environment["PATH"], cwd: "/"))
        let dir = (ProgramLookup.realPath(swift) as NSString).deletingLastPathComponent
        let helpers = ProgramLookup.implementationHelpers("swift", resolved: swift, home: nil)
        #expect(helpers.contains(dir + "/swift-help") && helpers.contains(dir + "/swift-package") && helpers.contains(dir + "/swift-frontend"))
        #expect(helpers.allSatisfy { ($0 as NSString).lastPathComponent.hasPrefix("swift-") }, "\(helpers)")
        #expect(!helpers.contains(dir + "/clang-21"), "clang comes only when allowlisted by name")
    }

    @Test func otherProgramsBringNothing() throws {
        #expect(ProgramLookup.implementationHelpers("make", resolved: "/usr/bin/make", home: nil).isEmpty)
        #expect(ProgramLookup.implementationHelpers("sh", resolved: "/bin/sh", home: nil).isEmpty)
    }
}

/// The groups table against libseccomp's: every member is a system call on x86_64 or
/// aarch64, and the per-architecture numbers are libseccomp's (no root needed).
@Suite struct SyscallGroupResolutionTests {
    @Test func everyMemberIsASystemCallSomewhere() {
        for g in SyscallGroups.all {
            for name in SyscallGroups.expand([g.name]) {
                #expect(Confinement.isSyscallName(name), "\(g.name): \(name)")
            }
        }
        #expect(Confinement.syscallNumber("getppid", arch: "x86_64") == 110)
        #expect(Confinement.syscallNumber("getppid", arch: "aarch64") == 173)
        #expect(Confinement.syscallNumber("open", arch: "x86_64") == 2)
        #expect(Confinement.syscallNumber("open", arch: "aarch64") == nil, "aarch64 has openat only")
        #expect(Confinement.syscallNumber("getppid", arch: "mips-ish") == nil)
        #expect(!Confinement.isSyscallName("no_such_call"))
    }

    @Test func groupsCommandListsEveryGroupPerArchitecture() throws {
        let dir = try makeDir()
        let r = try warden(["seccomp", "groups", "--json"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(entries.compactMap { $0["name"] as? String } == SyscallGroups.all.map(\.name))
        let rawIO = try #require(entries.first { $0["name"] as? String == "@raw-io" }?["numbers"] as? [String: [String: Int]])
        #expect(rawIO["x86_64"] == ["iopl": 172, "ioperm": 173] && rawIO["aarch64"] == [:])
        #expect(try warden(["seccomp", "groups", "--arch", "sparc"], cwd: dir).status == 2)
    }
}
