import Testing
@testable import WardenPolicy

/// A made-up tree: files (executable or not, ELF or script), directories, symlinks.
struct FakeProbe: ToolchainProbe {
    enum Node { case directory, elf, script, file }
    var nodes: [String: Node] = [:]
    var links: [String: String] = [:]

    init(_ nodes: [String: Node], links: [String: String] = [:]) {
        self.links = links
        for (path, node) in nodes {
            self.nodes[path] = node
            var dir = path
            while let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
                dir = String(dir[..<slash])
                if self.nodes[dir] == nil { self.nodes[dir] = .directory }
            }
        }
    }

    func exists(_ path: String) -> Bool { nodes[realPath(path)] != nil }
    func isExecutableFile(_ path: String) -> Bool {
        switch nodes[realPath(path)] {
        case .elf, .script: return true
        default: return false
        }
    }
    func isELF(_ path: String) -> Bool { nodes[realPath(path)].map { if case .elf = $0 { true } else { false } } ?? false }
    func realPath(_ path: String) -> String { links[path] ?? path }
    func contents(ofDirectory path: String) -> [String] {
        guard case .directory = nodes[path] else { return [] }
        let prefix = path == "/" ? "/" : path + "/"
        return nodes.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
            .map { String($0.dropFirst(prefix.count)) }.sorted()
    }
}

@Suite struct ToolchainTests {
    @Test func gitBringsTheELFProgramsOfItsExecPath() {
        let probe = FakeProbe(["/usr/bin/git": .elf, "/usr/lib/git-core/git": .elf, "/usr/lib/git-core/git-upload-pack": .elf,
                               "/usr/lib/git-core/git-add--interactive": .script, "/usr/lib/git-core/other": .elf])
        let helpers = Toolchain(probe: probe, home: nil, environment: [:]).implementationHelpers("git", resolved: "/usr/bin/git")
        #expect(helpers == ["/usr/lib/git-core/git", "/usr/lib/git-core/git-upload-pack"])
    }

    @Test func gitFindsLibexecWhenLibHasNoExecPath() {
        let probe = FakeProbe(["/opt/git/bin/git": .elf, "/opt/git/libexec/git-core/git-remote-http": .elf])
        let helpers = Toolchain(probe: probe, home: nil, environment: [:]).implementationHelpers("git", resolved: "/opt/git/bin/git")
        #expect(helpers == ["/opt/git/libexec/git-core/git-remote-http"])
    }

    @Test func theSwiftDriverBringsItsSubcommandsThroughItsRealFile() {
        let probe = FakeProbe(["/tc/usr/bin/swift-driver": .elf, "/tc/usr/bin/swift-build": .elf, "/tc/usr/bin/swift-help": .elf,
                               "/tc/usr/bin/swift-script": .script, "/tc/usr/bin/clang": .elf],
                              links: ["/usr/bin/swift": "/tc/usr/bin/swift-driver"])
        let helpers = Toolchain(probe: probe, home: nil, environment: [:]).implementationHelpers("swift", resolved: "/usr/bin/swift")
        #expect(helpers == ["/tc/usr/bin/swift-build", "/tc/usr/bin/swift-help"])
    }

