import Foundation

/// seccomp filters as data: the OCI runtime-spec `linux.seccomp` object (what
/// `warden seccomp export` writes and `import` reads), the built-in profiles, and the
/// compiled form the sandbox layer hands to libseccomp. Pure: no kernel calls.

/// The OCI runtime-spec `linux.seccomp` object. Docker's profile files add `archMap`
/// and per-rule `includes` / `excludes`; `DockerProfile` reads those.
public struct SeccompProfile: Codable, Equatable, Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var syscalls: [SeccompRule]?

    public init(defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil, syscalls: [SeccompRule]? = nil) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.syscalls = syscalls
    }
}

public struct SeccompRule: Codable, Equatable, Sendable {
    public var names: [String]
    public var action: String
    public var errnoRet: UInt32?
    public var args: [SeccompArg]?

    public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [SeccompArg]? = nil) {
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.args = args
    }
}

public struct SeccompArg: Codable, Equatable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64?
    public var op: String

    public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: String) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// Docker's profile format: OCI fields plus conditions on capabilities, architectures
/// and kernel version, resolved by `resolved(for:)` into a plain OCI profile.
public struct DockerProfile: Codable, Sendable {
    public struct Condition: Codable, Sendable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }

    public struct Rule: Codable, Sendable {
        public var names: [String]?
        public var name: String?  // older files
        public var action: String
        public var errnoRet: UInt32?
        public var args: [SeccompArg]?
        public var includes: Condition?
        public var excludes: Condition?
    }

    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchMap]?
    public var syscalls: [Rule]?

    public struct ArchMap: Codable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    /// The machine a profile is resolved for. warden's sandbox holds no capabilities.
    public struct Target: Sendable {
        public var arch: String         // "SCMP_ARCH_X86_64"
        public var kernel: [Int]        // [6, 18]
        public var capabilities: Set<String> = []
        public init(arch: String, kernel: [Int]) {
            self.arch = arch
            self.kernel = kernel
        }

        /// This machine, as warden's sandbox sees it: no capabilities.
        public static var current: Target {
            let v = ProcessInfo.processInfo.operatingSystemVersion
            #if arch(x86_64)
                let arch = "SCMP_ARCH_X86_64"
            #elseif arch(arm64)
                let arch = "SCMP_ARCH_AARCH64"
            #else
                let arch = "SCMP_ARCH_NATIVE"
            #endif
            return Target(arch: arch, kernel: [v.majorVersion, v.minorVersion])
        }
    }

    /// Keeps the rules that apply to `target` (includes all met, excludes not met) and
    /// drops the conditions, giving a plain OCI profile for this machine.
    public func resolved(for target: Target) -> SeccompProfile {
        func kernelAtLeast(_ v: String) -> Bool {
            let want = v.split(separator: ".").compactMap { Int($0) }
            for (a, b) in zip(target.kernel + [0, 0], want + [0, 0]) where a != b { return a > b }
            return true
        }
        func met(_ c: Condition) -> Bool {
            if let caps = c.caps, !caps.isEmpty, !Set(caps).isSubset(of: target.capabilities) { return false }
            if let arches = c.arches, !arches.isEmpty, !arches.contains(SeccompProfile.dockerArchName(target.arch)) { return false }
            if let k = c.minKernel, !kernelAtLeast(k) { return false }
            return true
        }
        func anyMet(_ c: Condition) -> Bool {
            if let caps = c.caps, !Set(caps).isDisjoint(with: target.capabilities) { return true }
            if let arches = c.arches, arches.contains(SeccompProfile.dockerArchName(target.arch)) { return true }
            if let k = c.minKernel, kernelAtLeast(k) { return true }
            return false
        }
        let rules = (syscalls ?? []).compactMap { r -> SeccompRule? in
            if let inc = r.includes, !met(inc) { return nil }
            if let exc = r.excludes, anyMet(exc) { return nil }
            return SeccompRule(names: r.names ?? r.name.map { [$0] } ?? [], action: r.action, errnoRet: r.errnoRet, args: r.args)
        }
        return SeccompProfile(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: [target.arch], syscalls: rules)
    }
}

/// A filter ready for libseccomp: kernel action values and syscall names.
public struct CompiledFilter: Equatable, Sendable {
    public struct Rule: Equatable, Sendable {
        public var name: String
        public var action: UInt32
        public var args: [Arg]
        /// Where the rule came from, for errors ("syscall.deny[2]", "profile rule 14").
        public var origin: String
    }

    public struct Arg: Equatable, Sendable {
        public var index: UInt32
        public var op: UInt32      // libseccomp's enum scmp_compare
        public var value: UInt64
        public var valueTwo: UInt64
    }

    public var defaultAction: UInt32
    public var rules: [Rule]
}

public struct SeccompError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension SeccompProfile {
    /// The kernel's SECCOMP_RET_* values, as libseccomp's SCMP_ACT_* produce them.
    public static let actAllow: UInt32 = 0x7fff_0000
    public static let actLog: UInt32 = 0x7ffc_0000
    public static let actNotify: UInt32 = 0x7fc0_0000
    public static let actTrap: UInt32 = 0x0003_0000
    public static let actKillThread: UInt32 = 0x0000_0000
    public static let actKillProcess: UInt32 = 0x8000_0000
    public static func actErrno(_ e: UInt32) -> UInt32 { 0x0005_0000 | (e & 0xffff) }
    static let eperm: UInt32 = 1

