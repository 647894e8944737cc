/// What git reads outside the repository: its system, global and XDG configuration, the
/// attribute and ignore files it reads by default, and those the configuration names
/// (`core.excludesFile`, `core.attributesFile`). SwiftPM and Cargo run git for git
/// dependencies and for the root package; without these files git refuses to run or
/// fails. The repository's own `.git/config` belongs to the workspace and is never used
/// to widen the policy: the build controls it.
public enum GitConfiguration {
    /// Configuration files git reads for every repository, in git's order. The child's
    /// environment carries no `XDG_CONFIG_HOME` or `GIT_CONFIG_*`, so these are the defaults.
    public static func configFiles(home: String?) -> [String] {
        ["/etc/gitconfig"] + (home.map { [homePath($0, ".gitconfig"), homePath($0, ".config/git/config")] } ?? [])
    }

    /// Files git reads without being told to.
    public static func defaultFiles(home: String?) -> [String] {
        ["/etc/gitattributes"] + (home.map { [homePath($0, ".config/git/ignore"), homePath($0, ".config/git/attributes")] } ?? [])
    }

    /// The absolute paths `core.excludesFile` and `core.attributesFile` name in one
    /// configuration file's text (`~/` expanded with `home`). Relative values depend on
    /// the directory git runs in and are left out, as are `[include]`d files.
    public static func namedFiles(in text: String, home: String?) -> [String] {
        var section = ""
        var out: [String] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = Substring(stripComment(rawLine)).trimmingSpaces
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else { continue }
                section = line[line.index(after: line.startIndex)..<close].trimmingSpaces.lowercased()
                line = line[line.index(after: close)...].trimmingSpaces
                if line.isEmpty { continue }
            }
            guard section == "core", let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingSpaces.lowercased()
            guard key == "excludesfile" || key == "attributesfile" else { continue }
            var value = line[line.index(after: eq)...].trimmingSpaces
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = value.dropFirst().dropLast() }
            var path = String(value)
            if path.hasPrefix("~/") {
                guard let home else { continue }
                path = homePath(home, String(path.dropFirst(2)))
            }
            if path.hasPrefix("/") { out.append(path) }
        }
        return out
    }

    /// Drops a `#` or `;` comment that is not inside double quotes.
    static func stripComment(_ line: Substring) -> Substring {
        var quoted = false
        for i in line.indices {
            let c = line[i]
            if c == "\"" { quoted.toggle() }
            if (c == "#" || c == ";") && !quoted { return line[..<i] }
        }
        return line
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}
