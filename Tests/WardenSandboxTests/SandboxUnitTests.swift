import CWardenShim
import Foundation
import Testing
import WardenPolicy
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

/// Constants defined on both sides of the C shim agree.
@Suite struct ShimConstantTests {
    @Test func spawnStagesMatchTheShim() {
        let c: [(SpawnStage, warden_spawn_stage)] = [
            (.none, WARDEN_STAGE_NONE), (.pipe, WARDEN_STAGE_PIPE), (.clone, WARDEN_STAGE_CLONE),
            (.pdeathsig, WARDEN_STAGE_PDEATHSIG), (.signals, WARDEN_STAGE_SIGNALS), (.pgrp, WARDEN_STAGE_PGRP),
            (.stdio, WARDEN_STAGE_STDIO), (.rlimit, WARDEN_STAGE_RLIMIT), (.securebits, WARDEN_STAGE_SECUREBITS),
            (.bounding, WARDEN_STAGE_BOUNDING), (.ambient, WARDEN_STAGE_AMBIENT), (.groups, WARDEN_STAGE_GROUPS),
            (.gid, WARDEN_STAGE_GID), (.uid, WARDEN_STAGE_UID), (.caps, WARDEN_STAGE_CAPS),
            (.noNewPrivs, WARDEN_STAGE_NO_NEW_PRIVS), (.chdir, WARDEN_STAGE_CHDIR), (.landlock, WARDEN_STAGE_LANDLOCK),
            (.seccomp, WARDEN_STAGE_SECCOMP), (.exec, WARDEN_STAGE_EXEC), (.mounts, WARDEN_STAGE_MOUNTS),
            (.notify, WARDEN_STAGE_NOTIFY),
        ]
        #expect(c.count == SpawnStage.allCases.count)
        for (swift, shim) in c { #expect(swift.rawValue == Int32(shim.rawValue), "\(swift)") }
    }

    /// `LandlockPlan` computes rights in Swift; the shim masks file rules with its own
    /// copy of the kernel's bits (confine.c checks those against <linux/landlock.h>).
    @Test func landlockRightsMatchTheShim() {
        let pairs: [(LandlockRights, UInt64)] = [
            (.execute, WARDEN_LL_EXECUTE), (.writeFile, WARDEN_LL_WRITE_FILE), (.readFile, WARDEN_LL_READ_FILE),
            (.readDir, WARDEN_LL_READ_DIR), (.removeDir, WARDEN_LL_REMOVE_DIR), (.removeFile, WARDEN_LL_REMOVE_FILE),
            (.makeChar, WARDEN_LL_MAKE_CHAR), (.makeDir, WARDEN_LL_MAKE_DIR), (.makeReg, WARDEN_LL_MAKE_REG),
            (.makeSock, WARDEN_LL_MAKE_SOCK), (.makeFifo, WARDEN_LL_MAKE_FIFO), (.makeBlock, WARDEN_LL_MAKE_BLOCK),
            (.makeSym, WARDEN_LL_MAKE_SYM), (.refer, WARDEN_LL_REFER), (.truncate, WARDEN_LL_TRUNCATE),
            (.ioctlDev, WARDEN_LL_IOCTL_DEV),
        ]
        for (swift, shim) in pairs { #expect(swift.rawValue == shim) }
        #expect(LandlockRights.known(abi: 7).rawValue == pairs.reduce(0) { $0 | $1.1 })
    }
}
