import Foundation
import Testing
@testable import WardenPolicy

/// A throw-away directory with the given files.
func makeWorkspace(_ files: [String: String]) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-policy-\(UUID().uuidString)").path
    for (name, text) in files {
        let path = dir + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    return dir
}

@Suite struct MergeTests {
    @Test func builtInDefaultAppliesWithoutFiles() throws {
        let dir = try makeWorkspace([:])
        let loaded = try PolicyLoader.load(PolicyInputs(workspace: dir))
        #expect(loaded.sources == ["built-in default"])
        #expect(loaded.effective.mode.value == .enforce)
        #expect(loaded.effective.fsDefault.value == .strict)
        #expect(loaded.effective.netDefault.value == .deny)
        #expect(loaded.effective.mode.origin.source == "built-in default")
        #expect(loaded.buildSystem == .other)
    }

    @Test func mergeOrderAndProvenance() throws {
        let dir = try makeWorkspace([
            "workspace.warden.toml": """
                [root]
                mode = "observe"
                net.default = "allow"
                allow.exec.allowed = ["make", "cc"]
                [members.app]
                net.default = "deny"
                allow.exec.allowed = ["ld"]
                [members.other]
                mode = "enforce"
                """,
            "pkg/Cargo.toml": "[package]\nname = \"app\"\nversion = \"0.1.0\"\n",
            "pkg/warden.toml": "exec.default = \"allowlist\"\nallow.exec.allowed = [\"cc\", \"rustc\"]\n",
            "extra1.toml": "fs.default = \"unrestricted\"\nallow.exec.allowed = [\"a1\"]\n",
            "extra2.toml": "fs.default = \"strict\"\nallow.exec.allowed = [\"a2\", \"a1\"]\n",
        ])
        var inputs = PolicyInputs(workspace: dir + "/pkg")
        inputs.policyFiles = [dir + "/extra1.toml", dir + "/extra2.toml"]
        inputs.allow = ["/opt/tool/bin/x", "make"]
        inputs.mode = .enforce
        let loaded = try PolicyLoader.load(inputs)
        let p = loaded.effective
        #expect(loaded.member == "app")
        #expect(loaded.buildSystem == .cargo)
        #expect(loaded.sources == ["built-in default", dir + "/workspace.warden.toml", dir + "/pkg/warden.toml",
                                   dir + "/extra1.toml", dir + "/extra2.toml"])
        // Scalars: the last source wins.
        #expect(p.mode.value == .enforce && p.mode.origin.source == "--mode")
        #expect(p.netDefault.value == .deny && p.netDefault.origin == Provenance(source: dir + "/workspace.warden.toml", line: 6))
        #expect(p.execDefault.value == .allowlist && p.execDefault.origin.source == dir + "/pkg/warden.toml")
        #expect(p.fsDefault.value == .strict && p.fsDefault.origin.source == dir + "/extra2.toml")
        // Lists append in order and keep the first provenance of a repeated value.
        #expect(p.execAllowed.map(\.value) == ["make", "cc", "ld", "rustc", "a1", "a2", "/opt/tool/bin/x"])
        #expect(p.execAllowed.first { $0.value == "cc" }?.origin.source == dir + "/workspace.warden.toml")
        #expect(p.execAllowed.first { $0.value == "/opt/tool/bin/x" }?.origin.source == "--allow")
    }

    @Test func memberFlagAndSwiftPackageName() throws {
        let dir = try makeWorkspace([
            "workspace.warden.toml": "[root]\nmode = \"observe\"\n[members.Tool]\nmode = \"enforce\"\n[members.lib]\nfs.default = \"unrestricted\"\n",
            "Package.swift": "// swift-tools-version:6.0\nimport PackageDescription\nlet package = Package(\n    name: \"Tool\",\n    targets: [])\n",
        ])
        let detected = try PolicyLoader.load(PolicyInputs(workspace: dir))
        #expect(detected.member == "Tool")
        #expect(detected.effective.mode.value == .enforce)
        #expect(detected.buildSystem == .swiftpm)

        var inputs = PolicyInputs(workspace: dir)
        inputs.member = "lib"
        let chosen = try PolicyLoader.load(inputs)
        #expect(chosen.member == "lib")
        #expect(chosen.effective.mode.value == .observe)
        #expect(chosen.effective.fsDefault.value == .unrestricted)

        inputs.member = "nope"
        #expect { try PolicyLoader.load(inputs) } throws: { e in
            (e as? PolicyError)?.message.contains("members: Tool, lib") == true
        }
    }

    @Test func workspaceFileErrors() throws {
        let e1 = try #require(wsError("[roots]\nmode = \"observe\"\n"))
        #expect(e1.line == 1 && e1.message.contains("did you mean 'root'"))
        let e2 = try #require(wsError("[root]\nmode = \"observe\"\n[members.app]\nmdoe = \"enforce\"\n"))
        #expect(e2.line == 4 && e2.key == "members.app.mdoe" && e2.message.contains("'mode'"))
    }

    func wsError(_ text: String) -> PolicyError? {
        do {
            _ = try WorkspacePolicy.parse(text, source: "workspace.warden.toml", home: nil)
            return nil
        } catch { return error }
    }

    @Test func missingAndUnreadableFiles() throws {
        let dir = try makeWorkspace(["bad.toml": "mode = [\n"])
        var inputs = PolicyInputs(workspace: dir)
        inputs.policyFiles = [dir + "/absent.toml"]
        #expect { try PolicyLoader.load(inputs) } throws: { e in
            let pe = e as? PolicyError
            return pe?.file == dir + "/absent.toml" && pe?.message == "no such file"
        }
        inputs.policyFiles = [dir]  // a directory cannot be read as a file
        #expect(throws: PolicyError.self) { try PolicyLoader.load(inputs) }
        inputs.policyFiles = [dir + "/bad.toml"]
        #expect { try PolicyLoader.load(inputs) } throws: { e in (e as? PolicyError)?.message.hasPrefix("invalid TOML") == true }
        inputs.policyFiles = []
        inputs.allow = ["rel/tool"]
        #expect { try PolicyLoader.load(inputs) } throws: { e in (e as? PolicyError)?.file == "--allow" }
    }
}

