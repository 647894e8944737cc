/// Build systems warden recognises, and what each implies for a strict filesystem policy.
public enum BuildSystem: String, Sendable, CaseIterable, Codable {
    case swiftpm, cargo, make, other

    /// Detects the build system from the names of the files in the workspace root.
    public static func detect(fileNames: Set<String>) -> BuildSystem {
        if fileNames.contains("Package.swift") { return .swiftpm }
        if fileNames.contains("Cargo.toml") { return .cargo }
        if !fileNames.isDisjoint(with: ["Makefile", "makefile", "GNUmakefile"]) { return .make }
        return .other
    }

    /// What `warden build` runs, before the forwarded arguments.
    public var buildCommand: [String]? {
        switch self {
        case .swiftpm: return ["swift", "build"]
        case .cargo: return ["cargo", "build"]
        case .make, .other: return nil
        }
    }

    /// The directory strict mode lets the build write: SwiftPM's `.build`, Cargo's
    /// target directory (OUT_DIR lives inside it), else the whole workspace.
    public func outputDirectory(workspace: String, environment: [String: String]) -> String {
        switch self {
        case .swiftpm: return workspace + "/.build"
        case .cargo:
            if let dir = environment["CARGO_TARGET_DIR"], dir.hasPrefix("/") { return dir }
            if let dir = environment["CARGO_TARGET_DIR"], !dir.isEmpty { return workspace + "/" + dir }
            return workspace + "/target"
        case .make, .other: return workspace
        }
    }
}

extension BuildSystem {
    /// Directories whose files the build itself must be able to execute even under an
    /// exec allowlist: Cargo runs build scripts and tests from its target directory,
    /// SwiftPM compiles manifests and plugins into `.build` and the temporary directory.
    public func executableDirectories(output: String, tmpdir: String?) -> [String] {
        switch self {
        case .cargo: return [output]
        case .swiftpm: return [output] + (tmpdir.map { [$0] } ?? [])
        case .make, .other: return []
        }
    }

    /// Variables the child gets so the tool keeps its caches inside the output directory
    /// instead of a shared one in the home directory: a cache other builds read is a
    /// place to plant code (clang's module cache holds compiled modules).
    public func cacheEnvironment(output: String) -> [String: String] {
        switch self {
        case .swiftpm: return ["CLANG_MODULE_CACHE_PATH": output + "/warden-module-cache"]
        case .cargo, .make, .other: return [:]
        }
    }

    /// Files in the workspace root the build tool rewrites (its lock file). Strict mode
    /// allows writing them; it cannot let the tool create them in the read-only root.
    public var lockFile: String? {
        switch self {
        case .swiftpm: return "Package.resolved"
        case .cargo: return "Cargo.lock"
        case .make, .other: return nil
        }
    }
}

/// One implicit filesystem rule, with the reason shown in `warden status`.
public struct PathRule: Sendable, Hashable, Codable {
    public var path: String
    public var why: String
    public init(_ path: String, _ why: String) {
        self.path = path
        self.why = why
    }
}

/// The paths strict mode allows, beyond `allow.fs.*`.
public enum SystemBaseline {
    /// Read-only paths every toolchain needs: programs, libraries, headers, loader and
    /// name-service configuration, devices and kernel info. Deliberately no home
    /// directory and nothing under /etc that holds secrets.
    public static let read: [String] = [
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
        "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
        "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf",
        "/etc/localtime", "/etc/timezone", "/etc/hostname", "/etc/ssl/certs", "/etc/ca-certificates",
        "/etc/os-release", "/etc/debian_version", "/etc/lsb-release", "/etc/mime.types", "/etc/locale.alias",
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts",
        // All of /proc: a rule on /proc/self would name warden's own directory, not each
        // build process's. Other processes' sensitive entries stay behind ptrace checks
        // (warden makes itself non-dumpable for that).
        "/proc",
        "/sys/devices/system/cpu", "/sys/fs/cgroup",
        // Allocators (rustc's jemalloc, glibc) read the transparent huge page setting.
        "/sys/kernel/mm/transparent_hugepage",
    ]

    /// Writable outside the output directory: devices. Scratch space is a private
    /// per-run directory (TMPDIR), not the shared /tmp where other users' files live.
    public static let write: [String] = ["/dev/null", "/dev/tty", "/dev/pts"]

    /// Files that must never be reachable through an implicit rule. A test checks every
    /// baseline and preset rule against this list; `warden status` warns when a user's
    /// own `allow.fs` entry exposes one.
    public static func secrets(home: String) -> [String] {
        [
            home + "/.ssh", home + "/.aws", home + "/.azure", home + "/.config/gcloud",
            home + "/.config/gh", home + "/.netrc", home + "/.git-credentials", home + "/.gnupg",
            home + "/.docker/config.json", home + "/.kube", home + "/.npmrc", home + "/.pypirc",
            home + "/.cargo/credentials", home + "/.cargo/credentials.toml", home + "/.bash_history",
            "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh", "/root",
        ]
    }

    /// Both tools read git's configuration for git dependencies (URL rewrites, helpers).
    static func gitConfig(_ home: String, _ preset: String) -> [PathRule] {
        [PathRule(home + "/.gitconfig", "git configuration for git dependencies (\(preset) preset)"),
         PathRule("/etc/gitconfig", "git configuration for git dependencies (\(preset) preset)")]
    }

    /// Per-toolchain paths in the user's home: caches and toolchains, never credentials.
    public static func toolchain(_ system: BuildSystem, home: String) -> (read: [PathRule], write: [PathRule]) {
        switch system {
        case .cargo:
            return (
                read: [
                    PathRule(home + "/.rustup", "rustup toolchains (cargo preset)"),
                    PathRule(home + "/.cargo/bin", "cargo binaries (cargo preset)"),
                    PathRule(home + "/.cargo/config.toml", "cargo configuration (cargo preset)"),
                    PathRule(home + "/.cargo/registry", "crate sources (cargo preset)"),
                    PathRule(home + "/.cargo/git", "git dependencies (cargo preset)"),
                ] + gitConfig(home, "cargo"),
                // Cargo locks its caches and records their use even offline; files only,
                // so nothing in ~/.cargo/bin or the registry can be replaced.
                write: [
                    PathRule(home + "/.cargo/.package-cache", "cargo's cache lock (cargo preset)"),
                    PathRule(home + "/.cargo/.package-cache-mutate", "cargo's cache lock (cargo preset)"),
                    PathRule(home + "/.cargo/.global-cache", "cargo's cache usage record (cargo preset)"),
                ])
        case .swiftpm:
            return (
                read: [PathRule(home + "/.swiftpm", "SwiftPM configuration (swift preset)")] + gitConfig(home, "swift"),
                write: [PathRule(home + "/.cache/org.swift.swiftpm", "SwiftPM caches (swift preset)")])
        case .make, .other:
            return ([], [])
        }
    }
}

/// Is `path` equal to `prefix` or inside it? Component-wise, so /usr does not cover /usrx.
public func pathIsWithin(_ path: String, _ prefix: String) -> Bool {
    if prefix == "/" { return true }
    return path == prefix || path.hasPrefix(prefix + "/")
}
