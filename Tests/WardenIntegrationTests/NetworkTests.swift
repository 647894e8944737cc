import Foundation
import Testing
import WardenOutput

/// The cgroup-BPF network layer, loopback only: a Python client inside the sandbox
/// listens on 127.0.0.1 / ::1 and connects to an allowed and a not-allowed port.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct NetworkTests {
    static let probe = """
        import socket, sys
        fam, host, allowed_port = (socket.AF_INET6, "::1", int(sys.argv[2])) if sys.argv[1] == "6" else (socket.AF_INET, "127.0.0.1", int(sys.argv[2]))
        a = socket.socket(fam); a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); a.bind((host, allowed_port)); a.listen()
        b = socket.socket(fam); b.bind((host, 0)); b.listen(); other = b.getsockname()[1]
        out = open("result.txt", "w")
        for name, port in (("allowed", allowed_port), ("other", other)):
            c = socket.socket(fam)
            try:
                c.connect((host, port)); out.write(f"{name} connected\\n")
            except OSError as e:
                out.write(f"{name} errno {e.errno}\\n")
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            u.sendto(b"x", (host, other)); out.write("udp sent\\n")
        except OSError as e:
            out.write(f"udp errno {e.errno}\\n")
        out.write(f"other port {other}\\n")
        """

    func run(_ family: String, mode: String, port: Int) throws -> (Outcome, String, [EventRecord]) {
        let host = family == "6" ? "[::1]" : "127.0.0.1"
        let dir = try makeDir(["probe.py": Self.probe, "warden.toml": "[allow.net]\nhosts = [\"\(host):\(port)\"]\n"])
        let r = try warden(["run", "--mode", mode, "--", "/usr/bin/python3", "probe.py", family, "\(port)"], cwd: dir)
        let events = try EventLogContents.read(path: eventLogPath(dir)).lastRun?.events ?? []
        return (r, read(dir + "/result.txt"), events.filter { $0.event.action == .connect })
    }

    @Test(arguments: ["4", "6"])
    func connectOutsideTheAllowlistIsRefusedAndRecorded(_ family: String) throws {
        try Kernel.requireRoot()
        let port = family == "6" ? 18_446 : 18_444
        let (r, result, events) = try run(family, mode: "enforce", port: port)
        #expect(r.status == 77, "the command succeeded but something was denied: \(r.stderr)")
        #expect(result.contains("allowed connected\n"), "\(result)")
        #expect(result.contains("other errno 1\n"), "EPERM expected:\n\(result)")
        #expect(result.contains("udp errno 1\n"), "unconnected UDP goes through sendmsg: \(result)")
        let other = try #require(result.split(separator: "\n").first { $0.hasPrefix("other port ") }?.dropFirst(11))
        let host = family == "6" ? "[::1]" : "127.0.0.1"
        let denied = events.filter { $0.event.verdict == .denied }
        #expect(denied.contains { $0.event.pathOrAddr == "\(host):\(other)" && $0.isBlocked && $0.source == "cgroup-bpf" })
        #expect(denied.allSatisfy { $0.event.neededPerm == "allow.net.hosts=\($0.event.pathOrAddr)" })
        #expect(events.contains { $0.event.verdict == .allowed && $0.event.pathOrAddr == "\(host):\(port)" })
        #expect(events.allSatisfy { $0.event.containerId != 0 && $0.event.pid != 0 })
    }

    @Test func observeModeRecordsWouldDenyAndRefusesNothing() throws {
        try Kernel.requireRoot()
        let (r, result, events) = try run("4", mode: "observe", port: 18_445)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(result.contains("allowed connected\n") && result.contains("other connected\n") && result.contains("udp sent\n"), "\(result)")
        #expect(events.contains { $0.event.verdict == .denied && !$0.isBlocked })
    }

    @Test func connectsFromOutsideTheRunAreUntouched() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["probe.py": Self.probe, "warden.toml": ""])
        // While an enforced run (deny all) is active, this test process connects freely.
        let (p, _, _) = try startWarden(["run", "--", "sh", "-c", "sleep 2"], cwd: dir)
        defer { p.waitUntilExit() }
        usleep(500_000)
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, len) } }
        listen(server, 1)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(server, $0, &len) } }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, len) } }
        #expect(rc == 0, "errno \(errno)")
        close(client)
        close(server)
    }
}
