import Foundation
import Testing
import WardenPolicy
@testable import WardenSandbox

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
