import Foundation
import WardenPolicy

/// Turns `allow.net.hosts` entries into the concrete addresses a run allows. Names are
/// resolved once, when the run starts; the answers are recorded with the run so an audit
/// can see exactly what was allowed.
public enum HostResolver {
    public struct Entry: Sendable, Codable, Equatable {
        public var entry: String
        public var addresses: [String]
        public var error: String?
    }

    public static func resolve(_ hosts: [HostPort]) -> [Entry] {
        hosts.map { hp in
            switch hp.host {
            case .ipv4(let a): return Entry(entry: hp.description, addresses: ["\(a):\(hp.port)"])
            case .ipv6(let a): return Entry(entry: hp.description, addresses: ["[\(a)]:\(hp.port)"])
            case .name(let name):
                switch lookup(name) {
                case .success(let addrs):
                    return Entry(entry: hp.description, addresses: addrs.map { $0.contains(":") ? "[\($0)]:\(hp.port)" : "\($0):\(hp.port)" })
                case .failure(let e):
                    return Entry(entry: hp.description, addresses: [], error: e.message)
                }
            }
        }
    }

    /// getaddrinfo for TCP, both families, numeric answers, de-duplicated in order.
    struct LookupError: Error { var message: String }

    static func lookup(_ name: String) -> Result<[String], LookupError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &res)
        guard rc == 0, let first = res else { return .failure(LookupError(message: String(cString: gai_strerror(rc)))) }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var cur: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cur {
            var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0 {
                let s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !out.contains(s) { out.append(s) }
            }
            cur = ai.pointee.ai_next
        }
        return .success(out)
    }
}
