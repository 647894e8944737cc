import CWardenShim
import Foundation
import SystemPackage
import Testing
@testable import WardenSandbox

/// The canary API on this kernel: each outcome is told apart, so a layer is trusted only
/// for a refusal it made itself.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct CanaryTests {
    /// A Landlock ruleset handling `access` with no rule: everything it handles is refused.
    func ruleset(_ access: UInt64) throws -> Int32 {
        let abi = warden_landlock_abi()
        try #require(abi > 0, "Landlock is needed here")
        let fd = warden_landlock_create(access, 0, abi)
        try #require(fd >= 0)
        return fd
    }

    @Test func landlockOutcomesAreToldApart() throws {
        try Kernel.requireRoot()
        let reads = try ruleset(WARDEN_LL_READ_FILE), execs = try ruleset(WARDEN_LL_EXECUTE), writes = try ruleset(WARDEN_LL_WRITE_FILE)
        defer { close(reads); close(execs); close(writes) }
        let missing = "/nonexistent-warden-canary-\(getpid())"
        let outcomes = Canary.runAll([
            .landlock(ruleset: reads, .open("/etc/hostname")),
            .landlock(ruleset: execs, .open("/etc/hostname")),
            .landlock(ruleset: execs, .exec("/usr/bin/true")),
            .landlock(ruleset: writes, .exec("/usr/bin/true")),
            .landlock(ruleset: execs, .open(missing)),
        ])
        #expect(outcomes == [.refused, .wentThrough, .refused, .wentThrough, .failed(.noSuchFileOrDirectory)])
    }

    /// In a cgroup with no programs attached nothing is refused: a connect to a closed
    /// port fails (the peer, not a hook) and a directory is created, then removed.
    @Test func bpfCanariesInACgroupWithoutProgramsAreNotRefused() throws {
        try Kernel.requireRoot()
        let cgroup = try RunCgroup.create(label: "canary-test")
        defer { try? cgroup.destroy() }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let closed = UInt16(bigEndian: a.sin_port)  // bound, never listening: refused by the peer
        let dir = NSTemporaryDirectory() + "warden-canary-\(getpid())"
        let outcomes = Canary.runAll([.network(cgroup: cgroup.fd.rawValue, port: closed), .lsm(cgroup: cgroup.fd.rawValue, .mkdir(dir))])
        #expect(outcomes == [.failed(.connectionRefused), .wentThrough])
        #expect(!FileManager.default.fileExists(atPath: dir), "a canary that went through leaves nothing behind")
    }
}