@Suite struct BaselineTests {
    let home = "/home/dev"

    /// The secrets the README promises are never in the baseline, written out here: a
    /// name dropped from the implementation's list fails this test instead of going quiet.
    static let pinnedSecrets = [
        ".ssh", ".aws", ".azure", ".config/gcloud", ".config/gh", ".netrc", ".git-credentials", ".gnupg",
        ".docker/config.json", ".kube", ".npmrc", ".pypirc", ".cargo/credentials", ".cargo/credentials.toml", ".bash_history",
    ].map { "/home/dev/" + $0 } + ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh", "/root"]

    @Test func theSecretsListIsThePinnedOne() {
        #expect(Set(SystemBaseline.secrets(home: home)).isSuperset(of: Self.pinnedSecrets),
                "missing: \(Set(Self.pinnedSecrets).subtracting(SystemBaseline.secrets(home: home)))")
        #expect(Self.pinnedSecrets.allSatisfy(SystemBaseline.looksLikeSecret))
    }

    @Test(arguments: BuildSystem.allCases)
    func implicitRulesNeverCoverSecrets(_ system: BuildSystem) throws {
        let policy = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [])
        let ctx = RunContext(workspace: "/work/project", buildSystem: system, home: home, environment: [:], tmpdir: "/tmp")
        let plan = try #require(policy.filesystemPlan(ctx))
        // A file inside each secret directory too: a rule could cover it without its parent.
        for secret in Self.pinnedSecrets + Self.pinnedSecrets.map({ $0 + "/inner" }) {
            #expect(plan.allowsRead(secret) == nil, "\(secret) readable via \(String(describing: plan.allowsRead(secret)))")
            #expect(plan.allowsWrite(secret) == nil)
        }
        #expect(policy.secretWarnings(plan, home: home).isEmpty)
    }

    @Test func outputDirectoriesPerBuildSystem() throws {
        let policy = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [])
        func plan(_ s: BuildSystem, _ env: [String: String] = [:]) -> FilesystemPlan? {
            policy.filesystemPlan(RunContext(workspace: "/w", buildSystem: s, home: home, environment: env))
        }
        #expect(plan(.swiftpm)?.allowsWrite("/w/.build/debug/x.o") != nil)
        #expect(plan(.swiftpm)?.allowsWrite("/w/Sources/main.swift") == nil)
        #expect(plan(.swiftpm)?.allowsRead("/w/Sources/main.swift") != nil)
        #expect(plan(.cargo)?.allowsWrite("/w/target/debug/build/x-1/out/gen.rs") != nil)
        #expect(plan(.cargo, ["CARGO_TARGET_DIR": "/scratch/t"])?.allowsWrite("/scratch/t/debug") != nil)
        #expect(plan(.cargo)?.allowsWrite("/w/src/lib.rs") == nil)
        #expect(plan(.make)?.allowsWrite("/w/out.o") != nil)
        #expect(plan(.make)?.allowsRead("/home/dev/.ssh/id_rsa") == nil)
        #expect(plan(.make)?.allowsWrite("/wx") == nil, "prefixes match whole components")
    }

    @Test func userRulesThatExposeSecretsWarn() throws {
        var f = PolicyFragment()
        f.fsReadExtra = [Located("/home/dev", Provenance(source: "warden.toml", line: 3))]
        let policy = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [f])
        let plan = policy.filesystemPlan(RunContext(workspace: "/w", buildSystem: .make, home: home, environment: [:]))
        let warnings = policy.secretWarnings(plan, home: home)
        #expect(warnings.contains { $0.contains("/home/dev/.ssh") && $0.contains("warden.toml:3") })
    }

    @Test(arguments: BuildSystem.allCases)
    func starterPoliciesParse(_ system: BuildSystem) throws {
        let f = try PolicyParser(source: "warden.toml", home: home).parse(DefaultPolicy.starter(for: system))
        #expect(f.execDefault?.value == .allowlist)
        #expect(Set(f.execAllowed.map(\.value)) == Set(DefaultPolicy.starterPrograms(system)))
        #expect(f.mode?.value == .enforce)
    }

    @Test func detection() {
        #expect(BuildSystem.detect(fileNames: ["Package.swift", "Makefile"]) == .swiftpm)
        #expect(BuildSystem.detect(fileNames: ["Cargo.toml"]) == .cargo)
        #expect(BuildSystem.detect(fileNames: ["GNUmakefile"]) == .make)
        #expect(BuildSystem.detect(fileNames: ["README"]) == .other)
        #expect(BuildSystem.swiftpm.buildCommand == ["swift", "build"])
        #expect(BuildSystem.cargo.buildCommand == ["cargo", "build"])
        #expect(BuildSystem.make.buildCommand == nil)
    }
}

