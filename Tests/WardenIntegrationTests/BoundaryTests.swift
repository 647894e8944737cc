import Foundation
import Testing
import WardenOutput
@testable import WardenSandbox

/// The sandbox boundary, attacked from inside a build the way a malicious dependency
/// would: the audit trail, the terminal, inherited descriptors, the cgroup, warden's own
/// limits, SysV IPC and the leftovers of a killed run. Each attack runs in enforce mode as
/// plain root and as a sudo caller (uid 65534), and each has a control showing that the
/// same thing works without warden, so a pass means warden stopped it.
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct BoundaryTests {
    static let identities = ["root", "sudo"]

    /// A make-style workspace (the build may write all of it), owned by the build's user.
    func workspace(_ identity: String, policy: String = "") throws -> (dir: String, env: [String: String]) {
        let dir = try makeDir(["warden.toml": "net.default = \"allow\"\n" + policy])
        if identity == "sudo" {
            chown(dir, 65534, 65534)
            chown(dir + "/warden.toml", 65534, 65534)
            return (dir, baseEnvironment(["SUDO_UID": "65534", "SUDO_GID": "65534", "SUDO_USER": "nobody"]))
        }
        return (dir, baseEnvironment())
    }

    func victim() throws -> String {
        let dir = "/var/lib/warden-it-victim-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "ORIGINAL\n".write(toFile: dir + "/victim", atomically: true, encoding: .utf8)
        return dir + "/victim"
    }

    func sh(_ script: String, cwd: String = "/") throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The build replaces the metrics snapshot (and the temporary name older versions
    /// used) with symlinks to a root-owned file; warden, as root, must neither write nor
    /// chown through them. A symlink in place of the event log stops the next run.
    @Test(arguments: identities) func theAuditTrailIsNotWrittenThroughPlantedSymlinks(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let target = try victim()
        let plant = "rm -f warden-metrics.json; ln -s \(target) warden-metrics.json; ln -s \(target) warden-metrics.json.tmp-$PPID; "
            + "ls -l warden-metrics.json > planted.txt"
        let r = try warden(["run", "--", "sh", "-c", plant], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/planted.txt").contains("-> \(target)"), "the control: the build did plant the symlink")
        #expect(r.stderr.contains("the build can alter its own audit trail"), "\(r.stderr)")
        #expect(read(target) == "ORIGINAL\n")
        let attrs = try FileManager.default.attributesOfItem(atPath: target)
        #expect((attrs[.ownerAccountID] as? NSNumber)?.intValue == 0, "warden chowned the victim")
        // The snapshot replaced the symlink itself.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/warden-metrics.json")) == nil)
        #expect(read(dir + "/warden-metrics.json").contains("\"finished\" : true"))

        try FileManager.default.removeItem(atPath: dir + "/warden-events.jsonl")
        try FileManager.default.createSymbolicLink(atPath: dir + "/warden-events.jsonl", withDestinationPath: target)
        let again = try warden(["run", "--", "true"], cwd: dir, env: env)
        #expect(again.status == 125 && again.stderr.contains("symbolic link"), "\(again.stderr)")
        #expect(read(target) == "ORIGINAL\n")
    }

    /// A build that renames its log away and writes a forged one in its place is caught.
    @Test func aLogReplacedDuringTheRunIsReported() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let forge = "mv warden-events.jsonl moved.jsonl && echo '{\"type\":\"run\",\"run_id\":\"forged\"}' > warden-events.jsonl"
        let r = try warden(["run", "--", "sh", "-c", forge], cwd: dir, env: env)
        #expect(FileManager.default.fileExists(atPath: dir + "/moved.jsonl"), "the control: the build did replace the log")
        #expect(r.stderr.contains("no longer names the log this run wrote"), "\(r.stderr)")
    }

    /// A descriptor the caller had open (a secret on fd 7) does not reach the build.
    @Test(arguments: identities) func inheritedDescriptorsDoNotCrossExec(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let secret = try victim()
        chmod(secret, 0o644)
        let prefix = ["/bin/sh", "-c", "exec 7<\(secret); exec \"$@\"", "sh"]
        #expect(try sh("exec 7<\(secret); sh -c 'cat <&7'").out == "ORIGINAL\n", "the control: fd 7 is inherited without warden")
        let (p, out, _) = try startWarden(["run", "--", "sh", "-c", "cat <&7; echo status $?"], cwd: dir, env: env, prefix: prefix)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(!text.contains("ORIGINAL") && text.contains("status 2"), "\(text)")
    }

    /// Run under a pseudo-terminal that is the caller's controlling terminal: inside, the
    /// build must not push input into it (TIOCSTI) nor open /dev/tty or the pts by name.
    @Test(arguments: identities) func theBuildHasNoTerminal(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let probe = dir + "/tty-probe.py"
        try """
            import errno, fcntl, os, sys, termios
            out = []
            try:
                fcntl.ioctl(0, termios.TIOCSTI, b"#")
                out.append("tiocsti ok")
            except OSError as e:
                out.append("tiocsti " + errno.errorcode[e.errno])
            for path in ["/dev/tty", os.ttyname(0)]:
                try:
                    os.close(os.open(path, os.O_RDWR))
                    out.append("open ok")
                except OSError as e:
                    out.append("open " + errno.errorcode[e.errno])
            open(sys.argv[1], "w").write("\\n".join(out) + "\\n")
            """.write(toFile: probe, atomically: true, encoding: .utf8)
        chmod(probe, 0o644)
        // A driver that gives the command a pty as its controlling terminal.
        let driver = """
            import os, pty, subprocess, sys, fcntl, termios
            master, slave = pty.openpty()
            def ctty():
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            p = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty)
            os.close(slave)
            while True:
                try:
                    if not os.read(master, 4096): break
                except OSError:
                    break
            sys.exit(p.wait())
            """
        let control = dir + "/control.txt"
        let c = try sh("/usr/bin/python3 -c '\(driver)' /usr/bin/python3 \(probe) \(control)")
        #expect(c.status == 0 && read(control) == "tiocsti ok\nopen ok\nopen ok\n", "the control, without warden: \(read(control)) \(c.out)")
        let inside = dir + "/inside.txt"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", driver, wardenPath, "run", "--", "/usr/bin/python3", probe, inside]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = env
        try p.run()
        p.waitUntilExit()
        // 77: opening the pts by name is a recorded denial.
        #expect(p.terminationStatus == 77)
        #expect(read(inside) == "tiocsti EPERM\nopen ENXIO\nopen EACCES\n", "\(read(inside))")
    }

    /// uid 0 without capabilities still owns the cgroup files: clone3 into the root of
    /// the hierarchy would put a process outside the run. Refused by seccomp (ENOSYS) with
    /// every profile, `none` included (the cgroup namespace alone stops it only where the
    /// hierarchy is mounted with nsdelegate, which this machine's is not).
    @Test(arguments: ["basic", "none"]) func aChildCannotBeBornOutsideTheRunsCgroup(profile: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root", policy: "syscall.profile = \"\(profile)\"\n")
        let root = try #require(RunCgroup.mountPoint(mountinfo: read("/proc/self/mountinfo")))
        try """
            #define _GNU_SOURCE
            #include <errno.h>
            #include <fcntl.h>
            #include <linux/sched.h>
            #include <sched.h>
            #include <stdint.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/syscall.h>
            #include <sys/wait.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
                if (fd < 0) { printf("open %s\\n", strerrorname_np(errno)); return 0; }
                struct clone_args a;
                memset(&a, 0, sizeof a);
                a.flags = CLONE_INTO_CGROUP;
                a.exit_signal = SIGCHLD;
                a.cgroup = (uint64_t)fd;
                long pid = syscall(SYS_clone3, &a, sizeof a);
                if (pid == 0) _exit(0);
                if (pid < 0) { printf("clone3 %s\\n", strerrorname_np(errno)); return 0; }
                waitpid((pid_t)pid, NULL, 0);
                printf("clone3 ESCAPED\\n");
                return 0;
            }
            """.write(toFile: dir + "/escape.c", atomically: true, encoding: .utf8)
        #expect(try sh("cc -o escape escape.c", cwd: dir).status == 0)
        #expect(try sh("./escape \(root)", cwd: dir).out == "clone3 ESCAPED\n", "the control: root can do it without warden")
        let r = try warden(["run", "--", "sh", "-c", "./escape \(root) > out.txt; echo $$ > \(root)/cgroup.procs 2>/dev/null || echo procs refused >> out.txt"],
                           cwd: dir, env: env)
        #expect(r.status == 77, "the cgroup.procs write is a recorded denial: \(r.stderr)")
        #expect(read(dir + "/out.txt") == "clone3 ENOSYS\nprocs refused\n", "\(read(dir + "/out.txt"))")
    }

    /// prlimit64 on another process (warden is the build's parent) is refused: the build
    /// cannot cut warden's or the guard's limits.
    @Test(arguments: identities) func theBuildCannotChangeWardensLimits(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        #expect(try sh("sleep 5 & prlimit --pid $! --core=0:0 && echo changed; kill $!").out == "changed\n", "the control")
        let r = try warden(["run", "--", "sh", "-c", "prlimit --pid $PPID --core=0:0 2> err.txt; echo $? > out.txt"], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/out.txt") != "0\n" && read(dir + "/err.txt").contains("Operation not permitted"), "\(read(dir + "/err.txt"))")
    }

    /// SysV IPC objects the build makes (0666 by default) do not outlive the run or show
    /// on the host.
    @Test(arguments: identities) func sysVIPCStaysInsideTheRun(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        // A size nothing else uses marks the segment in `ipcs -m` (whose -i exits 0 even
        // for an id it does not find).
        let size = "40993"
        let control = try sh("ipcmk -M \(size)")
        let controlID = try #require(control.out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(try sh("ipcs -m").out.contains(" \(size) "), "the control: a segment made outside is visible")
        _ = try sh("ipcrm -m \(controlID)")
        let r = try warden(["run", "--", "sh", "-c", "ipcmk -M \(size) > out.txt"], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/out.txt").contains("Shared memory id"), "the build made its segment: \(read(dir + "/out.txt"))")
        #expect(!(try sh("ipcs -m").out.contains(" \(size) ")), "the build's segment is visible on the host")
    }

    /// SIGKILL of warden: the guard removes the run's private TMPDIR (build data) once the
    /// cgroup is empty, as well as the cgroup.
    @Test func aKilledRunLeavesNoTemporaryDirectory() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let (p, _, _) = try startWarden(["run", "--", "sh", "-c", "echo $TMPDIR > tmp.txt; echo data > $TMPDIR/x; sleep 30"], cwd: dir, env: env)
        #expect(eventually(10) { read(dir + "/tmp.txt").hasSuffix("\n") })
        let tmp = read(dir + "/tmp.txt").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(tmp.hasPrefix("/tmp/warden-tmp-") && FileManager.default.fileExists(atPath: tmp + "/x"), "the control: the directory was there")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(eventually(10) { !FileManager.default.fileExists(atPath: tmp) }, "\(tmp) survived warden's death")
    }

    /// A closed stdout and stderr (`warden run … | head`) do not kill warden before the
    /// audit trail is finished.
    @Test func aClosedOutputDoesNotKillWarden() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let (p, out, err) = try startWarden(["run", "--", "sh", "-c", "sleep 0.3; echo done"], cwd: dir, env: env)
        try out.fileHandleForReading.close()
        try err.fileHandleForReading.close()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit, "warden was killed by a signal")
        let run = try #require(try EventLogContents.read(path: dir + "/warden-events.jsonl").lastRun)
        #expect(run.end != nil, "no run_end: warden died before finishing the audit trail")
    }
}
