/// The policy warden applies when no file says otherwise, and the starters `warden init`
/// writes. Kept as TOML text so they go through the same parser as users' files.
public enum DefaultPolicy {
    public static let source = "built-in default"

    /// Strict files, no network, no calls that act on the host; any program may run (an
    /// allowlist that fits every build cannot be guessed; `warden init` writes one per
    /// build system).
    public static let toml = """
        mode = "enforce"
        fs.default = "strict"
        net.default = "deny"
        exec.default = "allow"
        syscall.profile = "basic"
        """

    public static func fragment() -> PolicyFragment {
        do {
            return try PolicyParser(source: source, home: nil).parse(toml)
        } catch {
            preconditionFailure("built-in default policy does not parse: \(error)")
        }
    }

    /// Programs each starter policy allows. Names resolve through PATH when a run starts.
    public static func starterPrograms(_ system: BuildSystem) -> [String] {
        let shell = ["sh", "bash", "env", "uname", "cat", "mkdir", "rm", "cp", "mv", "ln", "sed", "grep", "tr", "dirname", "basename"]
        return Toolchain.programs(system) + shell
    }

    /// A commented starter `warden.toml` for `warden init`.
    /// `items` as TOML array lines of at most ~90 columns, indented two spaces.
    static func wrapped(_ items: [String]) -> String {
        var lines: [String] = []
        var line = "  "
        for p in items {
            if line.count + p.count > 88 { lines.append(line); line = "  " }
            line += p + ", "
        }
        lines.append(line)
        return lines.map { $0.hasSuffix(" ") ? String($0.dropLast()) : $0 }.joined(separator: "\n")
    }

    public static func starter(for system: BuildSystem) -> String {
        let list = wrapped(starterPrograms(system).map { "\"\($0)\"" })
        let output: String
        switch system {
        case .swiftpm: output = ".build/"
        case .cargo: output = "target/ (and OUT_DIR inside it)"
        case .make, .other: output = "the workspace"
        }
        return """
            # warden policy (\(system.rawValue) preset), written by `warden init`.
            # Reference: the README's "Policy reference". Try it with
            #   warden run --mode observe -- <your build>
            # and read `warden report` before switching to enforce.

            # observe: record what the build does, block nothing. enforce: deny what is not allowed.
            mode = "enforce"
            # strict: read the workspace and the system baseline, write only \(output).
            fs.default = "strict"
            # deny: no outbound connections except allow.net.hosts.
            net.default = "deny"
            # allowlist: only the programs in allow.exec.allowed may be executed.
            exec.default = "allowlist"

            [allow.exec]
            # Names are looked up on PATH when the run starts; absolute paths are taken as they are.
            allowed = [
            \(list)
            ]

            [allow.net]
            # host:port, IPv6 in brackets: "127.0.0.1:8080", "[::1]:443", "localhost:5432".
            hosts = []

            [allow.fs]
            # Absolute paths (or ~/...). Reading the workspace is implicit.
            read_extra = []
            write_extra = []

            [allow.env]
            # Environment variables passed to the build beyond the toolchain baseline; NAME or PREFIX*.
            read = []

            [syscall]
            # seccomp. basic: refuse calls that act on the host (mount, ptrace, bpf, unshare,
            # kernel modules, io_uring...). strict: allow only what build tools call.
            # oci_profile = "/path/profile.json" uses an OCI or Docker profile instead
            # (see `warden seccomp import`).
            profile = "basic"
            # More system calls to refuse with EPERM, e.g. ["personality"].
            deny = []

            [limits]
            # Resource limits for every process of the build (unset: inherited).
            # cpu_seconds = 3600
            # open_files = 65536
            # address_space_mib = 16384
            # processes = 4096

            """
    }
}
