import Foundation
import Testing
import WardenOutput

/// The tracepoint layer on this kernel: file and exec events with absolute paths made in
/// the kernel, verdicts from the policy, one event per denial, and units attributed at
/// exec and inherited at fork.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct TraceTests {
    static let open = "net.default = \"allow\"\n"

    func secretKey() throws -> String {
        let dir = try scratchDir()
        try FileManager.default.createDirectory(atPath: dir + "/.ssh", withIntermediateDirectories: true)
        try "FAKE-PRIVATE-KEY\n".write(toFile: dir + "/.ssh/id_rsa", atomically: true, encoding: .utf8)
        return dir + "/.ssh/id_rsa"
    }

    func events(_ dir: String) throws -> [EventRecord] {
        try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events
    }

    @Test func observeModeRecordsOpensAndExecsWithAbsolutePaths() throws {
        try Kernel.requireRoot()
        let key = try secretKey()
        let dir = try makeDir(["warden.toml": Self.open])
        let script = "cat /etc/hostname > /dev/null; (cd /usr/lib && cat ./../lib/os-release > /dev/null); cat \(key) > copy; echo $$ > shpid"
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", script], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/copy") == "FAKE-PRIVATE-KEY\n", "observe mode blocks nothing")
        let all = try events(dir)
        #expect(all.allSatisfy { $0.event.pid > 0 && $0.event.containerId != 0 })
        let shpid = UInt32(read(dir + "/shpid").trimmingCharacters(in: .whitespacesAndNewlines))
        let execs = all.filter { $0.event.action == .exec }
        #expect(execs.contains { $0.event.pathOrAddr == "/usr/bin/dash" && $0.event.tgid == shpid && $0.source == "tracepoint" })
        #expect(execs.contains { $0.event.pathOrAddr == "/usr/bin/cat" })
        func open(_ path: String) -> EventRecord? { all.first { $0.event.action == .open && $0.event.pathOrAddr == path } }
        let hostname = try #require(open("/etc/hostname"))
        #expect(hostname.event.verdict == .allowed && hostname.event.access == [.read] && hostname.event.result == 0)
        // A relative name, resolved against the cwd the kernel had for the process.
        #expect(open("/usr/lib/os-release")?.event.verdict == .allowed)
        let stolen = try #require(open(key))
        #expect(stolen.event.verdict == .denied && !stolen.isBlocked && stolen.event.result == 0)
        #expect(stolen.event.neededPerm == "allow.fs.read_extra=\(key)")
        #expect(open(dir + "/copy")?.event.access == [.write])
        let report = try warden(["report"], cwd: dir)
        #expect(report.stdout.contains(key), "\(report.stdout)")
    }

    @Test func enforcedDenialsAppearOnceWithTheLineThatWouldAllowThem() throws {
        try Kernel.requireRoot()
        let key = try secretKey()
        let policy = Self.open + "exec.default = \"allowlist\"\n[allow.exec]\nallowed = [\"sh\", \"cat\"]\n"
        let dir = try makeDir(["warden.toml": policy])
        let keyDir = (key as NSString).deletingLastPathComponent
        let script = "cat \(key) > /dev/null 2>&1; /bin/bash -c true 2>/dev/null; echo x > \(keyDir)/planted 2>/dev/null; true"
        let r = try warden(["run", "--", "sh", "-c", script], cwd: dir)
        #expect(r.status == 77, "\(r.stderr)")
        let denied = try events(dir).filter { $0.event.verdict == .denied }
        let read = denied.filter { $0.event.pathOrAddr == key }
        #expect(read.count == 1)
        #expect(read.first?.isBlocked == true && read.first?.event.result == -13)
        #expect(read.first?.event.neededPerm == "allow.fs.read_extra=\(key)")
        let bash = denied.filter { $0.event.action == .exec }
        #expect(bash.count == 1 && bash.first?.event.pathOrAddr == "/bin/bash", "\(bash)")
        #expect(bash.first?.event.neededPerm == "allow.exec.allowed=/bin/bash")
        let write = denied.filter { $0.event.pathOrAddr == keyDir + "/planted" }
        #expect(write.count == 1 && write.first?.event.access == [.write])
        #expect(write.first?.event.neededPerm == "allow.fs.write_extra=\(keyDir)")
        #expect(!FileManager.default.fileExists(atPath: keyDir + "/planted"))
        #expect(denied.count == 3, "\(denied.map(\.event.pathOrAddr))")
    }

    /// Units come from the names programs are executed by and what runs them: here a
    /// fake `cargo` runs a `build-script-build` (in cargo's `build/<crate>-<hash>/`
    /// layout) that runs `cat`, git and a `git-remote-https` that connects to loopback,
    /// and a fake `rustc` runs the system C compiler driver, which is then the linker.
    /// Everything the build script started names its crate.
    @Test func unitsAreAttributedAtExecAndInheritedAtFork() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.open])
        let buildDir = dir + "/target/debug/build/democrate-0123456789abcdef"
        // The build script is an ELF program, as cargo's are (the exec event names the
        // file executed; for a script that would be its interpreter): a copy of sh.
        let script = "cat /etc/hostname > /dev/null; git --version > /dev/null; \(dir)/bin/git-remote-https"
        let scripts = [
            "bin/cargo": "#!/bin/sh\n\(buildDir)/build-script-build -c '\(script)'\n\(dir)/bin/rustc\n",
            // Port 9 on loopback: nothing listens; the connect hook sees the attempt anyway.
            "bin/git-remote-https": "#!/bin/bash\n(exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null\nexit 0\n",
            "bin/rustc": "#!/bin/sh\ncc --version > /dev/null\n",
        ]
        for (name, body) in scripts {
            let path = "\(dir)/\(name)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try body.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }
        try FileManager.default.createDirectory(atPath: buildDir, withIntermediateDirectories: true)
        let sh = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path  // /bin/sh is a link to dash
        try FileManager.default.copyItem(atPath: sh, toPath: buildDir + "/build-script-build")
        let r = try warden(["run", "--mode", "observe", "--", dir + "/bin/cargo"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let all = try events(dir)
        #expect(all.contains { $0.event.action == .open && $0.event.pathOrAddr == "/etc/hostname" && $0.event.unit == .buildScript
            && $0.package == "democrate" }, "\(all.filter { $0.event.pathOrAddr == "/etc/hostname" })")
        // git run by a build script is the build script (its remote helpers' connects too).
        let gitExec = all.filter { $0.event.action == .exec && $0.event.pathOrAddr.hasSuffix("/git") }
        #expect(!gitExec.isEmpty && gitExec.allSatisfy { $0.event.unit == .buildScript && $0.package == "democrate" }, "\(gitExec)")
        let connect = all.filter { $0.event.action == .connect && $0.event.pathOrAddr == "127.0.0.1:9" }
        #expect(connect.count == 1 && connect.allSatisfy { $0.event.unit == .buildScript && $0.package == "democrate" }, "\(connect)")
        // cargo and rustc's linker belong to no build script.
        let ccExec = all.filter { $0.event.action == .exec && $0.event.pathOrAddr.contains("gcc") }
        #expect(!ccExec.isEmpty && ccExec.allSatisfy { $0.event.unit == .linker && $0.package == nil }, "\(ccExec)")
        #expect(all.filter { $0.event.action == .exec && $0.event.pathOrAddr.hasSuffix("/bin/cargo") }.allSatisfy { $0.package == nil })
        let metrics = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        #expect((metrics.perUnit["build_script"]?.allowed ?? 0) > 0 && (metrics.perUnit["linker"]?.allowed ?? 0) > 0)
    }

    /// Resources are accounted per unit: a build script that allocates 96 MiB and spins
    /// shows as the build_script unit's peak memory and CPU, not as the rest's.
    @Test func resourcesAreAccountedPerUnit() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.open])
        let buildDir = dir + "/target/debug/build/hog-0123456789abcdef"
        try FileManager.default.createDirectory(atPath: buildDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        let sh = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: sh, toPath: buildDir + "/build-script-build")
        let hog = "x = bytearray(96 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\ns = 0\nfor i in range(2000000): s += i\n"
        try hog.write(toFile: dir + "/hog.py", atomically: true, encoding: .utf8)
        try "#!/bin/sh\n\(buildDir)/build-script-build -c '/usr/bin/python3 \(dir)/hog.py'\n".write(toFile: dir + "/bin/cargo", atomically: true, encoding: .utf8)
        chmod(dir + "/bin/cargo", 0o755)
        let r = try warden(["run", "--mode", "observe", "--", dir + "/bin/cargo"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let metrics = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        let script = try #require(metrics.perUnitUsage?["build_script"]), other = try #require(metrics.perUnitUsage?["other"])
        #expect(script.peakMemoryBytes >= 96 << 20 && other.peakMemoryBytes < 96 << 20, "\(script) \(other)")
        #expect(script.cpuTimeMs >= 50 && script.cpuTimeMs > other.cpuTimeMs && script.pageFaults >= (96 << 20) / 4096, "\(script) \(other)")
        let end = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end)
        #expect(end.perUnitUsage?["build_script"] == script)
        #expect(try warden(["report"], cwd: dir).stdout.contains("  build_script: cpu "))
        #expect(try warden(["report", "--format", "prometheus"], cwd: dir).stdout.contains("warden_unit_peak_memory_bytes{unit=\"build_script\"}"))
    }

    /// Two runs at once: each has its own programs, maps and ring, filtered on its own
    /// cgroup, so neither sees the other's events and each is judged by its own policy.
    @Test func concurrentRunsKeepTheirOwnEventsAndPolicies() throws {
        try Kernel.requireRoot()
        let key = try secretKey()
        let strict = try makeDir(["warden.toml": Self.open])
        let loose = try makeDir(["warden.toml": Self.open + "[allow.fs]\nread_extra = [\"\((key as NSString).deletingLastPathComponent)\"]\n"])
        // Both read the key, each from a marker file of its own, at the same time: each
        // says it has started and waits for the other before reading.
        let script = { (mine: String, other: String) in
            "touch \(mine)/started; while [ ! -e \(other)/started ]; do sleep 0.01; done; "
                + "for i in 1 2 3 4 5 6 7 8 9 10; do cat \(key) > /dev/null 2>&1; : < \(mine)/warden.toml; done"
        }
        let a = try startWarden(["run", "--mode", "observe", "--", "sh", "-c", script(strict, loose)], cwd: strict)
        let b = try startWarden(["run", "--mode", "observe", "--", "sh", "-c", script(loose, strict)], cwd: loose)
        a.0.waitUntilExit()
        b.0.waitUntilExit()
        #expect(a.0.terminationStatus == 0 && b.0.terminationStatus == 0)
        let ea = try events(strict), eb = try events(loose)
        #expect(ea.contains { $0.event.pathOrAddr == strict + "/warden.toml" } && !ea.contains { $0.event.pathOrAddr == loose + "/warden.toml" })
        #expect(eb.contains { $0.event.pathOrAddr == loose + "/warden.toml" } && !eb.contains { $0.event.pathOrAddr == strict + "/warden.toml" })
        #expect(Set(ea.map(\.event.containerId)).count == 1 && Set(eb.map(\.event.containerId)).count == 1)
        #expect(ea.first?.event.containerId != eb.first?.event.containerId)
        // The same read: would be denied under one policy, allowed under the other.
        #expect(ea.contains { $0.event.pathOrAddr == key && $0.event.verdict == .denied })
        #expect(eb.contains { $0.event.pathOrAddr == key } && !eb.contains { $0.event.pathOrAddr == key && $0.event.verdict == .denied })
    }

    /// A path deeper than the kernel walk goes is marked, never mistaken for a path a
    /// rule covers or for a pipe: observe mode calls it "would be denied".
    @Test func tooDeepPathsAreMarkedNotTrusted() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.open])
        let deep = Array(repeating: "d", count: 70).joined(separator: "/")
        try FileManager.default.createDirectory(atPath: dir + "/" + deep, withIntermediateDirectories: true)
        try "x".write(toFile: dir + "/" + deep + "/f", atomically: true, encoding: .utf8)
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "cat \(deep)/f > /dev/null"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let marked = try events(dir).filter { $0.event.pathOrAddr.hasPrefix("?") }
        #expect(!marked.isEmpty && marked.allSatisfy { $0.event.verdict == .denied && $0.event.pathOrAddr.hasSuffix("/d/d/f") }, "\(marked)")
    }

    @Test func repeatedAllowedEventsAreCountedNotRewritten() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.open])
        let r = try warden(["run", "--mode", "observe", "--", "sh", "-c", "for i in 1 2 3 4 5; do : < /etc/hostname; done"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try events(dir).filter { $0.event.pathOrAddr == "/etc/hostname" }.count == 1)
        let metrics = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        #expect(metrics.repeatsNotLogged >= 4)
    }
}
