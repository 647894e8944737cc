import Foundation
import Testing
import WardenOutput

/// Repeats of a logged allowed open are counted in the kernel instead of reported; what
/// makes a record distinct (unit, origin, access, verdict, path) still reaches the log.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct RepeatTests {
    static let open = "net.default = \"allow\"\n"

    func events(_ dir: String) throws -> [EventRecord] {
        try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events
    }

    func metrics(_ dir: String) throws -> MetricsSnapshot {
        try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
    }

    /// A copy of sh under `name` in `dir` (the unit comes from the name a program is
    /// executed by).
    func tool(_ dir: String, _ name: String) throws -> String {
        let path = dir + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let sh = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: sh, toPath: path)
        return path
    }

    /// The same file read five times by the compiler, then five times by a build script:
    /// one line each, the other eight counted as repeats. The reads are spread out (the
    /// agent drains every 10 ms) so that later ones meet the key the agent entered: a
    /// key that left out the unit would hide the build script's.
    @Test func theSameFileByAnotherUnitIsANewRecord() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.open, "input.h": "int x;\n"])
        let rustc = try tool(dir, "bin/rustc")
        let script = try tool(dir, "target/debug/build/demo-0123456789abcdef/build-script-build")
        let reads = "for i in 1 2 3 4 5; do : < \(dir)/input.h; sleep 0.05; done"
        let r = try warden(["run", "--mode", "enforce", "--", "sh", "-c", "\(rustc) -c '\(reads)'; \(script) -c '\(reads)'"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let input = try events(dir).filter { $0.event.action == .open && $0.event.pathOrAddr == dir + "/input.h" }
        #expect(input.filter { $0.event.unit == .compiler }.count == 1, "\(input)")
        #expect(input.filter { $0.event.unit == .buildScript && $0.package == "demo" }.count == 1, "\(input)")
        #expect(input.count == 2, "\(input)")
        #expect(try metrics(dir).repeatsNotLogged >= 8)
    }

    /// A read the policy forbids is logged each time in observe mode (never entered as
    /// seen), while allowed repeats beside it are counted; in enforce mode the same file
    /// opened for reading (allowed) and then for writing (refused) is two records.
    @Test func anotherVerdictOrAccessIsANewRecord() throws {
        try Kernel.requireRoot()
        let secret = try scratchDir() + "/.ssh"
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
        try "FAKE-PRIVATE-KEY\n".write(toFile: secret + "/id_rsa", atomically: true, encoding: .utf8)
        let dir = try makeDir(["warden.toml": Self.open])
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "for i in 1 2 3 4 5; do : < \(secret)/id_rsa; : < /etc/hostname; sleep 0.05; done"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let all = try events(dir)
        let denied = all.filter { $0.event.pathOrAddr == secret + "/id_rsa" }
        #expect(denied.count == 5 && denied.allSatisfy { $0.event.verdict == .denied }, "\(denied)")
        #expect(all.filter { $0.event.pathOrAddr == "/etc/hostname" }.count == 1)

        let enforced = try makeDir(["warden.toml": Self.open])
        // `true`, not `:`: a failed redirection on a special builtin ends the shell.
        let twice = "for i in 1 2 3; do : < /etc/hostname; sleep 0.05; done; for i in 1 2 3; do true >> /etc/hostname; done 2>/dev/null; true"
        let e = try warden(["run", "--", "sh", "-c", twice], cwd: enforced)
        #expect(e.status == 77, "\(e.stderr)")
        let hostname = try events(enforced).filter { $0.event.pathOrAddr == "/etc/hostname" }
        #expect(hostname.filter { $0.event.verdict == .allowed && $0.event.access == [.read] }.count == 1, "\(hostname)")
        #expect(hostname.filter { $0.event.verdict == .denied && $0.event.access == [.write] && $0.event.result == -EROFS }.count == 3,
                "each refusal is logged: \(hostname)")
    }

    /// A directory the run renames changes the path of the files below it, not the files:
    /// a file read before and after is logged under both names.
    @Test func filesBelowARenamedDirectoryAreNewRecords() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.open])
        try FileManager.default.createDirectory(atPath: dir + "/old", withIntermediateDirectories: true)
        try "x\n".write(toFile: dir + "/old/file.txt", atomically: true, encoding: .utf8)
        let script = "for i in 1 2; do : < old/file.txt; sleep 0.05; done; mv old new; for i in 1 2; do : < new/file.txt; done"
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", script], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let opens = try events(dir).filter { $0.event.action == .open }
        #expect(opens.filter { $0.event.pathOrAddr == dir + "/old/file.txt" }.count == 1, "\(opens.map(\.event.pathOrAddr))")
        #expect(opens.filter { $0.event.pathOrAddr == dir + "/new/file.txt" }.count == 1, "\(opens.map(\.event.pathOrAddr))")
    }
}
