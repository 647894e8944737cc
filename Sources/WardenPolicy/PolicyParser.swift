import TOMLKit

/// Turns the text of a `warden.toml` (or one table of `workspace.warden.toml`) into a
/// `PolicyFragment`, rejecting anything the schema does not know with a located error.
public struct PolicyParser: Sendable {
    /// Shown in errors and provenance: the file's path, or a flag's name.
    public var source: String
    /// Home directory used to expand a leading `~/` in paths; nil forbids `~`.
    public var home: String?

    public init(source: String, home: String?) {
        self.source = source
        self.home = home
    }

    /// Parses a complete `warden.toml`.
    public func parse(_ text: String) throws(PolicyError) -> PolicyFragment {
        let (table, locator) = try parseTOML(text)
        return try fragment(from: table, prefix: "", locator: locator)
    }

    func parseTOML(_ text: String) throws(PolicyError) -> (TOMLTable, KeyLocator) {
        let locator = KeyLocator(source: text)
        if let bad = locator.unsafeConstructs.first {
            throw PolicyError(file: source, line: bad.line, message: "invalid TOML: \(bad.reason)")
        }
        do {
            let table = try TOMLTable(string: text)
            return (table, locator)
        } catch let e as TOMLParseError {
            throw PolicyError(file: source, line: e.source.begin.line, message: "invalid TOML: \(e.description)")
        } catch {
            throw PolicyError(file: source, message: "invalid TOML: \(error)")
        }
    }

    /// Reads the policy keys below `prefix` ("" for a whole file, "root." or
    /// "members.NAME." in a workspace file). Key names in errors include the prefix.
    func fragment(from table: TOMLTable, prefix: String, locator: KeyLocator) throws(PolicyError) -> PolicyFragment {
        var out = PolicyFragment()
        for (path, value) in leaves(of: table, path: []) {
            let dotted = path.joined(separator: ".")
            let shown = prefix + dotted
            let line = locator.line(of: shown)
            guard let key = PolicyKey(rawValue: dotted) else {
                throw unknownKey(dotted, shown: shown, line: line, isTable: value.type == .table)
            }
            let origin = Provenance(source: source, line: line)
            switch key {
            case .mode: out.mode = Located(try choice(value, shown, line), origin)
            case .fsDefault: out.fsDefault = Located(try choice(value, shown, line), origin)
            case .netDefault: out.netDefault = Located(try choice(value, shown, line), origin)
            case .netListen: out.netListen = Located(try choice(value, shown, line), origin)
            case .execDefault: out.execDefault = Located(try choice(value, shown, line), origin)
            case .execAllowed:
                out.execAllowed = try strings(value, shown, locator) { s, err throws(PolicyError) in
                    try self.executable(s, err)
                }
            case .netHosts:
                out.netHosts = try strings(value, shown, locator) { s, err throws(PolicyError) in
                    switch HostPort.parse(s) {
                    case .success(let hp): return hp
                    case .failure(let e): throw err("'\(s)' is not host:port: \(e.reason)")
                    }
                }
            case .netUnix:
                out.netUnix = try strings(value, shown, locator) { s, err throws(PolicyError) in try self.absolutePath(s, err) }
            case .fsWriteExtra:
                out.fsWriteExtra = try strings(value, shown, locator) { s, err throws(PolicyError) in try self.absolutePath(s, err) }
            case .fsReadExtra:
                out.fsReadExtra = try strings(value, shown, locator) { s, err throws(PolicyError) in try self.absolutePath(s, err) }
            case .envRead:
                out.envRead = try strings(value, shown, locator) { s, err throws(PolicyError) in try self.envPattern(s, err) }
            case .syscallDeny:
                out.syscallDeny = try strings(value, shown, locator) { s, err throws(PolicyError) in try self.syscallName(s, err) }
            case .syscallRule: out.syscallRules = try syscallRules(value, shown, locator)
            case .syscallNotifyDefault: out.syscallNotifyDefault = Located(try choice(value, shown, line), origin)
            case .syscallProfile: out.syscallProfile = Located(try choice(value, shown, line), origin)
            case .syscallOCIProfile:
                guard let s = value.string else {
                    throw PolicyError(file: source, line: line, key: shown, message: "expected a string (a path to an OCI seccomp profile), found \(describe(value))")
                }
                out.syscallOCIProfile = Located(try absolutePath(s) { PolicyError(file: source, line: line, key: shown, message: $0) }, origin)
            case .limitCPU, .limitOpenFiles, .limitAddressSpace, .limitProcesses:
                let limit = ResourceLimit(rawValue: String(dotted.dropFirst("limits.".count)))!
                out.limits[limit] = Located(try positive(value, shown, line), origin)
            }
        }
        return out
    }

    func envPattern(_ s: String, _ err: (String) -> PolicyError) throws(PolicyError) -> String {
        guard PolicyParser.isEnvPattern(s) else {
            throw err("'\(s)' is not an environment variable name (letters, digits, '_', optionally ending in '*')")
        }
        return s
    }

