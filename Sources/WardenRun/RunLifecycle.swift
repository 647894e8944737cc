import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// The phases from the run record to the last line: start the agent, run the child, close
/// the audit trail.
extension Runner {
    /// Writes the run record and starts the agent draining the ring buffer.
    func startAudit(_ setup: Setup, kernel: KernelLayers, cgroup: RunCgroup, runId: String, started: Date, audit: RunAudit,
                    state: RunState) throws(WardenFailure) -> EventAgent? {
        let warnings = state.warnings + state.degraded.map { "DEGRADED (--allow-degraded): \($0)" }
        var record = RunRecord(
            runId: runId, startedAt: ISO8601DateFormatter().string(from: started), command: command,
            workspace: session.workspace, mode: state.mode.rawValue, buildSystem: session.policy.buildSystem.rawValue,
            policySources: session.policy.sources, policyFile: session.policy.policyFile, cgroup: cgroup.path,
            uid: session.identity.uid, layers: state.layers, warnings: warnings,
            netHosts: Dictionary(uniqueKeysWithValues: setup.hosts.map { ($0.entry, $0.addresses) }))
        record.hardening = hardeningSteps(confinement: setup.confinement, childEnv: setup.childEnv, cgroup: cgroup, mode: state.mode,
                                          bpfLSM: HardeningStep("bpf_lsm", applied: kernel.lsm != nil, kernel.lsmNote))
        record.assurance = state.mode == .observe ? "none" : state.degraded.isEmpty ? "full" : "partial"
        audit.update { $0.assurance = record.assurance }
        do {
            try audit.log.append(record)
            try audit.writeMetrics()
        } catch {
            throw WardenFailure("cannot write the audit trail: \(error)", code: WardenExit.sandbox)
        }
        watch?.started(record) { audit.metrics }
        var agent: EventAgent?
        if let ring = kernel.ring {
            agent = EventAgent(ring: ring, audit: audit, decider: setup.decider, enforce: state.mode == .enforce,
                               listenAllowed: session.policy.effective.netListen.value == .allow)
            agent?.expectedCreations = SystemBaseline.expectedCreations(session.policy.buildSystem, home: session.identity.home)
            agent?.start()
        }
        for w in warnings { log("warning: \(w)") }
        let enforcing = state.layers.filter(\.enforcing).map { "\($0.hook)=\($0.layer)" }
        log("\(state.mode.rawValue) run \(runId) in \(cgroup.path); enforcing: \(enforcing.isEmpty ? "nothing" : enforcing.joined(separator: ", "))")
        return agent
    }

    /// Starts the child in the cgroup and waits for it. Without tracepoints the supervisor
    /// records the one exec it sees itself (and Landlock's refusal of it).
    func spawnAndWait(program: String, setup: Setup, kernel: KernelLayers, cgroup: RunCgroup, runId: String, audit: RunAudit,
                      signalFD: Int32, mode: Mode) -> Result<ChildExit, SandboxError> {
        let spec = ChildSpec(
            program: program, arguments: command,
            environment: setup.childEnv.map { "\($0.key)=\($0.value)" }.sorted(),
            cwd: session.cwd, identity: session.identity, rlimits: Runner.rlimits(session.policy.effective),
            confinement: setup.confinement)
        let path = ProgramLookup.realPath(program)
        func record(source: String, pid: Int32, verdict: WardenEvent.Verdict, needed: String) {
            let e = WardenEvent(pid: UInt32(pid), tgid: UInt32(pid), timeNs: Runner.monotonicNs(), unit: .other, action: .exec,
                                verdict: verdict, containerId: cgroup.id, caps: 0, pathOrAddr: path, neededPerm: needed)
            audit.add([EventRecord(runId: runId, source: source, mode: mode.rawValue, event: e)])
        }
        do {
            let child = try Supervisor.spawn(spec, in: cgroup)
            let notify = child.notifyFD >= 0
                ? NotifyAgent(listener: child.notifyFD, policy: session.policy.effective, audit: audit, runId: runId, mode: mode,
                              trace: kernel.trace) : nil
            notify?.start()
            defer { notify?.stop() }
            if kernel.trace == nil {
                let decision = session.policy.effective.execDecision(path, resolvedAllowlist: Set(setup.allow.resolved.values))
                record(source: "supervisor", pid: child.pid, verdict: decision.allowed ? .allowed : .denied, needed: decision.needed)
            }
            return .success(try Supervisor.wait(child, signalFD: signalFD))
        } catch {
            if case .spawn(stage: .exec, .permissionDenied) = error, mode == .enforce, setup.confinement.landlockFD >= 0, kernel.trace == nil {
                // Landlock refused the top-level program itself: that is a denial.
                record(source: "landlock", pid: 0, verdict: .denied, needed: PolicyKey.execAllowed.needed(path))
            }
            return .failure(error)
        }
    }

