import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import WardenSandbox

/// `warden doctor`: what this machine offers each layer, checked by trying where that is
/// safe, with what to do about each failure.
public enum Doctor {
    public struct Check: Sendable, Codable {
        public enum State: String, Sendable, Codable { case ok, warn, fail }
        public var state: State
        public var name: String
        public var detail: String
        public var fix: String?
    }

    public static func checks() -> [Check] {
        var out: [Check] = []
        let euid = geteuid()
        let parts = kernelChecks(&out)
        privilegesChecks(&out, euid: euid)
        cgroupChecks(&out, euid: euid, kernel: parts)
        tierOneChecks(&out, euid: euid)
        landlockChecks(&out)
        readOnlyViewChecks(&out)
        seccompChecks(&out)
        bpfChecks(&out, euid: euid)
        return out
    }

    /// The kernel release (clone3 into a cgroup needs 5.7). Returns its major and minor numbers.
    static func kernelChecks(_ out: inout [Check]) -> [Int] {
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        let atLeast57 = parts.count == 2 && (parts[0], parts[1]) >= (5, 7)
        out.append(Check(state: atLeast57 ? .ok : .fail, name: "kernel", detail: "Linux \(release) (clone3 into a cgroup needs 5.7 or later)",
                         fix: atLeast57 ? nil : "upgrade the kernel"))
        return parts
    }

    /// Root, and who the build runs as.
    static func privilegesChecks(_ out: inout [Check], euid: uid_t) {
        out.append(Check(state: euid == 0 ? .ok : .fail, name: "privileges", detail: "euid \(euid)",
                         fix: euid == 0 ? nil : "run warden as root, e.g. with sudo"))
        let env = ProcessInfo.processInfo.environment
        if euid == 0, Identity.current(environment: env).uid == 0, let gap = Runner.plainRootGapHere {
            out.append(Check(state: .warn, name: "build user", detail: gap,
                             fix: "run warden with sudo from a normal account, so the build runs as that user"))
        }
    }

    /// A cgroup v2 mount where warden can create a run's cgroup.
    static func cgroupChecks(_ out: inout [Check], euid: uid_t, kernel parts: [Int]) {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        if let mount = RunCgroup.mountPoint(mountinfo: mountinfo) {
            var detail = "cgroup2 at \(mount)"
            var state = Check.State.ok
            var fix: String?
            if euid == 0 {
                do {
                    let cg = try RunCgroup.create(label: "doctor")
                    detail += "; created and removed a run cgroup below it"
                    try cg.destroy()
                } catch {
                    state = .fail
                    detail += "; cannot create a run cgroup: \(error)"
                    fix = "warden needs a writable (delegated) cgroup v2 subtree"
                }
            }
            let kill = FileManager.default.fileExists(atPath: mount + "/cgroup.kill") || kernelHasCgroupKill(parts)
            if !kill { detail += "; no cgroup.kill (kernel < 5.14): cleanup kills process by process" }
            out.append(Check(state: state, name: "cgroup v2", detail: detail, fix: fix))
        } else {
            out.append(Check(state: .fail, name: "cgroup v2", detail: "no cgroup2 filesystem mounted",
                             fix: "mount cgroup2 (systemd does by default; or: mount -t cgroup2 none /sys/fs/cgroup/unified)"))
        }
    }

