import Foundation
import Testing
import WardenOutput
import WardenRun
@testable import WardenSandbox

/// Tier 2 on this machine's kernel: Landlock (files, exec, scoping) and seccomp. Each
/// test tries the forbidden thing inside the sandbox and checks that it failed, and
/// the allowed counterpart that it worked. These policies allow the network so that
/// only the layer under test is involved (NetworkTests covers connect).
@Suite(.serialized, .enabled(if: Kernel.enabled)) struct Tier2Tests {
    /// A directory outside every baseline rule (not under /tmp), holding a fake key.
    func secretDir() throws -> String {
        let dir = try scratchDir()
        try FileManager.default.createDirectory(atPath: dir + "/.ssh", withIntermediateDirectories: true)
        try "FAKE-PRIVATE-KEY\n".write(toFile: dir + "/.ssh/id_rsa", atomically: true, encoding: .utf8)
        return dir
    }

    func run(_ script: String, policy: String, files: [String: String] = [:], mode: String = "enforce") throws -> (Outcome, String) {
        let dir = try makeDir(files.merging(["warden.toml": policy]) { $1 })
        let r = try warden(["run", "--mode", mode, "--", "sh", "-c", script], cwd: dir)
        return (r, dir)
    }

    static let open = "net.default = \"allow\"\n"

    @Test func readingASecretOutsideThePolicyFails() throws {
        try Kernel.requireRoot()
        let secret = try secretDir()
        let script = "cat \(secret)/.ssh/id_rsa > stolen 2> err; echo $? > rc; cat /etc/hostname > host"
        let control = try makeDir()
        _ = try runProcess("/bin/sh", ["-c", script], cwd: control)
        #expect(read(control + "/rc") == "0\n" && read(control + "/stolen") == "FAKE-PRIVATE-KEY\n", "the control, without warden")
        let (r, dir) = try run(script, policy: Self.open)
        #expect(r.status == 77, "\(r.stderr)")
        #expect(read(dir + "/rc") == "1\n")
        #expect(read(dir + "/err").contains("Permission denied"))
        #expect(!read(dir + "/stolen").contains("FAKE"))
        #expect(!read(dir + "/host").isEmpty, "the system baseline stays readable")
        #expect(r.stderr.contains("enforcing: file_open=landlock, rename_unlink=landlock"))
        let start = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start)
        #expect(start.assurance == "full")
        #expect(start.hardening.first { $0.primitive == "landlock" }?.state == "applied")
        #expect(start.hardening.first { $0.primitive == "no_new_privs" }?.state == "applied")
        // This kernel refuses BPF LSM programs: tier 1 is tried, not claimed, and says why.
        let lsm = start.hardening.first { $0.primitive == "bpf_lsm" }
        #expect(lsm?.state == "skipped" && lsm?.detail.contains("EPERM") == true, "\(String(describing: lsm))")
        #expect(!r.stderr.contains("bpf-lsm"))
        let report = try warden(["report"], cwd: dir)
        #expect(report.stdout.contains("assurance: full") && report.stdout.contains("landlock applied"))
    }

    /// --allow-degraded only matters when a layer is missing: here every layer works, so
    /// the run is fully enforced and says nothing about degradation.
    @Test func allowDegradedChangesNothingWhenEveryLayerWorks() throws {
        try Kernel.requireRoot()
        let secret = try secretDir()
        let dir = try makeDir(["warden.toml": Self.open])
        let r = try warden(["run", "--allow-degraded", "--", "sh", "-c", "cat \(secret)/.ssh/id_rsa > stolen 2>/dev/null; true"], cwd: dir)
        #expect(r.status == 77, "\(r.stderr)")
        #expect(!r.stderr.contains("DEGRADED") && !read(dir + "/stolen").contains("FAKE"))
        let start = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start)
        #expect(start.assurance == "full" && !start.warnings.contains { $0.contains("DEGRADED") })
    }

    /// Each escape is tried twice: without warden (the control: every step must succeed,
    /// so none fails for a reason of its own, such as a hard link across filesystems) and
    /// under warden, where every step must fail. Workspaces and the secret share one
    /// filesystem; the cgroup root is the one this machine mounts.
    @Test func escapesToTheSecretFail() throws {
        try Kernel.requireRoot()
        let cgroupRoot = try #require(RunCgroup.mountPoint(mountinfo: read("/proc/self/mountinfo")))
        func script(_ key: String) -> String {
            """
            ln -s \(key) sym; cat sym > a 2>/dev/null; echo "symlink $?" >> out
            ln \(key) hard 2>/dev/null; echo "hardlink $?" >> out
            cat /proc/self/root\(key) > b 2>/dev/null; echo "procroot $?" >> out
            mv \(key) ./moved 2>/dev/null; echo "rename $?" >> out
            unshare -U cat ./moved > c 2>/dev/null || unshare -U cat \(key) > c 2>/dev/null; echo "userns $?" >> out
            (echo $$ > \(cgroupRoot)/cgroup.procs) 2>/dev/null; echo "cgroup-move $?" >> out
            kill -0 $PPID 2>/dev/null; echo "signal-warden $?" >> out
            cat /proc/$PPID/environ > d 2>/dev/null; echo "warden-environ $?" >> out
            """
        }
        let steps = ["symlink", "hardlink", "procroot", "rename", "userns", "cgroup-move", "signal-warden", "warden-environ"]
        func workspace() throws -> String {
            let dir = try scratchDir("escape")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Self.open.write(toFile: dir + "/warden.toml", atomically: true, encoding: .utf8)
            return dir
        }
        // The control, in a throw-away shell (its cgroup move must not take the tests along).
        let controlKey = try secretDir() + "/.ssh/id_rsa"
        let control = try workspace()
        _ = try runProcess("/bin/sh", ["-c", script(controlKey)], cwd: control)
        #expect(steps.allSatisfy { read(control + "/out").contains("\($0) 0\n") }, "a control step failed without warden:\n\(read(control + "/out"))")

        let key = try secretDir() + "/.ssh/id_rsa"
        let dir = try workspace()
        let r = try warden(["run", "--", "sh", "-c", script(key)], cwd: dir)
        #expect(r.status == 77, "\(r.stderr)")
        let out = read(dir + "/out")
        for line in steps {
            #expect(out.contains("\(line) ") && !out.contains("\(line) 0\n"), "\(line) escape succeeded:\n\(out)")
        }
        #expect(FileManager.default.fileExists(atPath: key), "the protected file was moved")
        for f in ["a", "b", "c", "d"] { #expect(!read(dir + "/" + f).contains("FAKE")) }
    }

    /// Writing a source file, a file in the user's home, removing the manifest: each
    /// refused with EROFS (the read-only view outside the write paths, before Landlock's
    /// EACCES), while Cargo's target/ stays writable. The control:
    /// the same script without warden does all three.
    @Test func writesOutsideTheBuildOutputFail() throws {
        try Kernel.requireRoot()
        let home = try scratchDir("home")
        let script = "mkdir -p target/debug && echo ok > target/debug/out; "
            + "for step in src home rm; do case $step in src) echo x > src.rs;; home) echo x > $HOME/.bashrc-warden-test;; rm) rm Cargo.toml;; esac "
            + "2> target/err; echo \"$step $? $(grep -c 'Read-only file system' target/err)\" >> target/rc; done"
        let files = ["Cargo.toml": "[package]\nname = \"w\"\nversion = \"0.1.0\"\n"]
        let control = try makeDir(files)
        let c = try runProcess("/bin/sh", ["-c", script], cwd: control, env: baseEnvironment(["HOME": home]))
        #expect(c.status == 0 && read(control + "/target/rc") == "src 0 0\nhome 0 0\nrm 0 0\n", "the control, without warden: \(read(control + "/target/rc"))")
        try FileManager.default.removeItem(atPath: home + "/.bashrc-warden-test")
        let dir = try makeDir(files.merging(["warden.toml": Self.open]) { $1 })
        let r = try warden(["run", "--", "sh", "-c", script], cwd: dir, env: baseEnvironment(["HOME": home]))
        #expect(r.status == 77, "\(r.stderr)")
        #expect(read(dir + "/target/debug/out") == "ok\n", "Cargo's target/ is writable")
        // sh reports a refused redirection with status 2, rm with 1; each says EROFS.
        #expect(read(dir + "/target/rc") == "src 2 1\nhome 2 1\nrm 1 1\n", "\(read(dir + "/target/rc"))")
        #expect(!FileManager.default.fileExists(atPath: dir + "/src.rs"))
        #expect(FileManager.default.fileExists(atPath: dir + "/Cargo.toml"))
        #expect(!FileManager.default.fileExists(atPath: home + "/.bashrc-warden-test"))
    }

    static let allowlist = Self.open + "exec.default = \"allowlist\"\n[allow.exec]\nallowed = [\"sh\", \"cat\", \"cp\", \"/usr/bin/python3.11\"]\n"

    @Test func execOutsideTheAllowlistFails() throws {
        try Kernel.requireRoot()
        let script = """
            cat /etc/hostname > /dev/null; echo "cat $?" > out
            /bin/bash -c true 2>/dev/null; echo "bash $?" >> out
            cp /usr/bin/true ./copied && ./copied 2>/dev/null; echo "copied $?" >> out
            /usr/bin/python3.11 -c 'import os, sys
            fd = os.memfd_create("x"); os.write(fd, open("/usr/bin/true", "rb").read())
            try: os.execve(fd, ["x"], {})
            except OSError as e: sys.exit(100 + e.errno)'; echo "memfd $?" >> out
            """
        // The control: every step runs without warden (in a workspace of its own).
        let control = try makeDir()
        #expect(try runProcess("/bin/sh", ["-c", script], cwd: control).status == 0)
        #expect(read(control + "/out") == "cat 0\nbash 0\ncopied 0\nmemfd 0\n", "the control, without warden: \(read(control + "/out"))")
        let (r, dir) = try run(script, policy: Self.allowlist)
        #expect(r.status == 77, "\(r.stderr)")
        let out = read(dir + "/out")
        #expect(out.contains("cat 0\n"), "\(out)")
        #expect(out.contains("bash 126\n"), "\(out)")
        #expect(out.contains("copied 126\n"), "\(out)")
        #expect(out.contains("memfd 101\n"), "fexecve of the memfd must be EPERM (seccomp): \(out)")
        #expect(r.stderr.contains("exec=landlock"))
    }

    @Test func aTopLevelCommandOutsideTheAllowlistIsDeniedAndRecorded() throws {
        try Kernel.requireRoot()
        let dir = try makeDir(["warden.toml": Self.allowlist])
        let r = try warden(["run", "--", "true"], cwd: dir)
        #expect(r.status == 126, "\(r.stderr)")
        let run = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun)
        let denied = run.events.filter { $0.event.verdict == .denied }
        #expect(denied.count == 1, "\(denied)")
        let exec = try #require(denied.first)
        #expect(exec.event.action == .exec && exec.isBlocked && exec.event.result == -EACCES)
        #expect(exec.event.neededPerm == "allow.exec.allowed=\(exec.event.pathOrAddr)")
        #expect(exec.event.pathOrAddr.hasSuffix("/true"))
    }

    @Test func deniedSyscallsFailInEnforceAndAreOnlyLoggedInObserve() throws {
        try Kernel.requireRoot()
        let policy = Self.open + "[syscall]\ndeny = [\"mkdir\", \"mkdirat\"]\n"
        let (enforced, dir) = try run("mkdir made 2> err; echo $? > rc", policy: policy)
        #expect(read(dir + "/rc") == "1\n" && read(dir + "/err").contains("Operation not permitted"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/made"))
        // Refused before it started (seccomp runs before the entry tracepoint), and still
        // recorded: one denial, and the run ends in 77.
        #expect(enforced.status == 77, "\(enforced.stderr)")
        let refused = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun).events.filter(\.isBlocked)
        #expect(refused.map(\.event.pathOrAddr) == [dir + "/made"] && refused.first?.event.result == -EPERM, "\(refused)")
        let (observed, dir2) = try run("mkdir made", policy: policy, mode: "observe")
        #expect(observed.status == 0, "\(observed.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir2 + "/made"))
    }

    @Test func unknownSyscallNamesAreAPolicyError() throws {
        try Kernel.requireRoot()
        let (r, dir) = try run("touch ran", policy: Self.open + "[syscall]\ndeny = [\"ptrace\", \"no_such_call\"]\n")
        #expect(r.status == 2)
        #expect(r.stderr.contains("warden.toml:3: syscall.deny: 'no_such_call' is not a system call"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"))
    }

    @Test func observeModeBlocksNothing() throws {
        try Kernel.requireRoot()
        let secret = try secretDir()
        let (r, dir) = try run("cat \(secret)/.ssh/id_rsa > copy", policy: Self.allowlist, mode: "observe")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(read(dir + "/copy").contains("FAKE"))
        let start = try #require(try EventLogContents.read(path: eventLogPath(dir)).lastRun?.start)
        #expect(start.assurance == "none")
        #expect(start.hardening.first { $0.primitive == "landlock" }?.state == "skipped")
    }

    /// The kernel's refusal of the tier-1 object is remembered for the boot in the state
    /// root (a run then skips the load), keyed by boot, kernel and object: a hint with
    /// another key is ignored and the kernel is asked again. Tier 1 is never claimed either
    /// way, and Landlock is still proven by its canary.
    @Test func aTierOneRefusalIsRememberedForTheBootOnly() throws {
        try Kernel.requireRoot()
        let state = try scratchDir("state")
        let env = baseEnvironment(["WARDEN_STATE_DIR": state])
        let dir = try makeDir(["warden.toml": Self.open])
        func lsmDetail() throws -> String {
            let r = try warden(["run", "--", "true"], cwd: dir, env: env)
            #expect(r.status == 0 && r.stderr.contains("file_open=landlock"), "\(r.stderr)")
            let start = try #require(try EventLogContents.read(path: OutputPaths.defaultEvents(workspace: dir, environment: env)).lastRun?.start)
            return start.hardening.first { $0.primitive == "bpf_lsm" }?.detail ?? ""
        }
        let first = try lsmDetail()
        #expect(first.contains("EPERM") && !first.contains("known since"), "\(first)")
        let hint = state + "/refused-lsm.hint"
        #expect(FileManager.default.fileExists(atPath: hint))
        let second = try lsmDetail()
        #expect(second.contains("EPERM") && second.contains("known since an earlier run this boot"), "\(second)")
        // Another boot's (or another object's) refusal proves nothing here.
        let text = try String(contentsOfFile: hint, encoding: .utf8)
        try ("00000000-0000-0000-0000-000000000000" + text.drop { $0 != " " }).write(toFile: hint, atomically: true, encoding: .utf8)
        let third = try lsmDetail()
        #expect(third.contains("EPERM") && !third.contains("known since"), "\(third)")
    }
}