    /// Closes the audit trail: the exit code, the run_end record, what the build changed
    /// among the policy files, and the summary lines.
    func finish(_ outcome: Result<ChildExit, SandboxError>, runId: String, started: Date, audit: RunAudit, agent: EventAgent?,
                policyWatch: PolicyWatch, mode: Mode) -> Int32 {
        // The build shared warden's stdout and stderr and may have left them non-blocking
        // (O_NONBLOCK is the open file's): the summary must not be lost to EAGAIN.
        for fd in [STDOUT_FILENO, STDERR_FILENO] {
            let flags = fcntl(fd, F_GETFL)
            if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        }
        var metrics = audit.metrics
        let (policyChanged, remembered) = policyChanges(policyWatch, agent: agent, runId: runId)
        if mode == .enforce { metrics.enforceMismatches += policyMismatches(policyChanged ?? [], remembered: remembered) }
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
        end.fill(from: metrics, syscalls: agent?.syscallCounts, policyChanged: policyChanged, remembered: remembered)
        metrics.finished = true
        let final = metrics
        audit.update { $0 = final }
        watch?.finished(final)
        do {
            try audit.log.append(end, closing: true)
            try audit.log.sync()
        } catch {
            log("error: cannot write the run record to \(audit.log.path): \(error)")
        }
        do {
            try audit.writeMetrics()
        } catch {
            log("error: cannot write the metrics snapshot: \(error) (the run record in the log is complete)")
        }
        summarize(metrics, runId: runId, status: status, mode: mode, logStillThere: audit.log.stillAtPath)
        return code
    }

    /// What the build's changes to policy files add to the enforce mismatches, and says: a
    /// repository's configuration or hooks (what the user's git runs later, outside any
    /// sandbox) and a policy file planted in a subdirectory (the policy of a run started
    /// there; one at the top is a mismatch already) break the policy whatever name was
    /// used, and so does a change the next run could not be told of.
    func policyMismatches(_ changed: [String], remembered: Bool) -> UInt64 {
        let git = changed.filter(PolicyGuard.isGitRecord)
        let planted = changed.filter {
            [PolicyLoader.fileName, PolicyLoader.workspaceFileName].contains(($0 as NSString).lastPathComponent)
                && ($0 as NSString).deletingLastPathComponent != session.workspace
        }
        if !git.isEmpty {
            log("warning: the build changed git configuration or hooks: \(git.joined(separator: ", ")); do not run git there before reviewing them")
        }
        return UInt64(git.count + planted.count + (remembered ? 0 : 1))
    }

