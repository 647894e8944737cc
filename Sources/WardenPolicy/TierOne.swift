/// The tier-1 (BPF LSM) form of the file rules: keys for the longest-prefix-match tries in
/// bpf/lsm.bpf.c (see bpf/include/warden/lsm_maps.h). A rule for P is stored as "P/" and
/// a path is looked up as "path/", so matches are whole components; each rule carries the
/// union of its own rights and those of every rule above it, because the trie returns only
/// the longest match while Landlock-style rights accumulate down the tree. Built from the
/// same `FileDecider` the agent judges events with, so both tiers decide alike.
public struct TierOneRules: Equatable, Sendable {
    public static let read: UInt32 = 1   // WARDEN_ACCESS_READ
    public static let write: UInt32 = 2  // WARDEN_ACCESS_WRITE
    public static let connect: UInt32 = 8  // WARDEN_ACCESS_CONNECT
    /// The key size of the tries (WARDEN_LPM_DATA).
    public static let maxKey = 256

    public struct Rule: Equatable, Sendable {
        public var key: [UInt8]
        public var rights: UInt32
    }

    public var fsStrict: Bool
    public var execAllowlist: Bool
    /// Unix sockets need write or connect rights (net.default = "deny").
    public var unixStrict: Bool
    public var fs: [Rule]
    public var exec: [[UInt8]]
    /// Rule paths too long for a key: left out, so what lies beneath is refused.
    public var tooLong: [String]

    public init(_ d: FileDecider) {
        fsStrict = d.read != nil
        execAllowlist = d.exec != nil
        unixStrict = d.unix != nil
        var own: [String: UInt32] = [:]
        for p in d.unix ?? [] { own[p, default: 0] |= TierOneRules.connect }
        for p in d.read ?? [] { own[p, default: 0] |= TierOneRules.read }
        for p in d.write ?? [] { own[p, default: 0] |= TierOneRules.read | TierOneRules.write }
        var long: [String] = []
        // A protected path is read-only whatever the rules above it grant: the trie's longest
        // match gives it read alone.
        for p in d.protected { own[p] = TierOneRules.read }
        fs = own.keys.sorted().compactMap { p in
            let protected = d.protected.contains { pathIsWithin(p, $0) }
            let rights = protected ? TierOneRules.read : own.filter { pathIsWithin(p, $0.key) }.reduce(0) { $0 | $1.value }
            let key = TierOneRules.key(p)
            guard key.count <= TierOneRules.maxKey else { long.append(p); return nil }
            return Rule(key: key, rights: rights)
        }
        exec = Set(d.exec ?? []).sorted().compactMap { p in
            let key = TierOneRules.key(p)
            guard key.count <= TierOneRules.maxKey else { long.append(p); return nil }
            return key
        }
        tooLong = long
    }

    public static func key(_ path: String) -> [UInt8] {
        path == "/" ? Array("/".utf8) : Array(path.utf8) + [UInt8(ascii: "/")]
    }
}
