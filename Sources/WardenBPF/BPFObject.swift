import CCrypto
import CWardenBPF
import Foundation
import SystemPackage
import WardenPolicy

/// Why a BPF layer could not be used.
public struct BPFError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var errno: Errno
    public var description: String { message }
}

/// One of warden's embedded BPF objects, loaded (through the verifier) and, once
/// `attach` is called, attached to one run's cgroup.
///
/// - `net` (bpf/net.bpf.c): cgroup/connect4, connect6, sendmsg4, sendmsg6; exact
///   address:port allowlist, enforced or only reported.
/// - `trace` (bpf/trace.bpf.c): raw tracepoints at syscall entry/exit for open, exec,
///   rename and unlink, plus exec/fork/exit for unit attribution; reports only.
/// - `lsm` (bpf/lsm.bpf.c): tier 1, `lsm/file_open` deciding reads, writes and execs from
///   path tries; only where the kernel runs BPF LSM programs.
///
/// The objects of one run share one ring buffer: the first loaded owns it and is the one
/// to `poll`; later ones pass it as `sharing`.
public final class BPFObject: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case net, trace, lsm

        /// The object compiled into warden (prebuilt/<kind>.bpf.o when warden was built).
        public var embedded: [UInt8] {
            let (base, count) = image
            return [UInt8](UnsafeRawBufferPointer(start: base, count: count))
        }

        var image: (UnsafeRawPointer, Int) {
            switch self {
            case .net: return (warden_bpf_net_object_ptr(), Int(warden_bpf_net_object_size))
            case .trace: return (warden_bpf_trace_object_ptr(), Int(warden_bpf_trace_object_size))
            case .lsm: return (warden_bpf_lsm_object_ptr(), Int(warden_bpf_lsm_object_size))
            }
        }
    }

    /// The default ring buffer: 4 MiB holds about 11,000 events between two drains.
    public static let defaultRingBytes: UInt32 = 4 << 20

    public let kind: Kind
    private let handle: OpaquePointer
    private let owner: BPFObject?  // keeps the shared maps' owner alive
    private let image: [UInt8]?    // an object read from WARDEN_BPF_DIST_DIR, kept while loaded
    private let lock = NSLock()

    /// Set to a directory holding `manifest.json` and the `.bpf.o` files (as
    /// scripts/build-bpf.sh writes them) to load those instead of the embedded objects.
    public static let distDirVariable = "WARDEN_BPF_DIST_DIR"

    public static func load(_ kind: Kind, ringBytes: UInt32 = defaultRingBytes, sharing owner: BPFObject? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(BPFError) -> BPFObject
    {
        // An object `probe` already loaded and verified, unused: take it instead of loading
        // and verifying it again (the verifier is most of a run's fixed cost).
        if ringBytes == 0 || ringBytes == defaultRingBytes, let probed = takeProbed(kind, sharing: owner) { return probed }
        warden_bpf_route_logs()
        // Most kernels refuse BPF LSM programs; the error says so without libbpf's advice.
        warden_bpf_quiet_logs(kind == .lsm ? 1 : 0)
        defer { warden_bpf_quiet_logs(0) }
        let external = try environment[distDirVariable].map { dir throws(BPFError) in try verifiedObject(kind, in: dir) }
        var loaded: OpaquePointer?
        if let external {
            // The array is kept in the object (`image`), so its storage outlives the load.
            // An empty array may have no storage: the loader refuses a NULL object (EINVAL).
            let result: Result<Void, BPFError> = external.withUnsafeBytes { bytes in
                Result { () throws(BPFError) in
                    try call { warden_bpf_load(bytes.baseAddress, bytes.count, kind.rawValue, ringBytes, owner?.handle, &loaded, $0, $1) }
                }
            }
            try result.get()
        } else {
            let (ptr, size) = kind.image
            try call { warden_bpf_load(ptr, size, kind.rawValue, ringBytes, owner?.handle, &loaded, $0, $1) }
        }
        // The loader fills `loaded` whenever it returns 0.
        guard let loaded else { throw BPFError(message: "load BPF object \(kind.rawValue): no object", errno: .ioError) }
        return BPFObject(kind: kind, handle: loaded, owner: owner, image: external)
    }

    /// Reads `<kind>.bpf.o` from `dir` and checks it against `dir/manifest.json`: the
    /// object must be listed and its SHA-256 and size must match. Anything else refuses.
    public static func verifiedObject(_ kind: Kind, in dir: String) throws(BPFError) -> [UInt8] {
        let name = "\(kind.rawValue).bpf.o"
        func fail(_ why: String) -> BPFError {
            BPFError(message: "\(distDirVariable)=\(dir): \(why); refusing to load BPF objects from there", errno: .invalidArgument)
        }
        guard let manifestData = FileManager.default.contents(atPath: dir + "/manifest.json") else { throw fail("no readable manifest.json") }
        guard let manifest = try? JSONSerialization.jsonObject(with: manifestData) as? [String: Any],
              let objects = manifest["objects"] as? [String: Any] else { throw fail("manifest.json is not a build-bpf.sh manifest") }
        guard let entry = objects[name] as? [String: Any], let want = entry["sha256"] as? String else {
            throw fail("manifest.json does not list \(name)")
        }
        guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { throw fail("no readable \(name)") }
        let bytes = [UInt8](data)
        let got = sha256Hex(bytes)
        guard got == want.lowercased() else { throw fail("\(name) has sha256 \(got) but the manifest says \(want)") }
        if let size = entry["size"] as? Int, size != bytes.count { throw fail("\(name) is \(bytes.count) bytes but the manifest says \(size)") }
        return bytes
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether this object loads here (root, BPF, BTF for CO-RE, the verifier).
    /// The object stays loaded for the next `load` of the same kind in this process; with
    /// `sharing`, it uses that object's ring buffer and tables, as a run's second object
    /// does, so the run takes it as it is instead of loading it again.
    public static func probe(_ kind: Kind, sharing owner: BPFObject? = nil) -> Result<Void, BPFError> {
        do {
            let object = try load(kind, ringBytes: owner == nil ? 0 : defaultRingBytes, sharing: owner)
            probedLock.lock()
            probed[kind] = object
            probedLock.unlock()
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// The object `probe` left for `kind`, not handed out (nil when there is none).
    public static func probedObject(_ kind: Kind) -> BPFObject? {
        probedLock.lock()
        defer { probedLock.unlock() }
        return probed[kind]
    }

    /// Objects `probe` loaded (the object's own ring size; shared maps when probed with
    /// `sharing`), each handed out once, and only to a load sharing the same owner.
    private static let probedLock = NSLock()
    nonisolated(unsafe) private static var probed: [Kind: BPFObject] = [:]

    private static func takeProbed(_ kind: Kind, sharing owner: BPFObject?) -> BPFObject? {
        probedLock.lock()
        defer { probedLock.unlock() }
        guard let object = probed[kind], object.owner === owner else { return nil }
        return probed.removeValue(forKey: kind)
    }

    private init(kind: Kind, handle: OpaquePointer, owner: BPFObject?, image: [UInt8]?) {
        self.kind = kind
        self.handle = handle
        self.owner = owner
        self.image = image
    }

    deinit { warden_bpf_close(handle) }

    static func message(_ err: [CChar]) -> String {
        String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs a loader call that writes its message into the buffer it is given and
    /// returns 0 or -errno (CWardenBPF.h).
    private static func call(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(BPFError) {
        let size = 512
        let err = UnsafeMutablePointer<CChar>.allocate(capacity: size)
        err.initialize(repeating: 0, count: size)
        defer { err.deallocate() }
        let rc = body(err, size)
        guard rc != 0 else { return }
        throw BPFError(message: message(Array(UnsafeBufferPointer(start: err, count: size))), errno: Errno(rawValue: -rc))
    }

    func check(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(BPFError) {
        try BPFObject.call(body)
    }

    var raw: OpaquePointer { handle }

    /// Attaches every program to the run's cgroup (tracing programs filter on it).
    public func attach(cgroupFD: Int32) throws(BPFError) {
        try check { warden_bpf_attach(handle, cgroupFD, $0, $1) }
    }

    /// Delivers pending records to `handler`; returns how many. Only the ring's owner polls.
    @discardableResult
    public func poll(timeoutMs: Int32, _ handler: (UnsafeRawBufferPointer) -> Void) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return withoutActuallyEscaping(handler) { h in
            var box = h
            return withUnsafeMutablePointer(to: &box) { ctx in
                Int(warden_bpf_poll(handle, timeoutMs, { ctx, data, size in
                    guard let ctx else { return 0 }
                    ctx.assumingMemoryBound(to: ((UnsafeRawBufferPointer) -> Void).self).pointee(UnsafeRawBufferPointer(start: data, count: size))
                    return 0
                }, ctx))
            }
        }
    }

    /// Ends the wait of a `poll` on another thread, and of every later one: the agent
    /// sees the end of a run now instead of at its poll's timeout. Takes no lock (`poll`
    /// holds it while it waits).
    public func wake() { _ = warden_bpf_wake(handle) }

    /// Records the kernel could not queue because the ring buffer was full.
    public var dropped: UInt64 { warden_bpf_dropped(handle) }
    /// Trace object: file and exec calls of the run the kernel refused (EACCES/EPERM),
    /// counted in the kernel whether or not their events reached the ring.
    public var kernelRefusals: UInt64 { warden_bpf_counter(handle, "refusals") }
    /// Trace object: metadata changes and unix-socket connects of the run that succeeded
    /// (what Landlock does not refuse), counted the same way.
    public var kernelUnguarded: UInt64 { warden_bpf_counter(handle, "unguarded") }
    /// Trace object: successful opens the kernel found in `seen` and counted instead of
    /// reporting (repeats of records the agent logged as allowed).
    public var kernelRepeats: UInt64 { warden_bpf_percpu_counter(handle, "repeats") }
    /// Trace object: the `seen` map's descriptor (nil for an object without one).
    public var seenMap: Int32? {
        let fd = warden_bpf_map_fd(handle, "seen")
        return fd >= 0 ? fd : nil
    }
    /// Enters a record's repeat key in `seen` (the descriptor from `seenMap`): its repeats
    /// stay in the kernel from now on. False when the kernel refused the update.
    @discardableResult
    public static func markSeen(_ map: Int32, key: UInt64) -> Bool { warden_bpf_mark_seen(map, key) == 0 }

    /// Trace object: how often the run made each system call, by number (calls seccomp
    /// refused are not seen). Empty when the object has no counter.
    public func syscallCounts() -> [Int32: UInt64] {
        var counts = [UInt64](repeating: 0, count: 1024)
        let n = counts.withUnsafeMutableBufferPointer { b in
            b.baseAddress.map { warden_bpf_syscall_counts(handle, $0, UInt32(b.count)) } ?? -EINVAL
        }
        guard n > 0 else { return [:] }
        var out: [Int32: UInt64] = [:]
        for (nr, c) in counts.prefix(Int(n)).enumerated() where c > 0 { out[Int32(nr)] = c }
        return out
    }

    /// Trace object: the unit (enum warden_unit) the kernel classified process `tgid` as,
    /// nil when it has no entry (not exec'd in the run, or gone).
    public func unit(ofProcess tgid: UInt32) -> UInt8? {
        var state = [UInt8](repeating: 0, count: 8)  // struct warden_unit_state
        let rc = Self.withStorage(&state) { warden_bpf_read(handle, "units", tgid, $0) }
        return rc == 0 ? state[0] : nil
    }

    /// Trace object: what each unit's processes used (struct warden_unit_usage, by enum
    /// warden_unit): on-CPU ns, storage read and write bytes, page faults, peak pages.
    public func unitUsage() -> [[UInt64]] {
        (0..<5).map { unit in
            var values = [UInt64](repeating: 0, count: 5)
            let rc = Self.withStorage(&values) { warden_bpf_read(handle, "unit_usage", UInt32(unit), $0) }
            return rc == 0 ? values : [UInt64](repeating: 0, count: 5)
        }
    }

    /// `body` with the array's bytes; -EINVAL for an array without storage (empty).
    private static func withStorage<T>(_ array: inout [T], _ body: (UnsafeMutableRawPointer) -> Int32) -> Int32 {
        array.withUnsafeMutableBytes { b in b.baseAddress.map(body) ?? -EINVAL }
    }
}

/// The tier-1 object's rules, and its canary.
extension BPFObject {
    public func configureLSM(_ rules: TierOneRules) throws(BPFError) {
        try check { warden_lsm_configure(raw, rules.fsStrict ? 1 : 0, rules.execAllowlist ? 1 : 0, rules.unixStrict ? 1 : 0, $0, $1) }
        for rule in rules.fs {
            try rule.key.withUnsafeBufferPointer { k throws(BPFError) in
                try check { warden_lsm_add_rule(raw, 0, k.baseAddress, k.count, rule.rights, $0, $1) }
            }
        }
        for key in rules.exec {
            try key.withUnsafeBufferPointer { k throws(BPFError) in
                try check { warden_lsm_add_rule(raw, 1, k.baseAddress, k.count, 0, $0, $1) }
            }
        }
    }
}

/// The network object's policy: settings and the address allowlist.
extension BPFObject {
    public func configureNet(enforce: Bool, denyByDefault: Bool, denyListen: Bool) throws(BPFError) {
        try check { warden_net_configure(raw, enforce ? 1 : 0, denyByDefault ? 1 : 0, denyListen ? 1 : 0, $0, $1) }
    }

    /// Connection requests the ingress program dropped at a listener of the run.
    public var inboundDropped: UInt64 { warden_bpf_counter(handle, "inbound_dropped") }

    /// Allows `a.b.c.d:port` and `[v6]:port` destinations.
    public func allowNet(_ destinations: [String]) throws(BPFError) {
        for d in destinations {
            guard let colon = d.lastIndex(of: ":"), let port = UInt16(d[d.index(after: colon)...]) else {
                throw BPFError(message: "not an address:port: \(d)", errno: .invalidArgument)
            }
            var host = String(d[..<colon])
            if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, host, &v4) == 1 {
                try check { warden_net_allow4(raw, v4.s_addr, port, $0, $1) }
                // The same destination from an IPv6 socket (::ffff:a.b.c.d) goes through connect6.
                var mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff]
                withUnsafeBytes(of: v4.s_addr) { mapped += $0 }
                try mapped.withUnsafeBufferPointer { b throws(BPFError) in try allow6(b, port: port) }
            } else if inet_pton(AF_INET6, host, &v6) == 1 {
                try withUnsafeBytes(of: &v6) { bytes throws(BPFError) in try allow6(bytes.bindMemory(to: UInt8.self), port: port) }
            } else {
                throw BPFError(message: "not an IP address: \(host)", errno: .invalidArgument)
            }
        }
    }

    /// One IPv6 address (16 bytes) and port.
    private func allow6(_ address: UnsafeBufferPointer<UInt8>, port: UInt16) throws(BPFError) {
        guard let bytes = address.baseAddress, address.count == 16 else {
            throw BPFError(message: "not an IPv6 address: \(address.count) bytes", errno: .invalidArgument)
        }
        try check { warden_net_allow6(raw, bytes, port, $0, $1) }
    }

    /// The kernel prints IPv6 addresses in full (`[0000:…:0001]:443`); policies and
    /// reports use the compressed form (`[::1]:443`).
    public static func canonical(_ addr: String) -> String {
        guard addr.hasPrefix("["), let close = addr.firstIndex(of: "]") else { return addr }
        let host = String(addr[addr.index(after: addr.startIndex)..<close])
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return addr }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buf, socklen_t(buf.count)) != nil else { return addr }
        return "[\(message(buf))]" + addr[addr.index(after: close)...]
    }
}