    /// Policy and manifest files the build changed, remembered for the next run; nil: none.
    /// `remembered` is false when the change could not be recorded for the next run.
    func policyChanges(_ watch: PolicyWatch, agent: EventAgent?, runId: String) -> (changed: [String]?, remembered: Bool) {
        var after = watch.policyGuard.snapshot()
        var changed = PolicyGuard.changes(watch.before, after)
        // Policy and manifest files the build wrote elsewhere (a warden.toml planted in a
        // subdirectory would be the next run's policy there).
        // Inside the workspace only, and not in a separate output directory, where SwiftPM
        // and Cargo write their dependencies' manifests (.build/checkouts) on every build.
        let separateOutput = watch.output != session.workspace ? watch.output : nil
        let planted = (agent?.policyWrites ?? []).filter { path in
            pathIsWithin(path, session.workspace) && !(separateOutput.map { pathIsWithin(path, $0) } ?? false)
        }
        let scanAfter = PolicyGuard.scan(session.workspace, excluding: watch.scanExcluded)
        for path in (planted + PolicyGuard.changes(watch.scanBefore, scanAfter)).sorted() where !changed.contains(path) {
            after[path] = FileManager.default.contents(atPath: path)
            changed.append(path)
        }
        guard !changed.isEmpty else { return (nil, true) }
        let remembered = rememberPolicyChange(PolicyGuard.marker(runId: runId, after: after, changed: changed), in: watch.stateDirectory)
        return (changed, remembered)
    }

    /// The run's last lines on stderr; the very last names the log.
    func summarize(_ metrics: MetricsSnapshot, runId: String, status: String, mode: Mode, logStillThere: Bool) {
        if !logStillThere {
            log("warning: \(outputs.events) no longer names the log this run wrote: something (the build?) renamed or "
                + "replaced it during the run; do not trust what is there now")
        }
        if metrics.enforceMismatches > 0 {
            log("warning: \(metrics.enforceMismatches) operation(s) the policy forbids were allowed by the kernel (a route this tier "
                + "does not close, listed by `warden report`); the run counts as denied")
        }
        if metrics.lostEvents > 0 {
            log("warning: \(metrics.lostEvents) event(s) were lost (ring buffer full); raise --ring-buffer-mib")
        }
        if let n = metrics.unwrittenEvents {
            log("warning: \(n) event(s) could not be written to the log (\(metrics.writeError ?? "?")); they are counted, "
                + "and the exit code reflects them, but the log does not list them")
        }
        if metrics.unrecordedRefusals > 0 {
            log("warning: the kernel refused \(metrics.unrecordedRefusals) call(s) whose events were lost; they count as denials")
        }
        if let n = metrics.inboundDropped {
            log("warning: \(n) connection request(s) to the build's listeners were \(mode == .observe ? "seen (enforce mode drops them)" : "dropped") (net.listen = \"deny\")")
        }
        let verdictWord = mode == .observe ? "would be denied" : "denied"
        log("run \(runId): command \(status); events \(metrics.allowedTotal + metrics.violationsTotal), "
            + "\(verdictWord) \(metrics.violationsTotal); log \(outputs.events)")
    }
}

extension RunEndRecord {
    /// The counts of `metrics`, the syscall counts, and the policy files changed — bounded,
    /// so the record fits the space the log keeps for it whatever the build planted (the
    /// marker for the next run keeps every file).
    mutating func fill(from metrics: MetricsSnapshot, syscalls: [String: UInt64]?, policyChanged: [String]?, remembered: Bool) {
        enforceMismatches = metrics.enforceMismatches
        if metrics.unrecordedRefusals > 0 { unrecordedRefusals = metrics.unrecordedRefusals }
        inboundDropped = metrics.inboundDropped
        perUnitUsage = metrics.perUnitUsage
        if let syscalls, !syscalls.isEmpty { self.syscalls = syscalls }
        unwrittenEvents = metrics.unwrittenEvents
        writeError = metrics.writeError
        self.policyChanged = policyChanged.map { Array($0.prefix(RunEndRecord.policyChangedShown)) }
        if let n = policyChanged?.count, n > RunEndRecord.policyChangedShown { policyChangedTotal = n }
        if !remembered { policyChangeUnremembered = true }
        if metrics.unwrittenEvents != nil {
            allowedTotal = metrics.allowedTotal
            violationsTotal = metrics.violationsTotal
        }
    }
}
