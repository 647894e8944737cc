import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

public struct Runner {
    public var session: Session
    public var command: [String]
    public var outputs: OutputPaths
    public var log: (String) -> Void
    /// Size of the kernel's event ring buffer.
    public var ringBytes: UInt32 = BPFObject.defaultRingBytes
    /// Enforce mode runs even when a restricted hook has no enforcing layer or a canary
    /// was not refused; said loudly, recorded, and the run's assurance is "partial".
    public var allowDegraded = false
    /// Follows the run for live metrics and `--fail-on` (RunWatch); nil: nobody watches.
    public var watch: RunWatch?

    public init(session: Session, command: [String], outputs: OutputPaths, log: @escaping (String) -> Void) {
        self.session = session
        self.command = command
        self.outputs = outputs
        self.log = log
    }

    /// Runs the command under the policy and returns warden's exit code. The caller has
    /// already refused a policy an earlier build chose (`refuseAPolicyTheBuildChose`),
    /// before the policy was parsed.
    ///
    /// The phases, in order: check objects the user supplied, snapshot the policy files,
    /// decide the layers, find the program, prepare the workspace and the child's kernel
    /// objects, open the audit trail, create the cgroup, attach and prove the BPF layers,
    /// spawn and wait, then finish the audit trail. The cgroup, once created, is destroyed
    /// on every path out of here.
    public func run() throws(WardenFailure) -> Int32 {
        try checkSuppliedObjects()
        let policyWatch = PolicyWatch(session: session)
        var state = try RunState(layers: session.layers(), mode: session.policy.effective.mode.value, runner: self)
        let program = try findProgram()
        let tmp = try makePrivateTmp()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let setup = try prepare(tmp: tmp, output: policyWatch.output, state: &state)
        defer { if let placeholder = setup.placeholder { removeUnfilledLockFile(placeholder) } }
        let eventLog = try openEventLog()

        let cgroup: RunCgroup
        let guardFD: Int32
        do {
            cgroup = try RunCgroup.create(label: "run")
            guardFD = try Supervisor.startGuard(for: cgroup, tmpdir: tmp)
        } catch {
            throw WardenFailure(error.description, code: error.exitCode)
        }
        defer {
            try? FileManager.default.removeItem(atPath: tmp)
            Supervisor.releaseGuard(guardFD)
        }
        // One owner of the cgroup's removal: every early exit from here on, and the
        // normal path (which reports a failure to remove it).
        var cgroupRemoved = false
        defer { if !cgroupRemoved { try? cgroup.destroy() } }
        let signalFD = Supervisor.installSignalForwarding()

        let runId = Runner.newRunId()
        let started = Date()
        let audit = RunAudit(log: eventLog, runId: runId, mode: state.mode.rawValue, metricsPath: outputs.metrics,
                             owner: session.identity, startedAt: ISO8601DateFormatter().string(from: started))
        audit.watch = watch
        let kernel = try attachKernelLayers(setup, cgroup: cgroup, state: &state)
        // After the canaries, which run in the cgroup too.
        if let n = session.policy.effective.limits[.processes]?.value, let why = cgroup.limitTasks(n) {
            state.warnings.append("limits.processes: \(why); only RLIMIT_NPROC applies"
                                  + (session.identity.uid == 0 ? ", and the kernel exempts uid 0 from it" : ""))
        }
        let agent = try startAudit(setup, kernel: kernel, cgroup: cgroup, runId: runId, started: started, audit: audit, state: state)
        let outcome = spawnAndWait(program: program, setup: setup, kernel: kernel, cgroup: cgroup, runId: runId, audit: audit,
                                   signalFD: signalFD, mode: state.mode)

        // Nothing the child left behind (daemons, double forks) survives the run.
        cgroupRemoved = true
        var cleanupError: SandboxError?
        do { try cgroup.destroy() } catch { cleanupError = error }
        agent?.stop()
        if let n = kernel.net?.inboundDropped, n > 0 { audit.update { $0.inboundDropped = n } }
        withExtendedLifetime(kernel) {}
        let code = finish(outcome, runId: runId, started: started, audit: audit, agent: agent, policyWatch: policyWatch, mode: state.mode)
        if let cleanupError {
            throw WardenFailure("the run ended but its cgroup could not be cleaned up: \(cleanupError)", code: WardenExit.sandbox)
        }
        return code
    }

    /// What the phases of one run share as they go: the layer of each hook, what enforce
    /// mode does not enforce (--allow-degraded only), and the warnings for the run record.
    struct RunState {
        var mode: Mode
        var layers: [LayerStatus]
        var degraded: [String] = []
        var warnings: [String] = []

