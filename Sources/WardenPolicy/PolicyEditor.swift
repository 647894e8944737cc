/// Adds list entries to a `warden.toml` and sets its mode by editing lines, so that the
/// user's comments, blank lines and order stay as they were (TOMLKit would drop the
/// comments when writing). Every edit is checked by parsing the result: a text whose
/// policy is not the old one plus the additions is never returned.
public struct PolicyEditor: Sendable {
    public struct Addition: Sendable, Equatable {
        public var key: PolicyKey
        public var value: String
        public var comment: String
        public init(key: PolicyKey, value: String, comment: String) {
            self.key = key
            self.value = value
            self.comment = comment
        }
    }

    public enum EditError: Error, Equatable, CustomStringConvertible {
        /// The key's table is written in a form the editor does not rewrite (e.g. an
        /// inline table): the caller shows the lines to add by hand.
        case unsupportedLayout(String)
        /// The edited text did not parse back to the expected policy (a bug caught).
        case verificationFailed(String)
        public var description: String {
            switch self {
            case .unsupportedLayout(let s): return s
            case .verificationFailed(let s): return "the merged policy did not check out: \(s)"
            }
        }
    }

    public private(set) var text: String
    let source: String
    let home: String?

    public init(text: String, source: String, home: String?) {
        self.text = text
        self.source = source
        self.home = home
    }

    /// Applies `additions` (grouped by key, in order) and `mode`, then verifies.
    public mutating func apply(_ additions: [Addition], mode: Mode?) throws -> String {
        let before = try PolicyParser(source: source, home: home).parse(text)
        var keys: [PolicyKey] = []
        for a in additions where !keys.contains(a.key) { keys.append(a.key) }
        for key in keys {
            try add(additions.filter { $0.key == key }, to: key)
        }
        if let mode { setMode(mode) }
        let after: PolicyFragment
        do {
            after = try PolicyParser(source: source, home: home).parse(text)
        } catch {
            throw EditError.verificationFailed("\(error)")
        }
        try verify(before: before, after: after, additions: additions, mode: mode)
        return text
    }

    func verify(before: PolicyFragment, after: PolicyFragment, additions: [Addition], mode: Mode?) throws {
        func values(_ f: PolicyFragment, _ key: PolicyKey) -> [String] {
            switch key {
            case .execAllowed: return f.execAllowed.map(\.value)
            case .netHosts: return f.netHosts.map(\.value.description)
            case .fsReadExtra: return f.fsReadExtra.map(\.value)
            case .fsWriteExtra: return f.fsWriteExtra.map(\.value)
            case .envRead: return f.envRead.map(\.value)
            case .syscallDeny: return f.syscallDeny.map(\.value)
            default: return []
            }
        }
        for key in [PolicyKey.execAllowed, .netHosts, .fsReadExtra, .fsWriteExtra, .envRead, .syscallDeny] {
            let expected = values(before, key) + additions.filter { $0.key == key }.map(\.value)
            guard values(after, key) == expected else {
                throw EditError.verificationFailed("\(key.rawValue) is \(values(after, key)), expected \(expected)")
            }
        }
        var b = before, a = after
        if let mode { b.mode = nil; a.mode = nil; guard after.mode?.value == mode else { throw EditError.verificationFailed("mode is not \(mode)") } }
        let sameScalars = b.mode?.value == a.mode?.value && b.fsDefault?.value == a.fsDefault?.value
            && b.netDefault?.value == a.netDefault?.value && b.netListen?.value == a.netListen?.value
            && b.execDefault?.value == a.execDefault?.value
            && b.syscallProfile?.value == a.syscallProfile?.value && b.syscallOCIProfile?.value == a.syscallOCIProfile?.value
            && b.syscallRules.map(\.value) == a.syscallRules.map(\.value)
            && b.syscallNotifyDefault?.value == a.syscallNotifyDefault?.value
            && b.limits.mapValues(\.value) == a.limits.mapValues(\.value)
        guard sameScalars else { throw EditError.verificationFailed("a setting other than the added entries changed") }
    }

    // MARK: lines

