import Foundation
import Testing
import WardenOutput

/// `warden seccomp generate`: the trace layer counts a run's system calls, the counts
/// become an allowlist, and the same build passes under it in enforce mode while a call
/// it never made is refused and recorded.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct SeccompGenerateTests {
    /// A make project under the built-in default policy (exec allowed), network allowed.
    /// `make extra` makes a directory, which `make` alone never does.
    func makeProject() throws -> String {
        let dir = try scratchDir("gen-make")
        try "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n".write(toFile: dir + "/hello.c", atomically: true, encoding: .utf8)
        try "hello: hello.c\n\tcc -O2 -o hello hello.c\nextra:\n\tmkdir newdir\n".write(toFile: dir + "/Makefile", atomically: true, encoding: .utf8)
        try "net.default = \"allow\"\n".write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        return dir
    }

    func lastRunId(_ dir: String) throws -> String {
        try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.runId)
    }

    @Test func aMakeBuildPassesUnderItsGeneratedAllowlistAndANewCallIsRefused() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let first = try warden(["run", "--", "make"], cwd: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        let calls = try #require(run.end?.syscalls)
        #expect(calls["execve"] ?? 0 >= 3 && calls["openat"] ?? 0 > 10 && calls["mkdir"] == nil && calls["mkdirat"] == nil, "\(calls)")
        let gen = try warden(["seccomp", "generate", "--format", "toml", "--output", "gen.toml"], cwd: dir)
        #expect(gen.status == 0, "\(gen.stderr)")
        let toml = read(dir + "/gen.toml")
        #expect(toml.contains("profile = \"allowlist\"") && toml.contains("\"execve\"") && !toml.contains("\"mkdir"), "\(toml)")

        try FileManager.default.removeItem(atPath: dir + "/hello")
        let enforced = try warden(["run", "--policy", "gen.toml", "--", "make"], cwd: dir)
        #expect(enforced.status == 0, "\(enforced.stderr)")
        #expect(try output(of: dir + "/hello") == "hi\n")

        // The control: `make extra` works under the project's own policy…
        let control = try warden(["run", "--", "make", "extra"], cwd: dir)
        #expect(control.status == 0 && FileManager.default.fileExists(atPath: dir + "/newdir"), "\(control.stderr)")
        try FileManager.default.removeItem(atPath: dir + "/newdir")
        // …and under the allowlist mkdir is refused (EPERM) and the refusal recorded.
        let refused = try warden(["run", "--policy", "gen.toml", "--", "make", "extra"], cwd: dir)
        #expect(refused.status != 0 && !FileManager.default.fileExists(atPath: dir + "/newdir"), "\(refused.stderr)")
        let events = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events
        #expect(events.contains { $0.event.verdict == .denied && $0.event.pathOrAddr == dir + "/newdir" && $0.event.result == -1 },
                "\(events.filter(\.isViolation).map(\.event.pathOrAddr))")
    }

    /// Several runs: the union. Learning from `make` and `make extra` lets both pass.
    @Test func runsAreUnitedAndAnOCIProfileWorksToo() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        #expect(try warden(["run", "--", "make"], cwd: dir).status == 0)
        let a = try lastRunId(dir)
        #expect(try warden(["run", "--", "make", "extra"], cwd: dir).status == 0)
        let b = try lastRunId(dir)
        try FileManager.default.removeItem(atPath: dir + "/newdir")
        try FileManager.default.removeItem(atPath: dir + "/hello")
        let gen = try warden(["seccomp", "generate", "--run", a, "--run", b, "--output", "gen.json"], cwd: dir)
        #expect(gen.status == 0, "\(gen.stderr)")
        try "[syscall]\noci_profile = \"\(dir)/gen.json\"\n".write(toFile: dir + "/gen.toml", atomically: true, encoding: .utf8)
        let both = try warden(["run", "--policy", "gen.toml", "--", "make", "hello", "extra"], cwd: dir)
        #expect(both.status == 0 && FileManager.default.fileExists(atPath: dir + "/newdir"), "\(both.stderr)")
        let only = try warden(["seccomp", "generate", "--run", "no-such-run"], cwd: dir)
        #expect(only.status == 2 && only.stderr.contains("run 'no-such-run' is not in"), "\(only.stderr)")
    }

    /// A cargo build with serde derive (build scripts, proc macros, rustc, the linker):
    /// learnt once, built again from clean under the allowlist.
    @Test func aCargoBuildPassesUnderItsGeneratedAllowlist() throws {
        try Kernel.requireRoot()
        let dir = try RealBuildTests().serdeCrate()
        let first = try warden(["build", "--", "--offline"], cwd: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let gen = try warden(["seccomp", "generate", "--format", "toml", "--output", dir + "/gen.toml"], cwd: dir)
        #expect(gen.status == 0, "\(gen.stderr)")
        try FileManager.default.removeItem(atPath: dir + "/target")
        let again = try warden(["build", "--policy", dir + "/gen.toml", "--", "--offline"], cwd: dir)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try output(of: dir + "/target/debug/wdemo") == "{\"x\":7}\n")
    }

    /// A SwiftPM build (the manifest runner, swift-frontend, clang as linker), the same way.
    @Test func aSwiftBuildPassesUnderItsGeneratedAllowlist() throws {
        try Kernel.requireRoot()
        let dir = try scratchDir("gen-swift")
        try FileManager.default.createDirectory(atPath: dir + "/Sources/hello", withIntermediateDirectories: true)
        try "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"hello\", targets: [.executableTarget(name: \"hello\")])\n"
            .write(toFile: dir + "/Package.swift", atomically: true, encoding: .utf8)
        try "print(\"hello from swift\")\n".write(toFile: dir + "/Sources/hello/main.swift", atomically: true, encoding: .utf8)
        #expect(try warden(["init"], cwd: dir).status == 0)
        let first = try warden(["build"], cwd: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let gen = try warden(["seccomp", "generate", "--format", "toml", "--output", dir + "/gen.toml"], cwd: dir)
        #expect(gen.status == 0, "\(gen.stderr)")
        try FileManager.default.removeItem(atPath: dir + "/.build")
        let again = try warden(["build", "--policy", dir + "/gen.toml"], cwd: dir)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try output(of: dir + "/.build/debug/hello") == "hello from swift\n")
    }
}
