import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// The child's process hardening, limits and what an exec allowlist lets it execute.
extension Runner {
    /// The hardening the child gets, in the order spawn.c applies it.
    func hardeningSteps(confinement: Confinement, childEnv: [String: String], cgroup: RunCgroup, mode: Mode,
                        bpfLSM: HardeningStep) -> [HardeningStep] {
        let id = session.identity
        let policy = session.policy.effective
        var landlock = "not applied: observe mode (Landlock cannot audit)"
        if mode == .enforce {
            if confinement.landlockFD >= 0, case .success(let abi) = Confinement.landlockABI() {
                landlock = "ABI \(abi), proven by a canary"
            } else {
                landlock = "not needed: the policy restricts neither files nor exec"
            }
        }
        return [
            HardeningStep("cgroup", applied: true, "started inside \(cgroup.path) (clone3 CLONE_INTO_CGROUP)"),
            HardeningStep("namespaces", applied: true, "new IPC namespace (SysV objects die with the run) and cgroup namespace rooted at the run's cgroup"),
            HardeningStep("session", applied: true, "setsid: a session of its own, no controlling terminal"),
            HardeningStep("fds", applied: true, "only 0, 1 and 2 cross exec"),
            HardeningStep("pdeathsig", applied: true, "SIGKILL when warden exits; a guard kills the cgroup too"),
            HardeningStep("rlimits", applied: true, Runner.rlimitSummary(policy) + Runner.tasksLimit(cgroup)),
            HardeningStep("read_only_view", applied: confinement.writablePaths != nil,
                          confinement.writablePaths == nil
                              ? (mode == .enforce && session.policy.effective.fsDefault.value == .strict
                                 ? "not applied: this kernel lacks mount_setattr (Linux 5.12)" : "not applied: the policy does not restrict writes")
                              : "every mount read-only in a mount namespace of its own, but the \(confinement.writablePaths?.count ?? 0) write paths: "
                                  + "chmod, chown, utimensat and setxattr outside them fail with EROFS"),
            HardeningStep("read_only_mounts", applied: !confinement.readOnlyPaths.isEmpty,
                          confinement.readOnlyPaths.isEmpty ? "none needed: the build cannot write its workspace's .git or policy files"
                              : "a mount namespace of its own with read-only bind mounts of " + confinement.readOnlyPaths.joined(separator: ", ")),
            HardeningStep("capabilities", applied: true, "bounding, ambient, effective, permitted and inheritable sets emptied; securebits locked"),
            HardeningStep("identity", applied: id.switchIDs, id.switchIDs ? "uid \(id.uid) gid \(id.gid) (sudo caller)" : "stays uid \(id.uid)"),
            HardeningStep("no_new_privs", applied: true, "PR_SET_NO_NEW_PRIVS"),
            HardeningStep("env_scrub", applied: true, "\(childEnv.count) variables passed"),
            HardeningStep("landlock", applied: mode == .enforce && confinement.landlockFD >= 0, landlock),
            bpfLSM,
            HardeningStep("seccomp", applied: session.policy.seccompProfile != nil, LayerProbe.seccompSummary(policy, mode: mode)
                          + "; " + seccompCounts(confinement)
                          + (confinement.unknownSyscalls.isEmpty ? "" : "; unknown here, skipped: \(confinement.unknownSyscalls.joined(separator: ", "))")),
            HardeningStep("warden_nondumpable", applied: true, "warden's /proc entries need CAP_SYS_PTRACE"),
            HardeningStep("warden_shield", applied: mode == .enforce, mode == .observe ? "observe mode: signals to warden are logged (seccomp LOG), not refused"
                          : "a seccomp filter of the run's own refuses signals to warden (pid \(getpid())), its process group and every process, "
                          + "and pidfd_send_signal"),
        ]
    }