@Suite struct EnvironmentTests {
    @Test func scrubKeepsBaselineAndAllowedOnly() throws {
        var f = PolicyFragment()
        f.envRead = [Located("MY_SETTING", .builtIn), Located("BUILD_*", .builtIn)]
        let policy = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [f])
        let parent = [
            "PATH": "/usr/bin", "HOME": "/root", "USER": "root", "GITHUB_TOKEN": "ghp_x", "AWS_SECRET_ACCESS_KEY": "k",
            "CARGO_REGISTRY_TOKEN": "t", "SSH_AUTH_SOCK": "/tmp/agent", "LC_ALL": "C", "MY_SETTING": "1", "BUILD_ID": "7",
            "CARGO_HOME": "/c",
        ]
        let env = EnvironmentScrub.childEnvironment(parent: parent, policy: policy, home: "/home/dev", user: "dev", cwd: "/w")
        #expect(env["GITHUB_TOKEN"] == nil)
        #expect(env["AWS_SECRET_ACCESS_KEY"] == nil)
        #expect(env["CARGO_REGISTRY_TOKEN"] == nil)
        #expect(env["SSH_AUTH_SOCK"] == nil)
        #expect(env["PATH"] == "/usr/bin" && env["LC_ALL"] == "C" && env["CARGO_HOME"] == "/c")
        #expect(env["MY_SETTING"] == "1" && env["BUILD_ID"] == "7")
        #expect(env["HOME"] == "/home/dev" && env["USER"] == "dev" && env["LOGNAME"] == "dev" && env["PWD"] == "/w")
    }
}

