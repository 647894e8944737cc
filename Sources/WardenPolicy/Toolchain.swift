import Foundation

/// The little of the filesystem that toolchain knowledge needs to look at. The real one
/// (WardenSandbox's `FileSystemProbe`) asks the kernel; tests give a fake tree.
public protocol ToolchainProbe: Sendable {
    func exists(_ path: String) -> Bool
    /// A regular file (symlinks followed) the caller may execute.
    func isExecutableFile(_ path: String) -> Bool
    /// Starts with the ELF magic.
    func isELF(_ path: String) -> Bool
    /// Symlinks resolved; the path itself when it cannot be resolved.
    func realPath(_ path: String) -> String
    /// The names in a directory, in the order the directory lists them; [] when unreadable.
    func contents(ofDirectory path: String) -> [String]
}

/// What warden knows about the toolchains builds run, in one place: the programs each
/// starter allows, the helpers a toolchain runs that PATH does not show (rustup proxies'
/// real tools, GCC's internals, git's exec-path, the Swift driver's subcommands), the
/// paths in the home directory a toolchain reads and writes, and the cache environment.
public struct Toolchain: Sendable {
    public let probe: any ToolchainProbe
    public let home: String?
    /// Where rustup keeps its toolchains when not in `~/.rustup` (warden's RUSTUP_HOME).
    public let rustupHome: String?

    public init(probe: any ToolchainProbe, home: String?, environment: [String: String]) {
        self.probe = probe
        self.home = home
        rustupHome = environment["RUSTUP_HOME"]
    }

    /// The C toolchain every starter allows: drivers, assembler, linkers, archivers.
    public static let compilerPrograms = ["cc", "gcc", "c++", "g++", "clang", "clang++", "cpp", "as", "ld", "ld.gold", "ld.lld",
                                          "ld.bfd", "collect2", "ar", "ranlib", "strip"]

    /// The build system's own programs and the C toolchain, as a starter allows them.
    public static func programs(_ system: BuildSystem) -> [String] {
        switch system {
        case .swiftpm:
            return ["swift", "swift-build", "swift-package", "swift-frontend", "swift-driver", "swiftc",
                    "swift-autolink-extract", "swift-plugin-server", "swift-build-tool", "swift-help", "git"] + compilerPrograms
        case .cargo:
            return ["cargo", "rustc", "rustdoc", "rustup"] + compilerPrograms
        case .make, .other:
            return ["make"] + compilerPrograms
        }
    }

    /// GCC's names that bring its internal programs, and those programs.
    static let gccNames: Set<String> = ["cc", "gcc", "c++", "g++", "cpp", "collect2", "cc1", "cc1plus", "lto-wrapper"]
    static let gccInternals = ["collect2", "cc1", "cc1plus", "lto-wrapper", "lto1"]
    static let gccRoots = ["/usr/lib/gcc", "/usr/libexec/gcc"]

    /// GCC runs helpers that are not on PATH (collect2, cc1, cc1plus, lto-wrapper …)
    /// from its own directories (`<root>/<triple>/<version>/`); allowing `gcc`/`cc`
    /// allows them.
    public func compilerInternals(_ name: String) -> [String] {
        guard Self.gccNames.contains(name) else { return [] }
        var out: [String] = []
        for base in Self.gccRoots {
            for triple in probe.contents(ofDirectory: base) {
                for version in probe.contents(ofDirectory: "\(base)/\(triple)") {
                    out += Self.gccInternals.map { "\(base)/\(triple)/\(version)/\($0)" }.filter(probe.isExecutableFile)
                }
            }
        }
        return out
    }

    /// For a rustup proxy (`cargo`, `rustc` … that are really `rustup`), the toolchain
    /// binaries of that name, which the proxy executes; for rustc also the directories of
    /// the tools it links with (rust-lld, the gcc-ld/ld.lld wrapper).
    public func rustupToolchainBinaries(_ name: String, proxy: String) -> [String] {
        guard lastComponent(proxy) == "rustup", !name.contains("/") else { return [] }
        let toolchains = (rustupHome ?? home.map { homePath($0, ".rustup") } ?? "") + "/toolchains"
        let names = probe.contents(ofDirectory: toolchains).sorted()
        var out = names.map { "\(toolchains)/\($0)/bin/\(name)" }.filter(probe.isExecutableFile)
        if name == "rustc" {
            for tc in names {
                let rustlib = "\(toolchains)/\(tc)/lib/rustlib"
                out += probe.contents(ofDirectory: rustlib).map { "\(rustlib)/\($0)/bin" }.filter(probe.exists)
            }
        }
        return out
    }

