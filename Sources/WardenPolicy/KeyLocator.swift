/// Finds the line on which each key (and each array element) is written in a TOML text.
/// TOMLKit gives values but no positions; error messages and SARIF locations need them.
/// This is a small scanner over the same grammar, run only on text TOMLKit accepted.
public struct KeyLocator: Sendable {
    /// Dotted key path → 1-based line of its first definition (tables: their header).
    public private(set) var keyLines: [String: Int] = [:]
    /// Dotted key path → line of each string or inline-table element of its array value,
    /// or of each `[[path]]` header, in order. Keys inside element N are `path[N].key`.
    public private(set) var elementLines: [String: [Int]] = [:]
    /// Constructs toml++ 3.4 asserts on (undefined behaviour in release builds) instead of
    /// reporting an error, found by the fuzz test: a table header whose first character is
    /// no key (`[ = x]`, `[[ #`) and an array element starting with `}` (`[}"a"]`). The
    /// parser rejects them, with this line and reason, before handing the text over.
    public private(set) var unsafeConstructs: [(line: Int, reason: String)] = []

    public init(source: String) {
        var scanner = Scanner(Array(source.unicodeScalars))
        scanner.run(into: &self)
    }

    /// The line of `path`, or of its nearest enclosing table that is written out.
    public func line(of path: String) -> Int? {
        var p = path
        while true {
            if let l = keyLines[p] { return l }
            guard let dot = p.lastIndex(of: ".") else { return nil }
            p = String(p[..<dot])
        }
    }

    public func line(of path: String, element index: Int) -> Int? {
        if let lines = elementLines[path], index < lines.count { return lines[index] }
        return line(of: path)
    }

    private mutating func define(_ path: String, line: Int) {
        if keyLines[path] == nil { keyLines[path] = line }
    }

    private struct Scanner {
        let s: [Unicode.Scalar]
        var i = 0
        var line = 1
        init(_ s: [Unicode.Scalar]) { self.s = s }

        var atEnd: Bool { i >= s.count }
        func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

        mutating func advance() {
            if s[i] == "\n" { line += 1 }
            i += 1
        }

        mutating func skipSpaces() {
            while let c = peek(), c == " " || c == "\t" { advance() }
        }

        mutating func skipToLineEnd() {
            while let c = peek(), c != "\n" { advance() }
        }

        /// Skips blanks, newlines and comments (inside arrays values span lines).
        mutating func skipTrivia() {
            while let c = peek() {
                if c == " " || c == "\t" || c == "\r" || c == "\n" { advance() }
                else if c == "#" { skipToLineEnd() }
                else { break }
            }
        }

        /// Reads a string literal starting at the current quote; returns its raw text.
        mutating func readString() -> String {
            let q = s[i]
            let multi = peek(1) == q && peek(2) == q
            var out = String.UnicodeScalarView()
            if multi {
                advance(); advance(); advance()
                while !atEnd {
                    if peek() == q && peek(1) == q && peek(2) == q {
                        advance(); advance(); advance()
                        // Up to two more quotes may close the string as content.
                        while peek() == q { advance() }
                        break
                    }
                    if q == "\"" && peek() == "\\" { advance(); if !atEnd { advance() }; continue }
                    out.append(s[i])
                    advance()
                }
                return String(out)
            }
            advance()
            while let c = peek(), c != q, c != "\n" {
                if q == "\"" && c == "\\" { advance(); if !atEnd { out.append(s[i]); advance() }; continue }
                out.append(c)
                advance()
            }
            if peek() == q { advance() }
            return String(out)
        }

