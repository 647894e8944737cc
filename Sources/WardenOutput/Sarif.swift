import Foundation
import WardenPolicy

/// SARIF 2.1.0 for GitHub code scanning: one rule per policy key (stable ids), one result
/// per distinct denial, located at the policy line that governs it, with a
/// partialFingerprint so the same denial is the same alert across runs.
public struct SarifWriter: Sendable {
    public struct PolicyText: Sendable {
        public var uri: String      // relative to the repository root when possible
        public var text: String
        public init(uri: String, text: String) {
            self.uri = uri
            self.text = text
        }
    }

    public var toolVersion: String
    public var policy: PolicyText?

    public init(toolVersion: String, policy: PolicyText?) {
        self.toolVersion = toolVersion
        self.policy = policy
    }

    static let ruleText: [String: (name: String, text: String)] = [
        "allow.exec.allowed": ("ExecNotAllowed", "A program was executed that allow.exec.allowed does not list."),
        "allow.net.hosts": ("ConnectNotAllowed", "An outbound connection went to a host:port that allow.net.hosts does not list."),
        "allow.fs.read_extra": ("ReadNotAllowed", "A file outside the strict read set was opened for reading."),
        "allow.fs.write_extra": ("WriteNotAllowed", "A file outside the strict write set was opened, renamed or removed for writing."),
        "syscall.deny": ("SyscallDenied", "A system call listed in syscall.deny was made."),
        "allow.env.read": ("EnvNotAllowed", "An environment variable was requested that allow.env.read does not pass."),
    ]

    public func document(_ report: Report) throws -> Data {
        let locator = policy.map { KeyLocator(source: $0.text) }
        var rules: [[String: Any]] = []
        var ruleIndex: [String: Int] = [:]
        var results: [[String: Any]] = []
        for f in report.findings {
            let id = "warden/\(f.rule)"
            if ruleIndex[id] == nil {
                ruleIndex[id] = rules.count
                let info = SarifWriter.ruleText[f.rule] ?? ("PolicyViolation", "An operation was not allowed by the policy key \(f.rule).")
                rules.append([
                    "id": id,
                    "name": info.name,
                    "shortDescription": ["text": info.text],
                    "fullDescription": ["text": info.text + " Add the path or address to \(f.rule) in warden.toml if the build needs it."],
                    "help": ["text": "Review whether the build needs this access. If it does, add it to \(f.rule); if not, a dependency is doing something it should not."],
                    "defaultConfiguration": ["level": "error"],
                    "properties": ["tags": ["security", "supply-chain"]],
                ])
            }
            let verb = f.blocked ? "Denied" : "Would deny (observe mode)"
            var result: [String: Any] = [
                "ruleId": id,
                "ruleIndex": ruleIndex[id]!,
                "level": f.blocked ? "error" : "warning",
                "message": ["text": "\(verb): \(f.action) \(f.target) (\(f.count)×, by \(f.units.joined(separator: ", "))). To allow: \(f.suggestedLine)"],
                "partialFingerprints": ["wardenDenial/v1": fingerprint(f.rule, f.action, f.target)],
                "properties": ["action": f.action, "target": f.target, "count": f.count, "units": f.units],
            ]
            // The key itself, else its own table ([allow.fs]), else the top of the file.
            let table = f.rule.split(separator: ".").dropLast().joined(separator: ".")
            let line = locator.flatMap { $0.keyLines[f.rule] ?? $0.keyLines[table] } ?? 1
            result["locations"] = [[
                "physicalLocation": [
                    "artifactLocation": ["uri": policy?.uri ?? "warden.toml", "uriBaseId": "%SRCROOT%"],
                    "region": ["startLine": line],
                ],
            ]]
            results.append(result)
        }
        let run: [String: Any] = [
            "tool": ["driver": [
                "name": "warden",
                "version": toolVersion,
                "semanticVersion": toolVersion,
                "rules": rules,
            ]],
            "automationDetails": ["id": "warden/\(report.runId ?? "none")"],
            "results": results,
            "columnKind": "unicodeCodePoints",
        ]
        let doc: [String: Any] = [
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": [run],
        ]
        var data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
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
