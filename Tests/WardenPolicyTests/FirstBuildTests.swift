import Testing
@testable import WardenPolicy

/// What a first `warden build` on a Swift or Cargo project depends on, without a kernel:
/// the build command, the home directory, git's files, the expected refusals.
@Suite struct FirstBuildTests {
    @Test func cargosReleaseFlagIsMappedForSwiftPM() {
        #expect(BuildSystem.swiftpm.buildCommand(forwarding: ["--release", "--product", "math"])
                == ["swift", "build", "--configuration", "release", "--product", "math"])
        // The value of a pass-through flag is the compiler's, not SwiftPM's.
        #expect(BuildSystem.swiftpm.buildCommand(forwarding: ["-Xswiftc", "--release"]) == ["swift", "build", "-Xswiftc", "--release"])
        #expect(BuildSystem.swiftpm.buildCommand(forwarding: ["-c", "release"]) == ["swift", "build", "-c", "release"])
        #expect(BuildSystem.cargo.buildCommand(forwarding: ["--release"]) == ["cargo", "build", "--release"])
        #expect(BuildSystem.make.buildCommand(forwarding: ["--release"]) == nil)
    }

    @Test(arguments: [
        ("/", "/"), ("/home/u", "/home/u"), ("/home/u/", "/home/u"), ("//home//u", "/home/u"), ("///", "/"),
    ]) func homesAreNormalized(_ raw: String, _ expected: String) {
        #expect(normalizedHome(raw) == expected)
    }

    @Test(arguments: ["", "relative/home", "~", "/home/../etc", "/home/./u"]) func unusableHomesAreNone(_ raw: String) {
        #expect(normalizedHome(raw) == nil)
        #expect(normalizedHome(nil) == nil)
    }

    @Test func tildeExpandsForARootHome() throws {
        let f = try parse("[allow.fs]\nwrite_extra = [\"~/.cache/x\", \"~\"]\n", home: "/")
        #expect(f.fsWriteExtra.map(\.value) == ["/.cache/x", "/"])
        let noHome = try #require(parseError("[allow.fs]\nread_extra = [\"~/x\"]\n", home: nil))
        #expect(noHome.message.contains("no home directory is known") && noHome.line == 2)
    }

    /// With HOME=/ no implicit rule has a doubled slash (which would match nothing).
    @Test func aRootHomeGivesWellFormedRules() throws {
        for system in [BuildSystem.swiftpm, .cargo] {
            let plan = try #require(EffectivePolicy.merge(base: DefaultPolicy.fragment(), []).filesystemPlan(
                RunContext(workspace: "/w", buildSystem: system, home: "/", environment: [:])))
            let all = (plan.read + plan.write).map(\.path)
            #expect(!all.contains { $0.contains("//") }, "\(all)")
            #expect(all.contains("/.gitconfig"))
        }
    }

    /// The mount view keeps the write paths writable, and SwiftPM's configuration and
    /// security directories, which it asks access(W_OK) about: writable there (else
    /// SwiftPM drops the user's mirrors and registries) yet never a write rule.
    @Test func theMountViewKeepsWhatSwiftPMProbes() throws {
        let policy = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [])
        let swift = try #require(policy.filesystemPlan(RunContext(workspace: "/w", buildSystem: .swiftpm, home: "/home/u", environment: [:])))
        #expect(swift.viewWritable.map(\.path) == ["/home/u/.swiftpm/configuration", "/home/u/.swiftpm/security"])
        #expect(swift.mountWritable == swift.write.map(\.path) + swift.viewWritable.map(\.path))
        #expect(swift.allowsWrite("/home/u/.swiftpm/configuration/mirrors.json") == nil)
        let cargo = try #require(policy.filesystemPlan(RunContext(workspace: "/w", buildSystem: .cargo, home: "/home/u", environment: [:])))
        #expect(cargo.viewWritable.isEmpty && cargo.mountWritable == cargo.write.map(\.path))
    }

    @Test func gitConfigurationNamesItsFiles() {
        let text = """
            [user]
            \texcludesFile = /not/core
            [core]
            \t# excludesFile = /commented/out
            \texcludesfile = /etc/gitignore ; system ignore file
            \tattributesFile = "~/git attributes"
            \teditor = vim
            [Core]
            \tExcludesFile = relative/ignore
            [core] attributesfile = /inline/attrs
            """
        #expect(GitConfiguration.namedFiles(in: text, home: "/home/u") == ["/etc/gitignore", "/home/u/git attributes", "/inline/attrs"])
        #expect(GitConfiguration.namedFiles(in: text, home: nil) == ["/etc/gitignore", "/inline/attrs"])
    }

    @Test func gitFilesAreReadableButNeverASecret() {
        let rules = SystemBaseline.git(.swiftpm, home: "/home/u", named: ["/etc/gitignore", "/home/u/.ssh/id_rsa", "/home/u"]).map(\.path)
        #expect(rules.contains("/etc/gitconfig") && rules.contains("/home/u/.gitconfig") && rules.contains("/etc/gitignore"))
        #expect(rules.contains("/home/u/.config/git/ignore") && rules.contains("/etc/gitattributes"))
        #expect(!rules.contains("/home/u/.ssh/id_rsa"), "a secret named by git's configuration stays unreadable")
        #expect(!rules.contains("/home/u"), "a rule holding a secret is refused too")
        // root's home is /root, which is a secret as a whole for everyone else.
        #expect(SystemBaseline.git(.cargo, home: "/root", named: []).map(\.path).contains("/root/.gitconfig"))
        #expect(SystemBaseline.git(.make, home: "/home/u", named: ["/etc/gitignore"]).isEmpty)
    }

    @Test func gitFilesAreInThePlan() throws {
        let plan = try #require(EffectivePolicy.merge(base: DefaultPolicy.fragment(), []).filesystemPlan(
            RunContext(workspace: "/w", buildSystem: .swiftpm, home: "/home/u", environment: [:], gitNamedFiles: ["/etc/gitignore"])))
        #expect(plan.allowsRead("/etc/gitignore") != nil && plan.allowsWrite("/etc/gitignore") == nil)
        #expect(plan.allowsWrite("/w/.git/index.lock") == nil, ".git stays unwritable")
    }

    @Test func libuuidsClockIsAnExpectedRefusalAndNothingElseIs() {
        #expect(SystemBaseline.expectedRefusal("/var/lib/libuuid/clock.txt") != nil)
        #expect(SystemBaseline.expectedRefusal("/var/lib/libuuidx") == nil)
        #expect(SystemBaseline.expectedRefusal("/var/lib") == nil)
        let plan = EffectivePolicy.merge(base: DefaultPolicy.fragment(), []).filesystemPlan(
            RunContext(workspace: "/w", buildSystem: .swiftpm, home: "/home/u", environment: [:]))
        #expect(plan?.allowsWrite("/var/lib/libuuid/clock.txt") == nil, "refused, not allowed")
    }
}