    /// "3 filters, 41 rules (actions: errno, trap), notify listener off".
    func seccompCounts(_ confinement: Confinement) -> String {
        let filters = session.policy.seccompFilters
        let rules = filters.reduce(0) { $0 + ($1.syscalls ?? []).reduce(0) { $0 + $1.names.count } }
        let actions = Set(filters.flatMap { f in [f.defaultAction] + (f.syscalls ?? []).map(\.action) })
            .map { $0.replacingOccurrences(of: "SCMP_ACT_", with: "").lowercased() }.sorted()
        return "\(filters.count) filter\(filters.count == 1 ? "" : "s"), \(rules) rules (actions: \(actions.joined(separator: ", "))), notify listener "
            + (confinement.notifyFilter >= 0 ? "on (warden's agent answers \(session.policy.effective.notifyRules.count) notify rule(s))" : "off")
    }

    /// RLIMIT_CORE=0 always (no core dumps of build processes holding secrets), and the
    /// policy's `[limits]`, soft and hard alike so the command cannot raise them.
    static func rlimits(_ policy: EffectivePolicy) -> [(resource: Int32, soft: UInt64, hard: UInt64)] {
        var out: [(resource: Int32, soft: UInt64, hard: UInt64)] = [(Int32(RLIMIT_CORE.rawValue), 0, 0)]
        for (limit, v) in policy.limits.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let (resource, value): (Int32, UInt64)
            switch limit {
            case .cpuSeconds: (resource, value) = (Int32(RLIMIT_CPU.rawValue), v.value)
            case .openFiles: (resource, value) = (Int32(RLIMIT_NOFILE.rawValue), v.value)
            case .addressSpaceMiB: (resource, value) = (Int32(RLIMIT_AS.rawValue), v.value.multipliedReportingOverflow(by: 1 << 20).overflow ? UInt64.max : v.value << 20)
            case .processes: (resource, value) = (Int32(__RLIMIT_NPROC.rawValue), v.value)
            }
            out.append((resource, value, value))
        }
        return out
    }

    /// "; pids.max=N on the run's cgroup" when `limits.processes` became one.
    static func tasksLimit(_ cgroup: RunCgroup) -> String {
        let max = (try? String(contentsOfFile: cgroup.path + "/pids.max", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let max, max != "max" else { return "" }
        return "; pids.max=\(max) on the run's cgroup (binds uid 0 too)"
    }

    static func rlimitSummary(_ policy: EffectivePolicy) -> String {
        (["RLIMIT_CORE=0"] + policy.limits.sorted(by: { $0.key.rawValue < $1.key.rawValue }).map { limit, v in
            switch limit {
            case .cpuSeconds: return "RLIMIT_CPU=\(v.value)s"
            case .openFiles: return "RLIMIT_NOFILE=\(v.value)"
            case .addressSpaceMiB: return "RLIMIT_AS=\(v.value)MiB"
            case .processes: return "RLIMIT_NPROC=\(v.value) (counts every process of the child's uid)"
            }
        }).joined(separator: ", ")
    }

    /// Everything an exec allowlist lets the kernel execute: each allowed program with its
    /// loader or interpreter, the real tools behind rustup proxies, and the directories
    /// the build tool runs its own products from.
    func executables(_ resolved: [String: String], tmpdir: String) -> [String] {
        let toolchain = Toolchain.local(home: session.identity.home)
        var files: [String] = []
        for (name, path) in resolved {
            files += Confinement.executionChain(path)
            files += toolchain.implementationHelpers(name, resolved: path).flatMap(Confinement.executionChain)
        }
        let system = session.policy.buildSystem
        // Allowlisted names count in the Swift driver's own toolchain too.
        if system == .swiftpm, let driver = resolved["swiftc"] ?? resolved["swift"] {
            files += toolchain.driverSiblings(driver: driver, names: resolved.keys).flatMap(Confinement.executionChain)
        }
        let output = system.outputDirectory(workspace: session.workspace, environment: session.environment)
        var seen = Set<String>()
        return (files + system.executableDirectories(output: output, tmpdir: tmpdir)).filter { seen.insert($0).inserted }
    }
}
