import TOMLKit

/// `workspace.warden.toml`: a `[root]` policy for every package of a workspace plus
/// `[members.<name>]` overrides for single packages.
public struct WorkspacePolicy: Sendable, Equatable {
    public var root: PolicyFragment
    public var members: [String: PolicyFragment]

    public static func parse(_ text: String, source: String, home: String?) throws(PolicyError) -> WorkspacePolicy {
        let parser = PolicyParser(source: source, home: home)
        let (table, locator) = try parser.parseTOML(text)
        var out = WorkspacePolicy(root: PolicyFragment(), members: [:])
        for key in table.keys {
            guard let value = table[key] else { continue }
            let line = locator.line(of: key)
            switch key {
            case "root":
                guard let sub = value.table else {
                    throw PolicyError(file: source, line: line, key: key, message: "expected a table")
                }
                out.root = try parser.fragment(from: sub, prefix: "root.", locator: locator)
            case "members":
                guard let sub = value.table else {
                    throw PolicyError(file: source, line: line, key: key, message: "expected a table of [members.<name>]")
                }
                for name in sub.keys {
                    guard let member = sub[name]?.table else {
                        throw PolicyError(file: source, line: locator.line(of: "members.\(name)"),
                                          key: "members.\(name)", message: "expected a table")
                    }
                    out.members[name] = try parser.fragment(from: member, prefix: "members.\(name).", locator: locator)
                }
            default:
                var message = "unknown key; a workspace policy has [root] and [members.<name>]"
                if let hint = suggestion(for: key, in: ["root", "members"]) { message += "; did you mean '\(hint)'?" }
                throw PolicyError(file: source, line: line, key: key, message: message)
            }
        }
        return out
    }
}

/// The project a command belongs to, found the way Cargo and SwiftPM find theirs: the
/// nearest directory at or above the working directory holding `Package.swift`,
/// `Cargo.toml` or `warden.toml`. The search stops below the home directory and the
/// filesystem root (a stray file there must not make a whole home the workspace); with
/// nothing found, the working directory is the workspace.
public enum ProjectRoot {
    public static let markers = ["Package.swift", "Cargo.toml", "warden.toml"]

    /// The root and the marker that named it (nil: none found, the working directory).
    public static func find(from cwd: String, home: String?, exists: (String) -> Bool) -> (root: String, marker: String?) {
        for dir in directoryChain(from: cwd) {
            if dir == "/" || dir == home { break }
            if let marker = markers.first(where: { exists(dir + "/" + $0) }) { return (dir, marker) }
        }
        return (cwd, nil)
    }
}

/// warden's keys inside `Cargo.toml`: `[workspace.metadata.warden]` (in the workspace's
/// root manifest) and `[package.metadata.warden]` (in the package's), where cargo lets
/// tools keep their settings. The same keys as `warden.toml`, located by file and line.
public enum CargoMetadataPolicy {
    public static let tables = ["workspace.metadata.warden", "package.metadata.warden"]

    /// The fragments of one manifest, in merge order: workspace, then package.
    public static func parse(_ text: String, source: String, home: String?, only: Set<String> = Set(tables)) throws(PolicyError)
        -> [(table: String, fragment: PolicyFragment)]
    {
        // Most manifests have nothing for warden: do not make their TOML warden's concern.
        guard text.contains("warden") else { return [] }
        let parser = PolicyParser(source: source, home: home)
        let (table, locator) = try parser.parseTOML(text)
        var out: [(String, PolicyFragment)] = []
        for path in tables where only.contains(path) {
            var node: TOMLTable? = table
            for part in path.split(separator: ".") { node = node?[String(part)]?.table }
            if let node { out.append((path, try parser.fragment(from: node, prefix: path + ".", locator: locator))) }
        }
        return out
    }
}
