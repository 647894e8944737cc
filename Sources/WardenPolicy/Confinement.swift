/// What the tier-2 layers must enforce for a policy, as plain data: Landlock path rules
/// (kernel access-right bits, ABI-filtered) and the seccomp deny list. Building the
/// kernel objects from it is the sandbox layer's job; this part is pure and tested
/// anywhere.
public struct LandlockRights: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let execute = LandlockRights(rawValue: 1 << 0)
    public static let writeFile = LandlockRights(rawValue: 1 << 1)
    public static let readFile = LandlockRights(rawValue: 1 << 2)
    public static let readDir = LandlockRights(rawValue: 1 << 3)
    public static let removeDir = LandlockRights(rawValue: 1 << 4)
    public static let removeFile = LandlockRights(rawValue: 1 << 5)
    public static let makeChar = LandlockRights(rawValue: 1 << 6)
    public static let makeDir = LandlockRights(rawValue: 1 << 7)
    public static let makeReg = LandlockRights(rawValue: 1 << 8)
    public static let makeSock = LandlockRights(rawValue: 1 << 9)
    public static let makeFifo = LandlockRights(rawValue: 1 << 10)
    public static let makeBlock = LandlockRights(rawValue: 1 << 11)
    public static let makeSym = LandlockRights(rawValue: 1 << 12)
    public static let refer = LandlockRights(rawValue: 1 << 13)     // ABI 2
    public static let truncate = LandlockRights(rawValue: 1 << 14)  // ABI 3
    public static let ioctlDev = LandlockRights(rawValue: 1 << 15)  // ABI 5

    public static let read: LandlockRights = [.readFile, .readDir]
    /// Everything that creates, changes or removes files: granted on write paths only.
    public static let write: LandlockRights = [
        .writeFile, .removeDir, .removeFile, .makeChar, .makeDir, .makeReg, .makeSock, .makeFifo,
        .makeBlock, .makeSym, .refer, .truncate, .ioctlDev,
    ]

    /// The rights a kernel with Landlock ABI `abi` knows.
    public static func known(abi: Int) -> LandlockRights {
        var r: LandlockRights = [.execute, .read, .removeDir, .removeFile, .makeChar, .makeDir, .makeReg,
                                 .makeSock, .makeFifo, .makeBlock, .makeSym, .writeFile]
        if abi >= 2 { r.insert(.refer) }
        if abi >= 3 { r.insert(.truncate) }
        if abi >= 5 { r.insert(.ioctlDev) }
        return r
    }
}

public struct LandlockRule: Sendable, Hashable, Codable {
    public var path: String
    public var rights: LandlockRights
    public var why: String
}

public struct LandlockPlan: Sendable, Equatable, Codable {
    /// Rights the ruleset handles: anything handled and not granted by a rule is denied.
    public var handled: LandlockRights
    public var rules: [LandlockRule]
    /// ABI 6+: no signals to, and no abstract-socket connections with, processes outside.
    public var scopeSignalsAndSockets: Bool
}

extension EffectivePolicy {
    /// Landlock rules for this policy, or nil when it restricts neither files nor exec.
    /// `allowedPrograms` are the resolved allowlist files plus what the kernel executes
    /// on their behalf (the dynamic loader, script interpreters).
    public func landlockPlan(_ fs: FilesystemPlan?, allowedPrograms: [String], abi: Int) -> LandlockPlan? {
        let known = LandlockRights.known(abi: abi)
        let execRestricted = execDefault.value == .allowlist
        guard fs != nil || execRestricted else { return nil }
        var handled: LandlockRights = []
        if fs != nil { handled.formUnion(known.subtracting(.execute)) }
        if execRestricted { handled.insert(.execute) }
        // Exec is granted wherever reading is, unless exec has its own allowlist.
        let execWithRead: LandlockRights = execRestricted ? [] : [.execute]
        var rules: [LandlockRule] = []
        if let fs {
            for r in fs.read { rules.append(LandlockRule(path: r.path, rights: (LandlockRights.read.union(execWithRead)).intersection(known), why: r.why)) }
            for r in fs.write {
                rules.append(LandlockRule(path: r.path, rights: LandlockRights.read.union(.write).union(execWithRead).intersection(known), why: r.why))
            }
        }
        if execRestricted {
            for p in allowedPrograms { rules.append(LandlockRule(path: p, rights: [.execute], why: "allow.exec.allowed")) }
        }
        // The kernel rejects a rule granting a right the ruleset does not handle (EINVAL).
        rules = rules.map { LandlockRule(path: $0.path, rights: $0.rights.intersection(handled), why: $0.why) }
            .filter { !$0.rights.isEmpty }
        return LandlockPlan(handled: handled, rules: rules, scopeSignalsAndSockets: abi >= 6)
    }
}
