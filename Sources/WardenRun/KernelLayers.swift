import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// The BPF phases of a run: the tracepoints, tier 1 and the network hooks on the run's
/// cgroup, each proven before it is trusted.
extension Runner {
    /// The BPF objects of a run, kept loaded (and attached) until it ends.
    struct KernelLayers {
        var trace: BPFObject?
        var net: BPFObject?
        var lsm: BPFObject?
        var lsmNote = "not needed: the policy restricts neither files nor exec"
        /// The object owning the shared ring buffer.
        var ring: BPFObject? { trace ?? net }
    }

    /// The BPF layers, attached to this run's cgroup before the child exists and sharing
    /// one ring buffer: the tracepoints (file and exec events, units), tier 1 and the
    /// network hooks, each proven by a canary in enforce mode.
    func attachKernelLayers(_ setup: Setup, cgroup: RunCgroup, state: inout RunState) throws(WardenFailure) -> KernelLayers {
        var kernel = KernelLayers()
        do {
            let t = try BPFObject.load(.trace, ringBytes: ringBytes)
            try t.attach(cgroupFD: cgroup.fd.rawValue)
            kernel.trace = t
        } catch {
            state.warnings.append("tracepoint layer unavailable, file and exec events are not recorded: \(error)")
        }
        try attachTierOne(setup, cgroup: cgroup, kernel: &kernel, state: &state)
        kernel.net = try attachNetwork(setup, cgroup: cgroup, sharing: kernel.trace, state: &state)
        kernel.ring?.poll(timeoutMs: 0) { _ in }  // the canaries' own events are not the build's
        return kernel
    }

    /// Tier 1: the BPF LSM program, trusted only once a canary in the run's cgroup,
    /// outside Landlock, is refused by it. Where it is not, Landlock (tier 2) stays the
    /// layer; where there is no Landlock either, the run stops (or is DEGRADED).
    func attachTierOne(_ setup: Setup, cgroup: RunCgroup, kernel: inout KernelLayers, state: inout RunState) throws(WardenFailure) {
        guard state.mode == .enforce, setup.plan != nil || session.policy.effective.execDefault.value == .allowlist else { return }
        let allowed = Set(setup.allowedPrograms.map(ProgramLookup.realPath))
        switch tierOne(decider: setup.decider, plan: setup.plan, cgroup: cgroup, allowed: allowed) {
        case .proven(let l):
            kernel.lsm = l
            kernel.lsmNote = "BPF LSM file_open on the run's cgroup, proven by a canary"
            for i in state.layers.indices where [Hook.fileOpen, .renameUnlink, .exec].contains(state.layers[i].hook) && state.layers[i].restricted {
                let also = state.layers[i].layer == .landlock ? "; Landlock also applied" : ""
                let what = state.layers[i].hook == .renameUnlink ? "path_mknod/mkdir/symlink/link/unlink/rmdir/rename/chmod/chown decide changes to the tree"
                    : "file_open decides reads, writes and execs"
                state.layers[i] = LayerStatus(hook: state.layers[i].hook, layer: .bpfLSM, enforcing: true,
                                              detail: "tier 1: BPF LSM \(what) (EPERM), proven by a canary\(also)",
                                              openRoutes: state.layers[i].openRoutes)
            }
        case .unavailable(let why):
            kernel.lsmNote = "tier 1 unavailable: \(why)"
            guard state.layers.contains(where: { $0.layer == .bpfLSM && $0.restricted }) else { return }
            guard allowDegraded else {
                throw WardenFailure("enforce mode relies on the BPF LSM here (no Landlock), but \(why). Nothing was run.",
                                    code: WardenExit.sandbox)
            }
            state.degraded.append("BPF LSM (files, exec): \(why)")
        }
    }

    /// The connect hooks, sharing the trace object's ring buffer; proven by a canary when
    /// the policy denies by default.
    func attachNetwork(_ setup: Setup, cgroup: RunCgroup, sharing trace: BPFObject?, state: inout RunState) throws(WardenFailure) -> BPFObject? {
        guard let status = state.layers.first(where: { $0.hook == .connect }), status.layer == .cgroupBPF else { return nil }
        let policy = session.policy.effective
        let addresses = setup.hosts.flatMap(\.addresses)
        do {
            let n = try BPFObject.load(.net, ringBytes: ringBytes, sharing: trace)
            try n.configureNet(enforce: state.mode == .enforce, denyByDefault: policy.netDefault.value == .deny,
                               denyListen: policy.netListen.value == .deny)
            try n.allowNet(addresses)
            try n.attach(cgroupFD: cgroup.fd.rawValue)
            if state.mode == .enforce && policy.netDefault.value == .deny,
               let problem = networkProblem(cgroup: cgroup, allowed: Set(addresses)) {
                try state.degrade("network", problem, allowed: allowDegraded)
            }
            return n
        } catch {
            if state.mode == .enforce { throw WardenFailure("the network layer could not be set up: \(error)", code: WardenExit.sandbox) }
            state.warnings.append("network layer unavailable, connects are not recorded: \(error)")
            return nil
        }
    }
}
