import WardenOutput
import WardenPolicy

/// Which layer covers each hook for a policy on this kernel. Tier 2 here: Landlock for
/// files and exec, cgroup-BPF for connect, seccomp for syscalls; BPF tracepoints record
/// file and exec events in both modes. Tier 1 (the BPF LSM programs) is claimed here only
/// where Landlock is missing and the programs load; otherwise a run upgrades the hooks to
/// tier 1 after its canary (Runner.tierOne).
public enum LayerProbe {
    public static let hooks = Hook.allCases

    /// `landlockABI` nil: Landlock unavailable, with `landlockProblem` saying why.
    /// `netProblem` nil: the cgroup-BPF network programs load here; `traceProblem` nil:
    /// the tracepoint programs do.
    public static func layers(policy: EffectivePolicy, mode: Mode, landlockABI: Int?, landlockProblem: String = "",
                              netProblem: String?, traceProblem: String? = nil, lsmLoads: Bool = false) -> [LayerStatus]
    {
        let enforce = mode == .enforce
        let fsRestricted = policy.fsDefault.value == .strict
        let execRestricted = policy.execDefault.value == .allowlist
        let netRestricted = policy.netDefault.value == .deny
        let sysRestricted = !policy.syscallDeny.isEmpty || policy.syscallProfile.value != .none || policy.syscallOCIProfile != nil
            || !policy.syscallRules.isEmpty
        let noLandlock = "Landlock unavailable (\(landlockProblem))"
        let recorded = traceProblem == nil ? "recorded by the tracepoints" : "not recorded (tracepoints unavailable: \(traceProblem!))"
        let observed = traceProblem == nil
            ? "observe mode: recorded by the tracepoints with the verdict the policy gives, nothing refused"
            : "observe mode: Landlock cannot audit and the tracepoints are unavailable (\(traceProblem!)), so no per-file events"
        let watch: Layer = traceProblem == nil ? .tracepoint : .none

        func fsLayer(_ hook: Hook, _ what: String) -> LayerStatus {
            guard fsRestricted else {
                return LayerStatus(hook: hook, layer: watch, enforcing: false, restricted: false,
                                   detail: "fs.default = \"unrestricted\"" + (traceProblem == nil ? "; \(recorded)" : ""))
            }
            guard let abi = landlockABI else {
                if lsmLoads && enforce { return tierOne(hook) }
                return LayerStatus(hook: hook, layer: .none, enforcing: false, detail: noLandlock)
            }
            guard enforce else { return LayerStatus(hook: hook, layer: watch, enforcing: false, detail: observed) }
            return LayerStatus(hook: hook, layer: .landlock, enforcing: true, detail: "Landlock ABI \(abi): \(what); denials return EACCES and are \(recorded)")
        }

        func tierOne(_ hook: Hook) -> LayerStatus {
            LayerStatus(hook: hook, layer: .bpfLSM, enforcing: true,
                        detail: "tier 1: BPF LSM (loads here; proven by a canary before each run)")
        }

        var out = [
            fsLayer(.fileOpen, "read and write rules from the strict plan"),
            fsLayer(.renameUnlink, "create/remove/rename only beneath write paths"),
        ]
        out.append(execLayer(restricted: execRestricted, enforce: enforce, landlockABI: landlockABI, traceProblem: traceProblem,
                             tierOne: lsmLoads && enforce ? tierOne(.exec) : nil, noLandlock: noLandlock, observed: observed))
        out.append(connectLayer(restricted: netRestricted, enforce: enforce, netProblem: netProblem))
        out.append(LayerStatus(hook: .syscalls, layer: sysRestricted ? Layer.seccomp : .none, enforcing: sysRestricted && enforce,
                               restricted: sysRestricted, detail: seccompSummary(policy, mode: mode)))
        return out
    }