    /// The programs an allowlisted program runs as part of its own implementation,
    /// which allowlisting it by name brings in (the README's "Helpers" rule):
    /// - git: the ELF programs named `git` or `git-*` in its exec-path (`lib/git-core` or
    ///   `libexec/git-core` beside its `bin`), e.g. `git-upload-pack` for a local clone;
    /// - the Swift driver (`swift`, `swiftc`, `swift-driver`): the ELF programs named
    ///   `swift-*` beside it (`swift build` runs `swift-build`, `swift help` `swift-help`);
    /// - gcc: its internal programs (compilerInternals), rustup proxies: the toolchain's
    ///   binaries of that name (rustupToolchainBinaries).
    /// Scripts among them are left out: their interpreters would come with them.
    /// Real paths, sorted, without the program itself.
    public func implementationHelpers(_ name: String, resolved: String) -> [String] {
        let real = probe.realPath(resolved)
        let dir = parentDirectory(real)
        var out: [String] = []
        func elfPrograms(in dir: String, _ matches: (String) -> Bool) -> [String] {
            probe.contents(ofDirectory: dir).filter(matches)
                .map { dir + "/" + $0 }.filter { probe.isExecutableFile($0) && probe.isELF($0) }.map(probe.realPath)
        }
        switch lastComponent(real) {
        case "git":
            let prefix = parentDirectory(dir)
            if let execPath = [prefix + "/lib/git-core", prefix + "/libexec/git-core"].first(where: probe.exists) {
                out += elfPrograms(in: execPath) { $0 == "git" || $0.hasPrefix("git-") }
            }
        case "swift-driver":
            out += elfPrograms(in: dir) { $0.hasPrefix("swift-") }
        default:
            break
        }
        if !name.contains("/") {
            out += rustupToolchainBinaries(name, proxy: resolved)
            out += compilerInternals(name)
        }
        return Array(Set(out)).filter { $0 != real }.sorted()
    }

    /// The Swift driver runs the clang, ld and helpers of its own toolchain, which need
    /// not be the ones PATH finds first: of `names`, those beside the driver's real file.
    public func driverSiblings(driver: String, names: some Sequence<String>) -> [String] {
        let dir = parentDirectory(probe.realPath(driver))
        return names.map { dir + "/" + $0 }.filter(probe.isExecutableFile)
    }

    /// Variables the child gets so the tool keeps its caches inside the output directory
    /// instead of a shared one in the home directory: a cache other builds read is a
    /// place to plant code (clang's module cache holds compiled modules).
    public static func cacheEnvironment(_ system: BuildSystem, output: String) -> [String: String] {
        switch system {
        case .swiftpm: return ["CLANG_MODULE_CACHE_PATH": output + "/warden-module-cache"]
        case .cargo, .make, .other: return [:]
        }
    }

    /// The toolchain's cache directories the build may write (see `homePaths`): created
    /// by warden before an enforced run when missing, since rules cannot grant creating them.
    public static func cacheDirectories(_ system: BuildSystem, home: String) -> [String] {
        system == .swiftpm ? [homePath(home, ".cache/org.swift.swiftpm")] : []
    }

    /// Directories the tool asks `access(W_OK)` about and, told no, turns features off
    /// for, though a build never writes them: SwiftPM drops the user's mirrors, registries
    /// and fingerprints ("is not accessible or not writable"). They stay writable in the
    /// build's mount view, so `access` says yes, and read-only for Landlock and tier 1,
    /// which decide the writes (a mode change there is traced and caught).
    public static func accessProbed(_ system: BuildSystem, home: String) -> [PathRule] {
        guard system == .swiftpm else { return [] }
        return [".swiftpm/configuration", ".swiftpm/security"].map {
            PathRule(homePath(home, $0), "asked with access(W_OK) by SwiftPM, never written (swift preset)")
        }
    }

    /// Per-toolchain paths in the user's home: caches and toolchains, never credentials.
    public static func homePaths(_ system: BuildSystem, home: String) -> (read: [PathRule], write: [PathRule]) {
        switch system {
        case .cargo:
            return (
                read: [
                    PathRule(homePath(home, ".rustup"), "rustup toolchains (cargo preset)"),
                    PathRule(homePath(home, ".cargo/bin"), "cargo binaries (cargo preset)"),
                    PathRule(homePath(home, ".cargo/config.toml"), "cargo configuration (cargo preset)"),
                    PathRule(homePath(home, ".cargo/registry"), "crate sources (cargo preset)"),
                    PathRule(homePath(home, ".cargo/git"), "git dependencies (cargo preset)"),
                ],
                // Cargo locks its caches and records their use even offline; files only,
                // so nothing in ~/.cargo/bin or the registry can be replaced.
                write: [
                    PathRule(homePath(home, ".cargo/.package-cache"), "cargo's cache lock (cargo preset)"),
                    PathRule(homePath(home, ".cargo/.package-cache-mutate"), "cargo's cache lock (cargo preset)"),
                    PathRule(homePath(home, ".cargo/.global-cache"), "cargo's cache usage record (cargo preset)"),
                ])
        case .swiftpm:
            return (
                read: [PathRule(homePath(home, ".swiftpm"), "SwiftPM configuration (swift preset)")],
                write: [PathRule(homePath(home, ".cache/org.swift.swiftpm"), "SwiftPM caches (swift preset)")])
        case .make, .other:
            return ([], [])
        }
    }

    private func lastComponent(_ path: String) -> String { (path as NSString).lastPathComponent }
    private func parentDirectory(_ path: String) -> String { (path as NSString).deletingLastPathComponent }
}
