import Foundation
import Testing
import WardenOutput
import WardenPolicy
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
        let dir = try scratchDir("victim")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "ORIGINAL\n".write(toFile: dir + "/victim", atomically: true, encoding: .utf8)
        return dir + "/victim"
    }

    /// A unix stream socket listening at `path`, as a host daemon's would; the caller closes it.
    func unixListener(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.prefix(p.count - 1).enumerated() { p[i] = b } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(bound == 0 && listen(fd, 8) == 0, "a listener at \(path): errno \(errno)")
        return fd
    }

    func sh(_ script: String, cwd: String = "/") throws -> (status: Int32, out: String) {
        try runProcess("/bin/sh", ["-c", script], cwd: cwd)
    }

    /// The audit trail lives in warden's state directory, which the build cannot write:
    /// it cannot append a forged record, remove the snapshot, or plant a link where warden
    /// (root) writes. An event log the user names inside what the build may write is
    /// refused, and so is a symlink in an event log's place.
    @Test(arguments: identities) func theAuditTrailIsOutOfTheBuildsReach(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let target = try victim()
        let log = eventLogPath(dir), metrics = metricsPath(dir)
        let state = (log as NSString).deletingLastPathComponent
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 0)
        let attack = "echo '{\"type\":\"run\",\"run_id\":\"forged\"}' >> \(log) 2>/dev/null || echo append refused >> out.txt; "
            + "rm -f \(metrics) 2>/dev/null || echo remove refused >> out.txt; "
            + "ln -s \(target) \(state)/warden-metrics.json.tmp-x 2>/dev/null || echo link refused >> out.txt; "
            + "echo forged >> warden-events.jsonl"
        let r = try warden(["run", "--", "sh", "-c", attack], cwd: dir, env: env)
        #expect(r.status == 77, "the refusals are recorded denials: \(r.stderr)")
        #expect(read(dir + "/out.txt") == "append refused\nremove refused\nlink refused\n", "\(read(dir + "/out.txt"))")
        #expect(read(dir + "/warden-events.jsonl") == "forged\n", "the control: the build could write its workspace")
        let contents = try EventLogContents.read(path: log)
        #expect(!contents.runs.contains { $0.runId == "forged" } && contents.invalidLines.isEmpty && contents.runs.count == 2)
        #expect(read(metrics).contains("\"finished\" : true") && read(target) == "ORIGINAL\n")
        // `report` reads the real log, not the one the build wrote into the workspace.
        #expect(try warden(["report"], cwd: dir, env: env).stdout.contains("exit code: 77"))

        let inside = try warden(["run", "--events", "mine.jsonl", "--", "true"], cwd: dir, env: env)
        #expect(inside.status == 2 && inside.stderr.contains("could rewrite its own audit trail"), "\(inside.stderr)")
        let elsewhere = try scratchDir("logs")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: elsewhere + "/run.jsonl", withDestinationPath: target)
        let linked = try warden(["run", "--events", elsewhere + "/run.jsonl", "--", "true"], cwd: dir, env: env)
        #expect(linked.status == 125 && linked.stderr.contains("symbolic link"), "\(linked.stderr)")
        #expect(read(target) == "ORIGINAL\n")
        let attrs = try FileManager.default.attributesOfItem(atPath: target)
        #expect((attrs[.ownerAccountID] as? NSNumber)?.intValue == 0, "warden chowned the victim")
    }

    /// Where the build can reach the log (observe mode, a log the user put in the
    /// workspace), a log renamed and replaced during the run is reported.
    @Test func aLogReplacedDuringTheRunIsReported() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let forge = "mv mine.jsonl moved.jsonl && echo '{\"type\":\"run\",\"run_id\":\"forged\"}' > mine.jsonl"
        let r = try warden(["run", "--mode", "observe", "--events", "mine.jsonl", "--", "sh", "-c", forge], cwd: dir, env: env)
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

    /// No set-user-ID or set-group-ID bit from a build (a root build would leave a
    /// setuid-root program behind): chmod, fchmod and a creating open with such a mode
    /// fail with EPERM, each refusal a recorded denial; a plain chmod still works.
    @Test(arguments: identities) func setIDBitsAreRefused(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let probe = """
            import errno, os, stat
            out = []
            def t(name, fn):
                try:
                    fn(); out.append(name + ":ok")
                except OSError as e:
                    out.append(name + ":" + errno.errorcode[e.errno])
            open("f", "w").close()
            t("chmod-suid", lambda: os.chmod("f", 0o4755))
            t("chmod-sgid", lambda: os.chmod("f", 0o2755))
            fd = os.open("f", os.O_RDONLY)
            t("fchmod-suid", lambda: os.fchmod(fd, 0o4755))
            t("create-suid", lambda: os.close(os.open("g", os.O_CREAT | os.O_WRONLY, 0o4755)))
            t("chmod-plain", lambda: os.chmod("f", 0o700))
            bits = [p for p in ("f", "g") if os.path.exists(p) and os.stat(p).st_mode & (stat.S_ISUID | stat.S_ISGID)]
            print(" ".join(out), "set-id:" + ",".join(bits))
            """
        try probe.write(toFile: dir + "/probe.py", atomically: true, encoding: .utf8)
        let control = try makeDir()
        #expect(try runProcess("/usr/bin/python3", [dir + "/probe.py"], cwd: control).out
                == "chmod-suid:ok chmod-sgid:ok fchmod-suid:ok create-suid:ok chmod-plain:ok set-id:g\n", "the control")
        let r = try warden(["run", "--", "/usr/bin/python3", "probe.py"], cwd: dir, env: env)
        #expect(r.stdout == "chmod-suid:EPERM chmod-sgid:EPERM fchmod-suid:EPERM create-suid:EPERM chmod-plain:ok set-id:\n", "\(r.stdout) \(r.stderr)")
        #expect(r.status == 77, "each refusal is a denial: \(r.stderr)")
        let refused = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        #expect(refused.filter { $0.event.action == .attr && $0.event.pathOrAddr == dir + "/f" }.count == 3, "\(refused.map(\.event))")
    }

    /// The boundary rules hold under a profile that allows the same calls outright (the
    /// built-in `strict`, an imported default-deny OCI allowlist): they are a filter of
    /// their own, and the kernel takes the most restrictive answer of all filters.
    @Test(arguments: ["strict", "oci"]) func boundaryRulesHoldUnderEveryProfile(profile: String) throws {
        try Kernel.requireRoot()
        var policy = "[syscall]\nprofile = \"strict\"\n"
        if profile == "oci" {
            let allowlist = SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
                                           syscalls: [SeccompRule(names: SeccompProfile.buildCalls, action: "SCMP_ACT_ALLOW")])
            let file = try makeDir() + "/allowlist.json"
            try JSONEncoder().encode(allowlist).write(to: URL(fileURLWithPath: file))
            policy = "[syscall]\noci_profile = \"\(file)\"\n"
        }
        let (dir, env) = try workspace("root", policy: policy)
        let probe = """
            import ctypes, errno, os, resource
            libc = ctypes.CDLL(None, use_errno=True)
            out = []
            def t(name, fn):
                try:
                    fn(); out.append(name + ":ok")
                except OSError as e:
                    out.append(name + ":" + errno.errorcode[e.errno])
            def sys(name, nr, *args):
                def call():
                    if libc.syscall(nr, *args) < 0:
                        raise OSError(ctypes.get_errno(), name)
                t(name, call)
            open("f", "w").close()
            t("chmod-suid", lambda: os.chmod("f", 0o4755))
            t("prlimit-parent", lambda: resource.prlimit(os.getppid(), resource.RLIMIT_CORE, (0, 0)))
            sys("clone3", 435, None, 0)
            sys("unshare-user", 272, 0x10000000)
            sys("io_uring", 425, 1, None)
            print(" ".join(out))
            """
        try probe.write(toFile: dir + "/probe.py", atomically: true, encoding: .utf8)
        let control = try runProcess("/usr/bin/python3", [dir + "/probe.py"], cwd: try makeDir())
        #expect(control.out == "chmod-suid:ok prlimit-parent:ok clone3:EINVAL unshare-user:ok io_uring:EFAULT\n", "the control: \(control.out)")
        let r = try warden(["run", "--", "/usr/bin/python3", "probe.py"], cwd: dir, env: env)
        #expect(r.stdout == "chmod-suid:EPERM prlimit-parent:EPERM clone3:ENOSYS unshare-user:EPERM io_uring:EPERM\n", "\(r.stdout) \(r.stderr)")
        #expect(r.status == 77, "the refused chmod is a denial: \(r.stderr)")
    }

    /// A refused call whose name cannot be read (a bad pointer here; a page unmapped under
    /// the call in the wild) is still a recorded denial, named "?".
    @Test func aRefusalWithAnUnreadableNameIsStillADenial() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let probe = """
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            print(libc.chmod(ctypes.c_void_p(1), 0o4755), ctypes.get_errno())
            """
        try probe.write(toFile: dir + "/probe.py", atomically: true, encoding: .utf8)
        #expect(try runProcess("/usr/bin/python3", [dir + "/probe.py"]).out == "-1 14\n", "the control: EFAULT without warden")
        let r = try warden(["run", "--", "/usr/bin/python3", "probe.py"], cwd: dir, env: env)
        #expect(r.stdout == "-1 1\n" && r.status == 77, "\(r.stdout) \(r.stderr)")
        let refused = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        #expect(refused.contains { $0.event.action == .attr && $0.event.pathOrAddr == "?" }, "\(refused.map(\.event))")
    }

    /// A make project's whole workspace is the build's output, but its `.git` (hooks and
    /// configuration run later by the user's git, outside any sandbox) and policy files
    /// are not: a read-only bind mount refuses the writes (EROFS), each a denial.
    @Test func aMakeBuildCannotWriteGitOrItsPolicy() throws {
        try Kernel.requireRoot()
        let attack = "printf '[core]\\n\\tfsmonitor = evil\\n' >> .git/config 2>/dev/null || echo config refused >> out.txt; "
            + "echo evil > .git/hooks/pre-commit 2>/dev/null || echo hook refused >> out.txt; "
            + "echo 'net.default = \"allow\"' >> warden.toml 2>/dev/null || echo policy refused >> out.txt; "
            + "printf 'gitdir: ../evil\\n' > sub/.git 2>/dev/null || echo gitfile refused >> out.txt; "
            + "echo evil >> vendor/.git/config 2>/dev/null || echo nested refused >> out.txt; "
            + "echo built >> out.txt"
        // A submodule's gitfile and a vendored repository's own .git, as a checkout has them.
        let repos = "git init -q . && mkdir -p sub vendor/.git && printf 'gitdir: ../.git/modules/sub\\n' > sub/.git && touch vendor/.git/config && "
        let control = try makeDir(["warden.toml": "net.default = \"allow\"\n"])
        #expect(try sh(repos + attack, cwd: control).status == 0)
        #expect(read(control + "/out.txt") == "built\n" && read(control + "/.git/hooks/pre-commit") == "evil\n", "the control")

        let (dir, env) = try workspace("root")
        #expect(try sh(repos + "true", cwd: dir).status == 0)
        let config = read(dir + "/.git/config"), policy = read(dir + "/warden.toml")
        let r = try warden(["run", "--", "sh", "-c", attack], cwd: dir, env: env)
        #expect(read(dir + "/out.txt") == "config refused\nhook refused\npolicy refused\ngitfile refused\nnested refused\nbuilt\n",
                "\(read(dir + "/out.txt")) \(r.stderr)")
        #expect(read(dir + "/.git/config") == config && read(dir + "/warden.toml") == policy)
        #expect(read(dir + "/sub/.git") == "gitdir: ../.git/modules/sub\n" && read(dir + "/vendor/.git/config").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/.git/hooks/pre-commit"))
        #expect(r.status == 77, "\(r.stderr)")
        let denied = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        #expect(Set(denied.map(\.event.pathOrAddr)) == [dir + "/.git/config", dir + "/.git/hooks/pre-commit", dir + "/warden.toml",
                                                        dir + "/sub/.git", dir + "/vendor/.git/config"], "\(denied.map(\.event))")
        #expect(denied.allSatisfy { $0.event.result == -EROFS })

        // A new repository the build makes (nothing there to mount): caught, 77.
        let planted = try warden(["run", "--", "sh", "-c", "mkdir -p newrepo/.git && echo '[core]' > newrepo/.git/config"], cwd: dir, env: env)
        #expect(planted.status == 77 && planted.stderr.contains("policy forbids were allowed"), "\(planted.stderr)")

        // A repository by shape, not by name (HEAD, objects/, refs/ and a config git would
        // run from): caught by the comparison before and after, 77, and the next run refused.
        let shaped = "mkdir -p src/objects src/refs && echo 'ref: refs/heads/main' > src/HEAD && printf '[core]\\n\\tfsmonitor = evil\\n' > src/config"
        // (The new repository above is a change the next run refuses too: accepted here.)
        let bare = try warden(["run", "--accept-policy-change", "--", "sh", "-c", shaped], cwd: dir, env: env)
        #expect(bare.status == 77 && bare.stderr.contains("changed git configuration or hooks: \(dir)/src/config"), "\(bare.stderr)")
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 2, "the next run refuses what the build left")
    }

    /// A chmod or setxattr through a symlink in the write paths (to a file, or to a
    /// directory above one) outside them: the kernel follows the link onto the read-only
    /// view and refuses it (EROFS), and warden judges what the kernel reached.
    @Test func attributeChangesThroughLinksAreRefused() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let target = try victim()
        let targetDir = (target as NSString).deletingLastPathComponent
        let scripts = [("file", "ln -s \(target) lnk && chmod 600 lnk"),
                       ("dir", "ln -s \(targetDir) ld && chmod 600 ld/victim"),
                       ("xattr", "ln -s \(target) lx && /usr/bin/python3 -c \"import os; os.setxattr('lx', 'user.w', b'x')\"")]
        for (name, script) in scripts {
            chmod(target, 0o644)
            let r = try warden(["run", "--", "sh", "-c", script], cwd: dir, env: env)
            #expect(r.status == 1 && r.stderr.contains("Read-only file system"), "\(name): the command failed: \(r.stderr)")
            #expect((try? FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int) == 0o644, "\(name)")
            let events = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events
            #expect(events.contains { $0.event.action == .attr && $0.event.pathOrAddr == target && $0.isBlocked },
                    "\(name): \(events.filter { $0.event.action == .attr }.map(\.event))")
            for link in ["lnk", "ld", "lx"] { try? FileManager.default.removeItem(atPath: dir + "/" + link) }
        }
    }

    /// Landlock has no right for chmod, chown, utimensat or setxattr: outside its write
    /// paths the build sees every mount read-only, so each of them fails with EROFS — by
    /// name and by a descriptor opened for reading — and leaves the file as it was. Plain
    /// root owns root's files, so without this it could change any of them. Each refusal
    /// is a recorded denial (77); the build's own files still change.
    @Test(arguments: identities) func attributeChangesOutsideTheWritePathsAreRefused(identity: String) throws {
        try Kernel.requireRoot()
        let target = try victim()
        let owner: UInt32 = identity == "sudo" ? 65534 : 0
        let probe = """
            import os, sys, errno
            f, out = sys.argv[1], []
            def t(name, op):
                try: op(); out.append(name + ":ok")
                except OSError as e: out.append(name + ":" + errno.errorcode[e.errno])
            fd = os.open(f, os.O_RDONLY)
            t("chmod", lambda: os.chmod(f, 0o666))
            t("fchmod", lambda: os.fchmod(fd, 0o666))
            t("chown", lambda: os.chown(f, \(owner), \(identity == "sudo" ? 65534 : 1234)))
            t("utime", lambda: os.utime(f, (1, 1)))
            t("futimens", lambda: os.utime(fd, (1, 1)))
            t("setxattr", lambda: os.setxattr(f, "user.warden", b"x"))
            t("fsetxattr", lambda: os.setxattr(fd, "user.warden", b"x"))
            open("own", "w").close(); t("own", lambda: os.chmod("own", 0o600))
            print(" ".join(out))
            """
        func reset() {
            chown(target, owner, owner)
            chmod(target, 0o644)
            _ = try? runProcess("/usr/bin/python3", ["-c", "import os, sys; os.removexattr(sys.argv[1], 'user.warden')", target])
            var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, target, &times, 0)
        }
        func unchanged() -> Bool {
            var st = stat()
            return stat(target, &st) == 0 && st.st_mode & 0o7777 == 0o644 && st.st_uid == owner && st.st_gid == owner
                && st.st_mtim.tv_sec == 1_000_000_000
                && (try? runProcess("/usr/bin/python3", ["-c", "import os, sys; print(os.listxattr(sys.argv[1]))", target]).out) == "[]\n"
        }
        let all = "chmod fchmod chown utime futimens setxattr fsetxattr".split(separator: " ")
        let control = try makeDir([:])
        if identity == "sudo" { chown(control, 65534, 65534) }
        reset()
        let c = try runProcess("/usr/bin/setpriv", ["--reuid=\(owner)", "--regid=\(owner)", "--clear-groups", "/usr/bin/python3", "-c", probe, target], cwd: control)
        #expect(c.out == all.map { $0 + ":ok" }.joined(separator: " ") + " own:ok\n" && !unchanged(), "the control: \(c.out)")

        reset()
        // Readable (the descriptor forms need one), never writable.
        let (dir, env) = try workspace(identity, policy: "[allow.fs]\nread_extra = [\"\((target as NSString).deletingLastPathComponent)\"]\n")
        let r = try warden(["run", "--", "/usr/bin/python3", "-c", probe, target], cwd: dir, env: env)
        #expect(r.stdout == all.map { $0 + ":EROFS" }.joined(separator: " ") + " own:ok\n", "\(r.stdout) \(r.stderr)")
        #expect(unchanged(), "the file is as it was")
        #expect(r.status == 77, "\(r.stderr)")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        let refused = run.events.filter { $0.event.action == .attr && $0.event.pathOrAddr == target }
        #expect(!refused.isEmpty && refused.allSatisfy { $0.isBlocked && $0.event.result == -EROFS }, "\(refused.map(\.event))")
        #expect(run.end?.enforceMismatches == 0, "refused, not merely caught")
        #expect(!run.events.contains { $0.event.pathOrAddr == dir + "/own" && !$0.event.neededPerm.isEmpty }, "the build's own file")
        #expect(run.start?.hardening.contains { $0.primitive == "read_only_view" && $0.state == "applied" } == true)
    }

    /// A grant follows links: an earlier (make) build that replaced a `write_extra`
    /// directory in its workspace with a link to a victim would have the next run bind the
    /// victim writable and Landlock grant it. The run stops (125) before anything runs;
    /// the victim is untouched. The control: the same link, followed without warden.
    @Test func aLinkPlantedOnAGrantedPathIsRefused() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let victim = (try victim() as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir + "/gen", withIntermediateDirectories: true)
        let plant = try warden(["run", "--", "sh", "-c", "rm -rf gen && ln -s \(victim) gen"], cwd: dir, env: env)
        #expect(plant.status == 0, "a make build may replace its own directory with a link: \(plant.stderr)")
        #expect(try sh("echo PWN > \(dir)/gen/planted").status == 0 && FileManager.default.fileExists(atPath: victim + "/planted"), "the control")
        try FileManager.default.removeItem(atPath: victim + "/planted")
        for key in ["write_extra", "read_extra"] {
            let policy = try makeDir(["p.toml": "[allow.fs]\n\(key) = [\"\(dir)/gen\"]\n"]) + "/p.toml"
            let r = try warden(["run", "--policy", policy, "--", "sh", "-c", "echo PWN > gen/planted; cat gen/victim"], cwd: dir, env: env)
            #expect(r.status == 125 && r.stderr.contains("\(dir)/gen is a symbolic link") && r.stdout.isEmpty, "\(key): \(r.stdout) \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: victim + "/planted"))
        }
    }

    /// Descriptors 0–2 are the caller's files, opened on the host's writable mounts, where
    /// the read-only view does not reach (and they cannot be told by number: `touch`
    /// reopens its own file on 0): a mode change through one is caught — the run ends in
    /// 77 naming the file — while inode flags (chattr) are refused on any file, and the
    /// host's /dev/null keeps its times. The control: the same calls, run without warden,
    /// change them all.
    @Test(arguments: identities) func theCallersDescriptorsAreCaught(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let probe = """
            import errno, fcntl, os, struct, sys
            out = []
            def t(name, op):
                try: op(); out.append(name + ":ok")
                except OSError as e: out.append(name + ":" + errno.errorcode[e.errno])
            t("fchmod", lambda: os.fchmod(1, 0o640))
            t("futimens", lambda: os.utime(1, (1, 1)))
            t("fsetxattr", lambda: os.setxattr(1, "user.warden", b"x"))
            t("fchown", lambda: os.chown(1, os.getuid(), os.getgid()))
            fd = os.open(sys.argv[1], os.O_RDONLY)
            t("setflags", lambda: fcntl.ioctl(fd, 0x40086602, struct.pack("i", 0)))
            t("devnull", lambda: os.utime("/dev/null", None))
            sys.stderr.write(" ".join(out) + "\\n")
            """
        try probe.write(toFile: dir + "/probe.py", atomically: true, encoding: .utf8)
        let log = try scratchDir("stdout") + ".log"
        FileManager.default.createFile(atPath: log, contents: nil)
        if identity == "sudo" { chown(log, 65534, 65534); chown(dir + "/probe.py", 65534, 65534) }
        chmod(log, 0o644)
        let mode = { (try? FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int) ?? 0 }
        // The redirection is the caller's (warden's stdout), not the build's.
        let command = "/usr/bin/python3 probe.py probe.py > \(log) 2>&1"
        let control = try runProcess("/usr/bin/setpriv", (identity == "sudo" ? ["--reuid=65534", "--regid=65534", "--clear-groups"] : [])
                                        + ["/bin/sh", "-c", command], cwd: dir)
        #expect(mode() == 0o640 && read(log).contains("fchmod:ok futimens:ok"), "the control: \(read(log)) \(control.out)")
        chmod(log, 0o644)
        let r = try runProcess("/bin/sh", ["-c", "\(wardenPath) run -- /usr/bin/python3 probe.py probe.py > \(log) 2>&1"], cwd: dir, env: env)
        #expect(read(log).contains("fchmod:ok futimens:ok fsetxattr:ok fchown:ok setflags:EPERM devnull:EROFS"), "\(read(log)) \(r.out)")
        #expect(r.status == 77, "caught: \(read(log))")
        let events = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events
        #expect(events.contains { $0.event.action == .attr && $0.event.pathOrAddr == log && !$0.event.neededPerm.isEmpty }, "\(events.map(\.event))")
    }

    /// Links do not hide what decides the next run: a repository whose `objects/` and
    /// `refs/` are links (git follows them), or whose `commondir` puts its configuration
    /// elsewhere, and a policy file that is a link whose target the build rewrites, are
    /// each a change (77), and the next run from there is refused (2). The control: git
    /// takes the linked shape for a repository.
    @Test func linksDoNotHideWhatDecidesTheNextRun() throws {
        try Kernel.requireRoot()
        let shapes = [
            "mkdir -p evil o r && echo 'ref: refs/heads/main' > evil/HEAD && ln -s ../o evil/objects && ln -s ../r evil/refs "
                + "&& printf '[core]\\n\\tsshCommand = evil\\n' > evil/config",
            "mkdir -p evil c && echo 'ref: refs/heads/main' > evil/HEAD && echo ../c > evil/commondir "
                + "&& printf '[core]\\n\\tsshCommand = evil\\n' > c/config",
        ]
        let control = try makeDir([:])
        #expect(try sh(shapes[0] + " && mkdir -p o/info r/heads && git -C evil rev-parse --git-dir", cwd: control).out == ".\n", "the control")
        for script in shapes {
            let (dir, env) = try workspace("root")
            let r = try warden(["run", "--", "sh", "-c", script], cwd: dir, env: env)
            #expect(r.status == 77 && r.stderr.contains("the build changed git configuration or hooks"), "\(script): \(r.stderr)")
        }
        let (dir, env) = try workspace("root")
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try "mode = \"enforce\"\n".write(toFile: dir + "/sub/x.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/sub/warden.toml", withDestinationPath: "x.txt")
        let r = try warden(["run", "--", "sh", "-c", "printf '[allow.fs]\\nwrite_extra = [\"/var\"]\\n' >> sub/x.txt"], cwd: dir, env: env)
        #expect(r.status == 77 && r.stderr.contains("changed \(dir)/sub/warden.toml"), "\(r.stderr)")
        let next = try warden(["run", "--", "true"], cwd: dir + "/sub", env: env)
        #expect(next.status == 2 && next.stderr.contains("does not let a build choose its next policy"), "\(next.stderr)")
    }

    /// Warden cannot be signalled by the build it confines, even as plain root where
    /// Landlock's signal scoping (ABI 6) is missing: here Landlock is not applied at all
    /// (`fs.default = "unrestricted"`, no exec allowlist), so only the run's seccomp
    /// shield stands between the build and warden. Its parent (warden), warden's process
    /// group, everyone (-1), a pidfd for warden and a signal through /proc/PID are each
    /// refused; signalling itself still works. The control: the same probe, run by root
    /// outside warden, signals its parent.
    @Test(arguments: ["unrestricted", "strict"]) func aBuildCannotSignalWarden(fs: String) throws {
        try Kernel.requireRoot()
        let probe = """
            import ctypes, errno, os
            pp, out, libc = os.getppid(), [], ctypes.CDLL(None, use_errno=True)
            def t(name, op):
                try: op(); out.append(name + ":ok")
                except OSError as e: out.append(name + ":" + errno.errorcode[e.errno])
            def raw(nr, *args):
                if libc.syscall(nr, *args) < 0: raise OSError(ctypes.get_errno(), "")
            t("kill", lambda: os.kill(pp, 0))
            t("group", lambda: os.killpg(os.getpgid(pp), 0))
            t("all", lambda: os.kill(-1, 0))
            t("pidfd", lambda: os.close(os.pidfd_open(pp)))
            fd = os.open("/proc/%d" % pp, os.O_DIRECTORY)
            t("procfd", lambda: raw(424, fd, 0, None, 0))
            t("tkill", lambda: raw(200, pp, 0))
            t("self", lambda: os.kill(os.getpid(), 0))
            print(" ".join(out))
            """
        let control = try runProcess("/usr/bin/python3", ["-c", probe])
        #expect(control.out == "kill:ok group:ok all:ok pidfd:ok procfd:ok tkill:ok self:ok\n", "the control: \(control.out)")
        let dir = try makeDir(["warden.toml": "fs.default = \"\(fs)\"\nnet.default = \"allow\"\n"])
        let r = try warden(["run", "--", "/usr/bin/python3", "-c", probe], cwd: dir)
        #expect(r.stdout == "kill:EPERM group:EPERM all:EPERM pidfd:EPERM procfd:ENOSYS tkill:EPERM self:ok\n", "\(r.stdout) \(r.stderr)")
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// The build shares warden's stderr and can make it non-blocking, then fill it: the
    /// summary and warnings warden writes after the build must still arrive (EAGAIN would
    /// drop them). The reader starts late, so the pipe is full when the build ends.
    @Test func aNonBlockingStderrKeepsWardensSummary() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let flood = "import fcntl, os, sys\nfl = fcntl.fcntl(2, fcntl.F_GETFL)\nfcntl.fcntl(2, fcntl.F_SETFL, fl | os.O_NONBLOCK)\n"
            + "try:\n    while True: os.write(2, b'x' * 4096)\nexcept BlockingIOError:\n    pass\n"
            + "try:\n    open('/etc/warden-denied', 'w')\nexcept OSError:\n    pass\n"
        try flood.write(toFile: dir + "/flood.py", atomically: true, encoding: .utf8)
        let r = try runProcess("/bin/sh", ["-c", "(\(wardenPath) run -- /usr/bin/python3 flood.py; echo \"exit=$?\" >&2) 2>&1 | (sleep 2; sed 's/xxx*//g')"],
                               cwd: dir, env: env)
        #expect(r.out.contains("warden: run ") && r.out.contains("denied 1") && r.out.contains("exit=77"), "\(r.out)")
    }

    /// RLIMIT_NPROC does not bind uid 0; `limits.processes` binds plain root through
    /// pids.max on the run's cgroup, where the pids controller can be enabled (the VM
    /// suite runs that case), and where it cannot the run says so instead of claiming it.
    @Test func theProcessLimitBindsRootOrTheRunSaysItCannot() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root", policy: "[limits]\nprocesses = 20\n")
        let probe = "import os\nr, w = os.pipe()\nn = 0\nfor i in range(40):\n    try:\n        pid = os.fork()\n"
            + "    except OSError as e:\n        print('fork refused', e.errno); break\n    if pid == 0:\n        os.close(w); os.read(r, 1); os._exit(0)\n"
            + "    n += 1\nos.close(w)\nprint('forked', n)\n"
        let r = try warden(["run", "--", "/usr/bin/python3", "-c", probe], cwd: dir, env: env)
        let start = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start)
        let limited = start.hardening.contains { $0.primitive == "rlimits" && $0.detail.contains("pids.max=20") }
        if limited {
            #expect(r.stdout == "fork refused 11\n", "\(r.stdout) \(r.stderr)")
        } else {
            #expect(r.stdout == "forked 40\n" && r.stderr.contains("limits.processes: ") && r.stderr.contains("exempts uid 0"), "\(r.stdout) \(r.stderr)")
            #expect(start.warnings.contains { $0.hasPrefix("limits.processes: ") })
        }
    }

    /// A user's own link in the home (`~/.cache -> /data/cache`) is theirs: a SwiftPM run
    /// starts whether the cache behind it exists or not (the read-only view binds only
    /// what exists, resolved), and writes the cache when it does.
    @Test func aLinkedCacheInTheHomeIsTheUsers() throws {
        try Kernel.requireRoot()
        let home = try scratchDir("home"), target = try scratchDir("cache-target")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: home + "/.cache", withDestinationPath: target)
        let dir = try makeDir(["Package.swift": "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"x\")\n"])
        let env = baseEnvironment(["HOME": home])
        let write = "touch $HOME/.cache/org.swift.swiftpm/ok"
        let r = try warden(["run", "--", "sh", "-c", write], cwd: dir, env: env)
        #expect(r.status == 0 && FileManager.default.fileExists(atPath: target + "/org.swift.swiftpm/ok"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: target + "/org.swift.swiftpm")
        try FileManager.default.removeItem(atPath: target)
        // A link that leads nowhere yet: nothing to bind, and the run still starts.
        let dangling = try warden(["run", "--", "true"], cwd: dir, env: env)
        #expect(dangling.status == 0, "\(dangling.stderr)")
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
        #expect(eventually { read(dir + "/tmp.txt").hasSuffix("\n") })
        let tmp = read(dir + "/tmp.txt").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(tmp.hasPrefix("/tmp/warden-tmp-") && FileManager.default.fileExists(atPath: tmp + "/x"), "the control: the directory was there")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(eventually { !FileManager.default.fileExists(atPath: tmp) }, "\(tmp) survived warden's death")
    }

    /// A closed stdout and stderr (`warden run … | head`) do not kill warden before the
    /// audit trail is finished.
    @Test func aClosedOutputDoesNotKillWarden() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        // The command writes only once the test has closed both pipes.
        let (p, out, err) = try startWarden(["run", "--", "sh", "-c", "while [ ! -e go ]; do sleep 0.01; done; echo done; echo done >&2"], cwd: dir, env: env)
        try out.fileHandleForReading.close()
        try err.fileHandleForReading.close()
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit, "warden was killed by a signal")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.end != nil, "no run_end: warden died before finishing the audit trail")
    }

    /// A build that may write the workspace changes warden.toml to widen the next run:
    /// the change is caught and recorded, the next run refuses it until the user accepts
    /// it, and a policy file the build creates where none was is caught the same way.
    @Test func aPolicyTheBuildWroteIsRefusedNextTime() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        try "[allow.fs]\nread_extra = [\"/etc/ssh\"]\n".write(toFile: dir + "/widen", atomically: true, encoding: .utf8)
        try "exec.default = \"allow\"\n".write(toFile: dir + "/plant", atomically: true, encoding: .utf8)
        // Observe mode: nothing is blocked, so the build can write the file (an enforced make
        // build cannot: aMakeBuildCannotWriteGitOrItsPolicy).
        let first = try warden(["run", "--mode", "observe", "--", "sh", "-c", "cat widen >> warden.toml"], cwd: dir, env: env)
        #expect(first.status == 0 && first.stderr.contains("the build changed \(dir)/warden.toml"), "\(first.stderr)")
        #expect(read(dir + "/warden.toml").contains("/etc/ssh"), "the control: the build did write the policy")
        let end = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end)
        #expect(end.policyChanged == [dir + "/warden.toml"])
        let refused = try warden(["run", "--", "true"], cwd: dir, env: env)
        #expect(refused.status == 2 && refused.stderr.contains("does not let a build choose its next policy"), "\(refused.stderr)")
        #expect(try warden(["run", "--accept-policy-change", "--", "true"], cwd: dir, env: env).status == 0)
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 0, "accepted once, then trusted")

        // A policy file the build creates where none was (nothing to mount read-only), and
        // one the user then rewrites.
        let plant = "printf '[root]\\n' > workspace.warden.toml; cat plant >> workspace.warden.toml"
        // Nothing there to mount read-only, so the kernel lets it through; the policy forbids
        // it, so the run ends in 77 as well.
        #expect(try warden(["run", "--", "sh", "-c", plant], cwd: dir, env: env).status == 77)
        #expect(FileManager.default.fileExists(atPath: dir + "/workspace.warden.toml"), "the control: the build created it")
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 2)
        try "net.default = \"allow\"\n".write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/workspace.warden.toml")
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 0, "the user's own version is not the build's")
    }

    /// The user can narrow: with --no-workspace-policy only their --policy applies.
    @Test func aUsersPolicyCanLeaveTheWorkspacesOut() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root", policy: "[allow.fs]\nread_extra = [\"/etc/ssh\"]\n")
        try "net.default = \"allow\"\n".write(toFile: dir + "/mine.toml", atomically: true, encoding: .utf8)
        let merged = try warden(["status", "--policy", "mine.toml"], cwd: dir, env: env)
        #expect(merged.stdout.contains("/etc/ssh"), "the control: the workspace file is merged by default")
        let narrowed = try warden(["status", "--no-workspace-policy", "--policy", "mine.toml"], cwd: dir, env: env)
        #expect(narrowed.status == 0 && !narrowed.stdout.contains("/etc/ssh"), "\(narrowed.stdout)")
    }

    /// A rule that reaches a secret through a symlink is warned about like the name.
    @Test func aSecretBehindASymlinkIsStillASecret() throws {
        try Kernel.requireRoot()
        let home = try scratchDir("home")
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        let (dir, env) = try workspace("root", policy: "[allow.fs]\nread_extra = [\"\(home)/innocent\"]\n")
        let direct = try warden(["status"], cwd: dir, env: env.merging(["HOME": home]) { $1 })
        #expect(!direct.stdout.contains("exposes a secret"), "the control: no warning before the link exists")
        try FileManager.default.createSymbolicLink(atPath: home + "/innocent", withDestinationPath: home + "/.ssh")
        let linked = try warden(["status"], cwd: dir, env: env.merging(["HOME": home]) { $1 })
        #expect(linked.stdout.contains("policy exposes a secret") && linked.stdout.contains("read \(home)/.ssh"), "\(linked.stdout)")
    }

    /// The build plants a manifest and an output directory that is a link out of the
    /// workspace, so that the next run would grant writing (or reading) there: the manifest
    /// change stops the next run, and even accepted, the link is refused.
    @Test(arguments: identities) func aPlantedOutputLinkIsRefused(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let target = try victim()
        let outside = (target as NSString).deletingLastPathComponent
        chmod(outside, 0o777)
        try "all:\n\ttrue\n".write(toFile: dir + "/Makefile", atomically: true, encoding: .utf8)
        try "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"x\")\n"
            .write(toFile: dir + "/manifest", atomically: true, encoding: .utf8)
        let plant = try warden(["run", "--", "sh", "-c", "cp manifest Package.swift && ln -s \(outside) .build"], cwd: dir, env: env)
        #expect(plant.status == 0, "\(plant.stderr)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/.build")) == outside, "the control: the link was planted")
        let next = try warden(["run", "--", "sh", "-c", "echo pwned > \(outside)/pwned"], cwd: dir, env: env)
        #expect(next.status == 2 && next.stderr.contains("Package.swift"), "\(next.stderr)")
        let accepted = try warden(["run", "--accept-policy-change", "--", "sh", "-c", "echo pwned > \(outside)/pwned"], cwd: dir, env: env)
        #expect(accepted.status == 125 && accepted.stderr.contains("is a symbolic link"), "\(accepted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: outside + "/pwned") && read(target) == "ORIGINAL\n")
    }

    /// A lock file the build replaced with a link would be granted writing where it points.
    @Test func aLinkedLockFileIsRefused() throws {
        try Kernel.requireRoot()
        let dir = try scratchDir("lock")
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "[package]\nname = \"lk\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".write(toFile: dir + "/Cargo.toml", atomically: true, encoding: .utf8)
        try "fn main() {}\n".write(toFile: dir + "/src/main.rs", atomically: true, encoding: .utf8)
        let target = try victim()
        try FileManager.default.createSymbolicLink(atPath: dir + "/Cargo.lock", withDestinationPath: target)
        let r = try warden(["build", "--", "--offline"], cwd: dir)
        #expect(r.status == 125 && r.stderr.contains("Cargo.lock is a symbolic link"), "\(r.stderr)")
        #expect(read(target) == "ORIGINAL\n")
    }

    /// A refusal through a name that is not the file — a symlink, a directory link, a path
    /// longer than an event holds, another process's /proc/PID/fd — is recorded as the
    /// denial it is, by the file's own path (or marked '?'), and the run ends in 77.
    @Test func refusalsThroughOtherNamesAreDenials() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let secret = try victim()
        let outside = (secret as NSString).deletingLastPathComponent
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 3<\(secret); exec sleep 30"]
        try holder.run()
        defer { holder.terminate() }
        #expect(eventually { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder.processIdentifier)/fd/3")) == secret })
        let long = dir + "/" + String(repeating: "./", count: 130) + "../" + String(repeating: "../", count: 1) + ".." + outside + "/victim"
        #expect(read(long) == "ORIGINAL\n", "the control: the long name reaches the file without warden")
        // Reads are Landlock's (EACCES); a creation outside the write paths meets the
        // read-only view first (EROFS).
        let cases: [(String, (String) -> Bool, Int32)] = [
            ("ln -s \(secret) key; cat key", { $0 == secret }, -EACCES),
            ("ln -s \(outside) vdir; echo x > vdir/new", { $0 == outside + "/new" }, -EROFS),
            // Cut short at 255 bytes: marked, never taken for the shorter path it begins with.
            ("cat \(long)", { $0.hasPrefix("?") }, -EACCES),
            ("cat /proc/\(holder.processIdentifier)/fd/3", { $0 == secret }, -EACCES),
        ]
        for (script, expected, errno) in cases {
            let r = try warden(["run", "--", "sh", "-c", script + " 2>/dev/null; true"], cwd: dir, env: env)
            #expect(r.status == 77, "\(script): \(r.stderr)")
            let denied = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
            #expect(denied.count == 1 && denied.allSatisfy { expected($0.event.pathOrAddr) && $0.event.result == errno },
                    "\(script): \(denied.map(\.event.pathOrAddr))")
            try? FileManager.default.removeItem(atPath: dir + "/key")
            try? FileManager.default.removeItem(atPath: dir + "/vdir")
        }
        #expect(read(secret) == "ORIGINAL\n" && !FileManager.default.fileExists(atPath: outside + "/new"))
    }

    /// Refused creations — mkdir, symlink, hard link, fifo, a unix socket bound to a path —
    /// are recorded as denials (action `create`) and the run ends in 77. The control makes
    /// the same names without warden.
    @Test(arguments: identities) func refusedCreationsAreRecorded(identity: String) throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace(identity)
        let outside = try scratchDir("create")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        chmod(outside, 0o777)
        try "x".write(toFile: outside + "/file", atomically: true, encoding: .utf8)
        chmod(outside + "/file", 0o666)
        let names = ["d", "s", "f", "hl", "sock"]
        let script = { (v: String) in
            "mkdir \(v)/d; ln -s /x \(v)/s; mkfifo \(v)/f; ln \(v)/file \(v)/hl; "
                + "/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"\(v)/sock\")'"
        }
        let control = try scratchDir("create-control")
        try FileManager.default.createDirectory(atPath: control, withIntermediateDirectories: true)
        try "x".write(toFile: control + "/file", atomically: true, encoding: .utf8)
        #expect(try sh(script(control)).status == 0, "the control: every creation works without warden")
        #expect(names.allSatisfy { (try? FileManager.default.attributesOfItem(atPath: control + "/" + $0)) != nil })
        let r = try warden(["run", "--", "sh", "-c", script(outside) + " 2>/dev/null; true"], cwd: dir, env: env)
        #expect(r.status == 77, "\(r.stderr)")
        let denied = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        let created = denied.filter { $0.event.action == .create }.map(\.event.pathOrAddr)
        #expect(Set(created) == Set(names.map { outside + "/" + $0 }), "\(denied.map { ($0.event.action, $0.event.pathOrAddr) })")
        #expect(denied.allSatisfy { $0.event.neededPerm == "allow.fs.write_extra=\(outside)" })
        #expect(names.allSatisfy { (try? FileManager.default.attributesOfItem(atPath: outside + "/" + $0)) == nil })
    }

    /// A build that floods the event ring to hide a denial: the kernel counts refusals
    /// apart from the ring, so the run still ends in 77, and the report says events were
    /// lost. The control: the same flood without the forbidden read ends in 0.
    @Test func aFloodCannotHideADenial() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let secret = try victim()
        try """
            #include <fcntl.h>
            #include <pthread.h>
            #include <sched.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/un.h>
            #include <unistd.h>
            static int done;
            static void *flood(void *arg) {
                char name[64];
                for (int i = 0; i < 150000; i++) {
                    snprintf(name, sizeof name, "nope-%ld-%d", (long)arg, i);
                    open(name, O_RDONLY);
                    __atomic_add_fetch(&done, 1, __ATOMIC_RELAXED);
                }
                return 0;
            }
            int main(int argc, char **argv) {
                pthread_t t[4];
                for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, flood, (void *)i);
                /* The forbidden open in the thick of the flood, however fast the machine. */
                while (__atomic_load_n(&done, __ATOMIC_RELAXED) < 100000) sched_yield();
                if (argc > 1 && strcmp(argv[1], "-") != 0) open(argv[1], O_RDONLY);
                if (argc > 2) {
                    /* A unix socket outside the write paths: on tier 2 nothing refuses the
                     * connect, so only the agent's verdict, or the kernel's count of such
                     * calls when the flood ate the event, catches it. */
                    int s = socket(AF_UNIX, SOCK_STREAM, 0);
                    struct sockaddr_un a = {.sun_family = AF_UNIX};
                    strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
                    connect(s, (struct sockaddr *)&a, sizeof a);
                }
                for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
                return 0;
            }
            """.write(toFile: dir + "/flood.c", atomically: true, encoding: .utf8)
        #expect(try sh("cc -O2 -pthread -o flood flood.c", cwd: dir).status == 0)
        let control = try warden(["run", "--ring-buffer-mib", "1", "--", "./flood"], cwd: dir, env: env)
        #expect(control.status == 0, "the control: the flood alone is no denial: \(control.stderr)")
        let r = try warden(["run", "--ring-buffer-mib", "1", "--", "./flood", secret], cwd: dir, env: env)
        #expect(r.status == 77, "\(r.stderr)")
        let metrics = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        #expect(metrics.lostEvents > 0, "the flood did not overflow the ring: the test proves nothing")
        #expect(metrics.blockedTotal + metrics.unrecordedRefusals >= 1)
        let report = try warden(["report"], cwd: dir, env: env).stdout
        #expect(report.contains("event(s) were lost"), "\(report)")
        // What CI shows: the job summary (markdown) and the JSON report carry the count.
        let summary = try warden(["report", "--format", "markdown"], cwd: dir, env: env).stdout
        #expect(summary.contains("| lost events | \(metrics.lostEvents) — the denials below may be incomplete |"), "\(summary)")
        let json = try warden(["report", "--format", "json"], cwd: dir, env: env).stdout
        #expect(json.contains("\"lost_events\" : \(metrics.lostEvents)") || json.contains("\"lost_events\":\(metrics.lostEvents)"), "\(json)")
        // A connect to a unix socket outside the write paths in the flood: tier 2 lets it
        // through, and whether or not its event survives, the kernel's count of such
        // calls makes it a mismatch (77).
        let socketPath = (try victim() as NSString).deletingLastPathComponent + "/daemon.sock"
        let listener = try unixListener(socketPath)
        defer { close(listener) }
        // (Unix sockets are the network policy's: net.default = "deny" for this run.)
        let deny = try makeDir(["deny.toml": "net.default = \"deny\"\n"]) + "/deny.toml"
        let changed = try warden(["run", "--policy", deny, "--ring-buffer-mib", "1", "--", "./flood", "-", socketPath], cwd: dir, env: env)
        let after = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
        #expect(changed.status == 77 && after.enforceMismatches >= 1 && after.lostEvents > 0, "\(changed.stderr)")
        // The control: a run that loses nothing says 0.
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 0)
        #expect(try warden(["report", "--format", "markdown"], cwd: dir, env: env).stdout.contains("| lost events | 0 |"))
    }

    /// Under an exec allowlist, a program written to a memfd: run through its descriptor
    /// (fexecve) it is refused by seccomp; run through /proc/self/fd, which tier 2 cannot
    /// refuse, it is caught as allowed-although-forbidden, reported, and the run ends in 77.
    @Test func memfdExecutionIsRefusedOrCaught() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root", policy: "exec.default = \"allowlist\"\nallow.exec.allowed = [\"/usr/bin/python3.11\"]\n")
        try """
            import os, sys
            fd = os.memfd_create("payload")
            os.write(fd, open("/usr/bin/true", "rb").read())
            try:
                os.execve(fd if sys.argv[1] == "fexecve" else f"/proc/self/fd/{fd}", ["payload"], {})
            except OSError as e:
                open("out.txt", "w").write(f"{sys.argv[1]} refused {e.errno}\\n")
            """.write(toFile: dir + "/m.py", atomically: true, encoding: .utf8)
        #expect(try sh("/usr/bin/python3.11 m.py fexecve && /usr/bin/python3.11 m.py procfd", cwd: dir).status == 0, "the control")
        func mismatches() throws -> (metrics: UInt64, end: UInt64?) {
            let metrics = try JSONDecoder().decode(MetricsSnapshot.self, from: Data(contentsOf: URL(fileURLWithPath: metricsPath(dir))))
            return (metrics.enforceMismatches, try EventLogContents.read(path: eventLogPath(dir)).lastRun?.end?.enforceMismatches)
        }
        let fexecve = try warden(["run", "--", "/usr/bin/python3.11", "m.py", "fexecve"], cwd: dir, env: env)
        #expect(read(dir + "/out.txt") == "fexecve refused 1\n", "\(fexecve.stderr)")
        let none = try mismatches()
        #expect(none.metrics == 0 && none.end == 0, "a refusal is no mismatch: \(none)")
        let procfd = try warden(["run", "--", "/usr/bin/python3.11", "m.py", "procfd"], cwd: dir, env: env)
        #expect(procfd.status == 77 && procfd.stderr.contains("allowed by the kernel"), "\(procfd.stderr)")
        // The one exec the kernel let through is counted, in the snapshot and in run_end.
        let one = try mismatches()
        #expect(one.metrics == 1 && one.end == 1, "\(one)")
        #expect(try warden(["report"], cwd: dir, env: env).stdout.contains("ALLOWED ALTHOUGH FORBIDDEN"))
    }

    /// The second round of attacks on refusal recording: `..` after a directory link (the
    /// kernel goes up from the link's target), a link swapped right after the refused call,
    /// /proc/self/cwd of the build's own process. Each is a denial and the run ends in 77.
    @Test func refusalsStayDenialsWhateverTheNameDoesNext() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let secret = try victim()
        let outside = (secret as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: outside + "/sub", withIntermediateDirectories: true)
        #expect(read(outside + "/sub/../victim") == "ORIGINAL\n", "the control")
        let cases = [
            "ln -s \(outside)/sub L; cat L/../victim",
            "ln -s \(secret) S; cat S; ln -sfn warden.toml S",
            "ln -s \(secret) S2; cat S2; rm S2",
            "cd \(outside) && cat /proc/self/cwd/victim",
        ]
        for script in cases {
            let r = try warden(["run", "--", "sh", "-c", script + " 2>/dev/null; true"], cwd: dir, env: env)
            #expect(r.status == 77, "\(script): \(r.stderr)")
            let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
            #expect(!run.events.contains { ($0.event.result == -13 || $0.event.result == -1) && $0.event.verdict == .allowed },
                    "\(script): a refusal recorded as allowed")
            for name in ["L", "S", "S2"] { try? FileManager.default.removeItem(atPath: dir + "/" + name) }
        }
    }

    /// A build plants warden.toml in a subdirectory (or removes the workspace's), so that
    /// a run started there would find a policy of the build's choosing: the next run, from
    /// there or from the workspace root, is refused until the change is accepted.
    @Test func aPolicyPlantedBelowOrRemovedAboveIsRefused() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root", policy: "exec.default = \"allowlist\"\n[allow.exec]\nallowed = [\"sh\", \"cat\", \"rm\"]\n")
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "[allow.fs]\nread_extra = [\"/etc/fstab\"]\n".write(toFile: dir + "/planted", atomically: true, encoding: .utf8)
        // Caught as it happens too (PolicyPlantTests): allowed although forbidden, 77.
        #expect(try warden(["run", "--", "sh", "-c", "cat planted > src/warden.toml"], cwd: dir, env: env).status == 77)
        #expect(FileManager.default.fileExists(atPath: dir + "/src/warden.toml"), "the control: the build planted it")
        let fromSub = try warden(["run", "--", "true"], cwd: dir + "/src", env: env)
        #expect(fromSub.status == 2 && fromSub.stderr.contains("src/warden.toml"), "\(fromSub.stderr)")
        #expect(try warden(["run", "--", "true"], cwd: dir, env: env).status == 2, "the workspace's next run, from its root too")
        #expect(try warden(["run", "--accept-policy-change", "--", "sh", "-c", "true"], cwd: dir + "/src", env: env).status == 0)
        // Removing the workspace's policy, so that a run from below falls back elsewhere: an
        // enforced build cannot (read-only), an observed one can, and is caught.
        #expect(try warden(["run", "--", "rm", "warden.toml"], cwd: dir, env: env).status != 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/warden.toml"))
        #expect(try warden(["run", "--mode", "observe", "--", "rm", "warden.toml"], cwd: dir, env: env).status == 0)
        try FileManager.default.removeItem(atPath: dir + "/src/warden.toml")
        let after = try warden(["run", "--", "true"], cwd: dir + "/src", env: env)
        #expect(after.status == 2 && after.stderr.contains("\(dir)/warden.toml"), "\(after.stderr)")
    }

    /// Third round: a refused link retargeted at an expected-refusal path right after the
    /// call stays a denial; a subdirectory's manifest changed through a hard link, or
    /// swapped in by renaming directories, is caught; a refused truncate is recorded.
    @Test func thirdRoundAttacksAreCaught() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("root")
        let secret = try victim()
        let swap = "ln -s \(secret) lnk; ln -s /var/lib/libuuid/clock.txt lnk2; cat lnk 2>/dev/null; mv -T lnk2 lnk; true"
        let r1 = try warden(["run", "--", "sh", "-c", swap], cwd: dir, env: env)
        #expect(r1.status == 77, "\(r1.stderr)")
        #expect(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.events.contains { $0.isBlocked } == true)
        try? FileManager.default.removeItem(atPath: dir + "/lnk")

        try FileManager.default.createDirectory(atPath: dir + "/sub/src", withIntermediateDirectories: true)
        try "[package]\nname = \"sub\"\nversion = \"0.1.0\"\n".write(toFile: dir + "/sub/Cargo.toml", atomically: true, encoding: .utf8)
        try "\n[package.metadata.warden.allow.fs]\nread_extra = [\"\(outsideDir(secret))\"]\n".write(toFile: dir + "/extra", atomically: true, encoding: .utf8)
        let hardlink = try warden(["run", "--", "sh", "-c", "ln sub/Cargo.toml t && cat extra >> t && rm t"], cwd: dir, env: env)
        #expect(hardlink.status == 0 && read(dir + "/sub/Cargo.toml").contains("read_extra"), "the control: the manifest was changed")
        #expect(hardlink.stderr.contains("the build changed \(dir)/sub/Cargo.toml"), "\(hardlink.stderr)")
        let fromSub = try warden(["run", "--", "cat", secret], cwd: dir + "/sub", env: env)
        #expect(fromSub.status == 2 && !fromSub.stdout.contains("ORIGINAL"), "\(fromSub.stderr)")
        #expect(try warden(["run", "--accept-policy-change", "--", "true"], cwd: dir, env: env).status == 0)

        let swapDirs = "mkdir -p x && cp sub/Cargo.toml x/ && cat extra >> x/Cargo.toml && mv sub sub.bak && mv x sub"
        let renamed = try warden(["run", "--", "sh", "-c", swapDirs], cwd: dir, env: env)
        #expect(renamed.stderr.contains("\(dir)/sub/Cargo.toml"), "\(renamed.stderr)")
        #expect(try warden(["run", "--", "true"], cwd: dir + "/sub", env: env).status == 2)
        #expect(try warden(["run", "--accept-policy-change", "--", "true"], cwd: dir, env: env).status == 0)

        let truncated = try warden(["run", "--", "/usr/bin/python3", "-c", "import os\ntry: os.truncate('\(secret)', 0)\nexcept OSError: pass"],
                                   cwd: dir, env: env)
        #expect(truncated.status == 77 && read(secret) == "ORIGINAL\n", "\(truncated.stderr)")
    }

    func outsideDir(_ file: String) -> String { (file as NSString).deletingLastPathComponent }

    /// A sudo caller whose home does not exist (nobody's /nonexistent): tools try to make
    /// it; the refusal is expected, not a denial.
    @Test func aMissingHomeIsAnExpectedRefusal() throws {
        try Kernel.requireRoot()
        let (dir, env) = try workspace("sudo")
        let r = try warden(["run", "--", "sh", "-c", "mkdir \"$HOME\" 2>/dev/null; true"], cwd: dir, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        #expect(run.events.contains { $0.isExpectedRefusal && $0.event.action == .create }, "\(run.events.map { ($0.event.action, $0.event.pathOrAddr) })")
    }
}
