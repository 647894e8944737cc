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

    /// The whole build command for the arguments given after `--`. SwiftPM has no
    /// `--release`; cargo's spelling is mapped to `--configuration release` so that
    /// `warden build -- --release` works in both ecosystems. An argument that is the
    /// value of a pass-through flag (`-Xswiftc --release`) is left alone.
    public func buildCommand(forwarding arguments: [String]) -> [String]? {
        guard let base = buildCommand else { return nil }
        guard self == .swiftpm else { return base + arguments }
        var out: [String] = []
        for (i, a) in arguments.enumerated() {
            let isValue = i > 0 && arguments[i - 1].hasPrefix("-X")
            if a == "--release" && !isValue { out += ["--configuration", "release"] } else { out.append(a) }
        }
        return base + out
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

    /// Files in the workspace root the build tool rewrites (its lock file). Strict mode
    /// allows writing them; it cannot let the tool create them in the read-only root.
    /// What warden writes as the lock file when it is missing, for the build to fill in
    /// (the read-only workspace does not let the tool create it): Cargo accepts an empty
    /// file; SwiftPM needs JSON and accepts a version-2 file with no pins.
    public var lockFilePlaceholder: String? {
        switch self {
        case .swiftpm: return "{\n  \"pins\" : [ ],\n  \"version\" : 2\n}\n"
        case .cargo: return ""
        case .make, .other: return nil
        }
    }

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
        // OpenSSL's configuration, read by every TLS client (git, curl); the keys in
        // /etc/ssl/private stay out.
        "/etc/ssl/openssl.cnf",
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
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
    /// No /dev/pts: the build writes to the terminal through the descriptors it was
    /// given, and must not open another one of the user's terminals. /dev/tty names
    /// nothing for it (it has no controlling terminal).
    public static let write: [String] = ["/dev/null", "/dev/tty"]

    /// Unix sockets a build's libraries connect to on their own, with net.default =
    /// "deny": name-service caches glibc asks for users and groups (nscd, sssd,
    /// systemd-userdb) and the system log (`syslog(3)`). Nothing that runs commands or
    /// containers (`/run/docker.sock`, D-Bus, agents) is here.
    public static let unixSockets: [String] = [
        "/run/nscd/socket", "/var/run/nscd/socket", "/var/lib/sss/pipes/nss", "/run/systemd/userdb",
        "/dev/log", "/run/systemd/journal/dev-log", "/run/systemd/journal/socket",
    ]

    /// Denials strict mode keeps where the program has a fallback and the build is not
    /// affected. They are refused and logged with the reason, but are not violations: a
    /// clean build must not end in 77 because of them. Allowing them instead would let
    /// the build write state other programs on the host read.
    public static let expectedRefusals: [PathRule] = [
        PathRule("/var/lib/libuuid", "libuuid's clock file for time-based UUIDs (uuid-runtime); refused, libuuid falls "
                 + "back to a random clock sequence, as it does for every user who cannot write the file"),
    ]

    /// The expected-refusal rule covering `path`, if any.
    public static func expectedRefusal(_ path: String) -> PathRule? {
        expectedRefusals.first { pathIsWithin(path, $0.path) }
    }

    /// Directories in the home that SwiftPM's Foundation tries to create when they are
    /// missing (a fresh container, HOME=/) and works without: refusing their creation is
    /// expected. Only the creation of exactly these names; writing into an existing one
    /// (~/.local/bin, a persistence route) stays a denial.
    public static func expectedCreations(_ system: BuildSystem, home: String?) -> [PathRule] {
        guard let home else { return [] }
        // A user whose home does not exist (nobody's /nonexistent): tools try to make it.
        let missingHome = PathRule(home, "the build user's home, which does not exist; refused, the tool goes on without")
        guard system == .swiftpm else { return [missingHome] }
        return [missingHome,
            PathRule(homePath(home, ".cache/org.swift.foundation.URLCache"),
                     "Foundation's URL cache; refused, Foundation works without a disk cache"),
            PathRule(homePath(home, ".cache"), "the user's cache directory, which a fresh container lacks; refused, the tool goes on without"),
            PathRule(homePath(home, ".local"), "the user's data directory, which a fresh container lacks; refused, the tool goes on without"),
        ]
    }

    /// Files that must never be reachable through an implicit rule. A test checks every
    /// baseline and preset rule against this list; `warden status` warns when a user's
    /// own `allow.fs` entry exposes one.
    public static func secrets(home: String) -> [String] {
        [
            homePath(home, ".ssh"), homePath(home, ".aws"), homePath(home, ".azure"), homePath(home, ".config/gcloud"),
            homePath(home, ".config/gh"), homePath(home, ".netrc"), homePath(home, ".git-credentials"), homePath(home, ".gnupg"),
            homePath(home, ".docker/config.json"), homePath(home, ".kube"), homePath(home, ".npmrc"), homePath(home, ".pypirc"),
            homePath(home, ".cargo/credentials"), homePath(home, ".cargo/credentials.toml"), homePath(home, ".bash_history"),
            "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh", "/root",
        ]
    }

    /// Whether `path` is one of the secrets for any home directory (the report does not
    /// know whose home a path was in): a home-relative secret name anywhere in the path,
    /// or one of the system secrets.
    public static func looksLikeSecret(_ path: String) -> Bool {
        let home = "/\u{0}home"
        let relative = secrets(home: home).filter { $0.hasPrefix(home + "/") }.map { String($0.dropFirst(home.count)) }
        if relative.contains(where: { path.hasSuffix($0) || path.contains($0 + "/") }) { return true }
        return secrets(home: home).filter { !$0.hasPrefix(home) }.contains { pathIsWithin(path, $0) }
    }

    /// What git reads outside the repository, for the tools that run git (SwiftPM for
    /// every build, Cargo for git dependencies): its configuration, its default attribute
    /// and ignore files, and `named` (the files the configuration names, gathered by the
    /// caller). Never a secret, whatever the configuration names.
    public static func git(_ system: BuildSystem, home: String?, named: [String]) -> [PathRule] {
        guard system == .swiftpm || system == .cargo else { return [] }
        // A secret that holds the home itself (/root, for root) is the home: the files
        // below it that are secrets are listed one by one.
        let secrets = secrets(home: home ?? "/nonexistent-home").filter { s in home.map { !pathIsWithin($0, s) } ?? true }
        let rules = GitConfiguration.configFiles(home: home).map { PathRule($0, "git configuration (\(system.rawValue))") }
            + GitConfiguration.defaultFiles(home: home).map { PathRule($0, "git's attributes and ignore files (\(system.rawValue))") }
            + named.map { PathRule($0, "named by git's configuration (core.excludesFile / core.attributesFile)") }
        var seen = Set<String>()
        return rules.filter { r in
            !secrets.contains { pathIsWithin(r.path, $0) || pathIsWithin($0, r.path) } && seen.insert(r.path).inserted
        }
    }
}

