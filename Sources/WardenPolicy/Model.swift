/// The policy data model: what one source says (`PolicyFragment`) and where each value came
/// from (`Provenance`). Plain values, no I/O.

public enum Mode: String, Sendable, CaseIterable, Codable {
    case observe, enforce
}

public enum FsDefault: String, Sendable, CaseIterable, Codable {
    case strict, unrestricted
}

public enum NetDefault: String, Sendable, CaseIterable, Codable {
    case deny, allow
}

/// Whether the build may listen for connections (listen(2)); refused by default, since
/// an accepted connection carries data past `net.default = "deny"`.
public enum NetListen: String, Sendable, CaseIterable, Codable {
    case deny, allow
}

public enum ExecDefault: String, Sendable, CaseIterable, Codable {
    case allowlist, allow
}

/// Built-in seccomp filters (see Seccomp.swift): `basic` refuses calls that act on the
/// host (mount, ptrace, bpf, kernel modules…), `strict` allows only what compilers,
/// linkers and build tools call, `allowlist` only what `[[syscall.rule]]` allows (what
/// `warden seccomp generate --format toml` writes).
public enum SyscallProfile: String, Sendable, CaseIterable, Codable {
    case none, basic, strict, allowlist
}

/// What warden's agent answers a notified call when its rule does not say.
public enum NotifyAnswer: String, Sendable, CaseIterable, Codable, Hashable {
    case errno, allow
}

/// Resource limits for the command, each set with setrlimit before exec.
public enum ResourceLimit: String, Sendable, CaseIterable, Codable {
    case cpuSeconds = "cpu_seconds"
    case openFiles = "open_files"
    case addressSpaceMiB = "address_space_mib"
    case processes
}

/// Where a value was set: a file and line, or a flag, or warden itself.
public struct Provenance: Sendable, Hashable, CustomStringConvertible, Codable {
    public var source: String
    public var line: Int?

    public init(source: String, line: Int? = nil) {
        self.source = source
        self.line = line
    }

    public static let builtIn = Provenance(source: "built-in default")

    public var description: String {
        if let line { return "\(source):\(line)" }
        return source
    }
}

/// A value with the place that set it.
public struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    public var value: Value
    public var origin: Provenance

    public init(_ value: Value, _ origin: Provenance) {
        self.value = value
        self.origin = origin
    }
}

/// Everything one policy source sets. `nil` / empty means "not set here".
public struct PolicyFragment: Sendable, Equatable {
    public var mode: Located<Mode>?
    public var fsDefault: Located<FsDefault>?
    public var netDefault: Located<NetDefault>?
    public var netListen: Located<NetListen>?
    public var execDefault: Located<ExecDefault>?
    public var execAllowed: [Located<String>] = []
    public var netHosts: [Located<HostPort>] = []
    public var netUnix: [Located<String>] = []
    public var fsWriteExtra: [Located<String>] = []
    public var fsReadExtra: [Located<String>] = []
    public var envRead: [Located<String>] = []
    public var syscallDeny: [Located<String>] = []
    public var syscallProfile: Located<SyscallProfile>?
    public var syscallOCIProfile: Located<String>?
    /// `[[syscall.rule]]` tables, in file order.
    public var syscallRules: [Located<SyscallRuleSpec>] = []
    public var syscallNotifyDefault: Located<NotifyAnswer>?
    public var limits: [ResourceLimit: Located<UInt64>] = [:]

    public init() {}
}

/// Every key the policy schema knows, as dotted paths. Used for validation, "did you
/// mean" hints, the README reference test and SARIF rule ids.
public enum PolicyKey: String, Sendable, CaseIterable, Codable {
    case mode
    case fsDefault = "fs.default"
    case netDefault = "net.default"
    case netListen = "net.listen"
    case execDefault = "exec.default"
    case execAllowed = "allow.exec.allowed"
    case netHosts = "allow.net.hosts"
    case netUnix = "allow.net.unix"
    case fsWriteExtra = "allow.fs.write_extra"
    case fsReadExtra = "allow.fs.read_extra"
    case envRead = "allow.env.read"
    case syscallDeny = "syscall.deny"
    case syscallProfile = "syscall.profile"
    case syscallOCIProfile = "syscall.oci_profile"
    case syscallRule = "syscall.rule"
    case syscallNotifyDefault = "syscall.notify_default"
    case limitCPU = "limits.cpu_seconds"
    case limitOpenFiles = "limits.open_files"
    case limitAddressSpace = "limits.address_space_mib"
    case limitProcesses = "limits.processes"

    /// The `needed_perm` of an event a line of this key would allow: "allow.fs.read_extra=/x".
    public func needed(_ value: String) -> String { rawValue + "=" + value }

    /// The key and value of a `needed_perm`; nil when it names no policy key (a refusal no
    /// line explains is "refused_by_kernel=…").
    public static func parseNeeded(_ text: String) -> (key: PolicyKey, value: String)? {
        guard let eq = text.firstIndex(of: "="), let key = PolicyKey(rawValue: String(text[..<eq])) else { return nil }
        return (key, String(text[text.index(after: eq)...]))
    }
}