    /// The active LSMs and whether the BPF LSM program loads (tier 1).
    static func tierOneChecks(_ out: inout [Check], euid: uid_t) {
        let lsmPath = "/sys/kernel/security/lsm"
        var lsmText = try? String(contentsOfFile: lsmPath, encoding: .utf8)
        var mountedNote = ""
        if lsmText == nil, euid == 0,
           mount("securityfs", "/sys/kernel/security", "securityfs", UInt(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC), nil) == 0 {
            // Mounted read-only just to read the list; leave the system as it was.
            lsmText = try? String(contentsOfFile: lsmPath, encoding: .utf8)
            umount2("/sys/kernel/security", 0)
            mountedNote = " (securityfs mounted read-only for this check, then unmounted)"
        }
        if let lsm = lsmText {
            let list = lsm.trimmingCharacters(in: .whitespacesAndNewlines)
            out.append(Check(state: .ok, name: "active LSMs", detail: list + mountedNote))
            let listed = list.split(separator: ",").contains("bpf")
            if euid != 0 {
                out.append(Check(state: .warn, name: "tier 1 (BPF LSM)", detail: "not checked: loading BPF programs needs root", fix: "run as root"))
            } else {
                switch BPFObject.probe(.lsm) {
                case .success:
                    out.append(Check(state: listed ? .ok : .warn, name: "tier 1 (BPF LSM)",
                                     detail: listed ? "lsm/file_open and the lsm/path_* programs load and pass the verifier; each run proves them with a canary"
                                                    : "the program loads, but bpf is not in the LSM list, so it would never run; runs fall back to Landlock",
                                     fix: listed ? nil : "add bpf to the lsm= boot parameter"))
                case .failure(let e):
                    out.append(Check(state: .warn, name: "tier 1 (BPF LSM)",
                                     detail: "the kernel refuses the BPF LSM program: \(e.description); runs use Landlock (tier 2)",
                                     fix: listed ? "a kernel that permits BPF LSM programs (CONFIG_BPF_LSM, no lockdown of BPF)"
                                                 : "add bpf to the lsm= boot parameter (CONFIG_BPF_LSM=y)"))
                }
            }
        } else {
            out.append(Check(state: .warn, name: "active LSMs", detail: "\(lsmPath) is not readable (securityfs not mounted?)",
                             fix: "mount -t securityfs -o ro securityfs /sys/kernel/security"))
        }
    }

    /// Landlock's ABI (tier 2 files and exec).
    static func landlockChecks(_ out: inout [Check]) {
        switch Confinement.landlockABI() {
        case .success(let abi):
            var detail = "Landlock ABI \(abi): files and exec are enforceable"
            if abi < 2 { detail += "; no rename/link control (ABI 2)" }
            if abi < 6 { detail += "; no signal scoping (ABI 6): the build could signal warden" }
            out.append(Check(state: abi >= 6 ? .ok : .warn, name: "tier 2 files/exec (Landlock)", detail: detail))
        case .failure(let e):
            out.append(Check(state: .fail, name: "tier 2 files/exec (Landlock)", detail: "unavailable: \(e)",
                             fix: e == .notSupported ? "add landlock to the lsm= kernel parameter" : "a kernel with CONFIG_SECURITY_LANDLOCK (5.13+)"))
        }
    }

    /// mount_setattr, for the child's read-only view of what it may not write.
    static func readOnlyViewChecks(_ out: inout [Check]) {
        let ok = Confinement.canMountReadOnly
        out.append(Check(state: ok ? .ok : .warn, name: "read-only view (mount_setattr)",
                         detail: ok ? "outside its write paths the build's mounts are read-only: chmod, chown, utimensat and setxattr fail with EROFS"
                             : "unavailable: mode, owner, time and extended-attribute changes outside the write paths are caught, not refused",
                         fix: ok ? nil : "Linux 5.12 or later"))
    }

    /// The seccomp actions warden's filters use.
    static func seccompChecks(_ out: inout [Check]) {
        let actions = (try? String(contentsOfFile: "/proc/sys/kernel/seccomp/actions_avail", encoding: .utf8)) ?? ""
        let seccompOK = actions.contains("errno") && actions.contains("log")
        out.append(Check(state: seccompOK ? .ok : .fail, name: "syscalls (seccomp)",
                         detail: seccompOK ? "filter actions: \(actions.trimmingCharacters(in: .whitespacesAndNewlines))" : "seccomp errno/log actions unavailable",
                         fix: seccompOK ? nil : "a kernel with CONFIG_SECCOMP_FILTER"))
    }