/// `dir` and every directory above it, up to `/` (absolute, normalized paths): the walk
/// root discovery, policy-file searches and the policy guard share.
public func directoryChain(from dir: String) -> [String] {
    var out = [dir]
    var d = dir
    while d != "/" && d.hasPrefix("/") {
        d = FileDecider.parent(d)
        out.append(d)
    }
    return out
}

/// Is `path` equal to `prefix` or inside it? Component-wise, so /usr does not cover /usrx.
public func pathIsWithin(_ path: String, _ prefix: String) -> Bool {
    if prefix == "/" { return true }
    return path == prefix || path.hasPrefix(prefix + "/")
}

/// A home directory as warden uses it: absolute, without `.`/`..` components, repeated
/// or trailing slashes; nil when `raw` is none of that (unset, empty, relative). `HOME=/`
/// (containers running a uid without a passwd entry) stays `/`.
public func normalizedHome(_ raw: String?) -> String? {
    guard let raw, raw.hasPrefix("/") else { return nil }
    let parts = raw.split(separator: "/", omittingEmptySubsequences: true)
    if parts.contains(where: { $0 == "." || $0 == ".." }) { return nil }
    return "/" + parts.joined(separator: "/")
}

/// `relative` (no leading slash) inside `home`, without a doubled slash when home is `/`.
public func homePath(_ home: String, _ relative: String) -> String {
    home == "/" ? "/" + relative : home + "/" + relative
}
