import Foundation
import Testing
import WardenOutput
import WardenRun

/// Inbound connections: with outbound connects limited to allow.net.hosts, a listener
/// whose accepted connections carry data out would be a way past them. No tier-2 layer
/// refuses listen(2) on an inet socket without also refusing unix ones, so under
/// `net.listen = "deny"` each inet listener is recorded with its address and caught: 77.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct ListenTests {
    /// Binds `host` port 0, listens, prints "listen <port> 0" or "listen <port> <errno>".
    static let probe = """
        import socket, sys
        family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
        s = socket.socket(family)
        s.bind((sys.argv[1], 0))
        port = s.getsockname()[1]
        try:
            s.listen(1); print("listen", port, 0)
        except OSError as e:
            print("listen", port, e.errno)
        """

    func listens(_ policy: String, mode: String, host: String) throws -> (Outcome, port: String, events: [EventRecord]) {
        let dir = try makeDir(["warden.toml": "net.default = \"allow\"\n" + policy, "probe.py": ListenTests.probe])
        let r = try warden(["run", "--mode", mode, "--", "/usr/bin/python3", "probe.py", host], cwd: dir)
        let port = r.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        let events = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter { $0.event.action == .listen }
        return (r, port, events)
    }

    @Test(arguments: ["127.0.0.1", "::1"]) func aListenerIsCaughtAndRecorded(host: String) throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["probe.py": ListenTests.probe])
        #expect(try runProcess("/usr/bin/python3", [dir + "/probe.py", host]).out.hasSuffix(" 0\n"), "the control: it listens without warden")
        let (r, port, events) = try listens("", mode: "enforce", host: host)
        #expect(r.stdout.hasSuffix(" 0\n") && r.status == 77, "allowed although forbidden: \(r.stdout) \(r.stderr)")
        let name = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        #expect(events.count == 1 && events[0].event.pathOrAddr == name && events[0].event.verdict == .allowed
                    && events[0].event.neededPerm == "net.listen=allow", "\(events.map(\.event))")
    }

    @Test func observeModeRecordsAWouldBeDenial() throws {
        try Kernel.requireRoot()
        let (r, port, events) = try listens("", mode: "observe", host: "127.0.0.1")
        #expect(r.stdout.hasSuffix(" 0\n") && r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(events.count == 1 && events[0].event.pathOrAddr == "127.0.0.1:\(port)" && events[0].isViolation, "\(events.map(\.event))")
    }

    @Test func netListenAllowLetsItListen() throws {
        try Kernel.requireRoot()
        let (r, port, events) = try listens("net.listen = \"allow\"\n", mode: "enforce", host: "127.0.0.1")
        #expect(r.stdout.hasSuffix(" 0\n") && r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(events.count == 1 && events[0].event.pathOrAddr == "127.0.0.1:\(port)" && !events[0].isViolation, "\(events.map(\.event))")
    }
}

/// Socket families a build has no use for — vsock reaches the hypervisor — fail as on a
/// kernel without them, and each attempt is a recorded denial.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct SocketFamilyTests {
    static let probe = """
        import socket
        for family in (40, 2):
            try:
                socket.socket(family, socket.SOCK_STREAM); print(family, 0)
            except OSError as e:
                print(family, e.errno)
        """

    @Test(arguments: ["basic", "none"]) func aVsockSocketIsRefusedAndRecorded(profile: String) throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["probe.py": SocketFamilyTests.probe,
                               "warden.toml": "net.default = \"allow\"\n[syscall]\nprofile = \"\(profile)\"\n"])
        #expect(try runProcess("/usr/bin/python3", [dir + "/probe.py"]).out == "40 0\n2 0\n", "the control: vsock sockets work here")
        let r = try warden(["run", "--", "/usr/bin/python3", "probe.py"], cwd: dir)
        #expect(r.stdout == "40 97\n2 0\n" && r.status == 77, "\(r.stdout) \(r.stderr)")
        let events = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter { $0.event.action == .socket }
        #expect(events.count == 1 && events[0].event.pathOrAddr == "family 40" && events[0].isBlocked, "\(events.map(\.event))")
    }
}
