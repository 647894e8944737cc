import Foundation
import Testing
import WardenOutput
import WardenRun

/// Inbound connections: with outbound connects limited to allow.net.hosts, a listener
/// whose accepted connections carry data out would be a way past them. No tier-2 layer
/// refuses listen(2) on an inet socket without also refusing unix ones, so under
/// `net.listen = "deny"` each inet listener is recorded with its address and caught (77),
/// and the network layer drops every connection request that reaches it.
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

    /// Listens, writes its port to `port`, accepts until `done` appears, then prints how
    /// many connections it accepted.
    static let server = """
        import os, select, socket, sys
        s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
        s.bind((sys.argv[1], 0)); s.listen(8)
        open("port.tmp", "w").write(str(s.getsockname()[1])); os.rename("port.tmp", "port")
        accepted = 0
        while not os.path.exists("done"):
            if select.select([s], [], [], 0.05)[0]:
                s.accept(); accepted += 1
        print("accepted", accepted)
        """
    static let client = """
        import socket, sys
        c = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); c.settimeout(1.5)
        try:
            c.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
        except socket.timeout:
            print("timeout")
        except OSError as e:
            print("errno", e.errno)
        """

    /// Runs the server (under warden when `args` is not empty), connects to it from
    /// outside the run, and returns what the client saw and the server's outcome.
    func connectFromOutside(_ dir: String, host: String, underWarden: Bool) throws -> (client: String, server: Outcome) {
        let server = ["/usr/bin/python3", "server.py", host]
        let (p, out, err) = underWarden ? try startWarden(["run", "--"] + server, cwd: dir)
            : try startProcess(server[0], Array(server.dropFirst()), cwd: dir)
        #expect(eventually { FileManager.default.fileExists(atPath: dir + "/port") }, "the server listens")
        let client = try runProcess("/usr/bin/python3", ["-c", ListenTests.client, host, read(dir + "/port")]).out
        FileManager.default.createFile(atPath: dir + "/done", contents: nil)
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (client, Outcome(status: p.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                stderr: String(decoding: stderr, as: UTF8.self)))
    }

    /// The listener is caught, and no connection ever reaches it: the connection request
    /// from outside the run is dropped (the client times out), counted in run_end.
    @Test(arguments: ["127.0.0.1", "::1"]) func aListenerGetsNoConnection(host: String) throws {
        try Kernel.requireRoot()
        let control = try makeDir(["server.py": ListenTests.server])
        let c = try connectFromOutside(control, host: host, underWarden: false)
        #expect(c.client == "connected\n" && c.server.stdout == "accepted 1\n", "the control: \(c.client) \(c.server.stdout) \(c.server.stderr)")

        let dir = try makeDir(["server.py": ListenTests.server, "warden.toml": "net.default = \"allow\"\n"])
        let r = try connectFromOutside(dir, host: host, underWarden: true)
        #expect(r.client == "timeout\n" && r.server.stdout == "accepted 0\n", "\(r.client) \(r.server.stdout) \(r.server.stderr)")
        #expect(r.server.status == 77 && r.server.stderr.contains("to the build's listeners were dropped"), "\(r.server.stderr)")
        let end = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end)
        #expect((end.inboundDropped ?? 0) >= 1, "the drop is counted")

        // net.listen = "allow": the same connection goes through.
        let open = try makeDir(["server.py": ListenTests.server, "warden.toml": "net.default = \"allow\"\nnet.listen = \"allow\"\n"])
        let a = try connectFromOutside(open, host: host, underWarden: true)
        #expect(a.client == "connected\n" && a.server.stdout == "accepted 1\n" && a.server.status == 0, "\(a.client) \(a.server.stderr)")
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