@Suite struct ProjectRootTests {
    func find(_ cwd: String, _ files: Set<String>, home: String? = "/home/u") -> (String, String?) {
        let r = ProjectRoot.find(from: cwd, home: home) { files.contains($0) }
        return (r.root, r.marker)
    }

    @Test func theNearestMarkerAboveIsTheRoot() {
        #expect(find("/src/app/Sources/x", ["/src/app/Package.swift"]) == ("/src/app", "Package.swift"))
        #expect(find("/src/ws/crates/a/src", ["/src/ws/crates/a/Cargo.toml", "/src/ws/Cargo.toml"]) == ("/src/ws/crates/a", "Cargo.toml"))
        #expect(find("/src/m/sub", ["/src/m/warden.toml"]) == ("/src/m", "warden.toml"))
        #expect(find("/src/m", ["/src/m/warden.toml"]) == ("/src/m", "warden.toml"))
    }

    @Test func nothingFoundMeansTheWorkingDirectory() {
        #expect(find("/src/plain/sub", []) == ("/src/plain/sub", nil))
        // A stray file in the home directory or at / never makes them the workspace.
        #expect(find("/home/u/proj/sub", ["/home/u/Cargo.toml"]) == ("/home/u/proj/sub", nil))
        #expect(find("/srv/x", ["/warden.toml"]) == ("/srv/x", nil))
    }
}