    /// The network and tracepoint objects load; kernel BTF.
    static func bpfChecks(_ out: inout [Check], euid: uid_t) {
        if euid == 0 {
            switch BPFObject.probe(.net) {
            case .success:
                out.append(Check(state: .ok, name: "network (cgroup-BPF)", detail: "connect4/6 and sendmsg4/6 programs load and pass the verifier"))
            case .failure(let e):
                out.append(Check(state: .fail, name: "network (cgroup-BPF)", detail: e.description,
                                 fix: "a kernel with CONFIG_CGROUP_BPF and BPF ring buffers (5.13+), and root"))
            }
            switch BPFObject.probe(.trace) {
            case .success:
                out.append(Check(state: .ok, name: "events (tracepoints)",
                                 detail: "raw sys_enter/sys_exit and sched exec/fork/exit programs load (CO-RE against kernel BTF)"))
            case .failure(let e):
                out.append(Check(state: .fail, name: "events (tracepoints)", detail: e.description,
                                 fix: "a kernel with BTF (CONFIG_DEBUG_INFO_BTF) and bpf_loop (5.17+); without it there are no per-file events"))
            }
        } else {
            out.append(Check(state: .fail, name: "network (cgroup-BPF)", detail: "not checked: loading BPF programs needs root", fix: "run as root"))
            out.append(Check(state: .fail, name: "events (tracepoints)", detail: "not checked: loading BPF programs needs root", fix: "run as root"))
        }
        let btf = FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux")
        out.append(Check(state: btf ? .ok : .warn, name: "BTF", detail: btf ? "/sys/kernel/btf/vmlinux present" : "no kernel BTF",
                         fix: btf ? nil : "the BPF layer will need CONFIG_DEBUG_INFO_BTF"))
    }

    static func kernelHasCgroupKill(_ v: [Int]) -> Bool { v.count == 2 && (v[0], v[1]) >= (5, 14) }

    /// The checks, then the verdict for the policy in this directory.
    /// `warden doctor --json`: the checks, the policy's layers here, and the verdict.
    /// Keys are stable: checks[].{state,name,detail,fix}, policy_sources, mode,
    /// layers[] (as in the run record), enforce_possible, unenforced_hooks, ok.
    public struct Document: Codable, Sendable {
        public var checks: [Check]
        public var policySources: [String]
        public var mode: String
        public var layers: [LayerStatus]
        public var enforcePossible: Bool
        public var unenforcedHooks: [Hook]
        /// What the exit status says: 0 when the policy's mode can run here.
        public var ok: Bool
        enum CodingKeys: String, CodingKey {
            case checks, policySources = "policy_sources", mode, layers, enforcePossible = "enforce_possible"
            case unenforcedHooks = "unenforced_hooks", ok
        }
    }

    public static func document(_ session: Session) -> Document {
        let layers = session.layers()
        let missing = LayerProbe.unenforced(layers)
        let mode = session.policy.effective.mode.value
        return Document(checks: checks(), policySources: session.policy.sources, mode: mode.rawValue, layers: layers,
                        enforcePossible: missing.isEmpty, unenforcedHooks: missing.map(\.hook), ok: mode == .observe || missing.isEmpty)
    }

    public static func report(_ session: Session) -> (text: String, canEnforce: Bool) {
        let doc = document(session)
        var text = ""
        for c in doc.checks {
            text += "\(c.state.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0))\(c.name): \(c.detail)\n"
            if let fix = c.fix, c.state != .ok { text += "     → \(fix)\n" }
        }
        let mode = session.policy.effective.mode
        text += "\npolicy (\(doc.policySources.joined(separator: " → "))), mode \(mode.value.rawValue) (\(mode.origin)):\n"
        for l in doc.layers { text += l.text() }
        text += doc.enforcePossible ? "enforce mode can run here.\n"
            : "enforce mode cannot run here: nothing enforces \(doc.unenforcedHooks.map(\.rawValue).joined(separator: ", ")).\n"
        return (text, doc.ok)
    }
}
