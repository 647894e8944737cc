import Foundation
import WardenPolicy

/// SARIF 2.1.0 for GitHub code scanning: one rule per policy key (stable ids), one result
/// per distinct denial, located at the policy line that governs it, with a
/// partialFingerprint so the same denial is the same alert across runs.
public struct SarifWriter: Sendable {
    /// A file results point at: the policy file (its text locates the key's line), or,
    /// when the policy is the built-in default, the workspace's build file. `uri` is
    /// relative to %SRCROOT% (the repository's top level) when the file is inside it.
    public struct PolicyText: Sendable {
        public var uri: String
        public var text: String
        public init(uri: String, text: String) {
            self.uri = uri
            self.text = text
        }
    }

    public var toolVersion: String
    public var policy: PolicyText?
    /// Where results point when there is no policy file (line 1 of it).
    public var fallbackURI: String

    public init(toolVersion: String, policy: PolicyText?, fallbackURI: String = "warden.toml") {
        self.toolVersion = toolVersion
        self.policy = policy
        self.fallbackURI = fallbackURI
    }

    /// Name, description and GitHub's security-severity (0–10) per policy key.
    static let ruleText: [String: (name: String, text: String, severity: String)] = [
        "allow.exec.allowed": ("ExecNotAllowed", "A program was executed that allow.exec.allowed does not list.", "7.5"),
        "allow.net.hosts": ("ConnectNotAllowed", "An outbound connection went to a host:port that allow.net.hosts does not list.", "8.0"),
        "allow.fs.read_extra": ("ReadNotAllowed", "A file outside the strict read set was opened for reading.", "7.0"),
        "allow.fs.write_extra": ("WriteNotAllowed", "A file outside the strict write set was opened, renamed or removed for writing.", "7.5"),
        "syscall.deny": ("SyscallDenied", "A system call listed in syscall.deny was made.", "6.0"),
        "allow.env.read": ("EnvNotAllowed", "An environment variable was requested that allow.env.read does not pass.", "5.0"),
        "refused_by_kernel": ("RefusedByKernel", "The kernel refused an access through a name the policy allows (a symlink changed after the call, a process gone, or a permission).", "7.0"),
    ]

    public func document(_ report: Report) throws -> Data {
        try document([report])
    }

    /// One SARIF run per warden run.
    public func document(_ reports: [Report]) throws -> Data {
        let doc: [String: Any] = [
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": reports.map(run),
        ]
        var data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }

    func rule(_ key: String, example: Report.Finding) -> [String: Any] {
        let info = SarifWriter.ruleText[key] ?? ("PolicyViolation", "An operation was not allowed by the policy key \(key).", "5.0")
        let markdown = """
            **\(info.text)**

            Review whether the build needs this access. If it does, add the path or address to `\(key)` in `warden.toml`, \
            for example:

            ```toml
            \(key) = ["…"]
            ```

            If it does not, a dependency (a build script, manifest, plugin or macro) is reaching for something it should \
            not: find which one with the event's `unit` in `warden report`. Secrets (`~/.ssh`, `~/.aws`, …) are never to \
            be allowed.
            """
        return [
            "id": "warden/\(key)",
            "name": info.name,
            "shortDescription": ["text": info.text],
            "fullDescription": ["text": info.text + " Add the path or address to \(key) in warden.toml if the build needs it."],
            "help": [
                "text": "Review whether the build needs this access. If it does, add it to \(key); if not, a dependency is doing something it should not.",
                "markdown": markdown,
            ],
            "defaultConfiguration": ["level": "error"],
            "properties": ["tags": ["security", "supply-chain"], "security-severity": info.severity, "precision": "high"],
        ]
    }

    func run(_ report: Report) -> [String: Any] {
        let locator = policy.map { KeyLocator(source: $0.text) }
        var rules: [[String: Any]] = []
        var ruleIndex: [String: Int] = [:]
        var results: [[String: Any]] = []
        for f in report.findings {
            let id = "warden/\(f.rule)"
            if ruleIndex[id] == nil {
                ruleIndex[id] = rules.count
                rules.append(rule(f.rule, example: f))
            }
            let verb = f.blocked ? "Denied" : "Would deny (observe mode)"
            let advice = f.rule == "refused_by_kernel" ? "No policy line explains it: look at what the build did there."
                : f.suggestedLine.map { "To allow it, add to warden.toml: \($0)" }
                ?? "\(f.target) is a secret: do not allow it; find the dependency that reached for it."
            var result: [String: Any] = [
                "ruleId": id,
                "ruleIndex": ruleIndex[id]!,
                "level": f.blocked ? "error" : "warning",
                "message": ["text": "\(verb): \(f.action) \(f.target) (\(f.count)×, by \(f.by)). \(advice)"],
                "partialFingerprints": ["wardenDenial/v1": fingerprint(f.rule, f.action, f.target)],
                "properties": ["action": f.action, "target": f.target, "count": f.count, "units": f.units, "packages": f.packages, "secret": f.suggestedLine == nil],
            ]
            // The key itself, else its own table ([allow.fs]), else the top of the file.
            let table = f.rule.split(separator: ".").dropLast().joined(separator: ".")
            let line = locator.flatMap { $0.keyLines[f.rule] ?? $0.keyLines[table] } ?? 1
            result["locations"] = [[
                "physicalLocation": [
                    "artifactLocation": ["uri": policy?.uri ?? fallbackURI, "uriBaseId": "%SRCROOT%"],
                    "region": ["startLine": line],
                ],
            ]]
            results.append(result)
        }
        var properties: [String: Any] = ["lostEvents": report.lostEvents]
        if let m = report.enforceMismatches { properties["enforceMismatches"] = m }
        return [
            "tool": ["driver": [
                "name": "warden",
                "version": toolVersion,
                "semanticVersion": toolVersion,
                "rules": rules,
            ]],
            "automationDetails": ["id": "warden/\(report.runId ?? "none")"],
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": properties,
        ]
    }

    func fingerprint(_ parts: String...) -> String {
        fnv1a64Hex(parts.joined(separator: "\u{0}"))
    }
}

/// FNV-1a 64 of `text` as 16 hex digits: stable across runs and machines; no secrecy
/// needed (SARIF fingerprints, state directory names).
public func fnv1a64Hex(_ text: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
