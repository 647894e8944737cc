import Foundation
import Testing
import WardenOutput

/// Unix sockets named by a path: a host daemon's socket (docker's, an agent's) is a way out
/// of the sandbox that no IP rule sees. The build connects (stream) and sends with an
/// address (datagram) to listeners outside its workspace; with net.default = "deny" each
/// needs `allow.net.unix`. On this tier the kernel lets the connect through, so warden
/// catches it: the event names the socket and the line that would allow it, and the run
/// ends in 77.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct UnixSocketTests {
    /// A stream listener and a datagram socket in a directory of their own, outside any
    /// workspace; open to every user (the sudo case connects as uid 65534).
    final class Daemon {
        let dir: String
        var stream: String { dir + "/daemon.sock" }
        var datagram: String { dir + "/log.sock" }

        /// The server detaches itself (fork) and writes its pid once both sockets listen.
        init() throws {
            dir = "/var/lib/warden-it-unix-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let server = """
                import os, socket, sys
                d = sys.argv[1]
                s = socket.socket(socket.AF_UNIX); s.bind(d + "/daemon.sock"); s.listen(8)
                g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); g.bind(d + "/log.sock")
                for p in ("daemon.sock", "log.sock"): os.chmod(d + "/" + p, 0o777)
                if os.fork(): sys.exit(0)
                os.setsid()
                # Nothing of the test's stays open here (the runner waits for its pipes).
                for fd in range(256):
                    if fd not in (s.fileno(), g.fileno()):
                        try: os.close(fd)
                        except OSError: pass
                open(d + "/pid.tmp", "w").write(str(os.getpid())); os.rename(d + "/pid.tmp", d + "/pid")
                while True:
                    c, _ = s.accept(); c.sendall(b"hello"); c.close()
                """
            #expect(try runProcess("/usr/bin/python3", ["-c", server, dir]).status == 0)
            #expect(eventually(10) { FileManager.default.fileExists(atPath: self.dir + "/pid") }, "the daemon did not start")
        }

        deinit {
            if let pid = Int32(read(dir + "/pid")) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// Connects to the stream socket and sends to the datagram one; prints what happened.
    static let client = """
        import socket, sys
        out = []
        c = socket.socket(socket.AF_UNIX)
        try:
            c.connect(sys.argv[1]); out.append("stream " + c.recv(5).decode())
        except OSError as e:
            out.append("stream errno %d" % e.errno)
        g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            g.sendto(b"x", sys.argv[2]); out.append("datagram sent")
        except OSError as e:
            out.append("datagram errno %d" % e.errno)
        if len(sys.argv) > 3:
            # Through a link in the workspace: the connect reaches the daemon all the same.
            import os
            os.symlink(sys.argv[1], "link.sock")
            l = socket.socket(socket.AF_UNIX)
            try:
                l.connect("link.sock"); out.append("link " + l.recv(5).decode())
            except OSError as e:
                out.append("link errno %d" % e.errno)
            if sys.argv[3] == "race":
                # The link swapped at once: warden names the socket the kernel reached.
                os.unlink("link.sock"); os.symlink("/dev/null", "link.sock")
        print(" ".join(out))
        """

    func workspace(_ policy: String = "", identity: String = "root") throws -> (dir: String, env: [String: String]) {
        let dir = try makeDir(["warden.toml": policy, "client.py": Self.client])
        guard identity == "sudo" else { return (dir, baseEnvironment()) }
        for f in ["", "/warden.toml", "/client.py"] { chown(dir + f, 65534, 65534) }
        return (dir, baseEnvironment(["SUDO_UID": "65534", "SUDO_GID": "65534", "SUDO_USER": "nobody"]))
    }

    func connects(_ dir: String) throws -> [EventRecord] {
        try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter { $0.event.action == .connect }
    }

    @Test(arguments: ["root", "sudo"]) func aConnectToAHostSocketIsCaught(identity: String) throws {
        try Kernel.requireRoot()
        let daemon = try Daemon()
        let control = try runProcess("/usr/bin/python3", ["-c", Self.client, daemon.stream, daemon.datagram])
        #expect(control.out == "stream hello datagram sent\n", "the control: both reach the daemon without warden")

        let (dir, env) = try workspace(identity: identity)
        let r = try warden(["run", "--", "/usr/bin/python3", "client.py", daemon.stream, daemon.datagram], cwd: dir, env: env)
        #expect(r.status == 77, "\(r.stdout) \(r.stderr)")
        let events = try connects(dir)
        // Through a link in the workspace: judged by the socket it reached.
        let (linked, linkedEnv) = try workspace(identity: identity)
        let l = try warden(["run", "--", "/usr/bin/python3", "client.py", daemon.stream, daemon.datagram, "link"], cwd: linked, env: linkedEnv)
        #expect(l.status == 77 && l.stdout.hasSuffix("link hello\n"), "\(l.stdout) \(l.stderr)")
        #expect(try connects(linked).contains { $0.event.pathOrAddr == daemon.stream && !$0.event.neededPerm.isEmpty && $0.event.verdict == .allowed })
        let (raced, racedEnv) = try workspace(identity: identity)
        let race = try warden(["run", "--", "/usr/bin/python3", "client.py", daemon.stream, daemon.datagram, "race"], cwd: raced, env: racedEnv)
        #expect(race.status == 77 && race.stdout.hasSuffix("link hello\n"), "\(race.stdout) \(race.stderr)")
        #expect(try connects(raced).contains { $0.event.pathOrAddr == daemon.stream && !$0.event.neededPerm.isEmpty })
        for socket in [daemon.stream, daemon.datagram] {
            let e = events.filter { $0.event.pathOrAddr == socket }
            #expect(e.count == 1 && e.first?.event.neededPerm == "allow.net.unix=\(socket)" && e.first?.source == "tracepoint", "\(events)")
            if r.stdout.contains("stream hello") { #expect(e.first?.event.verdict == .allowed, "allowed although forbidden") }
        }
        let report = try warden(["report"], cwd: dir, env: env).stdout
        #expect(report.contains("ALLOWED ALTHOUGH FORBIDDEN (the kernel did not refuse it): connect \(daemon.stream)"), "\(report)")
    }

    /// sendmmsg: each message may name another socket; a second message to a daemon's
    /// socket, after one to the build's own, is caught as well.
    @Test func everyMessageOfSendmmsgCounts() throws {
        try Kernel.requireRoot()
        let daemon = try Daemon()
        let (dir, env) = try workspace()
        try """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/un.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                int own = socket(AF_UNIX, SOCK_DGRAM, 0), s = socket(AF_UNIX, SOCK_DGRAM, 0);
                struct sockaddr_un a = {AF_UNIX}, b = {AF_UNIX};
                strcpy(a.sun_path, "own.sock");
                strcpy(b.sun_path, argv[1]);
                unlink("own.sock");
                if (bind(own, (struct sockaddr *)&a, sizeof a) < 0) return 2;
                char x = 'x';
                struct iovec io = {&x, 1};
                struct mmsghdr m[2] = {{{&a, sizeof a, &io, 1, 0, 0, 0}}, {{&b, sizeof b, &io, 1, 0, 0, 0}}};
                printf("sent %d\\n", sendmmsg(s, m, 2, 0));
                return 0;
            }
            """.write(toFile: dir + "/mmsg.c", atomically: true, encoding: .utf8)
        #expect(try runProcess("/usr/bin/cc", ["-o", dir + "/mmsg", dir + "/mmsg.c"]).status == 0)
        #expect(try runProcess(dir + "/mmsg", [daemon.datagram], cwd: dir).out == "sent 2\n", "the control: both messages go")
        let r = try warden(["run", "--", "./mmsg", daemon.datagram], cwd: dir, env: env)
        #expect(r.stdout == "sent 2\n" && r.status == 77, "\(r.stdout) \(r.stderr)")
    }

    @Test func aNamedSocketIsAllowed() throws {
        try Kernel.requireRoot()
        let daemon = try Daemon()
        let (dir, env) = try workspace("[allow.net]\nunix = [\"\(daemon.dir)\"]\n")
        let r = try warden(["run", "--", "/usr/bin/python3", "client.py", daemon.stream, daemon.datagram], cwd: dir, env: env)
        #expect(r.status == 0 && r.stdout == "stream hello datagram sent\n", "\(r.stdout) \(r.stderr)")
        #expect(try connects(dir).filter { $0.event.pathOrAddr.hasPrefix(daemon.dir) }.allSatisfy { $0.event.verdict == .allowed && $0.event.neededPerm.isEmpty })
        #expect(try warden(["status"], cwd: dir, env: env).stdout.contains("allow.net.unix"))
    }

    /// The build's own sockets, in what it may write (here the make-style workspace), and
    /// everything under net.default = "allow", need no rule. Observe mode says "would deny".
    @Test func ownSocketsAndOpenNetworksNeedNoRule() throws {
        try Kernel.requireRoot()
        let daemon = try Daemon()
        let own = """
            import os, socket
            s = socket.socket(socket.AF_UNIX); s.bind("own.sock"); s.listen(1)
            c = socket.socket(socket.AF_UNIX); c.connect("own.sock"); print("own connected")
            """
        let (dir, env) = try workspace()
        try own.write(toFile: dir + "/own.py", atomically: true, encoding: .utf8)
        let r = try warden(["run", "--", "/usr/bin/python3", "own.py"], cwd: dir, env: env)
        #expect(r.status == 0 && r.stdout == "own connected\n", "\(r.stdout) \(r.stderr)")
        #expect(try connects(dir).contains { $0.event.pathOrAddr == dir + "/own.sock" && $0.event.verdict == .allowed })

        let (open, openEnv) = try workspace("net.default = \"allow\"\n")
        let o = try warden(["run", "--", "/usr/bin/python3", "client.py", daemon.stream, daemon.datagram], cwd: open, env: openEnv)
        #expect(o.status == 0, "\(o.stderr)")

        let (observed, observedEnv) = try workspace()
        let w = try warden(["run", "--mode", "observe", "--", "/usr/bin/python3", "client.py", daemon.stream, daemon.datagram],
                           cwd: observed, env: observedEnv)
        #expect(w.status == 0 && w.stdout == "stream hello datagram sent\n", "\(w.stderr)")
        #expect(try connects(observed).filter { $0.event.pathOrAddr == daemon.stream }.map(\.event.verdict) == [.denied])
    }
}