    @Test func gccBringsItsInternalsOnly() {
        let probe = FakeProbe(["/usr/lib/gcc/x86_64-linux-gnu/13/cc1": .elf, "/usr/lib/gcc/x86_64-linux-gnu/13/collect2": .elf,
                               "/usr/libexec/gcc/aarch64/12/lto1": .elf, "/usr/lib/gcc/x86_64-linux-gnu/13/crtbegin.o": .file])
        let tc = Toolchain(probe: probe, home: nil, environment: [:])
        #expect(Set(tc.compilerInternals("gcc")) == ["/usr/lib/gcc/x86_64-linux-gnu/13/cc1", "/usr/lib/gcc/x86_64-linux-gnu/13/collect2",
                                                     "/usr/libexec/gcc/aarch64/12/lto1"])
        #expect(tc.compilerInternals("clang").isEmpty && tc.compilerInternals("make").isEmpty)
        #expect(tc.implementationHelpers("cc", resolved: "/usr/bin/cc").contains("/usr/lib/gcc/x86_64-linux-gnu/13/cc1"))
    }

    @Test func aRustupProxyBringsTheToolchainBinaries() {
        let probe = FakeProbe(["/home/u/.cargo/bin/rustup": .elf, "/home/u/.rustup/toolchains/stable/bin/cargo": .elf,
                               "/home/u/.rustup/toolchains/nightly/bin/cargo": .elf,
                               "/home/u/.rustup/toolchains/stable/bin/rustc": .elf,
                               "/home/u/.rustup/toolchains/stable/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld": .elf],
                              links: ["/home/u/.cargo/bin/cargo": "/home/u/.cargo/bin/rustup"])
        let tc = Toolchain(probe: probe, home: "/home/u", environment: [:])
        #expect(tc.rustupToolchainBinaries("cargo", proxy: "/home/u/.cargo/bin/rustup")
            == ["/home/u/.rustup/toolchains/nightly/bin/cargo", "/home/u/.rustup/toolchains/stable/bin/cargo"])
        #expect(tc.rustupToolchainBinaries("rustc", proxy: "/home/u/.cargo/bin/rustup")
            == ["/home/u/.rustup/toolchains/stable/bin/rustc", "/home/u/.rustup/toolchains/stable/lib/rustlib/x86_64-unknown-linux-gnu/bin"])
        // Only a proxy: a cargo that is cargo brings nothing.
        #expect(tc.rustupToolchainBinaries("cargo", proxy: "/usr/bin/cargo").isEmpty)
        #expect(tc.implementationHelpers("cargo", resolved: "/home/u/.cargo/bin/rustup").count == 2)
    }

    @Test func rustupHomeWinsOverTheHomeDirectory() {
        let probe = FakeProbe(["/opt/rustup/toolchains/stable/bin/cargo": .elf, "/home/u/.rustup/toolchains/stable/bin/cargo": .elf])
        let tc = Toolchain(probe: probe, home: "/home/u", environment: ["RUSTUP_HOME": "/opt/rustup"])
        #expect(tc.rustupToolchainBinaries("cargo", proxy: "/usr/bin/rustup") == ["/opt/rustup/toolchains/stable/bin/cargo"])
    }

    @Test func theDriversToolchainHasTheAllowlistedNames() {
        let probe = FakeProbe(["/tc/bin/swift-driver": .elf, "/tc/bin/clang": .elf, "/tc/bin/ld": .file],
                              links: ["/usr/bin/swiftc": "/tc/bin/swift-driver"])
        let tc = Toolchain(probe: probe, home: nil, environment: [:])
        #expect(tc.driverSiblings(driver: "/usr/bin/swiftc", names: ["clang", "ld", "make"]) == ["/tc/bin/clang"])
    }

    @Test func cachesAndHomePathsPerBuildSystem() {
        #expect(Toolchain.cacheEnvironment(.swiftpm, output: "/w/.build") == ["CLANG_MODULE_CACHE_PATH": "/w/.build/warden-module-cache"])
        #expect(Toolchain.cacheEnvironment(.cargo, output: "/w/target").isEmpty)
        #expect(Toolchain.cacheDirectories(.swiftpm, home: "/home/u") == ["/home/u/.cache/org.swift.swiftpm"])
        #expect(Toolchain.cacheDirectories(.make, home: "/home/u").isEmpty)
        let cargo = Toolchain.homePaths(.cargo, home: "/home/u")
        #expect(cargo.read.map(\.path).contains("/home/u/.rustup") && !cargo.write.map(\.path).contains("/home/u/.cargo/bin"))
        #expect(Toolchain.homePaths(.swiftpm, home: "/home/u").write.map(\.path) == ["/home/u/.cache/org.swift.swiftpm"])
        #expect(Toolchain.homePaths(.other, home: "/home/u").read.isEmpty)
    }

    @Test func everyStarterAllowsTheCToolchain() {
        for system in BuildSystem.allCases {
            #expect(Toolchain.programs(system).suffix(Toolchain.compilerPrograms.count) == ArraySlice(Toolchain.compilerPrograms))
        }
        #expect(Toolchain.programs(.cargo).prefix(4) == ["cargo", "rustc", "rustdoc", "rustup"])
    }
}