    func syscallName(_ s: String, _ err: (String) -> PolicyError) throws(PolicyError) -> String {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw err("'\(s)' is not a syscall name (lowercase letters, digits, '_')")
        }
        return s
    }

    func positive(_ value: TOMLValueConvertible, _ shown: String, _ line: Int?) throws(PolicyError) -> UInt64 {
        guard let n = value.int, n > 0 else {
            let found = value.int.map { "\($0)" } ?? describe(value)
            throw PolicyError(file: source, line: line, key: shown, message: "expected a positive integer, found \(found)")
        }
        return UInt64(n)
    }

    /// Flattens nested tables into (path, non-table value) pairs.
    private func leaves(of table: TOMLTable, path: [String]) -> [([String], TOMLValueConvertible)] {
        var out: [([String], TOMLValueConvertible)] = []
        for key in table.keys {
            guard let value = table[key] else { continue }
            let p = path + [key]
            let dotted = p.joined(separator: ".")
            // A table where the schema expects a value is reported as a leaf (wrong type).
            if let sub = value.table, PolicyKey(rawValue: dotted) == nil {
                let children = leaves(of: sub, path: p)
                // An empty table the schema knows ([limits] with every line commented) is fine.
                if children.isEmpty && PolicyKey.allCases.contains(where: { $0.rawValue.hasPrefix(dotted + ".") }) { continue }
                out += children.isEmpty ? [(p, value)] : children
            } else {
                out.append((p, value))
            }
        }
        return out
    }

    private func unknownKey(_ dotted: String, shown: String, line: Int?, isTable: Bool) -> PolicyError {
        let known = PolicyKey.allCases.map(\.rawValue)
        if known.contains(where: { $0.hasPrefix(dotted + ".") }) {
            let children = known.filter { $0.hasPrefix(dotted + ".") }.joined(separator: ", ")
            return PolicyError(file: source, line: line, key: shown,
                               message: "expected a table with \(children)")
        }
        var message = "unknown key"
        if let hint = suggestion(for: dotted, in: known) {
            message += "; did you mean '\(hint)'?"
        } else {
            message += "; known keys: \(known.joined(separator: ", "))"
        }
        return PolicyError(file: source, line: line, key: shown, message: message)
    }

    private func choice<E: RawRepresentable & CaseIterable>(
        _ value: TOMLValueConvertible, _ key: String, _ line: Int?
    ) throws(PolicyError) -> E where E.RawValue == String {
        let allowed = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
        guard let s = value.string else {
            throw PolicyError(file: source, line: line, key: key,
                              message: "expected a string (\(allowed)), found \(describe(value))")
        }
        guard let v = E(rawValue: s) else {
            throw PolicyError(file: source, line: line, key: key, message: "'\(s)' is not \(allowed)")
        }
        return v
    }

    private func strings<T>(
        _ value: TOMLValueConvertible, _ key: String, _ locator: KeyLocator,
        _ check: (String, (String) -> PolicyError) throws(PolicyError) -> T
    ) throws(PolicyError) -> [Located<T>] {
        guard let array = value.array else {
            throw PolicyError(file: source, line: locator.line(of: key), key: key,
                              message: "expected an array of strings, found \(describe(value))")
        }
        var out: [Located<T>] = []
        for (i, element) in array.enumerated() {
            let line = locator.line(of: key, element: i)
            let shown = "\(key)[\(i)]"
            guard let s = element.string else {
                throw PolicyError(file: source, line: line, key: shown,
                                  message: "expected a string, found \(describe(element))")
            }
            let v = try check(s) { PolicyError(file: source, line: line, key: shown, message: $0) }
            out.append(Located(v, Provenance(source: source, line: line)))
        }
        return out
    }

    func describe(_ v: TOMLValueConvertible) -> String {
        switch v.type {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a float"
        case .bool: return "a boolean"
        default: return "a date/time"
        }
    }

    /// `~/x` → `$HOME/x`; then the path must be absolute and normal (no `.`/`..`/`//`),
    /// because enforcement matches path prefixes literally.
    func absolutePath(_ raw: String, _ err: (String) -> PolicyError) throws(PolicyError) -> String {
        var s = raw
        if s == "~" || s.hasPrefix("~/") {
            guard let home else { throw err("'\(raw)': '~' cannot be expanded here: no home directory is known for the user the build runs as (HOME is unset or not an absolute path, and the user has no passwd entry); write the absolute path") }
            s = s == "~" ? home : homePath(home, String(s.dropFirst(2)))
        }
        guard s.hasPrefix("/") else {
            throw err("'\(raw)' is a relative path; write an absolute path (or one starting with ~/)")
        }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if parts.dropLast().contains(where: \.isEmpty) || parts.contains(where: { $0 == "." || $0 == ".." }) {
            throw err("'\(raw)' is not a normalized path (no '//', '.' or '..' components)")
        }
        if s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        return s
    }

    /// A bare program name (resolved through PATH at run start) or an absolute path.
    func executable(_ raw: String, _ err: (String) -> PolicyError) throws(PolicyError) -> String {
        if raw.isEmpty { throw err("empty program name") }
        if raw.contains("/") || raw.hasPrefix("~") { return try absolutePath(raw, err) }
        return raw
    }

    public static func isEnvPattern(_ s: String) -> Bool {
        var body = Substring(s)
        if body.hasSuffix("*") { body = body.dropLast() }
        guard let first = body.first, first == "_" || (first.isASCII && first.isLetter) else {
            return false
        }
        return body.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