    static func execLayer(restricted: Bool, enforce: Bool, landlockABI: Int?, traceProblem: String?, tierOne: LayerStatus?,
                          noLandlock: String, observed: String) -> LayerStatus {
        let recorded = traceProblem == nil ? "recorded by the tracepoints" : "not recorded (tracepoints unavailable: \(traceProblem!))"
        if !restricted {
            return LayerStatus(hook: .exec, layer: traceProblem == nil ? Layer.tracepoint : .supervisor, enforcing: false, restricted: false,
                               detail: "exec.default = \"allow\"; " + (traceProblem == nil ? "every exec is \(recorded)" : "the top-level command is recorded"))
        } else if let abi = landlockABI, enforce {
            return LayerStatus(hook: .exec, layer: .landlock, enforcing: true,
                               detail: "Landlock ABI \(abi): EXECUTE only on the allowlisted files and their loaders/interpreters; denials are \(recorded)",
                               openRoutes: execOpenRoutes)
        } else if landlockABI == nil {
            guard var t = tierOne else { return LayerStatus(hook: .exec, layer: .supervisor, enforcing: false, detail: noLandlock) }
            t.openRoutes = execOpenRoutes
            return t
        }
        return LayerStatus(hook: .exec, layer: traceProblem == nil ? Layer.tracepoint : .supervisor, enforcing: false,
                           detail: traceProblem == nil ? observed : "observe mode: only the top-level command is checked and recorded")
    }

    /// What an exec allowlist does not stop, on either tier (the README's "Not yet guaranteed").
    public static let execOpenRoutes = [
        "the dynamic loader run as a program (ld.so /path/to/any-readable-program) runs what it loads",
        "LD_PRELOAD and LD_AUDIT the build sets for its own children load code into allowed programs",
        "programs the build writes into its output directories (target/, .build/) may run",
    ]

    static func connectLayer(restricted: Bool, enforce: Bool, netProblem: String?) -> LayerStatus {
        if let netProblem {
            return LayerStatus(hook: .connect, layer: .none, enforcing: false, restricted: restricted,
                               detail: "cgroup-BPF connect hooks unavailable: \(netProblem)")
        } else if !restricted {
            return LayerStatus(hook: .connect, layer: .cgroupBPF, enforcing: false, restricted: false,
                               detail: "net.default = \"allow\": connects are recorded, none refused")
        } else if enforce {
            return LayerStatus(hook: .connect, layer: .cgroupBPF, enforcing: true,
                               detail: "cgroup/connect4, connect6, sendmsg4, sendmsg6 on the run's cgroup: EPERM unless in allow.net.hosts; proven by a canary")
        }
        return LayerStatus(hook: .connect, layer: .cgroupBPF, enforcing: false,
                           detail: "observe mode: connects are recorded with the verdict the policy gives, none refused")
    }

    /// What the seccomp filter does, in a line.
    public static func seccompSummary(_ policy: EffectivePolicy, mode: Mode) -> String {
        var parts: [String] = []
        if let oci = policy.syscallOCIProfile {
            parts.append("OCI profile \(oci.value)")
        } else if policy.syscallProfile.value != .none {
            parts.append("profile \(policy.syscallProfile.value.rawValue)")
        }
        if !policy.syscallDeny.isEmpty { parts.append("syscall.deny: \(policy.syscallDeny.map(\.value).joined(separator: ", "))") }
        if !policy.syscallRules.isEmpty {
            let n = policy.syscallRules.count
            parts.append("\(n) syscall.rule\(n == 1 ? "" : "s") (\(policy.syscallRuleActions.map(\.rawValue).joined(separator: ", ")))")
        }
        let how = mode == .enforce ? "refused calls get the profile's errno (EPERM for syscall.deny) or their rule's action"
            : "observe mode: refusing actions become LOG (kernel audit log), nothing is refused"
        if parts.isEmpty {
            return "seccomp: no profile (syscall.profile = \"none\", no syscall.deny or syscall.rule), only the boundary rules (clone3, "
                + "namespace flags, prlimit64 on other processes, TIOCSTI/TIOCLINUX); " + how
        }
        return "seccomp: " + parts.joined(separator: " + ") + " + the boundary rules; " + how
    }

    /// The hooks enforce mode would leave unenforced: the policy restricts them and no
    /// layer here enforces them.
    public static func unenforced(_ layers: [LayerStatus]) -> [LayerStatus] {
        layers.filter { $0.restricted && !$0.enforcing }
    }
}
