import WardenPolicy

/// The Swift mirror of `struct warden_event` (bpf/include/warden/event.h), decoded from the
/// raw bytes the ring buffer delivers. Offsets are the C ABI's; a test checks them
/// against the header through CWardenABI.
public struct WardenEvent: Sendable, Equatable, Codable {
    public enum Unit: UInt8, Sendable, CaseIterable, Codable {
        case other = 0, buildScript = 1, procMacro = 2, compiler = 3, linker = 4
        public var name: String {
            switch self {
            case .other: return "other"
            case .buildScript: return "build_script"
            case .procMacro: return "proc_macro"
            case .compiler: return "compiler"
            case .linker: return "linker"
            }
        }
    }

    public enum Action: UInt8, Sendable, CaseIterable, Codable {
        case open = 0, rename = 1, unlink = 2, exec = 3, connect = 4, create = 5, attr = 6
        /// The existing file a refused hard link would have named.
        case link = 7
        /// listen(2), named by the socket's local address.
        case listen = 8
        /// A socket of a family the sandbox refuses ("family 40").
        case socket = 9
        public var name: String {
            switch self {
            case .open: return "open"
            case .rename: return "rename"
            case .unlink: return "unlink"
            case .exec: return "exec"
            case .connect: return "connect"
            case .create: return "create"
            case .attr: return "attr"
            case .link: return "link"
            case .listen: return "listen"
            case .socket: return "socket"
            }
        }
    }

    public enum Verdict: UInt8, Sendable, CaseIterable, Codable {
        case allowed = 0, denied = 1
        public var name: String { self == .allowed ? "allowed" : "denied" }
    }

    /// Version 4's size; version 1 (360 bytes, no result/access), version 2 (368 bytes, no
    /// origin) and version 3 records (376 bytes, no repeat key) still decode.
    public static let size = 384
    public static let v1Size = 360
    public static let v2Size = 368
    public static let v3Size = 376
    public static let pathCapacity = 256
    public static let permCapacity = 64

    /// Byte offsets of each field in the C record.
    public enum Offset {
        public static let pid = 0, tgid = 4, timeNs = 8, unit = 16, action = 17, verdict = 18,
            reserved = 19, containerId = 24, caps = 32, pathOrAddr = 40, neededPerm = 296, result = 360, access = 364,
            origin = 368, repeatKey = 376
    }

