/// One `allow.net.hosts` entry: an IPv4 address, a bracketed IPv6 address or a host name,
/// and a port. Names are resolved when a run starts, not here.
public struct HostPort: Sendable, Hashable, CustomStringConvertible, Codable {
    public enum Host: Sendable, Hashable, Codable {
        case ipv4(String)
        case ipv6(String)
        case name(String)
    }

    public var host: Host
    public var port: UInt16

    public var description: String {
        switch host {
        case .ipv4(let a), .name(let a): return "\(a):\(port)"
        case .ipv6(let a): return "[\(a)]:\(port)"
        }
    }

    /// Parses `host:port`. Returns a reason on failure, for the caller's located error.
    public static func parse(_ text: String) -> Result<HostPort, HostPortError> {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(.init("IPv6 address opened with '[' but not closed with ']'"))
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                return .failure(.init("expected ':port' after ']'"))
            }
            portPart = rest.dropFirst()
            guard isIPv6(hostPart) else {
                return .failure(.init("'\(hostPart)' is not an IPv6 address"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(.init("missing ':port' (write host:port, IPv6 as [addr]:port)"))
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") {
                return .failure(.init("IPv6 addresses must be in brackets, e.g. [::1]:443"))
            }
        }
        guard !hostPart.isEmpty else { return .failure(.init("empty host")) }
        guard !portPart.isEmpty, portPart.allSatisfy(\.isASCIIDigit), portPart.count <= 5,
              let port = Int(portPart), (1...65535).contains(port)
        else {
            return .failure(.init("port '\(portPart)' is not a number from 1 to 65535"))
        }
        let host: Host
        if text.hasPrefix("[") {
            host = .ipv6(String(hostPart).lowercased())
        } else if hostPart.allSatisfy({ $0.isASCIIDigit || $0 == "." }) {
            guard isIPv4(hostPart) else {
                return .failure(.init("'\(hostPart)' is not an IPv4 address"))
            }
            host = .ipv4(String(hostPart))
        } else {
            guard isHostName(hostPart) else {
                return .failure(.init("'\(hostPart)' is not a valid host name"))
            }
            host = .name(String(hostPart).lowercased())
        }
        return .success(HostPort(host: host, port: UInt16(port)))
    }

    static func isIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCIIDigit) && Int(p)! <= 255
                && !(p.count > 1 && p.hasPrefix("0"))
        }
    }

    static func isIPv6(_ s: Substring) -> Bool {
        // Accepts the RFC 4291 text forms, including one "::" and an embedded IPv4 tail.
        guard !s.isEmpty, s.count <= 45 else { return false }
        let doubleColons = s.ranges(of: "::").count
        guard doubleColons <= 1 else { return false }
        var groups = s.split(separator: ":", omittingEmptySubsequences: false).map { $0 }
        if s.hasPrefix("::") { groups.removeFirst() }
        if s.hasSuffix("::") { groups.removeLast() }
        // Only the "::" itself may leave one empty group behind.
        guard groups.filter(\.isEmpty).count == doubleColons else { return false }
        var count = 0
        for (i, g) in groups.enumerated() {
            if g.isEmpty { continue }
            if i == groups.count - 1, g.contains(".") {
                guard isIPv4(g) else { return false }
                count += 2
                continue
            }
            guard g.count <= 4, g.allSatisfy(\.isHexDigit) else { return false }
            count += 1
        }
        return doubleColons == 1 ? count < 8 : count == 8
    }

    static func isHostName(_ s: Substring) -> Bool {
        guard s.count <= 253 else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}

public struct HostPortError: Error, Sendable, Equatable {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
