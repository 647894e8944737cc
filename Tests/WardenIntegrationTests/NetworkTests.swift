import Foundation
import Testing
import WardenOutput

/// A loopback listener the test holds (port chosen by the kernel): connects from inside a
/// run land in its backlog, so a connect that succeeds proves nothing refused it.
final class Listener {
    let fd: Int32
    let port: Int

    init(_ family: String) throws {
        let v6 = family == "6"
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var storage = sockaddr_storage()
        var len = socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &storage) { p in
            if v6 {
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    $0.pointee.sin6_family = sa_family_t(AF_INET6)
                    $0.pointee.sin6_addr = in6addr_loopback
                }
            } else {
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    $0.pointee.sin_family = sa_family_t(AF_INET)
                    $0.pointee.sin_addr.s_addr = inet_addr("127.0.0.1")
                }
            }
        }
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        self.fd = fd
        port = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    deinit { close(fd) }
}

/// The cgroup-BPF network layer, loopback only: a Python client inside the sandbox
/// connects to two listeners this test holds, one the policy allows and one it does not.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct NetworkTests {
    /// argv: family, host, allowed port, other port. Writes one line per attempt.
    static let probe = """
        import socket, sys
        fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
        host, allowed, other = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        out = open("result.txt", "w")
        def attempt(name, f):
            try:
                f(); out.write(f"{name} ok\\n")
            except OSError as e:
                out.write(f"{name} errno {e.errno}\\n")
        for name, port in (("allowed", allowed), ("other", other)):
            attempt(name, lambda: socket.socket(fam).connect((host, port)))
        # UDP without connect goes through sendmsg; connected UDP through connect.
        attempt("udp", lambda: socket.socket(fam, socket.SOCK_DGRAM).sendto(b"x", (host, other)))
        def connected(port):
            u = socket.socket(fam, socket.SOCK_DGRAM)
            u.connect((host, port))
            u.send(b"connected-udp")
        attempt("udp-connect-allowed", lambda: connected(allowed))
        attempt("udp-connect-other", lambda: connected(other))
        """

    struct Result {
        var outcome: Outcome
        var lines: String
        var events: [EventRecord]
        var allowed: Int
        var other: Int
    }

    /// Runs the probe under warden with only the allowed listener in allow.net.hosts, or,
    /// without `mode`, without warden (the control).
    func run(_ family: String, mode: String?) throws -> Result {
        let allowed = try Listener(family), other = try Listener(family)
        let host = family == "6" ? "::1" : "127.0.0.1", policyHost = family == "6" ? "[::1]" : "127.0.0.1"
        let dir = try makeDir(["probe.py": Self.probe, "warden.toml": "[allow.net]\nhosts = [\"\(policyHost):\(allowed.port)\"]\n"])
        let args = ["/usr/bin/python3", "probe.py", family, host, "\(allowed.port)", "\(other.port)"]
        // The listeners must outlive the probe.
        return try withExtendedLifetime((allowed, other)) {
            var outcome = Outcome(status: 0, stdout: "", stderr: "")
            var events: [EventRecord] = []
            if let mode {
                outcome = try warden(["run", "--mode", mode, "--"] + args, cwd: dir)
                events = (try EventLogContents.read(path: eventLogPath(dir)).lastRun?.events ?? []).filter { $0.event.action == .connect }
            } else {
                let r = try runProcess(args[0], Array(args.dropFirst()), cwd: dir)
                outcome = Outcome(status: r.status, stdout: r.out, stderr: "")
            }
            return Result(outcome: outcome, lines: read(dir + "/result.txt"), events: events, allowed: allowed.port, other: other.port)
        }
    }

    static let allGoThrough = "allowed ok\nother ok\nudp ok\nudp-connect-allowed ok\nudp-connect-other ok\n"

    /// TCP connects, unconnected UDP sends (sendmsg4/6) and connected UDP (judged at
    /// connect, connect4/6): only the allowed port goes through, everything else is EPERM
    /// and recorded. The control: without warden, every attempt goes through.
    @Test(arguments: ["4", "6"])
    func connectOutsideTheAllowlistIsRefusedAndRecorded(_ family: String) throws {
        try Kernel.requireRoot()
        let control = try run(family, mode: nil)
        #expect(control.lines == Self.allGoThrough, "the control, without warden: \(control.lines) \(control.outcome.stdout)")
        let r = try run(family, mode: "enforce")
        #expect(r.outcome.status == 77, "the command succeeded but something was denied: \(r.outcome.stderr)")
        #expect(r.lines == "allowed ok\nother errno 1\nudp errno 1\nudp-connect-allowed ok\nudp-connect-other errno 1\n", "\(r.lines)")
        let host = family == "6" ? "[::1]" : "127.0.0.1"
        let denied = r.events.filter { $0.event.verdict == .denied }
        // The TCP connect, the UDP send and the UDP connect to the other port: three refusals.
        #expect(denied.count == 3 && denied.allSatisfy { $0.event.pathOrAddr == "\(host):\(r.other)" && $0.isBlocked && $0.source == "cgroup-bpf" },
                "\(denied.map(\.event.pathOrAddr))")
        #expect(denied.allSatisfy { $0.event.neededPerm == "allow.net.hosts=\($0.event.pathOrAddr)" })
        #expect(r.events.contains { $0.event.verdict == .allowed && $0.event.pathOrAddr == "\(host):\(r.allowed)" })
        #expect(r.events.allSatisfy { $0.event.containerId != 0 && $0.event.pid != 0 })
    }

    /// An IPv6 socket connecting to an IPv4-mapped address (::ffff:127.0.0.1) goes through
    /// connect6: it reaches the allowed IPv4 listener (the policy names 127.0.0.1:port,
    /// the same destination) and is refused (EPERM) for the other, recorded under the
    /// mapped address. The control: both connect without warden.
    @Test func ipv4MappedConnectsAreJudgedLikeIPv4() throws {
        try Kernel.requireRoot()
        let allowed = try Listener("4"), other = try Listener("4")
        let dir = try makeDir(["warden.toml": "[allow.net]\nhosts = [\"127.0.0.1:\(allowed.port)\"]\n"])
        let script = "import socket\nfor port in (\(allowed.port), \(other.port)):\n    try:\n"
            + "        socket.socket(socket.AF_INET6).connect(('::ffff:127.0.0.1', port)); print('ok')\n"
            + "    except OSError as e:\n        print('errno', e.errno)\n"
        try withExtendedLifetime((allowed, other)) {
            let free = try runProcess("/usr/bin/python3", ["-c", script], cwd: dir)
            #expect(free.out == "ok\nok\n", "the control: mapped connects reach the IPv4 listeners without warden: \(free.out)")
            let r = try warden(["run", "--", "/usr/bin/python3", "-c", script], cwd: dir)
            #expect(r.stdout == "ok\nerrno 1\n" && r.status == 77, "\(r.stdout) \(r.stderr)")
        }
        let events = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter { $0.event.action == .connect }
        #expect(events.contains { !$0.isBlocked && $0.event.pathOrAddr == "[::ffff:127.0.0.1]:\(allowed.port)" }, "\(events.map(\.event.pathOrAddr))")
        #expect(events.contains { $0.isBlocked && $0.event.pathOrAddr == "[::ffff:127.0.0.1]:\(other.port)" }, "\(events.map(\.event.pathOrAddr))")
    }

    @Test func observeModeRecordsWouldDenyAndRefusesNothing() throws {
        try Kernel.requireRoot()
        let r = try run("4", mode: "observe")
        #expect(r.outcome.status == 0, "\(r.outcome.stderr)")
        #expect(r.lines == Self.allGoThrough, "\(r.lines)")
        #expect(r.events.contains { $0.event.verdict == .denied && !$0.isBlocked })
    }

    /// While an enforced run (deny all) is running and refusing connects, this test
    /// process connects freely. The run says when it has been refused and waits for the
    /// test's connect before it ends.
    @Test func connectsFromOutsideTheRunAreUntouched() throws {
        try Kernel.requireRoot()
        let listener = try Listener("4")
        let dir = try makeDir(["warden.toml": ""])
        let inside = "import os, socket, time\ntry:\n    socket.socket().connect(('127.0.0.1', \(listener.port))); r = 'ok'\n"
            + "except OSError as e:\n    r = f'errno {e.errno}'\nopen('inside.txt', 'w').write(r)\nos.rename('inside.txt', 'ready')\n"
            + "while not os.path.exists('go'): time.sleep(0.01)\n"
        let (p, _, _) = try startWarden(["run", "--", "/usr/bin/python3", "-c", inside], cwd: dir)
        defer {
            _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
            p.waitUntilExit()
            withExtendedLifetime(listener) {}
        }
        #expect(eventually { FileManager.default.fileExists(atPath: dir + "/ready") })
        #expect(read(dir + "/ready") == "errno 1", "the control: the run refuses connects now: \(read(dir + "/ready"))")
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(listener.port).bigEndian
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(rc == 0, "errno \(errno)")
        close(client)
        #expect(p.isRunning, "the run ended before the connect from outside")
    }
}