/// warden's tables in Cargo.toml: read with file and line, merged after
/// workspace.warden.toml and before warden.toml, unknown keys refused like anywhere else.
@Suite struct CargoMetadataTests {
    func workspace(_ files: [String: String]) throws -> String {
        let dir = NSTemporaryDirectory() + "warden-cargo-meta-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/crates/app", withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func packageAndWorkspaceTablesAreMergedInOrder() throws {
        let dir = try workspace([
            "Cargo.toml": "[workspace]\nmembers = [\"crates/app\"]\n\n[workspace.metadata.warden]\nmode = \"observe\"\nallow.fs.read_extra = [\"/srv/ws\"]\n",
            "crates/app/Cargo.toml": "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[package.metadata.warden]\nexec.default = \"allowlist\"\n[package.metadata.warden.allow.fs]\nread_extra = [\"/srv/pkg\"]\n",
            "crates/app/warden.toml": "mode = \"enforce\"\n",
        ])
        var inputs = PolicyInputs(workspace: dir + "/crates/app")
        inputs.home = "/home/u"
        let loaded = try PolicyLoader.load(inputs)
        #expect(loaded.sources == ["built-in default", dir + "/Cargo.toml", dir + "/crates/app/Cargo.toml", dir + "/crates/app/warden.toml"])
        #expect(loaded.effective.mode.value == .enforce, "warden.toml comes after the manifests")
        #expect(loaded.effective.execDefault.value == .allowlist)
        #expect(loaded.effective.execDefault.origin == Provenance(source: dir + "/crates/app/Cargo.toml", line: 6))
        #expect(loaded.effective.fsReadExtra.map(\.value) == ["/srv/ws", "/srv/pkg"])
        var ignoring = inputs
        ignoring.ignoreWorkspacePolicy = true
        #expect(try PolicyLoader.load(ignoring).sources == ["built-in default"])
    }

    @Test func anUnknownKeyIsLocated() throws {
        let dir = try workspace(["crates/app/Cargo.toml": "[package]\nname = \"app\"\n\n[package.metadata.warden]\nmod = \"observe\"\n"])
        var inputs = PolicyInputs(workspace: dir + "/crates/app")
        inputs.home = "/home/u"
        #expect(throws: PolicyError.self) { _ = try PolicyLoader.load(inputs) }
        do {
            _ = try PolicyLoader.load(inputs)
        } catch {
            #expect(error.line == 5 && error.key == "package.metadata.warden.mod" && error.description.contains("did you mean 'mode'"), "\(error)")
        }
    }

    @Test func manifestsWithoutWardenAreNotParsed() throws {
        let dir = try workspace(["crates/app/Cargo.toml": "[package]\nname = \"app\"\n[dependencies]\nweird = { git = \"x\", = }\n"])
        var inputs = PolicyInputs(workspace: dir + "/crates/app")
        inputs.home = "/home/u"
        #expect(try PolicyLoader.load(inputs).sources == ["built-in default"])
    }
}

@Suite struct NeededPermissionTests {
    @Test func everyKeyRoundTrips() {
        for key in PolicyKey.allCases {
            let parsed = PolicyKey.parseNeeded(key.needed("/a=b c"))
            #expect(parsed?.key == key && parsed?.value == "/a=b c", "\(key)")
        }
        #expect(PolicyKey.parseNeeded("refused_by_kernel=-13") == nil)
        #expect(PolicyKey.parseNeeded("allow.fs.read_extra") == nil)
        #expect(PolicyKey.parseNeeded("") == nil)
    }
}
