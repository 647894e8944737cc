import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import CWardenShim
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

    public init(session: Session, command: [String], outputs: OutputPaths, log: @escaping (String) -> Void) {
        self.session = session
        self.command = command
        self.outputs = outputs
        self.log = log
    }

    /// Runs the command under the policy and returns warden's exit code. The caller has
    /// already refused a policy an earlier build chose (`refuseAPolicyTheBuildChose`),
    /// before the policy was parsed.
    public func run() throws(WardenFailure) -> Int32 {
        let policy = session.policy.effective
        let mode = policy.mode.value
        // Objects from a directory the user named are checked first: a mismatch is never
        // silently replaced by the embedded copy.
        if let dir = session.environment[BPFObject.distDirVariable] {
            for kind in BPFObject.Kind.allCases {
                do {
                    _ = try BPFObject.verifiedObject(kind, in: dir)
                } catch {
                    throw WardenFailure(error.description, code: WardenExit.sandbox)
                }
            }
        }
        let policyGuard = PolicyGuard(workspace: session.workspace, loaded: session.policy)
        let stateDirectory = StateDirectory.forWorkspace(session.workspace, environment: session.environment)
        let policyBefore = policyGuard.snapshot()
        let output = session.policy.buildSystem.outputDirectory(workspace: session.workspace, environment: session.environment)
        let scanExcluded = [output, session.workspace + "/.git"].filter { $0 != session.workspace }
        let scanBefore = PolicyGuard.scan(session.workspace, excluding: scanExcluded)
        var layers = session.layers()
        let missing = LayerProbe.unenforced(layers)
        // What enforce mode does not enforce in this run (--allow-degraded only).
        var degraded: [String] = []
        if mode == .enforce && !missing.isEmpty && allowDegraded {
            degraded += missing.map { "\($0.hook) is not enforced (\($0.detail))" }
        } else if mode == .enforce && !missing.isEmpty {
            let list = missing.map { "\($0.hook) (\($0.detail))" }.joined(separator: "; ")
            throw WardenFailure(
                "enforce mode (set by \(policy.mode.origin)) cannot be honoured: the policy restricts hooks no layer "
                    + "enforces here: \(list). Nothing was run. Allow what cannot be enforced (for example "
                    + "net.default = \"allow\") or use --mode observe to record what the build does.",
                code: WardenExit.sandbox)
        }
        guard let name = command.first else { throw WardenFailure("no command given after --", code: WardenExit.usage) }
        let preliminaryEnv = session.childEnvironment()
        guard let program = ProgramLookup.resolve(name, path: preliminaryEnv["PATH"], cwd: session.cwd) else {
            throw WardenFailure(SandboxError.commandNotFound(name).description, code: WardenExit.notFound)
        }
        guard geteuid() == 0 else {
            throw WardenFailure(SandboxError.notPrivileged("creating the run's cgroup needs root (euid is \(geteuid()))").description,
                                code: WardenExit.sandbox)
        }
        let tmp = try makePrivateTmp()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let childEnv = session.childEnvironment(tmpdir: tmp)
        let plan = policy.filesystemPlan(session.runContext(tmpdir: tmp))
        var placeholder: (path: String, content: String)?
        defer { if let placeholder { removeUnfilledLockFile(placeholder) } }
        if mode == .enforce, plan != nil || policy.execDefault.value == .allowlist {
            // The output directory gets write (strict files) or execute (an allowlist) rules.
            try refuseLinksOutOfTheWorkspace(output)
        }
        if mode == .enforce, plan != nil {
            // Landlock can only allow what exists, and the read-only workspace forbids
            // creating the output directory from inside: make it now, as the build would.
            try createOutputDirectory(output)
            if let home = session.identity.home {
                for dir in SystemBaseline.cacheDirectories(session.policy.buildSystem, home: home) { createCacheDirectory(dir, home: home) }
            }
            // The same for the lock file; removed after the run if the build left it unfilled.
            placeholder = try createLockFilePlaceholder()
            if let placeholder { log("created \(placeholder.path) for the build to fill in (the workspace is read-only)") }
        }
        var warnings = policy.secretWarnings(plan, home: session.identity.home, realPath: ProgramLookup.realPath).map { "policy exposes a secret: \($0)" }
        let allow = session.resolvedAllowlist()
        warnings += allow.unresolved.map { "allow.exec.allowed entry '\($0)' is not on the child's PATH; it allows nothing" }
        let hosts = HostResolver.resolve(policy.netHosts.map(\.value))
        warnings += hosts.compactMap { h in h.error.map { "allow.net.hosts entry '\(h.entry)' did not resolve (\($0)); it allows nothing" } }
        if mode == .observe { warnings.append("observe mode: nothing is blocked") }
        if mode == .enforce, session.identity.uid == 0 { warnings.append(Runner.plainRootGap) }
        if mode == .enforce, let plan {
            // Never a place the build may write: it could rewrite the record of its own run.
            for file in [outputs.events, outputs.metrics] {
                if let rule = plan.allowsWrite(ProgramLookup.realPath((file as NSString).deletingLastPathComponent)) {
                    throw WardenFailure("\(file) is inside what the build may write (\(rule.path): \(rule.why)), so the build could "
                                        + "rewrite its own audit trail; choose --events and --metrics (or WARDEN_STATE_DIR) outside it",
                                        code: WardenExit.usage)
                }
            }
        }

        // Kernel objects for the layers, built here so the child only has to apply them.
        let confinement = Confinement()
        var seccomp: CompiledFilter?
        do {
            seccomp = try session.policy.seccompProfile?.compiled(observe: mode == .observe)
        } catch {
            throw WardenFailure("the seccomp profile cannot be compiled: \(error)", code: WardenExit.usage)
        }
        let allowedPrograms = executables(allow.resolved, tmpdir: tmp)
        let decider = FileDecider(plan: plan, executables: policy.execDefault.value == .allowlist ? allowedPrograms : nil,
                                  realPath: ProgramLookup.realPath)
        do throws(SandboxError) {
            try Confinement.checkDenyList(policy.syscallDeny)
            if let seccomp { try confinement.applySeccomp(seccomp) }
            if mode == .enforce, case .success(let abi) = Confinement.landlockABI(),
               let ll = policy.landlockPlan(plan, allowedPrograms: allowedPrograms, abi: abi) {
                try confinement.applyLandlock(ll, abi: abi)
                if let problem = landlockProblem(confinement, plan: plan, allowed: Set(ll.rules.filter { $0.rights.contains(.execute) }.map(\.path))) {
                    guard allowDegraded else { throw problem }
                    degraded.append("Landlock (files, exec): \(problem)")
                }
            }
        } catch {
            throw WardenFailure(error.description, code: error.exitCode)
        }
        // Baseline paths vary between distributions; only the user's own rules are worth a warning.
        warnings += confinement.skippedRules.filter { $0.why.hasPrefix("allow.") }.map { "\($0.why): \($0.path) does not exist; skipped" }
        // The child may run as the same uid: keep our /proc entries (environ, mem) out of its reach.
        warden_set_nondumpable()

        if let state = outputs.stateDirectory { try StateDirectory.prepare(state, environment: session.environment) }
        let eventLog: EventLog
        do {
            eventLog = try EventLog(path: outputs.events)
            // root's, readable by the invoking user's group: the user reads it, the build
            // (which runs as that user) cannot write it.
            try eventLog.chown(uid: 0, gid: session.identity.gid)
            if outputs.logAlias { try makeAlias() }
        } catch Errno.tooManySymbolicLinkLevels, Errno.notPermitted {
            throw WardenFailure("the event log \(outputs.events) is a symbolic link or not a regular file; warden runs as root "
                                + "and does not write through a name a build may have planted: remove it or pass --events",
                                code: WardenExit.sandbox)
        } catch {
            throw WardenFailure("cannot open the event log \(outputs.events): \(error)", code: WardenExit.sandbox)
        }

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
        let signalFD = Supervisor.installSignalForwarding()

        let runId = Runner.newRunId()
        let started = Date()
        let audit = RunAudit(log: eventLog, runId: runId, mode: mode.rawValue, metricsPath: outputs.metrics,
                             owner: session.identity, startedAt: ISO8601DateFormatter().string(from: started))

        // The BPF layers, attached to this run's cgroup before the child exists and sharing
        // one ring buffer: the tracepoints (file and exec events, units) and the network
        // hooks, proven by a canary in enforce mode. The agent drains the ring from here on.
        var trace: BPFObject?
        var net: BPFObject?
        do {
            let t = try BPFObject.load(.trace, ringBytes: ringBytes)
            try t.attach(cgroupFD: cgroup.fd.rawValue)
            trace = t
        } catch {
            warnings.append("tracepoint layer unavailable, file and exec events are not recorded: \(error)")
        }
        // Tier 1: the BPF LSM program, trusted only once a canary in the run's cgroup,
        // outside Landlock, is refused by it. Where it is not, Landlock (tier 2) stays the
        // layer; where there is no Landlock either, the run stops (or is DEGRADED).
        var lsm: BPFObject?
        var lsmNote = "not needed: the policy restricts neither files nor exec"
        if mode == .enforce && (plan != nil || policy.execDefault.value == .allowlist) {
            switch tierOne(decider: decider, plan: plan, cgroup: cgroup, allowed: Set(allowedPrograms.map(ProgramLookup.realPath))) {
            case .proven(let l):
                lsm = l
                lsmNote = "BPF LSM file_open on the run's cgroup, proven by a canary"
                for i in layers.indices where ["file_open", "rename_unlink", "exec"].contains(layers[i].hook) && layers[i].restricted {
                    let also = layers[i].layer == "landlock" ? "; Landlock also applied" : ""
                    let what = layers[i].hook == "rename_unlink" ? "path_mknod/mkdir/symlink/link/unlink/rmdir/rename decide changes to the tree"
                        : "file_open decides reads, writes and execs"
                    layers[i] = LayerStatus(hook: layers[i].hook, layer: "bpf-lsm", enforcing: true,
                                            detail: "tier 1: BPF LSM \(what) (EPERM), proven by a canary\(also)")
                }
            case .unavailable(let why):
                lsmNote = "tier 1 unavailable: \(why)"
                if layers.contains(where: { $0.layer == "bpf-lsm" && $0.restricted }) {
                    guard allowDegraded else {
                        try? cgroup.destroy()
                        throw WardenFailure("enforce mode relies on the BPF LSM here (no Landlock), but \(why). Nothing was run.",
                                            code: WardenExit.sandbox)
                    }
                    degraded.append("BPF LSM (files, exec): \(why)")
                }
            }
        }
        if let status = layers.first(where: { $0.hook == "connect" }), status.layer == "cgroup-bpf" {
            do {
                let n = try BPFObject.load(.net, ringBytes: ringBytes, sharing: trace)
                try n.configureNet(enforce: mode == .enforce, denyByDefault: policy.netDefault.value == .deny)
                try n.allowNet(hosts.flatMap(\.addresses))
                try n.attach(cgroupFD: cgroup.fd.rawValue)
                if mode == .enforce && policy.netDefault.value == .deny {
                    if let problem = networkProblem(cgroup: cgroup, allowed: Set(hosts.flatMap(\.addresses))) {
                        guard allowDegraded else { throw problem }
                        degraded.append("network: \(problem)")
                    }
                }
                net = n
            } catch {
                try? cgroup.destroy()
                if mode == .enforce { throw WardenFailure("the network layer could not be set up: \(error)", code: WardenExit.sandbox) }
                warnings.append("network layer unavailable, connects are not recorded: \(error)")
            }
        }
        let ring = trace ?? net
        ring?.poll(timeoutMs: 0) { _ in }  // the canary's own events are not the build's

        warnings += degraded.map { "DEGRADED (--allow-degraded): \($0)" }
        var record = RunRecord(
            runId: runId, startedAt: ISO8601DateFormatter().string(from: started), command: command,
            workspace: session.workspace, mode: mode.rawValue, buildSystem: session.policy.buildSystem.rawValue,
            policySources: session.policy.sources, policyFile: session.policy.policyFile, cgroup: cgroup.path,
            uid: session.identity.uid, layers: layers, warnings: warnings,
            netHosts: Dictionary(uniqueKeysWithValues: hosts.map { ($0.entry, $0.addresses) }))
        record.hardening = hardeningSteps(confinement: confinement, childEnv: childEnv, cgroup: cgroup, mode: mode,
                                          bpfLSM: HardeningStep("bpf_lsm", applied: lsm != nil, lsmNote))
        record.assurance = mode == .observe ? "none" : degraded.isEmpty ? "full" : "partial"
        audit.update { $0.assurance = record.assurance }
        do {
            try eventLog.append(record)
            try audit.writeMetrics()
        } catch {
            try? cgroup.destroy()
            throw WardenFailure("cannot write the audit trail: \(error)", code: WardenExit.sandbox)
        }
        var agent: EventAgent?
        if let ring {
            agent = EventAgent(ring: ring, audit: audit, decider: decider, enforce: mode == .enforce)
            agent?.expectedCreations = SystemBaseline.expectedCreations(session.policy.buildSystem, home: session.identity.home)
            agent?.start()
        }
        for w in warnings { log("warning: \(w)") }
        let enforcing = layers.filter(\.enforcing).map { "\($0.hook)=\($0.layer)" }
        log("\(mode.rawValue) run \(runId) in \(cgroup.path); enforcing: \(enforcing.isEmpty ? "nothing" : enforcing.joined(separator: ", "))")

        let spec = ChildSpec(
            program: program, arguments: command,
            environment: childEnv.map { "\($0.key)=\($0.value)" }.sorted(),
            cwd: session.cwd, identity: session.identity, rlimits: Runner.rlimits(policy),
            confinement: confinement)
        let outcome: Result<ChildExit, SandboxError>
        do {
            let child = try Supervisor.spawn(spec, in: cgroup)
            if trace == nil {
                // Without tracepoints the supervisor records the one exec it sees itself.
                let decision = policy.execDecision(ProgramLookup.realPath(program), resolvedAllowlist: Set(allow.resolved.values))
                let exec = EventRecord(
                    runId: runId, source: "supervisor", mode: mode.rawValue,
                    event: WardenEvent(pid: UInt32(child.pid), tgid: UInt32(child.pid), timeNs: Runner.monotonicNs(),
                                       unit: .other, action: .exec, verdict: decision.allowed ? .allowed : .denied,
                                       containerId: cgroup.id, caps: 0, pathOrAddr: ProgramLookup.realPath(program),
                                       neededPerm: decision.needed))
                try? audit.add([exec])
            }
            outcome = .success(try Supervisor.wait(child, signalFD: signalFD))
        } catch {
            if case .spawn(stage: "exec", .permissionDenied) = error, mode == .enforce, confinement.landlockFD >= 0, trace == nil {
                // Landlock refused the top-level program itself: that is a denial, record it.
                let path = ProgramLookup.realPath(program)
                let denied = EventRecord(
                    runId: runId, source: "landlock", mode: mode.rawValue,
                    event: WardenEvent(pid: 0, tgid: 0, timeNs: Runner.monotonicNs(), unit: .other, action: .exec, verdict: .denied,
                                       containerId: cgroup.id, caps: 0, pathOrAddr: path, neededPerm: "allow.exec.allowed=\(path)"))
                try? audit.add([denied])
            }
            outcome = .failure(error)
        }

        // Nothing the child left behind (daemons, double forks) survives the run.
        var cleanupError: SandboxError?
        do { try cgroup.destroy() } catch { cleanupError = error }
        agent?.stop()
        withExtendedLifetime((trace, net, lsm)) {}
        var metrics = audit.metrics

        let code: Int32
        let status: String
        switch outcome {
        case .success(let exit):
            // What the kernel allowed although the policy forbids it broke the policy too.
            let denials = metrics.blockedTotal + metrics.unrecordedRefusals + metrics.enforceMismatches
            code = mode == .enforce && denials > 0 && exit.shellCode == 0 ? WardenExit.denied : exit.shellCode
            status = exit.description
            metrics.cpuTimeMs = exit.cpuTimeMs
            metrics.pageFaults = exit.pageFaults
            metrics.ioReadBytes = exit.ioReadBytes
            metrics.ioWriteBytes = exit.ioWriteBytes
        case .failure(let e):
            code = e.exitCode
            status = "not started: \(e)"
            log("error: \(e)")
        }
        var setupFailure: String?
        if case .failure(.spawn(let stage, let e)) = outcome { setupFailure = "\(stage): \(e) (errno \(e.rawValue))" }
        var end = RunEndRecord(runId: runId, exitCode: code, childStatus: status,
                               durationMs: UInt64(Date().timeIntervalSince(started) * 1000), lostEvents: metrics.lostEvents,
                               setupFailure: setupFailure)
        end.enforceMismatches = metrics.enforceMismatches
        if metrics.unrecordedRefusals > 0 { end.unrecordedRefusals = metrics.unrecordedRefusals }
        var policyAfter = policyGuard.snapshot()
        var policyChanged = PolicyGuard.changes(policyBefore, policyAfter)
        // Policy and manifest files the build wrote elsewhere (a warden.toml planted in a
        // subdirectory would be the next run's policy there).
        // Inside the workspace only, and not in a separate output directory, where SwiftPM
        // and Cargo write their dependencies' manifests (.build/checkouts) on every build.
        let separateOutput = output != session.workspace ? output : nil
        let planted = (agent?.policyWrites ?? []).filter { path in
            pathIsWithin(path, session.workspace) && !(separateOutput.map { pathIsWithin(path, $0) } ?? false)
        }
        let scanAfter = PolicyGuard.scan(session.workspace, excluding: scanExcluded)
        for path in (planted + PolicyGuard.changes(scanBefore, scanAfter)).sorted() where !policyChanged.contains(path) {
            policyAfter[path] = FileManager.default.contents(atPath: path)
            policyChanged.append(path)
        }
        if !policyChanged.isEmpty {
            end.policyChanged = policyChanged
            rememberPolicyChange(PolicyGuard.marker(runId: runId, after: policyAfter, changed: policyChanged), in: stateDirectory)
        }
        metrics.finished = true
        let final = metrics
        audit.update { $0 = final }
        do {
            try eventLog.append(end)
            try eventLog.sync()
            try audit.writeMetrics()
        } catch {
            log("error: cannot finish the audit trail: \(error)")
        }
        if !eventLog.stillAtPath {
            log("warning: \(outputs.events) no longer names the log this run wrote: something (the build?) renamed or "
                + "replaced it during the run; do not trust what is there now")
        }
        if let cleanupError {
            throw WardenFailure("the run ended but its cgroup could not be cleaned up: \(cleanupError)", code: WardenExit.sandbox)
        }
        if metrics.enforceMismatches > 0 {
            log("warning: \(metrics.enforceMismatches) operation(s) the policy forbids were allowed by the kernel (a route this tier "
                + "does not close, listed by `warden report`); the run counts as denied")
        }
        if metrics.lostEvents > 0 {
            log("warning: \(metrics.lostEvents) event(s) were lost (ring buffer full); raise --ring-buffer-mib")
        }
        if metrics.unrecordedRefusals > 0 {
            log("warning: the kernel refused \(metrics.unrecordedRefusals) call(s) whose events were lost; they count as denials")
        }
        let verdictWord = mode == .observe ? "would be denied" : "denied"
        log("run \(runId): command \(status); events \(metrics.allowedTotal + metrics.violationsTotal), "
            + "\(verdictWord) \(metrics.violationsTotal); log \(outputs.events)")
        return code
    }

    /// What enforce mode cannot stop when the build itself runs as uid 0 (plain root, no
    /// SUDO_UID): said by every such run and by `warden doctor`.
    public static let plainRootGap = "the build runs as root (no SUDO_UID): without capabilities it still owns root's files, "
        + "so it can chmod, chown, utimensat or setxattr them outside its write paths (Landlock does not cover these), "
        + "and without Landlock scoping (ABI < 6) signal root's processes outside the run; prefer sudo from a normal account"

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