        /// Refuses an enforce run in which a hook the policy restricts has no enforcing
        /// layer, unless degrading was allowed.
        init(layers: [LayerStatus], mode: Mode, runner: Runner) throws(WardenFailure) {
            self.mode = mode
            self.layers = layers
            let missing = LayerProbe.unenforced(layers)
            guard mode == .enforce, !missing.isEmpty else { return }
            guard runner.allowDegraded else {
                let list = missing.map { "\($0.hook) (\($0.detail))" }.joined(separator: "; ")
                throw WardenFailure(
                    "enforce mode (set by \(runner.session.policy.effective.mode.origin)) cannot be honoured: the policy restricts "
                        + "hooks no layer enforces here: \(list). Nothing was run. Allow what cannot be enforced (for example "
                        + "net.default = \"allow\") or use --mode observe to record what the build does.",
                    code: WardenExit.sandbox)
            }
            degraded += missing.map { "\($0.hook) is not enforced (\($0.detail))" }
        }

        /// A canary that was not refused: the run stops, or goes on DEGRADED when allowed.
        mutating func degrade(_ what: String, _ problem: SandboxError, allowed: Bool) throws(SandboxError) {
            guard allowed else { throw problem }
            degraded.append("\(what): \(problem)")
        }
    }

    /// The policy files and the workspace as they were before the run, to find what the
    /// build changed (PolicyGuard).
    struct PolicyWatch {
        let policyGuard: PolicyGuard
        let stateDirectory: String
        let before: [String: Data?]
        /// The build system's output directory (the workspace itself for make and others).
        let output: String
        let scanExcluded: [String]
        let scanBefore: [String: Data?]

        init(session: Session) {
            policyGuard = PolicyGuard(workspace: session.workspace, loaded: session.policy)
            stateDirectory = StateDirectory.forWorkspace(session.workspace, environment: session.environment)
            before = policyGuard.snapshot()
            output = session.policy.buildSystem.outputDirectory(workspace: session.workspace, environment: session.environment)
            scanExcluded = [output, session.workspace + "/.git"].filter { $0 != session.workspace }
            scanBefore = PolicyGuard.scan(session.workspace, excluding: scanExcluded)
        }
    }

    /// Objects from a directory the user named are checked first: a mismatch is never
    /// silently replaced by the embedded copy.
    func checkSuppliedObjects() throws(WardenFailure) {
        guard let dir = session.environment[BPFObject.distDirVariable] else { return }
        for kind in BPFObject.Kind.allCases {
            do {
                _ = try BPFObject.verifiedObject(kind, in: dir)
            } catch {
                throw WardenFailure(error.description, code: WardenExit.sandbox)
            }
        }
    }

    /// The program to run, found as the child's PATH would; and root, which the cgroup needs.
    func findProgram() throws(WardenFailure) -> String {
        guard let name = command.first else { throw WardenFailure("no command given after --", code: WardenExit.usage) }
        guard let program = ProgramLookup.resolve(name, path: session.childEnvironment()["PATH"], cwd: session.cwd) else {
            throw WardenFailure(SandboxError.commandNotFound(name).description, code: WardenExit.notFound)
        }
        guard geteuid() == 0 else {
            throw WardenFailure(SandboxError.notPrivileged("creating the run's cgroup needs root (euid is \(geteuid()))").description,
                                code: WardenExit.sandbox)
        }
        return program
    }

    /// What enforce mode cannot stop on this kernel when the build itself runs as uid 0
    /// (plain root, no SUDO_UID), or nil: said by every such run and by `warden doctor`.
    /// Without capabilities it still owns root's files and processes; the read-only view
    /// keeps it off the files, Landlock's scoping (ABI 6) off the processes.
    public static func plainRootGap(landlockABI: Int?, readOnlyView: Bool) -> String? {
        var gaps: [String] = []
        if !readOnlyView {
            gaps.append("chmod, chown, setxattr or utimensat root's files outside its write paths (this kernel lacks mount_setattr, "
                        + "so they are not mounted read-only; warden catches each such change after the fact and the run ends in 77)")
        }
        if (landlockABI ?? 0) < 6 {
            gaps.append("signal root's processes outside the run other than warden (this kernel lacks Landlock's signal scoping, ABI 6)")
        }
        guard !gaps.isEmpty else { return nil }
        return "the build runs as root (no SUDO_UID), and without capabilities it can still " + gaps.joined(separator: ", and ")
            + "; prefer sudo from a normal account"
    }

    static var plainRootGapHere: String? {
        let abi: Int? = if case .success(let v) = Confinement.landlockABI() { v } else { nil }
        return plainRootGap(landlockABI: abi, readOnlyView: Confinement.canMountReadOnly)
    }

    static func newRunId() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(f.string(from: Date()))-\(String(getpid(), radix: 16))"
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
