import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// The canaries: a layer is trusted only once a process under it was refused something
/// the policy forbids.
extension Runner {
    enum TierOneOutcome {
        case proven(BPFObject)
        case unavailable(String)
    }

    /// Loads, fills and attaches the tier-1 program, then proves it: a process in the
    /// cgroup must be refused (EPERM) a read the policy forbids, or an exec.
    func tierOne(decider: FileDecider, plan: FilesystemPlan?, cgroup: RunCgroup, allowed: Set<String>) -> TierOneOutcome {
        guard geteuid() == 0 else { return .unavailable("loading BPF programs needs root") }
        let hint = ProbeHint(.lsm, environment: session.environment)
        if let known = hint?.refusal() { return .unavailable(known + " (known since an earlier run this boot)") }
        let rules = TierOneRules(decider)
        let l: BPFObject
        do {
            l = try BPFObject.load(.lsm, ringBytes: 0)
            try l.configureLSM(rules)
            try l.attach(cgroupFD: cgroup.fd.rawValue)
        } catch {
            guard error.errno == .notPermitted else { return .unavailable(error.description) }
            let why = "the kernel refuses BPF LSM programs (EPERM: add bpf to the lsm= boot parameter)"
            hint?.remember(why, environment: session.environment)
            return .unavailable(why)
        }
        // Each kind of decision the programs make is proven: a forbidden read, a forbidden
        // directory creation (the path hooks) and a forbidden exec, all at once.
        var probes: [(what: String, operation: Canary.Operation)] = []
        if let path = Runner.forbiddenRead(plan) { probes.append(("open \(path)", .open(path))) }
        if let plan, plan.allowsWrite("/") == nil {
            let path = "/warden-canary-\(getpid())"
            probes.append(("create \(path)", .mkdir(path)))
        }
        if rules.execAllowlist, let path = Runner.forbiddenExec(allowed: allowed) { probes.append(("execute \(path)", .exec(path))) }
        guard !probes.isEmpty else { return .unavailable("no path the policy forbids to try the canary on") }
        let outcomes = Canary.runAll(probes.map { Canary.lsm(cgroup: cgroup.fd.rawValue, $0.operation) })
        for (probe, outcome) in zip(probes, outcomes) {
            switch outcome {
            case .refused: continue
            case .wentThrough, .failed:
                return .unavailable("the BPF LSM programs loaded and attached but a canary could still \(probe.what) (is bpf in the lsm= boot parameter?)")
            case .couldNotRun(let e): return .unavailable("the BPF LSM canary could not run: \(e)")
            }
        }
        return .proven(l)
    }

    func networkProblem(cgroup: RunCgroup, allowed: Set<String>) -> SandboxError? {
        do {
            try proveNetwork(cgroup: cgroup, allowed: allowed)
            return nil
        } catch {
            return error
        }
    }

    func landlockProblem(_ c: Confinement, plan: FilesystemPlan?, allowed: Set<String>) -> SandboxError? {
        do {
            try proveLandlock(c, plan: plan, allowed: allowed)
            return nil
        } catch {
            return error
        }
    }

    /// The network canary: a process in the run's cgroup connects to a loopback port the
    /// policy does not allow and must be refused.
    func proveNetwork(cgroup: RunCgroup, allowed: Set<String>) throws(SandboxError) {
        guard let port = (1..<65535).lazy.map({ _ in UInt16.random(in: 20000...60000) })
            .first(where: { !allowed.contains("127.0.0.1:\($0)") }) else { return }
        switch Canary.network(cgroup: cgroup.fd.rawValue, port: port).run() {
        case .refused: return
        case .wentThrough, .failed:
            // Refused by the peer (nothing listens), not by the hook, is not a refusal.
            throw .cannotEnforce("the cgroup-BPF connect hook attached but a canary could still connect to 127.0.0.1:\(port); refusing to claim it enforces")
        case .couldNotRun(let e):
            throw .cannotEnforce("the network canary could not run: \(e)")
        }
    }

    /// The canary: a process under the same ruleset must be refused a forbidden open
    /// and a forbidden exec. A layer that loads but does not deny is never trusted.
    func proveLandlock(_ c: Confinement, plan: FilesystemPlan?, allowed: Set<String>) throws(SandboxError) {
        var probes: [(what: String, operation: Canary.Operation)] = []
        if let probe = Runner.forbiddenRead(plan) { probes.append(("open \(probe)", .open(probe))) }
        if session.policy.effective.execDefault.value == .allowlist, let probe = Runner.forbiddenExec(allowed: allowed) {
            probes.append(("execute \(probe)", .exec(probe)))
        }
        let outcomes = Canary.runAll(probes.map { Canary.landlock(ruleset: c.landlockFD, $0.operation) })
        for (probe, outcome) in zip(probes, outcomes) {
            switch outcome {
            case .refused: continue
            case .wentThrough:
                throw .cannotEnforce("Landlock was applied but a canary could still \(probe.what); refusing to claim it enforces")
            case .failed(let e), .couldNotRun(let e):
                throw .cannotEnforce("the Landlock canary (\(probe.what)) could not run: \(e)")
            }
        }
    }

    /// What the canaries try: a path that exists and the plan does not let the build
    /// read, and a program that exists and is not among the `allowed` executables.
    static func forbiddenRead(_ plan: FilesystemPlan?) -> String? {
        guard let plan else { return nil }
        return ["/etc/shadow", "/root", "/boot", "/"].first { FileManager.default.fileExists(atPath: $0) && plan.allowsRead($0) == nil }
    }

    static func forbiddenExec(allowed: Set<String>) -> String? {
        ["/usr/bin/true", "/bin/true"].map(ProgramLookup.realPath).first {
            FileManager.default.isExecutableFile(atPath: $0) && !allowed.contains($0)
        }
    }
}