    /// The kernel's key for a successful open (`repeat_key`, version 4; 0: none or older):
    /// the agent enters it in the trace object's `seen` map once the record is logged as
    /// allowed. Not part of the decoded event: it means nothing outside the run.
    public static func repeatKey(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard bytes.count >= size else { return 0 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: Offset.repeatKey, as: UInt64.self))
    }

    /// WARDEN_ACCESS_* bits: what the operation needed.
    public struct Access: OptionSet, Sendable, Hashable, Codable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let read = Access(rawValue: 1)
        public static let write = Access(rawValue: 2)
        public static let execute = Access(rawValue: 4)
        public var names: [String] {
            [(Access.read, "read"), (.write, "write"), (.execute, "execute")].filter { contains($0.0) }.map(\.1)
        }
    }

    public var pid: UInt32
    public var tgid: UInt32
    public var timeNs: UInt64
    public var unit: Unit
    public var action: Action
    public var verdict: Verdict
    public var containerId: UInt64
    public var caps: UInt64
    public var pathOrAddr: String
    public var neededPerm: String
    /// What the syscall returned: 0 or -errno (tracepoint events; 0 elsewhere).
    public var result: Int32
    public var access: Access
    /// The tgid whose exec started the build script or macro this event's process belongs
    /// to (its exec event names the package); 0: none.
    public var origin: UInt32

    public init(pid: UInt32, tgid: UInt32, timeNs: UInt64, unit: Unit, action: Action, verdict: Verdict,
                containerId: UInt64, caps: UInt64, pathOrAddr: String, neededPerm: String,
                result: Int32 = 0, access: Access = [], origin: UInt32 = 0) {
        self.pid = pid
        self.tgid = tgid
        self.timeNs = timeNs
        self.unit = unit
        self.action = action
        self.verdict = verdict
        self.containerId = containerId
        self.caps = caps
        self.pathOrAddr = pathOrAddr
        self.neededPerm = neededPerm
        self.result = result
        self.access = access
        self.origin = origin
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case short(Int)
        case badEnum(field: String, value: UInt8)
        public var description: String {
            switch self {
            case .short(let n): return "event record of \(n) bytes, expected at least \(WardenEvent.v1Size)"
            case .badEnum(let f, let v): return "event field \(f) has unknown value \(v)"
            }
        }
    }

    /// Decodes one record (little-endian host layout, as the kernel writes it).
    public init(bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        guard bytes.count >= WardenEvent.v1Size else { throw .short(bytes.count) }
        let v2 = bytes.count >= WardenEvent.v2Size, v3 = bytes.count >= WardenEvent.v3Size
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        func text(_ o: Int, _ cap: Int) -> String {
            let field = UnsafeRawBufferPointer(rebasing: bytes[o..<(o + cap)])
            let end = field.firstIndex(of: 0) ?? cap
            return String(decoding: field[0..<end], as: UTF8.self)
        }
        guard let unit = Unit(rawValue: bytes[Offset.unit]) else { throw .badEnum(field: "unit", value: bytes[Offset.unit]) }
        guard let action = Action(rawValue: bytes[Offset.action]) else { throw .badEnum(field: "action", value: bytes[Offset.action]) }
        guard let verdict = Verdict(rawValue: bytes[Offset.verdict]) else { throw .badEnum(field: "verdict", value: bytes[Offset.verdict]) }
        self.init(pid: u32(Offset.pid), tgid: u32(Offset.tgid), timeNs: u64(Offset.timeNs), unit: unit, action: action,
                  verdict: verdict, containerId: u64(Offset.containerId), caps: u64(Offset.caps),
                  pathOrAddr: text(Offset.pathOrAddr, WardenEvent.pathCapacity),
                  neededPerm: text(Offset.neededPerm, WardenEvent.permCapacity),
                  result: v2 ? Int32(bitPattern: u32(Offset.result)) : 0,
                  access: v2 ? Access(rawValue: u32(Offset.access)) : [],
                  origin: v3 ? u32(Offset.origin) : 0)
    }

    /// Encodes into the C layout (used by tests and by the supervisor's own records).
    public func rawBytes() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: WardenEvent.size)
        out.withUnsafeMutableBytes { b in
            b.storeBytes(of: pid.littleEndian, toByteOffset: Offset.pid, as: UInt32.self)
            b.storeBytes(of: tgid.littleEndian, toByteOffset: Offset.tgid, as: UInt32.self)
            b.storeBytes(of: timeNs.littleEndian, toByteOffset: Offset.timeNs, as: UInt64.self)
            b[Offset.unit] = unit.rawValue
            b[Offset.action] = action.rawValue
            b[Offset.verdict] = verdict.rawValue
            b.storeBytes(of: containerId.littleEndian, toByteOffset: Offset.containerId, as: UInt64.self)
            b.storeBytes(of: caps.littleEndian, toByteOffset: Offset.caps, as: UInt64.self)
            for (i, c) in pathOrAddr.utf8.prefix(WardenEvent.pathCapacity - 1).enumerated() { b[Offset.pathOrAddr + i] = c }
            for (i, c) in neededPerm.utf8.prefix(WardenEvent.permCapacity - 1).enumerated() { b[Offset.neededPerm + i] = c }
            b.storeBytes(of: UInt32(bitPattern: result).littleEndian, toByteOffset: Offset.result, as: UInt32.self)
            b.storeBytes(of: access.rawValue.littleEndian, toByteOffset: Offset.access, as: UInt32.self)
            b.storeBytes(of: origin.littleEndian, toByteOffset: Offset.origin, as: UInt32.self)
        }
        return out
    }

    /// A connect to a unix socket named by a path (from the tracepoints), not one of the
    /// network layer's connects to an address.
    public var isUnixSocketConnect: Bool { action == .connect && WardenEvent.namesAPath(pathOrAddr.utf8.first ?? 0) }

    /// Whether a `path_or_addr` whose first byte is `first` names a path ('/', or '?' for
    /// one the kernel could not name whole, or '@' for an abstract unix socket) rather than
    /// an address.
    public static func namesAPath(_ first: UInt8) -> Bool {
        first == UInt8(ascii: "/") || first == UInt8(ascii: "?") || first == UInt8(ascii: "@")
    }

    /// The policy key a denial is about: the part of `needed_perm` before '='.
    public var ruleKey: String {
        if let eq = neededPerm.firstIndex(of: "=") { return String(neededPerm[..<eq]) }
        return neededPerm.isEmpty ? "unknown" : neededPerm
    }

    /// `needed_perm` as a line of TOML a user can paste at the top of warden.toml (a
    /// dotted key, valid on its own), or nil when what it would allow is a secret.
    public var suggestedPolicyLine: String? {
        guard neededPerm.contains("=") else { return neededPerm }
        // The rule comes from `allowingRule`, as `init --from-last-run` and `diff` take it.
        guard let rule = allowingRule else { return nil }
        switch rule.key {
        case "allow.fs.read_extra", "allow.fs.write_extra", "allow.net.unix":
            if SystemBaseline.looksLikeSecret(rule.value) || SystemBaseline.looksLikeSecret(pathOrAddr) { return nil }
            return rule.description
        case "allow.exec.allowed", "allow.net.hosts", "allow.env.read":
            return rule.description
        default:
            return "\(rule.key) = \(tomlQuoted(rule.value))"
        }
    }
}

extension WardenEvent.Access {
    /// From the names the JSONL uses; unknown names are ignored (newer writers).
    public init(names: [String]) {
        var a: WardenEvent.Access = []
        for n in names {
            switch n {
            case "read": a.insert(.read)
            case "write": a.insert(.write)
            case "execute": a.insert(.execute)
            default: break
            }
        }
        self = a
    }
}
