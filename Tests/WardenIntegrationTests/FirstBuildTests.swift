import Foundation
import Testing
import WardenOutput

/// A new user's first runs: `warden build -- --release` on a git checkout of a Swift
/// package under the embedded default and the swift preset, what the compiler and git
/// do on a machine with uuid-runtime, O_PATH opens, and odd home directories.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct FirstBuildTests {
    func events(_ dir: String) throws -> [EventRecord] {
        try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events
    }

    func metrics(_ dir: String) throws -> MetricsSnapshot {
        try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
    }

    func sh(_ command: String, cwd: String) throws -> Int32 {
        try runProcess("/bin/sh", ["-c", command], cwd: cwd).status
    }

    /// Every file under .git with its size and modification time.
    func gitState(_ dir: String) -> [String] {
        let root = dir + "/.git"
        return (FileManager.default.subpaths(atPath: root) ?? []).sorted().map { rel in
            let a = try? FileManager.default.attributesOfItem(atPath: root + "/" + rel)
            return "\(rel) \(a?[.size] ?? "") \((a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
    }

    /// A committed git checkout of a small Swift package, outside /tmp.
    func swiftCheckout() throws -> String {
        let dir = try scratchDir("swiftgit")
        try FileManager.default.createDirectory(atPath: dir + "/Sources/hello", withIntermediateDirectories: true)
        try "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"hello\", targets: [.executableTarget(name: \"hello\")])\n"
            .write(toFile: dir + "/Package.swift", atomically: true, encoding: .utf8)
        try "print(\"hello, release\")\n".write(toFile: dir + "/Sources/hello/main.swift", atomically: true, encoding: .utf8)
        try ".build/\nwarden-*\n".write(toFile: dir + "/.gitignore", atomically: true, encoding: .utf8)
        #expect(try sh("git init -q && git add -A && git -c user.name=t -c user.email=t@localhost commit -qm init", cwd: dir) == 0)
        return dir
    }

    /// The mission's first line, on a package nobody wrote for warden: exit 0, no denial,
    /// nothing the kernel allowed that the policy forbids, and .git untouched (git takes
    /// no index lock; the workspace stays read-only).
    @Test(arguments: [("default", ["--release"]), ("default", ["-c", "release"]), ("preset", ["--release"]), ("preset", ["-c", "release"])])
    func releaseBuildOfAGitCheckoutIsClean(policy: String, arguments: [String]) throws {
        try Kernel.requireRoot()
        let dir = try swiftCheckout()
        if policy == "preset" {
            #expect(try warden(["init", "--preset", "swift"], cwd: dir).status == 0)
        }
        let before = gitState(dir)
        let r = try warden(["build", "--"] + arguments, cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        // Clean: no warning but the one every plain-root run carries.
        let warnings = r.stderr.split(separator: "\n").filter { $0.contains("warning:") && !$0.contains("the build runs as root") }
        #expect(warnings.isEmpty, "\(r.stderr)")
        let all = try events(dir)
        #expect(all.filter(\.isViolation).isEmpty, "\(all.filter(\.isViolation).map(\.event.pathOrAddr))")
        #expect(try metrics(dir).enforceMismatches == 0 && !r.stderr.contains("policy forbids were allowed"), "\(r.stderr)")
        // SwiftPM ran git on the checkout, and git was happy without writing into .git.
        #expect(all.contains { $0.event.action == .exec && $0.event.pathOrAddr.hasSuffix("/git") }, "SwiftPM ran no git")
        #expect(gitState(dir) == before)
        #expect(try output(of: dir + "/.build/release/hello") == "hello, release\n")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.start?.command == ["swift", "build"] + (arguments == ["--release"] ? ["--configuration", "release"] : arguments))
    }

    /// O_PATH opens grant neither read nor write (the compiler opens / and /bin so): they
    /// are not forbidden reads, in enforce mode (no mismatch) or in observe mode. The
    /// control reads the same directory and is denied.
    @Test func oPathOpensAreNotReads() throws {
        try Kernel.requireRoot()
        let dir = try makeDir()
        try """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <string.h>
            int main(int argc, char **argv) {
                int flags = argc > 1 && strcmp(argv[1], "read") == 0 ? O_RDONLY | O_DIRECTORY : O_PATH | O_DIRECTORY;
                return open("/root", flags) >= 0 ? 0 : 3;
            }
            """.write(toFile: dir + "/probe.c", atomically: true, encoding: .utf8)
        #expect(try sh("cc -o probe probe.c", cwd: dir) == 0)
        let enforced = try warden(["run", "--", "./probe"], cwd: dir)
        #expect(enforced.status == 0, "\(enforced.stderr)")
        #expect(try events(dir).filter { $0.event.pathOrAddr == "/root" }.allSatisfy { !$0.isViolation && $0.event.access.isEmpty })
        #expect(try metrics(dir).enforceMismatches == 0 && !enforced.stderr.contains("policy forbids"), "\(enforced.stderr)")
        let observed = try warden(["run", "--mode", "observe", "--", "./probe"], cwd: dir)
        #expect(observed.status == 0)
        #expect(try events(dir).filter(\.isViolation).isEmpty)
        // The control: a real read of the same directory is refused and recorded.
        let read = try warden(["run", "--", "./probe", "read"], cwd: dir)
        #expect(read.status == 3, "\(read.stderr)")
        #expect(try events(dir).filter { $0.event.pathOrAddr == "/root" && $0.isBlocked }.count == 1)
    }

    /// libuuid's clock file (uuid-runtime, on Ubuntu and GitHub's runners) is refused and
    /// logged as expected: the run does not end in 77 for it, and the open is refused.
    /// The control writes the same name in another directory and is a real denial.
    @Test func libuuidsClockFileIsRefusedAsExpected() throws {
        try Kernel.requireRoot()
        let uuidDir = "/var/lib/libuuid"
        let made = !FileManager.default.fileExists(atPath: uuidDir)
        if made { try FileManager.default.createDirectory(atPath: uuidDir, withIntermediateDirectories: true) }
        defer { if made { try? FileManager.default.removeItem(atPath: uuidDir) } }
        let clock = uuidDir + "/clock.txt"
        let dir = try makeDir()
        // `<>` opens read-write and creates, as libuuid does.
        let r = try warden(["run", "--", "sh", "-c", "(: <> \(clock)) 2>/dev/null; true"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let refused = try events(dir).filter { $0.event.pathOrAddr == clock }
        #expect(refused.count == 1 && refused.allSatisfy { $0.isExpectedRefusal && $0.event.result == -EROFS }, "\(refused)")
        let m = try metrics(dir)
        #expect(m.expectedRefusals == 1 && m.violationsTotal == 0 && m.blockedTotal == 0)
        // The refusal (EROFS above: the read-only view) is what shows the build did not write it: the file's
        // bytes are no proof, since any process on the host using libuuid rewrites them.
        #expect(try warden(["report"], cwd: dir).stdout.contains("refused as expected: open \(clock)"))
        let other = try scratchDir("notuuid")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let control = try warden(["run", "--", "sh", "-c", "(: <> \(other)/clock.txt) 2>/dev/null; true"], cwd: dir)
        #expect(control.status == 77, "\(control.stderr)")
    }

    /// HOME=/ (a uid with no passwd entry in a container) expands `~` to /, and a user
    /// with no home at all gets a clear policy error instead of a guess.
    @Test func homeOfSlashAndNoHome() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": "[allow.fs]\nwrite_extra = [\"~/.cache/x\"]\n"])
        let slash = try warden(["status"], cwd: dir, env: baseEnvironment(["HOME": "/"]))
        #expect(slash.status == 0, "\(slash.stderr)")
        #expect(slash.stdout.contains("/.cache/x") && !slash.stdout.contains("//.cache"), "\(slash.stdout)")
        // SUDO_UID of a uid with no passwd entry: no home is known.
        let nobody = try warden(["status"], cwd: dir, env: baseEnvironment(["SUDO_UID": "54321", "SUDO_GID": "54321"]))
        #expect(nobody.status == 2)
        #expect(nobody.stderr.contains("warden.toml:2") && nobody.stderr.contains("no home directory is known"), "\(nobody.stderr)")
    }

    /// A fresh crate with a build script and no Cargo.lock (most library crates commit
    /// none): warden creates the lock file for cargo to fill, under the embedded default
    /// and under the cargo preset.
    @Test(arguments: ["default", "preset"]) func aFreshCrateWithoutALockFileBuilds(policy: String) throws {
        try Kernel.requireRoot()
        let dir = try scratchDir("fresh")
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "[package]\nname = \"fresh\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n"
            .write(toFile: dir + "/Cargo.toml", atomically: true, encoding: .utf8)
        try "fn main() { println!(\"cargo:rustc-env=FRESH=yes\"); }\n".write(toFile: dir + "/build.rs", atomically: true, encoding: .utf8)
        try "fn main() { println!(\"fresh {}\", env!(\"FRESH\")); }\n".write(toFile: dir + "/src/main.rs", atomically: true, encoding: .utf8)
        if policy == "preset" { #expect(try warden(["init", "--preset", "cargo"], cwd: dir).status == 0) }
        let r = try warden(["build", "--", "--offline"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("created \(dir)/Cargo.lock"))
        #expect(read(dir + "/Cargo.lock").contains("name = \"fresh\""), "cargo filled the lock file in")
        #expect(try events(dir).filter(\.isViolation).isEmpty)
        #expect(try output(of: dir + "/target/debug/fresh") == "fresh yes\n")
    }

    /// A placeholder the build never filled (resolution failed) is removed: nothing
    /// half-done stays in the user's checkout. A dangling symlink in the lock file's place
    /// is never written through.
    @Test func anUnfilledLockFileIsRemovedAndSymlinksAreNotFollowed() throws {
        try Kernel.requireRoot()
        let dir = try scratchDir("unfilled")
        try FileManager.default.createDirectory(atPath: dir + "/Sources/app", withIntermediateDirectories: true)
        try """
            // swift-tools-version:5.9
            import PackageDescription
            let package = Package(name: "app", dependencies: [.package(path: "../warden-it-missing-dependency")],
                                  targets: [.executableTarget(name: "app")])
            """.write(toFile: dir + "/Package.swift", atomically: true, encoding: .utf8)
        try "print(1)\n".write(toFile: dir + "/Sources/app/main.swift", atomically: true, encoding: .utf8)
        let r = try warden(["build"], cwd: dir)
        #expect(r.status != 0 && r.stderr.contains("created \(dir)/Package.resolved"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/Package.resolved"))

        let target = Scratch.path("planted", under: "/var/lib")
        try FileManager.default.createSymbolicLink(atPath: dir + "/Package.resolved", withDestinationPath: target)
        _ = try warden(["build"], cwd: dir)
        #expect(!FileManager.default.fileExists(atPath: target), "warden wrote through a symlink the workspace planted")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/Package.resolved")) == target)
    }

    /// From a subdirectory, warden finds the project the way cargo does: the build runs,
    /// status names the root and the file that made it, report finds the run.
    @Test func aSubdirectoryFindsTheProjectRoot() throws {
        try Kernel.requireRoot()
        let dir = try scratchDir("subdir")
        try FileManager.default.createDirectory(atPath: dir + "/src/inner", withIntermediateDirectories: true)
        try "[package]\nname = \"sub\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".write(toFile: dir + "/Cargo.toml", atomically: true, encoding: .utf8)
        try "fn main() {}\n".write(toFile: dir + "/src/main.rs", atomically: true, encoding: .utf8)
        let inner = dir + "/src/inner"
        let status = try warden(["status"], cwd: inner)
        #expect(status.status == 0 && status.stdout.contains("workspace: \(dir) (the nearest directory with Cargo.toml)"), "\(status.stdout)")
        #expect(status.stdout.contains("build system: cargo") && status.stdout.contains("working directory: \(inner)"))
        let r = try warden(["build", "--", "--offline"], cwd: inner)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.isExecutableFile(atPath: dir + "/target/debug/sub"))
        #expect(try warden(["report"], cwd: inner).stdout.contains("command: cargo build --offline"))
        #expect(try warden(["report"], cwd: dir).stdout.contains("command: cargo build --offline"), "the same log from the root")
    }

    /// `--help` before `--` is warden's; after it, the command's.
    @Test func helpIsWardensBeforeTheTerminator() throws {
        let dir = try makeDir()
        for sub in ["run", "build"] {
            for flag in ["--help", "-h"] {
                let r = try warden([sub, flag], cwd: dir)
                #expect(r.status == 0 && r.stdout.contains("USAGE: warden \(sub)"), "\(sub) \(flag): \(r.stdout) \(r.stderr)")
            }
        }
    }

    /// Installed as `cargo-warden`, warden works as a cargo subcommand.
    @Test func cargoWardenWorksAsACargoSubcommand() throws {
        try Kernel.requireRoot()
        let bin = try scratchDir("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin + "/cargo-warden", withDestinationPath: wardenPath)
        let dir = try scratchDir("cargosub")
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "[package]\nname = \"viacargo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".write(toFile: dir + "/Cargo.toml", atomically: true, encoding: .utf8)
        try "fn main() {}\n".write(toFile: dir + "/src/main.rs", atomically: true, encoding: .utf8)
        let env = baseEnvironment(["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        let cargo = try #require(["/root/.cargo/bin/cargo", "/usr/bin/cargo"].first { FileManager.default.isExecutableFile(atPath: $0) })
        func viaCargo(_ args: [String]) throws -> (Int32, String) {
            try runProcess(cargo, args, cwd: dir, env: env)
        }
        let status = try viaCargo(["warden", "status"])
        #expect(status.0 == 0 && status.1.contains("build system: cargo"), "\(status.1)")
        let build = try viaCargo(["warden", "build", "--", "--offline", "--release"])
        #expect(build.0 == 0, "\(build.1)")
        #expect(FileManager.default.isExecutableFile(atPath: dir + "/target/release/viacargo"))
    }

    /// SARIF for code scanning: URIs relative to the repository's top level, and with the
    /// built-in default a location at the workspace's build file, not a phantom warden.toml.
    @Test func sarifPointsAtFilesThatExistInTheRepository() throws {
        try Kernel.requireRoot()
        let repo = try scratchDir("repo")
        let app = repo + "/tools/app"
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/.git", withIntermediateDirectories: true)
        try "all:\n\ttrue\n".write(toFile: app + "/Makefile", atomically: true, encoding: .utf8)
        func uri(_ sarif: String) throws -> String? {
            let doc = try JSONSerialization.jsonObject(with: Data(sarif.utf8)) as? [String: Any]
            let result = ((doc?["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])?.first
            let loc = (result?["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
            return (loc?["artifactLocation"] as? [String: Any])?["uri"] as? String
        }
        #expect(try warden(["run", "--", "sh", "-c", "cat /etc/shadow 2>/dev/null; true"], cwd: app).status == 77)
        #expect(try uri(try warden(["report", "--format", "sarif"], cwd: app).stdout) == "tools/app/Makefile")
        try "mode = \"enforce\"\n".write(toFile: app + "/warden.toml", atomically: true, encoding: .utf8)
        #expect(try warden(["run", "--", "sh", "-c", "cat /etc/shadow 2>/dev/null; true"], cwd: app).status == 77)
        #expect(try uri(try warden(["report", "--format", "sarif"], cwd: app).stdout) == "tools/app/warden.toml")
        let all = try JSONSerialization.jsonObject(with: Data(try warden(["report", "--format", "sarif", "--run", "all"], cwd: app).stdout.utf8)) as? [String: Any]
        #expect((all?["runs"] as? [[String: Any]])?.count == 2)
    }

    /// `status --json` and `doctor --json` parse and carry their documented keys.
    @Test func machineOutputHasTheDocumentedKeys() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": "exec.default = \"allowlist\"\n[allow.exec]\nallowed = [\"git\"]\n"])
        #expect(try warden(["run", "--", "sh", "-c", "true"], cwd: dir).status == 126)
        let status = try warden(["status", "--json"], cwd: dir)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any], "\(status.stdout)")
        #expect(Set(doc.keys).isSuperset(of: ["workspace", "cwd", "build_system", "policy_sources", "settings", "exec_allowed", "lists",
                                                "implicit_rules", "warnings", "layers", "enforce_blocked_by", "event_log", "last_run"]))
        let git = try #require((doc["exec_allowed"] as? [[String: Any]])?.first)
        #expect(git["entry"] as? String == "git" && ((git["helpers"] as? [String])?.isEmpty == false))
        let last = try #require(doc["last_run"] as? [String: Any])
        #expect(last["exit_code"] as? Int == 126 && (last["command"] as? [String]) == ["sh", "-c", "true"])
        let doctor = try warden(["doctor", "--json"], cwd: dir)
        let d = try #require(try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [String: Any], "\(doctor.stdout)")
        #expect(Set(d.keys) == ["checks", "policy_sources", "mode", "layers", "enforce_possible", "unenforced_hooks", "ok"])
        #expect((d["ok"] as? Bool) == (doctor.status == 0))
        #expect(((d["checks"] as? [[String: Any]])?.allSatisfy { ["ok", "warn", "fail"].contains($0["state"] as? String ?? "") }) == true)
    }

    /// A fresh container's home (nothing in it, as with HOME=/): SwiftPM's caches are made
    /// by warden, what Foundation tries to create there is refused as expected, and the
    /// build is clean.
    @Test func aSwiftBuildInAFreshHomeIsClean() throws {
        try Kernel.requireRoot()
        let home = try scratchDir("freshhome")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let dir = try swiftCheckout()
        let r = try warden(["build"], cwd: dir, env: baseEnvironment(["HOME": home]))
        #expect(r.status == 0, "\(r.stderr)")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.events.filter(\.isViolation).isEmpty, "\(run.events.filter(\.isViolation).map(\.event.pathOrAddr))")
        #expect(FileManager.default.fileExists(atPath: home + "/.cache/org.swift.swiftpm"))
        #expect(!FileManager.default.fileExists(atPath: home + "/.local"), "refused, not allowed")
    }

    /// SwiftPM writes its dependencies' manifests into .build/checkouts on every build:
    /// that is the build's own output, not a planted policy, so the next run goes on.
    @Test func dependencyManifestsInTheOutputAreNotPlantedPolicies() throws {
        try Kernel.requireRoot()
        let base = try scratchDir("deps")
        let dep = base + "/dep"
        try FileManager.default.createDirectory(atPath: dep + "/Sources/Dep", withIntermediateDirectories: true)
        try "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"Dep\", products: [.library(name: \"Dep\", targets: [\"Dep\"])], targets: [.target(name: \"Dep\")])\n"
            .write(toFile: dep + "/Package.swift", atomically: true, encoding: .utf8)
        try "public let greeting = \"hi\"\n".write(toFile: dep + "/Sources/Dep/Dep.swift", atomically: true, encoding: .utf8)
        #expect(try sh("git init -q && git add -A && git -c user.name=t -c user.email=t@localhost commit -qm dep && git tag 1.0.0", cwd: dep) == 0)
        let app = base + "/app"
        try FileManager.default.createDirectory(atPath: app + "/Sources/app", withIntermediateDirectories: true)
        try """
            // swift-tools-version:5.9
            import PackageDescription
            let package = Package(name: "app", dependencies: [.package(url: "file://\(dep)", from: "1.0.0")],
                                  targets: [.executableTarget(name: "app", dependencies: [.product(name: "Dep", package: "dep")])])
            """.write(toFile: app + "/Package.swift", atomically: true, encoding: .utf8)
        try "import Dep\nprint(greeting)\n".write(toFile: app + "/Sources/app/main.swift", atomically: true, encoding: .utf8)
        try "[allow.fs]\nread_extra = [\"\(dep)\"]\n".write(toFile: app + "/warden.toml", atomically: true, encoding: .utf8)
        let first = try warden(["build"], cwd: app)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(FileManager.default.fileExists(atPath: app + "/.build/checkouts/dep/Package.swift"), "the control: SwiftPM wrote a manifest")
        let second = try warden(["build"], cwd: app)
        #expect(second.status == 0 && !second.stderr.contains("choose its next policy"), "\(second.stderr)")
    }
}