    var lines: [String] {
        get { text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        set { text = newValue.joined(separator: "\n") }
    }

    /// The 0-based index of the first table header line (`[x]` or `[[x]]`), if any.
    func firstHeader(_ lines: [String]) -> Int? {
        let loc = KeyLocator(source: text)
        let headerLines = loc.keyLines.values.filter { l in
            let t = lines[l - 1].drop(while: { $0 == " " || $0 == "\t" })
            return t.hasPrefix("[")
        }
        return headerLines.min().map { $0 - 1 }
    }

    func entryLines(_ additions: [Addition], indent: String) -> [String] {
        additions.flatMap { a in
            [indent + "# " + a.comment.replacingOccurrences(of: "\n", with: " "), indent + tomlQuoted(a.value) + ","]
        }
    }

    mutating func add(_ additions: [Addition], to key: PolicyKey) throws {
        guard !additions.isEmpty else { return }
        let loc = KeyLocator(source: text)
        var ls = lines
        let parts = key.rawValue.split(separator: ".").map(String.init)
        let table = parts.dropLast().joined(separator: ".")
        let leaf = parts.last!
        if let line = loc.keyLines[key.rawValue] {
            // The key is written: add to its array.
            guard let span = ArraySpan.find(in: ls, keyLine: line - 1) else {
                throw EditError.unsupportedLayout("\(key.rawValue) on line \(line) is not an array written as `key = [ … ]`")
            }
            var insert = entryLines(additions, indent: "  ")
            var closeLine = ls[span.closeLine]
            let beforeClose = String(closeLine[..<span.closeColumn])
            if beforeClose.allSatisfy({ $0 == " " || $0 == "\t" }) {
                // `]` on a line of its own: the entries go on the lines above it.
                ls.insert(contentsOf: insert, at: span.closeLine)
            } else {
                // `key = []` or `key = ["a"]`: `]` moves to a line of its own.
                insert.append("]" + String(closeLine[span.closeColumn...].dropFirst()))
                closeLine = beforeClose
                ls[span.closeLine] = closeLine
                ls.insert(contentsOf: insert, at: span.closeLine + 1)
            }
            if let last = span.lastValue {
                // The old last element needs a comma before the new ones.
                var l = ls[last.line]
                l.insert(",", at: last.column)
                ls[last.line] = l
            }
            lines = ls
            return
        }
        let block = ["\(leaf) = ["] + entryLines(additions, indent: "  ") + ["]"]
        if let tableLine = loc.keyLines[table] {
            let l = ls[tableLine - 1].drop(while: { $0 == " " || $0 == "\t" })
            guard l.hasPrefix("[") && !l.hasPrefix("[[") else {
                throw EditError.unsupportedLayout("[\(table)] is written as dotted keys or inline (line \(tableLine)); add \(key.rawValue) by hand")
            }
            // After the table's last key: before the next header, and before the blank and
            // comment lines above that header (they belong to it).
            let headers = loc.keyLines.values.filter { $0 > tableLine && ls[$0 - 1].drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("[") }
            var at = (headers.min() ?? ls.count + 1) - 1
            while at > tableLine, ls[at - 1].drop(while: { $0 == " " || $0 == "\t" }).isEmpty
                    || ls[at - 1].drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") {
                at -= 1
            }
            ls.insert(contentsOf: block, at: at)
            lines = ls
            return
        }
        // No such table: a new one at the end (a sub-table of [allow] is valid after any
        // other, and after dotted keys that define [allow] too).
        while let last = ls.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { ls.removeLast() }
        ls += (ls.isEmpty ? [] : [""]) + ["[\(table)]"] + block + [""]
        lines = ls
    }

    mutating func setMode(_ mode: Mode) {
        let loc = KeyLocator(source: text)
        var ls = lines
        if let line = loc.keyLines["mode"], let eq = ls[line - 1].firstIndex(of: "="),
           let open = ls[line - 1][eq...].firstIndex(where: { $0 == "\"" || $0 == "'" }),
           let close = ls[line - 1][ls[line - 1].index(after: open)...].firstIndex(of: ls[line - 1][open]) {
            // Only the value changes: spacing and a comment after it stay.
            ls[line - 1].replaceSubrange(open...close, with: "\"\(mode.rawValue)\"")
        } else if let h = firstHeader(ls) {
            ls.insert(contentsOf: ["mode = \"\(mode.rawValue)\"", ""], at: h)
        } else {
            ls.insert("mode = \"\(mode.rawValue)\"", at: 0)
        }
        lines = ls
    }
}

/// Where a `key = [ … ]` array sits in the lines of a TOML text: its closing bracket and
/// the end of its last element (nil when it has none, or ends in a comma).
struct ArraySpan {
    var closeLine: Int
    var closeColumn: String.Index
    var lastValue: (line: Int, column: String.Index)?

    static func find(in lines: [String], keyLine: Int) -> ArraySpan? {
        guard keyLine < lines.count, let eq = lines[keyLine].firstIndex(of: "=") else { return nil }
        var line = keyLine
        var i = lines[keyLine].index(after: eq)
        func skipBlanks() {
            while i < lines[line].endIndex, lines[line][i] == " " || lines[line][i] == "\t" { i = lines[line].index(after: i) }
        }
        skipBlanks()
        guard i < lines[line].endIndex, lines[line][i] == "[" else { return nil }
        i = lines[line].index(after: i)
        var depth = 1
        var lastValue: (line: Int, column: String.Index)?
        var afterComma = true
        while line < lines.count {
            let l = lines[line]
            while i < l.endIndex {
                let c = l[i]
                switch c {
                case " ", "\t", "\r":
                    i = l.index(after: i)
                case "#":
                    i = l.endIndex
                case ",":
                    if depth == 1 { afterComma = true; lastValue = nil }
                    i = l.index(after: i)
                case "[", "{":
                    depth += 1
                    i = l.index(after: i)
                case "]", "}":
                    depth -= 1
                    if depth == 0 {
                        return ArraySpan(closeLine: line, closeColumn: i, lastValue: afterComma ? nil : lastValue)
                    }
                    i = l.index(after: i)
                    if depth == 1 { lastValue = (line, i); afterComma = false }
                case "\"", "'":
                    // Multi-line strings are not expected in warden's lists.
                    if l[i...].hasPrefix(String(repeating: c, count: 3)) { return nil }
                    i = l.index(after: i)
                    while i < l.endIndex, l[i] != c {
                        if c == "\"" && l[i] == "\\" { i = l.index(after: i); if i == l.endIndex { break } }
                        i = l.index(after: i)
                    }
                    guard i < l.endIndex else { return nil }
                    i = l.index(after: i)
                    if depth == 1 { lastValue = (line, i); afterComma = false }
                default:
                    // A bare value (number, boolean): up to a delimiter.
                    while i < l.endIndex, !",]} \t#".contains(l[i]) { i = l.index(after: i) }
                    if depth == 1 { lastValue = (line, i); afterComma = false }
                }
            }
            line += 1
            if line < lines.count { i = lines[line].startIndex }
        }
        return nil
    }
}

/// A TOML basic string.
public func tomlQuoted(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 || c.value == 0x7f {
                let hex = String(c.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }
    return out + "\""
}