        /// Reads a (possibly dotted, possibly quoted) key and returns its parts.
        mutating func readKey() -> [String] {
            var parts: [String] = []
            while !atEnd {
                skipSpaces()
                guard let c = peek() else { break }
                if c == "\"" || c == "'" {
                    parts.append(readString())
                } else {
                    var part = String.UnicodeScalarView()
                    while let d = peek(), d != ".", d != "=", d != "]", d != " ", d != "\t", d != "\n", d != "#" {
                        part.append(d)
                        advance()
                    }
                    if part.isEmpty { break }
                    parts.append(String(part))
                }
                skipSpaces()
                if peek() == "." { advance() } else { break }
            }
            return parts
        }

        /// Skips one value, recording array element lines for `path` and inline table keys.
        mutating func skipValue(path: String, into loc: inout KeyLocator) {
            skipSpaces()
            guard let c = peek() else { return }
            if c == "\"" || c == "'" {
                _ = readString()
            } else if c == "[" {
                advance()
                var index = 0
                while true {
                    skipTrivia()
                    guard let d = peek() else { return }
                    if d == "]" { advance(); return }
                    if d == "," { advance(); continue }
                    if d == "}" { loc.unsafeConstructs.append((line, "expected a value or ']', saw '}'")) }
                    if d == "\"" || d == "'" || d == "{" {
                        loc.elementLines[path, default: []].append(line)
                    }
                    if d == "{" { loc.define("\(path)[\(index)]", line: line) }
                    let before = i
                    skipValue(path: "\(path)[\(index)]", into: &loc)
                    index += 1
                    if i == before { advance() }  // a stray '}' or the like: never stall
                }
            } else if c == "{" {
                advance()
                while true {
                    skipTrivia()
                    guard let d = peek() else { return }
                    if d == "}" { advance(); return }
                    if d == "," { advance(); continue }
                    let keyLine = line
                    let key = readKey()
                    if key.isEmpty { advance(); continue }
                    let full = ([path] + key).joined(separator: ".")
                    loc.define(full, line: keyLine)
                    skipSpaces()
                    if peek() == "=" { advance() }
                    let before = i
                    skipValue(path: full, into: &loc)
                    if i == before, !atEnd, peek() != "}" { advance() }
                }
            } else {
                while let d = peek(), d != ",", d != "]", d != "}", d != "\n", d != "#" { advance() }
            }
        }

        mutating func run(into loc: inout KeyLocator) {
            var table: [String] = []
            while true {
                skipTrivia()
                guard let c = peek() else { return }
                let startLine = line
                if c == "[" {
                    advance()
                    let isArray = peek() == "["
                    if isArray { advance() }
                    skipSpaces()
                    if let k = peek(), !(k == "\"" || k == "'" || k == "_" || k == "-" || (k.isASCII && k.properties.isAlphabetic) || ("0"..."9").contains(k)) {
                        loc.unsafeConstructs.append((startLine, "a table header must start with a key"))
                    }
                    table = readKey()
                    // `[a.b.c]` also defines `a` and `a.b` when they are not written out.
                    for n in 1...max(1, table.count) where n <= table.count {
                        loc.define(table.prefix(n).joined(separator: "."), line: startLine)
                    }
                    // `[[a.b]]`: the Nth header opens element `a.b[N]`.
                    if isArray, !table.isEmpty {
                        let dotted = table.joined(separator: ".")
                        let n = loc.elementLines[dotted, default: []].count
                        loc.elementLines[dotted, default: []].append(startLine)
                        table[table.count - 1] += "[\(n)]"
                        loc.define(table.joined(separator: "."), line: startLine)
                    }
                    skipToLineEnd()
                    continue
                }
                let key = readKey()
                if key.isEmpty { skipToLineEnd(); continue }
                let full = (table + key).joined(separator: ".")
                // Dotted keys define their parent tables too (`fs.default` defines `fs`).
                let parts = table + key
                for n in (table.count + 1)..<parts.count {
                    loc.define(parts.prefix(n).joined(separator: "."), line: startLine)
                }
                loc.define(full, line: startLine)
                skipSpaces()
                if peek() == "=" { advance() }
                skipValue(path: full, into: &loc)
            }
        }
    }
}
