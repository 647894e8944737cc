import Foundation
import Testing
import WardenOutput

/// Real builds under enforce mode with the `warden init` presets (network allowed here
/// to keep to files and exec; NetworkTests covers connect), and a malicious build
/// script that tries to steal a key, run a program and plant a file from inside a build.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct RealBuildTests {
    /// A crate using Debian's vendored serde (derive) and serde_json, offline.
    func serdeCrate(buildScript: String? = nil) throws -> String {
        let dir = try scratchDir("crate")
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/.cargo", withIntermediateDirectories: true)
        var manifest = "[package]\nname = \"wdemo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"
        if buildScript != nil { manifest += "build = \"build.rs\"\n" }
        manifest += "\n[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n"
        try manifest.write(toFile: dir + "/Cargo.toml", atomically: true, encoding: .utf8)
        try "[source.crates-io]\nreplace-with = \"debian\"\n\n[source.debian]\ndirectory = \"/usr/share/cargo/registry\"\n"
            .write(toFile: dir + "/.cargo/config.toml", atomically: true, encoding: .utf8)
        try """
            use serde::{Deserialize, Serialize};
            #[derive(Serialize, Deserialize)]
            struct P { x: i32 }
            fn main() { println!("{}", serde_json::to_string(&P { x: 7 }).unwrap()); }
            """.write(toFile: dir + "/src/main.rs", atomically: true, encoding: .utf8)
        if let buildScript { try buildScript.write(toFile: dir + "/build.rs", atomically: true, encoding: .utf8) }
        let lock = Process()
        lock.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        lock.arguments = ["cargo", "generate-lockfile", "--offline"]
        lock.currentDirectoryURL = URL(fileURLWithPath: dir)
        try lock.run()
        lock.waitUntilExit()
        #expect(lock.terminationStatus == 0)
        #expect(try warden(["init"], cwd: dir).status == 0)
        let policy = read(dir + "/warden.toml").replacingOccurrences(of: "net.default = \"deny\"", with: "net.default = \"allow\"")
        try policy.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        return dir
    }

    /// With the preset's seccomp profile (basic) and with the strict allowlist.
    @Test(arguments: ["basic", "strict"]) func cargoBuildWithSerdeDerivePassesUnderTheCargoPreset(profile: String) throws {
        try Kernel.requireRoot()
        let dir = try serdeCrate()
        try useProfile(profile, in: dir)
        let r = try warden(["build", "--", "--offline"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("enforcing: file_open=landlock, rename_unlink=landlock, exec=landlock"))
        // Nothing a legitimate build does is refused, and the kernel attributed its parts.
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.events.filter(\.isViolation).isEmpty, "\(run.events.filter(\.isViolation).map(\.event.pathOrAddr))")
        let units = Set(run.events.map(\.event.unit))
        #expect(units.isSuperset(of: [.buildScript, .compiler, .linker]), "\(units)")
        // The kernel allowed nothing the policy forbids.
        #expect(try mismatches(dir) == 0 && !r.stderr.contains("policy forbids were allowed"), "\(r.stderr)")
        #expect(run.events.contains { $0.event.unit == .compiler && $0.event.action == .exec && $0.event.pathOrAddr.hasSuffix("/rustc") })
        #expect(try output(of: dir + "/target/debug/wdemo") == "{\"x\":7}\n")
    }

    func mismatches(_ dir: String) throws -> UInt64 {
        try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir)))).enforceMismatches
    }

    func useProfile(_ profile: String, in dir: String) throws {
        let policy = read(dir + "/warden.toml").replacingOccurrences(of: "profile = \"basic\"", with: "profile = \"\(profile)\"")
        try policy.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        #expect(read(dir + "/warden.toml").contains("profile = \"\(profile)\""))
    }

    @Test func aMaliciousBuildScriptIsContained() throws {
        try Kernel.requireRoot()
        let secretDir = try scratchDir("secret")
        try FileManager.default.createDirectory(atPath: secretDir + "/.ssh", withIntermediateDirectories: true)
        try "FAKE-PRIVATE-KEY\n".write(toFile: secretDir + "/.ssh/id_rsa", atomically: true, encoding: .utf8)
        let script = """
            use std::{env, fs, process::Command};
            fn main() {
                let mut report = String::new();
                report += match fs::read_to_string("\(secretDir)/.ssh/id_rsa") { Ok(_) => "read:LEAKED\\n", Err(_) => "read:denied\\n" };
                report += match Command::new("/usr/bin/perl").arg("-e").arg("1").status() { Ok(_) => "exec:RAN\\n", Err(e) if e.raw_os_error() == Some(13) => "exec:denied\\n", Err(_) => "exec:error\\n" };
                report += match fs::write("\(secretDir)/planted", "x") { Ok(_) => "write:PLANTED\\n", Err(_) => "write:denied\\n" };
                fs::write(format!("{}/report.txt", env::var("OUT_DIR").unwrap()), report).unwrap();
            }
            """
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/perl"), "the exec probe needs a program that exists")
        let dir = try serdeCrate(buildScript: script)
        let r = try warden(["build", "--", "--offline"], cwd: dir)
        #expect(r.status == 77, "the build succeeded and warden denied something: \(r.stderr)")
        // Each attempt appears once, blocked, attributed to the build script, with the line that would allow it.
        let denied = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        let key = secretDir + "/.ssh/id_rsa"
        #expect(denied.filter { $0.event.pathOrAddr == key }.map(\.event.neededPerm) == ["allow.fs.read_extra=\(key)"])
        #expect(denied.filter { $0.event.pathOrAddr == "/usr/bin/perl" }.map(\.event.neededPerm) == ["allow.exec.allowed=/usr/bin/perl"])
        #expect(denied.filter { $0.event.pathOrAddr == secretDir + "/planted" }.map(\.event.neededPerm) == ["allow.fs.write_extra=\(secretDir)"])
        #expect(denied.count == 3 && denied.allSatisfy { $0.event.unit == .buildScript && $0.package == "wdemo" },
                "\(denied.map { ($0.event.unit, $0.package, $0.event.pathOrAddr) })")
        let build = dir + "/target/debug/build"
        let reports = try FileManager.default.contentsOfDirectory(atPath: build)
            .filter { $0.hasPrefix("wdemo-") }.map { read("\(build)/\($0)/out/report.txt") }.filter { !$0.isEmpty }
        #expect(reports == ["read:denied\nexec:denied\nwrite:denied\n"])
        #expect(!FileManager.default.fileExists(atPath: secretDir + "/planted"))
    }

    @Test(arguments: ["basic", "strict"]) func swiftBuildPassesUnderTheSwiftPreset(profile: String) throws {
        try Kernel.requireRoot()
        let dir = try scratchDir("swift")
        try FileManager.default.createDirectory(atPath: dir + "/Sources/hello", withIntermediateDirectories: true)
        try "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"hello\", targets: [.executableTarget(name: \"hello\")])\n"
            .write(toFile: dir + "/Package.swift", atomically: true, encoding: .utf8)
        try "print(\"hello from swift\")\n".write(toFile: dir + "/Sources/hello/main.swift", atomically: true, encoding: .utf8)
        #expect(try warden(["init"], cwd: dir).status == 0)
        try useProfile(profile, in: dir)
        let r = try warden(["build"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("enforcing: file_open=landlock, rename_unlink=landlock, exec=landlock, connect=cgroup-bpf, syscalls=seccomp"))
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.events.filter(\.isViolation).isEmpty, "\(run.events.filter(\.isViolation).map(\.event.pathOrAddr))")
        // The manifest runner is SwiftPM's build script; swift-frontend compiles; clang links.
        #expect(Set(run.events.map(\.event.unit)).isSuperset(of: [.buildScript, .compiler, .linker]))
        #expect(try mismatches(dir) == 0 && !r.stderr.contains("policy forbids were allowed"), "\(r.stderr)")
        #expect(try output(of: dir + "/.build/debug/hello") == "hello from swift\n")
    }

    @Test func makeProjectPassesUnderTheMakePreset() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let policy = read(dir + "/warden.toml").replacingOccurrences(of: "net.default = \"deny\"", with: "net.default = \"allow\"")

        try policy.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        let r = try warden(["run", "--", "make"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/hello"))
        // What the build produced is not on the allowlist: running it from inside fails.
        let again = try warden(["run", "--", "sh", "-c", "./hello"], cwd: dir)
        #expect(again.status == 126, "\(again.stderr)")
    }
}
