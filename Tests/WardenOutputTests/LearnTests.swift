import Foundation
import Testing
@testable import WardenOutput
@testable import WardenPolicy

/// Learning a policy from a run, merging it into warden.toml, and the Prometheus text.
struct LearnTests {
    func record(_ action: WardenEvent.Action, _ path: String, _ perm: String, unit: WardenEvent.Unit = .buildScript,
                verdict: WardenEvent.Verdict = .denied, mode: String = "observe", expected: String? = nil) -> EventRecord {
        EventRecord(runId: "r", source: "tracepoint", mode: mode,
                    event: WardenEvent(pid: 1, tgid: 1, timeNs: 0, unit: unit, action: action, verdict: verdict, containerId: 1, caps: 0,
                                       pathOrAddr: path, neededPerm: perm), expectedRefusal: expected)
    }

    let ws = "/var/lib/proj"

    @Test func theNarrowestRulesAreLearnedWithTheUnitsThatNeededThem() {
        let events = [
            record(.open, "/srv/data/a.txt", "allow.fs.read_extra=/srv/data/a.txt"),
            record(.open, "/srv/data/a.txt", "allow.fs.read_extra=/srv/data/a.txt", unit: .compiler),
            record(.open, "/srv/out/x.o", "allow.fs.write_extra=/srv/out"),
            record(.exec, "/usr/bin/perl", "allow.exec.allowed=/usr/bin/perl"),
            record(.connect, "127.0.0.1:8080", "allow.net.hosts=127.0.0.1:8080", unit: .procMacro),
            // Allowed events and expected refusals need nothing.
            record(.open, "/usr/lib/libc.so", "", verdict: .allowed),
            record(.open, "/var/lib/libuuid/clock.txt", "allow.fs.write_extra=/var/lib/libuuid", expected: "libuuid"),
        ]
        let learned = LearnedPolicy.learn(from: events, workspace: ws, home: "/home/u")
        #expect(learned.rules.map(\.rule) == [
            PolicyRule(key: "allow.exec.allowed", value: "/usr/bin/perl"),
            PolicyRule(key: "allow.fs.read_extra", value: "/srv/data/a.txt"),
            PolicyRule(key: "allow.fs.write_extra", value: "/srv/out"),
            PolicyRule(key: "allow.net.hosts", value: "127.0.0.1:8080"),
        ])
        let read = learned.rules.first { $0.rule.key == "allow.fs.read_extra" }!
        #expect(read.units == ["build_script", "compiler"] && read.count == 2)
        #expect(read.comment == "learned: build_script, compiler (2×): /srv/data/a.txt")
        #expect(learned.leftOut.isEmpty && learned.violations == 5)
    }

    @Test func secretsAndGitAreNeverLearnedAndSaidSo() {
        let events = [
            record(.open, "/home/u/.ssh/id_rsa", "allow.fs.read_extra=/home/u/.ssh/id_rsa"),
            record(.open, "/home/u/.aws/credentials", "allow.fs.read_extra=/home/u/.aws/credentials"),
            record(.open, "/etc/shadow", "allow.fs.read_extra=/etc/shadow"),
            record(.open, "/var/lib/proj/.git/hooks/post-checkout", "allow.fs.write_extra=/var/lib/proj/.git/hooks"),
            record(.exec, "/var/lib/proj/.git/hooks/pre-commit", "allow.exec.allowed=/var/lib/proj/.git/hooks/pre-commit"),
            record(.open, "/tmp/link", "refused_by_kernel=/tmp/link", mode: "enforce"),
        ]
        let learned = LearnedPolicy.learn(from: events, workspace: ws, home: "/home/u")
        #expect(learned.rules.isEmpty)
        #expect(learned.leftOut.map(\.target) == events.map(\.event.pathOrAddr))
        #expect(learned.leftOut.prefix(3).allSatisfy { $0.why.hasPrefix("a secret") })
        #expect(learned.leftOut[3...4].allSatisfy { $0.why.hasPrefix("inside .git") })
        // Nor a directory that holds one: three files in /etc stay files; /etc itself is left out.
        let etc = ["/etc/a.conf", "/etc/b.conf", "/etc/c.conf"].map { record(.open, $0, "allow.fs.read_extra=" + $0) }
            + [record(.open, "/etc", "allow.fs.read_extra=/etc"), record(.open, "/home/u/.config/x", "allow.fs.write_extra=/home/u/.config")]
        let fromEtc = LearnedPolicy.learn(from: etc, workspace: ws, home: "/home/u")
        #expect(fromEtc.rules.map(\.rule.value) == ["/etc/a.conf", "/etc/b.conf", "/etc/c.conf", "/home/u/.config/x"])
        #expect(fromEtc.leftOut.map(\.why) == ["/etc holds the secret /etc/shadow: a rule on it would expose that too"])
        // Collapsing never reaches a secret either: many files in ~/.ssh stay out.
        let many = (1...5).map { record(.open, "/home/u/.ssh/k\($0)", "allow.fs.read_extra=/home/u/.ssh/k\($0)") }
        #expect(LearnedPolicy.learn(from: many, workspace: ws, home: "/home/u").rules.isEmpty)
    }

    @Test func pathsCollapseToDirectoriesButNeverTooWide() {
        // Three files in one directory: the directory.
        let three = (1...3).map { record(.open, "/srv/data/f\($0)", "allow.fs.read_extra=/srv/data/f\($0)") }
        #expect(LearnedPolicy.learn(from: three, workspace: ws, home: "/home/u").rules.map(\.rule.value) == ["/srv/data"])
        // Two: each file.
        #expect(LearnedPolicy.learn(from: Array(three.prefix(2)), workspace: ws, home: "/home/u").rules.map(\.rule.value)
                == ["/srv/data/f1", "/srv/data/f2"])
        // Files in /, the home or above the workspace's parent stay files.
        for dir in ["", "/home/u", "/var"] {
            let files = (1...3).map { record(.open, "\(dir)/f\($0)", "allow.fs.read_extra=\(dir)/f\($0)") }
            #expect(LearnedPolicy.learn(from: files, workspace: ws, home: "/home/u").rules.map(\.rule.value) == files.map(\.event.pathOrAddr))
        }
        // Collapsing stops below a directory holding the workspace (its parent included):
        // siblings stay files, a directory beside the workspace is fine.
        let siblings = (1...3).map { record(.open, "/var/lib/other\($0)", "allow.fs.read_extra=/var/lib/other\($0)") }
        #expect(LearnedPolicy.learn(from: siblings, workspace: ws, home: "/home/u").rules.map(\.rule.value) == siblings.map(\.event.pathOrAddr))
        let beside = (1...3).map { record(.open, "/var/lib/data/f\($0)", "allow.fs.read_extra=/var/lib/data/f\($0)") }
        #expect(LearnedPolicy.learn(from: beside, workspace: ws, home: "/home/u").rules.map(\.rule.value) == ["/var/lib/data"])
        // Writing a file in / or the home: the file itself; creating one there: left out.
        let writes = [
            record(.open, "/home/u/.bashrc", "allow.fs.write_extra=/home/u"),
            record(.create, "/newdir", "allow.fs.write_extra=/"),
            record(.open, "/", "allow.fs.read_extra=/"),
        ]
        let learned = LearnedPolicy.learn(from: writes, workspace: ws, home: "/home/u")
        #expect(learned.rules.map(\.rule) == [PolicyRule(key: "allow.fs.write_extra", value: "/home/u/.bashrc")])
        #expect(learned.leftOut.map(\.target) == ["/newdir", "/"])
        // The workspace stays read-only: creating in it is left out; its policy files are never learned.
        let inWorkspace = [
            record(.create, ws + "/targetX1", "allow.fs.write_extra=" + ws),
            record(.open, ws + "/warden.toml", "allow.fs.write_extra=" + ws),
            record(.open, ws + "/notes.txt", "allow.fs.write_extra=" + ws),
            record(.open, ws + "/gen/out.c", "allow.fs.write_extra=" + ws + "/gen"),
        ]
        let w = LearnedPolicy.learn(from: inWorkspace, workspace: ws, home: "/home/u")
        #expect(w.rules.map(\.rule.value) == [ws + "/gen", ws + "/notes.txt"])
        #expect(w.leftOut.map(\.target) == [ws + "/targetX1", ws + "/warden.toml"])
        #expect(LearnedPolicy.tooWide("/", workspace: ws, home: nil) && LearnedPolicy.tooWide("/home", workspace: ws, home: "/home/u"))
        #expect(!LearnedPolicy.tooWide("/var/lib", workspace: ws, home: "/home/u") && LearnedPolicy.tooWide("/var", workspace: ws, home: nil))
    }

    @Test func rulesInsideOthersOrAlreadyAllowedAreDropped() throws {
        let events = [
            record(.open, "/srv/out/a", "allow.fs.write_extra=/srv/out"),
            record(.open, "/srv/out/sub/b", "allow.fs.read_extra=/srv/out/sub/b"),
            record(.open, "/opt/x/y", "allow.fs.read_extra=/opt/x/y"),
            record(.exec, "/usr/bin/perl", "allow.exec.allowed=/usr/bin/perl"),
        ]
        let policy = try PolicyParser(source: "p", home: nil).parse("""
            [allow.fs]
            read_extra = ["/opt/x"]
            [allow.exec]
            allowed = ["/usr/bin/perl"]
            """)
        let learned = LearnedPolicy.learn(from: events, workspace: ws, home: nil, covered: policy.allows)
        #expect(learned.rules.map(\.rule) == [PolicyRule(key: "allow.fs.write_extra", value: "/srv/out")])
        #expect(learned.rules[0].count == 2)
    }

    @Test func theReportSuggestsTheSameRuleLearningAdds() {
        let e = record(.open, "/srv/data/a.txt", "allow.fs.read_extra=/srv/data/a.txt").event
        #expect(e.suggestedPolicyLine == e.allowingRule?.description)
        #expect(record(.open, "/home/u/.ssh/id_rsa", "allow.fs.read_extra=/home/u/.ssh/id_rsa").event.suggestedPolicyLine == nil)
        #expect(record(.open, "/x", "refused_by_kernel=/x").event.allowingRule == nil)
    }

    // MARK: merging

    let userPolicy = """
        # My project's policy. Keep this comment.
        mode = "observe"   # while we learn

        [allow.exec]
        # compilers
        allowed = [
          "cc",  # the C compiler
          "make"
        ]

        [allow.net]
        hosts = []

        # a trailing comment
        """

    func additions(_ pairs: [(PolicyKey, String)]) -> [PolicyEditor.Addition] {
        pairs.map { PolicyEditor.Addition(key: $0.0, value: $0.1, comment: "learned: build_script (1×): \($0.1)") }
    }

    @Test func mergingKeepsTheUsersCommentsAndOrder() throws {
        var editor = PolicyEditor(text: userPolicy, source: "warden.toml", home: nil)
        let merged = try editor.apply(additions([
            (.execAllowed, "/usr/bin/perl"), (.netHosts, "127.0.0.1:8080"), (.fsReadExtra, "/srv/data"), (.fsWriteExtra, "/srv/out"),
        ]), mode: .enforce)
        // Every line of the user's file is still there, in order (only the mode value changed).
        let old = userPolicy.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .map { $0.replacingOccurrences(of: "\"observe\"", with: "\"enforce\"").replacingOccurrences(of: "\"make\"", with: "\"make\",") }
            .map { $0 == "hosts = []" ? "hosts = [" : $0 }
        var cursor = merged.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        for line in old {
            guard let i = cursor.firstIndex(of: line) else {
                Issue.record("line lost or moved: \(line)\n\(merged)")
                return
            }
            cursor = cursor[(i + 1)...]
        }
        #expect(merged.contains("mode = \"enforce\"   # while we learn"))
        #expect(merged.contains("  # learned: build_script (1×): /usr/bin/perl\n  \"/usr/bin/perl\",\n]"))
        let parsed = try PolicyParser(source: "m", home: nil).parse(merged)
        #expect(parsed.execAllowed.map(\.value) == ["cc", "make", "/usr/bin/perl"])
        #expect(parsed.netHosts.map(\.value.description) == ["127.0.0.1:8080"])
        #expect(parsed.fsReadExtra.map(\.value) == ["/srv/data"] && parsed.fsWriteExtra.map(\.value) == ["/srv/out"])
        // A table the file lacks is added at its end.
        #expect(merged.hasSuffix("# a trailing comment\n\n[allow.fs]\nread_extra = [\n  # learned: build_script (1×): /srv/data\n  \"/srv/data\",\n]\n"
                                 + "write_extra = [\n  # learned: build_script (1×): /srv/out\n  \"/srv/out\",\n]\n"), "\(merged)")
        // Merging again with nothing new changes nothing.
        var again = PolicyEditor(text: merged, source: "warden.toml", home: nil)
        #expect(try again.apply([], mode: nil) == merged)
    }

    @Test(arguments: [
        "allow.fs.read_extra = [\"/a\"]\n",
        "[allow.fs]\nread_extra = [\"/a\", \"/b\"] # two\n",
        "[allow.fs]\nread_extra = [\n  \"/a\", # first\n  \"/b\"  # no comma\n]\n[limits]\nopen_files = 10\n",
        "[allow.fs]\nwrite_extra = [\"/w\"]\n\n[syscall]\ndeny = []\n",
        "[allow]\nfs.write_extra = [\"/w\"]\n",
        "",
    ])
    func mergingWorksOnEveryLayoutOrRefuses(text: String) throws {
        var editor = PolicyEditor(text: text, source: "warden.toml", home: nil)
        do {
            let merged = try editor.apply(additions([(.fsReadExtra, "/new")]), mode: nil)
            let before = try PolicyParser(source: "b", home: nil).parse(text)
            let after = try PolicyParser(source: "a", home: nil).parse(merged)
            #expect(after.fsReadExtra.map(\.value) == before.fsReadExtra.map(\.value) + ["/new"], "\(merged)")
            #expect(after.fsWriteExtra.map(\.value) == before.fsWriteExtra.map(\.value))
            #expect(after.limits.mapValues(\.value) == before.limits.mapValues(\.value))
        } catch let e as PolicyEditor.EditError {
            // Only a layout it cannot edit in place, said as such: never a broken file.
            guard case .unsupportedLayout = e else { Issue.record("\(e)"); return }
            #expect(text.contains("[allow]"))
        }
    }

    // MARK: Prometheus

    @Test func theExpositionFollowsPrometheusConventions() {
        var m = MetricsSnapshot(runId: "r1", mode: "observe", updatedAt: "t")
        let events = [
            record(.open, "/srv/a", "allow.fs.read_extra=/srv/a"),
            record(.connect, "127.0.0.1:9", "allow.net.hosts=127.0.0.1:9", unit: .procMacro),
            record(.open, "/usr/lib/x", "", verdict: .allowed),
        ]
        for e in events { m.count(e) }
        m.cpuTimeMs = 1500
        var hooks = PrometheusMetrics.HookCounts()
        hooks.count(events)
        let text = PrometheusMetrics.text(m, info: .init(runId: "r1", mode: "observe", tier: "2", assurance: "none"), hooks: hooks)
        let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples.contains("warden_denials_total{hook=\"file_open\",unit=\"build_script\"} 1"))
        #expect(samples.contains("warden_denials_total{hook=\"connect\",unit=\"proc_macro\"} 1"))
        #expect(samples.contains("warden_allowed_total{unit=\"build_script\"} 1"))
        #expect(samples.contains("warden_violations_total 2"))
        #expect(samples.contains("warden_cpu_seconds_total 1.5"))
        #expect(samples.contains { $0.hasPrefix("warden_run_info{") && $0.contains("mode=\"observe\"") && $0.contains("tier=\"2\"") })
        // Counters end in _total; every family has HELP and TYPE.
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            #expect(parts[3] == "gauge" || parts[2].hasSuffix("_total"), "\(line)")
            #expect(text.contains("# HELP \(parts[2]) "))
        }
    }
}
