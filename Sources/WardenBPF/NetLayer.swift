import CWardenBPF
import Foundation
import SystemPackage

/// Why the BPF network layer could not be used.
public struct BPFError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var errno: Errno
    public var description: String { message }
}

/// The network layer: cgroup/connect4, connect6, sendmsg4, sendmsg6 programs from the
/// embedded bpf/net.bpf.c object, attached to one run's cgroup. Destinations are exact
/// address:port pairs; every decision is reported through the ring buffer.
public final class NetLayer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()

    /// Loads the object (through the verifier). Nothing is attached yet.
    public static func load() throws(BPFError) -> NetLayer {
        warden_bpf_route_logs()
        var err = [CChar](repeating: 0, count: 512)
        guard let h = warden_net_load(warden_bpf_net_object_ptr(), Int(warden_bpf_net_object_size), &err, err.count) else {
            throw BPFError(message: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), errno: Errno(rawValue: errno))
        }
        return NetLayer(handle: h)
    }

    /// Whether the network programs load here (root, BPF, verifier); for status and doctor.
    public static func probe() -> Result<Void, BPFError> {
        do {
            _ = try load()
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    init(handle: OpaquePointer) { self.handle = handle }

    deinit { warden_net_close(handle) }

    private func check(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(BPFError) {
        var err = [CChar](repeating: 0, count: 512)
        let rc = err.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard rc == 0 else {
            throw BPFError(message: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), errno: Errno(rawValue: errno))
        }
    }

    public func configure(enforce: Bool, denyByDefault: Bool) throws(BPFError) {
        try check { warden_net_configure(handle, enforce ? 1 : 0, denyByDefault ? 1 : 0, $0, $1) }
    }

    /// Allows `a.b.c.d:port` and `[v6]:port` destinations.
    public func allow(_ destinations: [String]) throws(BPFError) {
        for d in destinations {
            guard let colon = d.lastIndex(of: ":"), let port = UInt16(d[d.index(after: colon)...]) else {
                throw BPFError(message: "not an address:port: \(d)", errno: .invalidArgument)
            }
            var host = String(d[..<colon])
            if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, host, &v4) == 1 {
                try check { warden_net_allow4(handle, v4.s_addr, port, $0, $1) }
            } else if inet_pton(AF_INET6, host, &v6) == 1 {
                try withUnsafeBytes(of: &v6) { raw throws(BPFError) in
                    let bytes = raw.bindMemory(to: UInt8.self)
                    try check { warden_net_allow6(handle, bytes.baseAddress, port, $0, $1) }
                }
            } else {
                throw BPFError(message: "not an IP address: \(host)", errno: .invalidArgument)
            }
        }
    }

    public func attach(cgroupFD: Int32) throws(BPFError) {
        try check { warden_net_attach(handle, cgroupFD, $0, $1) }
    }

    /// Proves enforcement: a process inside the cgroup must be refused a connect to
    /// 127.0.0.1:`port` (a port the policy does not allow).
    public func canary(cgroupFD: Int32, port: UInt16) -> Result<Bool, Errno> {
        let r = warden_net_canary(cgroupFD, port)
        return r < 0 ? .failure(Errno(rawValue: errno)) : .success(r == 1)
    }

    /// Delivers pending records to `handler`; returns how many.
    @discardableResult
    public func poll(timeoutMs: Int32, _ handler: (UnsafeRawBufferPointer) -> Void) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return withoutActuallyEscaping(handler) { h in
            var box = h
            return withUnsafeMutablePointer(to: &box) { ctx in
                Int(warden_net_poll(handle, timeoutMs, { ctx, data, size in
                    guard let ctx, let data else { return 0 }
                    ctx.assumingMemoryBound(to: ((UnsafeRawBufferPointer) -> Void).self).pointee(UnsafeRawBufferPointer(start: data, count: size))
                    return 0
                }, ctx))
            }
        }
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
        let short = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "[\(short)]" + addr[addr.index(after: close)...]
    }

    /// Records the kernel could not queue because the ring buffer was full.
    public var dropped: UInt64 { warden_net_dropped(handle) }
}
