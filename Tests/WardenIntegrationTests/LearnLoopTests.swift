import Foundation
import Testing
import WardenOutput

/// A TCP listener on 127.0.0.1 at a port the kernel picks; closed by `close()`.
struct LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: addr.sin_port)
    }

    func close() { _ = Glibc.close(fd) }
}

/// GET `path` from 127.0.0.1:`port` over a plain socket; the status and the body.
func httpGet(port: UInt16, path: String) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = port.bigEndian
    let len = socklen_t(MemoryLayout<sockaddr_in>.size)
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    guard withUnsafePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }) == 0 else { return nil }
    let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data = Data()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        data.append(contentsOf: buf[0..<n])
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ").dropFirst().first ?? "") else { return nil }
    return (status, String(text[split.upperBound...]))
}

/// The learning loop: observe a build that reads, writes, executes and connects (to
/// loopback) outside its policy, learn a policy from the run, enforce it on the same build.
/// Also `diff`/`--fail-on` exit codes and the live metrics endpoint.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct LearnLoopTests {
    static let hasPromtool = FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")

    func scratch(_ name: String) throws -> String {
        let dir = "/var/lib/warden-it-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func aLearnedPolicyEnforcesTheSameMakeBuildAndLeavesSecretsOut() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let data = try scratch("learn-data"), out = try scratch("learn-out"), secret = try scratch("learn-secret")
        let repo = try scratch("learn-repo")
        try FileManager.default.createDirectory(atPath: secret + "/.ssh", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/.git", withIntermediateDirectories: true)
        try write("input\n", data + "/in.txt")
        try write("FAKE-KEY\n", secret + "/.ssh/id_rsa")
        try write("[core]\n", repo + "/.git/config")
        let listener = try LoopbackListener()
        defer { listener.close() }
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/perl"), "the exec probe needs perl")
        try write("""
            hello: hello.c
            \tcat \(data)/in.txt > /dev/null
            \techo built > \(out)/out.txt
            \tperl -e 1
            \tbash -c 'exec 3<>/dev/tcp/127.0.0.1/\(listener.port)'
            \tif [ -f probe ]; then cat \(secret)/.ssh/id_rsa > /dev/null; echo x >> \(repo)/.git/config; fi
            \tcc -O2 -o hello hello.c

            """, dir + "/Makefile")
        let presetComment = "# Names are looked up on PATH when the run starts; absolute paths are taken as they are."
        #expect(read(dir + "/warden.toml").contains(presetComment))

        // Control: the preset denies all four (and the secret and .git probes).
        try write("", dir + "/probe")
        let observed = try warden(["run", "--mode", "observe", "--", "make"], cwd: dir)
        #expect(observed.status == 0, "\(observed.stderr)")
        let seen = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isViolation).map(\.event.pathOrAddr)
        for target in [data + "/in.txt", "/usr/bin/perl", "127.0.0.1:\(listener.port)", secret + "/.ssh/id_rsa", repo + "/.git/config"] {
            #expect(seen.contains(target), "\(target) not among \(seen)")
        }

        let learned = try warden(["init", "--from-last-run", "--mode", "enforce"], cwd: dir)
        #expect(learned.status == 0, "\(learned.stderr)")
        let policy = read(dir + "/warden.toml")
        #expect(policy.contains("\"\(data)/in.txt\"") && policy.contains("\"\(out)\"") && policy.contains("\"/usr/bin/perl\"")
                && policy.contains("\"127.0.0.1:\(listener.port)\""), "\(policy)")
        #expect(policy.contains("# learned: other"), "a comment names the unit: \(policy)")
        // Never a secret or .git, and it says what it left out.
        #expect(!policy.contains(secret) && !policy.contains(".git"), "\(policy)")
        #expect(learned.stdout.contains("left out: open \(secret)/.ssh/id_rsa — a secret"), "\(learned.stdout)")
        #expect(learned.stdout.contains("left out: open \(repo)/.git/config — inside .git"), "\(learned.stdout)")
        // The user's (here the preset's) comments and order stay.
        #expect(policy.contains(presetComment) && policy.hasPrefix("# warden policy (make preset)"))

        // The same build (without the probes), enforced by the learned file alone.
        try FileManager.default.removeItem(atPath: dir + "/probe")
        try FileManager.default.removeItem(atPath: dir + "/hello")
        try FileManager.default.removeItem(atPath: out + "/out.txt")
        let enforced = try warden(["run", "--", "make"], cwd: dir)
        #expect(enforced.status == 0, "\(enforced.stderr)")
        #expect(enforced.stderr.contains("enforce run"))
        #expect(read(out + "/out.txt") == "built\n" && FileManager.default.fileExists(atPath: dir + "/hello"))

        // diff: nothing new after the enforced run, whatever --fail-on asks.
        for failOn in ["would-deny", "new-rules"] {
            let d = try warden(["diff", "--fail-on", failOn], cwd: dir)
            #expect(d.status == 0, "\(failOn): \(d.stdout)\(d.stderr)")
        }
        // A new access: --fail-on on the run and on diff exits 78; without it, 0.
        let more = try scratch("learn-more")
        try write("x\n", more + "/new.txt")
        let drift = ["run", "--mode", "observe", "--fail-on", "would-deny", "--", "cat", more + "/new.txt"]
        let r = try warden(drift, cwd: dir)
        #expect(r.status == 78 && r.stderr.contains("--fail-on would-deny"), "\(r.stderr)")
        #expect(try warden(["diff", "--fail-on", "new-rules"], cwd: dir).status == 78)
        #expect(try warden(["diff", "--fail-on", "would-deny"], cwd: dir).status == 78)
        let listed = try warden(["diff"], cwd: dir)
        #expect(listed.status == 0 && listed.stdout.contains("+ allow.fs.read_extra = [\"\(more)/new.txt\"]"), "\(listed.stdout)")
        // The same --fail-on with nothing new: 0 (a control for the 78 above).
        let clean = try warden(["run", "--mode", "observe", "--fail-on", "new-rules", "--", "cat", data + "/in.txt"], cwd: dir)
        #expect(clean.status == 0, "\(clean.stderr)")
        // A secret is would-deny but never a rule.
        let s = try warden(["run", "--mode", "observe", "--fail-on", "new-rules", "--", "cat", secret + "/.ssh/id_rsa"], cwd: dir)
        #expect(s.status == 0, "\(s.stderr)")
        let s2 = try warden(["run", "--mode", "observe", "--fail-on", "would-deny", "--", "cat", secret + "/.ssh/id_rsa"], cwd: dir)
        #expect(s2.status == 78, "\(s2.stderr)")
    }

    /// Observe `build`, learn, remove the output, enforce the learned policy: exit 0.
    func learnAndEnforce(_ dir: String, output: String, arguments: [String], expecting rules: [String]) throws {
        let observed = try warden(["build", "--mode", "observe", "--"] + arguments, cwd: dir)
        #expect(observed.status == 0, "\(observed.stderr)")
        let learned = try warden(["init", "--from-last-run", "--mode", "enforce"], cwd: dir)
        #expect(learned.status == 0, "\(learned.stderr)")
        let policy = read(dir + "/warden.toml")
        for rule in rules { #expect(policy.contains(rule), "\(rule) not in \(policy)") }
        #expect(policy.contains("# learned: build_script"), "the manifest or build script needed it: \(policy)")
        // The workspace itself never becomes writable (cargo's first build makes target/ through a temporary sibling).
        #expect(!policy.contains("\"\(dir)\""), "\(policy)")
        try FileManager.default.removeItem(atPath: dir + "/" + output)
        let enforced = try warden(["build", "--"] + arguments, cwd: dir)
        #expect(enforced.status == 0, "\(enforced.stderr)")
        #expect(enforced.stderr.contains("enforce run"))
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.events.filter(\.isViolation).isEmpty, "\(run.events.filter(\.isViolation).map(\.event.pathOrAddr))")
    }

    @Test func aLearnedPolicyEnforcesTheSameCargoBuild() throws {
        try Kernel.requireRoot()
        let data = try scratch("learn-cdata")
        try write("input\n", data + "/in.txt")
        let listener = try LoopbackListener()
        defer { listener.close() }
        let dir = try scratch("learn-crate")
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/.cargo", withIntermediateDirectories: true)
        try write("[package]\nname = \"wlearn\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n[dependencies]\nserde_json = \"1\"\n",
                  dir + "/Cargo.toml")
        try write("[source.crates-io]\nreplace-with = \"debian\"\n\n[source.debian]\ndirectory = \"/usr/share/cargo/registry\"\n",
                  dir + "/.cargo/config.toml")
        try write("fn main() { println!(\"{}\", serde_json::json!({\"x\": 7})); }\n", dir + "/src/main.rs")
        try write("""
            fn main() {
                std::fs::read_to_string("\(data)/in.txt").unwrap();
                std::net::TcpStream::connect("127.0.0.1:\(listener.port)").unwrap();
            }
            """, dir + "/build.rs")
        let lock = try runProcess("/usr/bin/env", ["cargo", "generate-lockfile", "--offline"], cwd: dir)
        #expect(lock.status == 0, "\(lock.out)")
        #expect(try warden(["init"], cwd: dir).status == 0)
        try learnAndEnforce(dir, output: "target", arguments: ["--offline"],
                            expecting: ["\"\(data)/in.txt\"", "\"127.0.0.1:\(listener.port)\""])
        #expect(try output(of: dir + "/target/debug/wlearn") == "{\"x\":7}\n")
    }

    @Test func aLearnedPolicyEnforcesTheSameSwiftBuild() throws {
        try Kernel.requireRoot()
        let data = try scratch("learn-sdata")
        try write("input\n", data + "/in.txt")
        let dir = try scratch("learn-swift")
        try FileManager.default.createDirectory(atPath: dir + "/Sources/hello", withIntermediateDirectories: true)
        // The manifest reads a file outside the workspace, as a package's manifest may.
        try write("""
            // swift-tools-version:5.9
            import PackageDescription
            import Foundation
            let input = FileManager.default.contents(atPath: "\(data)/in.txt")
            let package = Package(name: "hello", targets: [.executableTarget(name: "hello")])

            """, dir + "/Package.swift")
        try write("print(\"hello from swift\")\n", dir + "/Sources/hello/main.swift")
        #expect(try warden(["init"], cwd: dir).status == 0)
        try learnAndEnforce(dir, output: ".build", arguments: [], expecting: ["\"\(data)/in.txt\""])
        #expect(try output(of: dir + "/.build/debug/hello") == "hello from swift\n")
    }

    @Test func badInputsToInitAndDiffAreRefusedAndChangeNothing() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let before = read(dir + "/warden.toml")
        // No run recorded yet.
        let none = try warden(["init", "--from-last-run"], cwd: dir)
        #expect(none.status == 2 && none.stderr.contains("no event log at"), "\(none.stderr)")
        // A file that is not an event log.
        try write("this is not json\n", dir + "/bogus.jsonl")
        let bogus = try warden(["init", "--from-events", "bogus.jsonl"], cwd: dir)
        #expect(bogus.status == 2 && bogus.stderr.contains("line 1 is not a warden record"), "\(bogus.stderr)")
        #expect(try warden(["diff", "--events", "bogus.jsonl"], cwd: dir).status == 2)
        // A run that is not there.
        #expect(try warden(["run", "--mode", "observe", "--", "cat", "/etc/hostname"], cwd: dir).status == 0)
        let missing = try warden(["init", "--from-last-run", "--run", "nope"], cwd: dir)
        #expect(missing.status == 2 && missing.stderr.contains("run 'nope' is not in"), "\(missing.stderr)")
        // A policy that does not parse: located error, nothing written.
        try write("mode = \"sometimes\"\n", dir + "/warden.toml")
        let broken = try warden(["init", "--from-last-run"], cwd: dir)
        #expect(broken.status == 2 && broken.stderr.contains("warden.toml:1"), "\(broken.stderr)")
        #expect(read(dir + "/warden.toml") == "mode = \"sometimes\"\n")
        // warden.toml that cannot be written through (a directory in its place).
        try FileManager.default.removeItem(atPath: dir + "/warden.toml")
        try FileManager.default.createDirectory(atPath: dir + "/warden.toml", withIntermediateDirectories: false)
        let dirInPlace = try warden(["init", "--from-last-run"], cwd: dir)
        #expect(dirInPlace.status == 2 && dirInPlace.stderr.contains("not a regular file"), "\(dirInPlace.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/warden.toml").isEmpty)
        _ = before
    }

    /// `/metrics` during a run: the build cannot reach it (net.default = "deny" covers
    /// loopback), the test can; promtool accepts it; the counters match the final file.
    @Test func metricsAreServedDuringTheRunAndMatchTheFinalFile() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let data = try scratch("metrics-data")
        try write("x\n", data + "/in.txt")
        let script = """
            cat \(data)/in.txt; perl -e 1
            while [ ! -f port ]; do sleep 0.05; done
            if exec 3<>/dev/tcp/127.0.0.1/$(cat port); then echo REACHED > reached; fi
            while [ ! -f go ]; do sleep 0.05; done
            """
        let (p, _, err) = try startWarden(["run", "--allow", "sleep", "--metrics-port", "0", "--", "bash", "-c", script], cwd: dir)
        // The port warden picked, from its first lines.
        var stderrText = ""
        var port: UInt16?
        let deadline = Date().addingTimeInterval(20)
        while port == nil && Date() < deadline {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stderrText += String(decoding: chunk, as: UTF8.self)
            if let r = stderrText.range(of: #"http://127\.0\.0\.1:(\d+)/metrics"#, options: .regularExpression) {
                port = UInt16(stderrText[r].dropFirst("http://127.0.0.1:".count).dropLast("/metrics".count))
            }
        }
        let metricsPort = try #require(port, "\(stderrText)")
        try write("\(metricsPort)", dir + "/port")
        // Scrape until the build's denials (the read, perl, the connect to this port) are in.
        var scraped = ""
        #expect(eventually(20) {
            guard let r = httpGet(port: metricsPort, path: "/metrics"), r.status == 200 else { return false }
            scraped = r.body
            return r.body.contains("warden_denials_total{hook=\"connect\",unit=\"other\"} 1")
                && r.body.contains("warden_denials_total{hook=\"file_open\",unit=\"other\"} 1")
                && r.body.contains("warden_denials_total{hook=\"exec\",unit=\"other\"} 1")
        }, "\(scraped)")
        let events = try #require(httpGet(port: metricsPort, path: "/events"))
        #expect(events.status == 200 && events.body.hasPrefix("[") && events.body.contains("\"path_or_addr\":\"\(data)/in.txt\""))
        #expect(httpGet(port: metricsPort, path: "/other")?.status == 404)
        try write("", dir + "/go")
        p.waitUntilExit()
        stderrText += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 77, "\(stderrText)")
        // The build could not reach the port the test scraped.
        #expect(!FileManager.default.fileExists(atPath: dir + "/reached"))
        // The server is gone with the run.
        #expect(httpGet(port: metricsPort, path: "/metrics") == nil)

        func sample(_ text: String, _ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        let final = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        #expect(sample(scraped, "warden_violations_total") == Double(final.violationsTotal) && final.violationsTotal == 3)
        #expect(sample(scraped, "warden_blocked_total{unit=\"other\"}") == Double(final.blockedTotal))
        #expect(sample(scraped, "warden_lost_events_total") == 0 && sample(scraped, "warden_run_finished") == 0)
        // The finished run's text has the file's every counter.
        let report = try warden(["report", "--format", "prometheus"], cwd: dir)
        #expect(report.status == 0)
        #expect(sample(report.stdout, "warden_run_finished") == 1)
        #expect(sample(report.stdout, "warden_violations_total") == Double(final.violationsTotal))
        #expect(sample(report.stdout, "warden_allowed_total{unit=\"other\"}") == Double(final.perUnit["other"]!.allowed))
        #expect(sample(report.stdout, "warden_page_faults_total") == Double(final.pageFaults))
        #expect(sample(report.stdout, "warden_cpu_seconds_total") == Double(final.cpuTimeMs) / 1000)
        guard Self.hasPromtool else {
            Issue.record("promtool is missing (Debian's prometheus package, scripts/setup.sh --test)")
            return
        }
        for text in [scraped, report.stdout] {
            let file = dir + "/metrics-\(UUID().uuidString.prefix(6)).prom"
            try write(text, file)
            let check = try runProcess("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \(file)"])
            #expect(check.status == 0, "\(check.out)\n\(text)")
        }
    }

    /// The status line: on a terminal (a pty from util-linux's `script`) only, not with
    /// --quiet; -v prints each denial either way.
    @Test func aStatusLineIsDrawnOnATerminalOnly() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let build = "sleep 1.6; cat /var/lib/dpkg/status > /dev/null; true"
        func onTerminal(_ flags: String) throws -> (status: Int32, out: String) {
            try runProcess("/usr/bin/script", ["-qec", "\(wardenPath) run --allow sleep \(flags) -- sh -c '\(build)'", "/dev/null"],
                           cwd: dir, env: baseEnvironment())
        }
        let pty = try onTerminal("-v")
        #expect(pty.status == 77, "\(pty.out)")
        #expect(pty.out.contains("\r\u{1b}[Kwarden: 1s, ") && pty.out.contains(" events, denied "), "\(pty.out)")
        #expect(pty.out.contains("warden: denied open /var/lib/dpkg/status (other)"), "\(pty.out)")
        let quiet = try onTerminal("--quiet")
        #expect(quiet.status == 77 && !quiet.out.contains("\u{1b}[K") && !quiet.out.contains("warden: denied open"), "\(quiet.out)")
        let piped = try warden(["run", "--allow", "sleep", "-v", "--", "sh", "-c", build], cwd: dir)
        #expect(piped.status == 77)
        #expect(!piped.stderr.contains("\u{1b}[K") && piped.stderr.contains("warden: denied open /var/lib/dpkg/status (other)"), "\(piped.stderr)")
    }

    @Test func aTakenMetricsPortStopsTheRunBeforeAnything() throws {
        try Kernel.requireRoot()
        let dir = try makeProject()
        let taken = try LoopbackListener()
        defer { taken.close() }
        let r = try warden(["run", "--metrics-port", "\(taken.port)", "--", "sh", "-c", "echo > ran"], cwd: dir)
        #expect(r.status == 125 && r.stderr.contains("127.0.0.1:\(taken.port)") && r.stderr.contains("in use"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"))
        #expect(!FileManager.default.fileExists(atPath: eventLogPath(dir)), "no run was recorded")
        // Control: a free port serves, and the same command runs.
        #expect(try warden(["run", "--metrics-port", "0", "--", "sh", "-c", "echo > ran"], cwd: dir).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/ran"))
        // Not an address: a usage error.
        #expect(try warden(["run", "--metrics-port", "0", "--metrics-address", "localhost", "--", "true"], cwd: dir).status == 2)
    }
}