    /// An action name (and errno) as the kernel value.
    public static func action(_ name: String, errnoRet: UInt32?) throws(SeccompError) -> UInt32 {
        switch name {
        case "SCMP_ACT_ALLOW": return actAllow
        case "SCMP_ACT_LOG": return actLog
        case "SCMP_ACT_ERRNO": return actErrno(errnoRet ?? eperm)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return actKillThread
        case "SCMP_ACT_KILL_PROCESS": return actKillProcess
        case "SCMP_ACT_TRAP": return actTrap
        case "SCMP_ACT_NOTIFY": return actNotify
        default:
            throw SeccompError("action \(name) is not supported (use SCMP_ACT_ALLOW, ERRNO, LOG, KILL, KILL_THREAD, KILL_PROCESS, TRAP or NOTIFY)")
        }
    }

    static let ops: [String: UInt32] = [
        "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
    ]

    /// Docker names architectures like OCI does; its `arches` conditions use short names.
    static func dockerArchName(_ oci: String) -> String {
        switch oci {
        case "SCMP_ARCH_X86_64": return "amd64"
        case "SCMP_ARCH_AARCH64": return "arm64"
        default: return oci
        }
    }

    /// Compiles to kernel values. `observe`: every refusing action becomes LOG, so the
    /// filter records what it would refuse and refuses nothing.
    public func compiled(observe: Bool) throws(SeccompError) -> CompiledFilter {
        // NOTIFY stays: in observe mode warden's agent allows and records each call.
        func soften(_ a: UInt32) -> UInt32 {
            observe && a != SeccompProfile.actAllow && a != SeccompProfile.actNotify ? SeccompProfile.actLog : a
        }
        // The kernel cannot send every call to a listener: libseccomp refuses NOTIFY as a default.
        guard defaultAction != "SCMP_ACT_NOTIFY" else { throw SeccompError("SCMP_ACT_NOTIFY cannot be the default action") }
        let def = soften(try SeccompProfile.action(defaultAction, errnoRet: defaultErrnoRet))
        var rules: [CompiledFilter.Rule] = []
        for (i, r) in (syscalls ?? []).enumerated() {
            let action = soften(try SeccompProfile.action(r.action, errnoRet: r.errnoRet))
            var args: [CompiledFilter.Arg] = []
            for a in r.args ?? [] {
                guard let op = SeccompProfile.ops[a.op] else { throw SeccompError("rule \(i + 1): comparison \(a.op) is not an SCMP_CMP_* operator") }
                guard a.index < 6 else { throw SeccompError("rule \(i + 1): argument index \(a.index) is not 0…5") }
                args.append(CompiledFilter.Arg(index: a.index, op: op, value: a.value, valueTwo: a.valueTwo ?? 0))
            }
            for name in r.names { rules.append(CompiledFilter.Rule(name: name, action: action, args: args, origin: "profile rule \(i + 1)")) }
        }
        return CompiledFilter(defaultAction: def, rules: rules)
    }

    /// The profile with `boundaryRules` added; rules for those calls that repeat one
    /// (an earlier export of the same profile) are not added twice.
    public func withBoundary() -> SeccompProfile {
        var out = self
        let existing = syscalls ?? []
        out.syscalls = existing + SeccompProfile.boundaryRules.filter { !existing.contains($0) }
        return out
    }

    /// The profile without the boundary rules (nor the descriptor-exec rule): what goes
    /// into the profile's own filter, beside `boundaryFilter`.
    public func withoutBoundary() -> SeccompProfile {
        var out = self
        let boundary = SeccompProfile.boundaryRules + [SeccompProfile.noDescriptorExec]
        out.syscalls = (syscalls ?? []).filter { !boundary.contains($0) }
        return out
    }

    /// The filter installed beside every profile's: everything allowed but what the
    /// boundary rules refuse (and, under an exec allowlist, descriptor execs). A filter of
    /// its own because, within one filter, a profile's unconditional ALLOW of a call (an
    /// allowlist's `chmod`) would override the conditional refusals of the same call;
    /// across filters the kernel takes the most restrictive answer.
    public static func boundaryFilter(execAllowlist: Bool, arch: String) -> SeccompProfile {
        SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", architectures: [arch],
                       syscalls: boundaryRules + (execAllowlist ? [noDescriptorExec] : []))
    }

    /// Adds `names` as refused (EPERM) calls, replacing whatever the profile said of them:
    /// `syscall.deny` always wins.
    public func denying(_ names: [(name: String, origin: String)]) -> SeccompProfile {
        var out = self
        let denied = Set(names.map(\.name))
        out.syscalls = (syscalls ?? []).compactMap { r in
            let kept = r.names.filter { !denied.contains($0) }
            return kept.isEmpty ? nil : SeccompRule(names: kept, action: r.action, errnoRet: r.errnoRet, args: r.args)
        }
        if !names.isEmpty { out.syscalls!.append(SeccompRule(names: names.map(\.name), action: "SCMP_ACT_ERRNO", errnoRet: SeccompProfile.eperm)) }
        return out
    }
}
