import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import CWardenShim
import SystemPackage
import WardenSandbox

/// The options every policy-reading command shares.
public struct PolicyOptions: Sendable {
    public var policyFiles: [String] = []
    public var allow: [String] = []
    public var mode: Mode?
    public var member: String?
    /// Leave the workspace's policy files out (a user's --policy can then narrow).
    public var ignoreWorkspacePolicy = false
    public init() {}
}

/// Facts gathered once per invocation: where we are, who the child will be, the policy.
public struct Session: Sendable {
    /// The project root (ProjectRoot): policy files, the output directory, the state
    /// directory's key. The command itself runs in `cwd`, which may be below it.
    public var workspace: String
    public var cwd: String
    /// The file that made `workspace` the root (nil: none, the working directory).
    public var rootMarker: String?
    public var environment: [String: String]
    public var identity: Identity
    public var policy: LoadedPolicy

    /// The workspace for `cwd`, as every command finds it.
    public static func workspace(for cwd: String, environment: [String: String]) -> (root: String, marker: String?) {
        ProjectRoot.find(from: cwd, home: Identity.current(environment: environment).home) { FileManager.default.fileExists(atPath: $0) }
    }

    public static func load(_ options: PolicyOptions, cwd: String = FileManager.default.currentDirectoryPath)
        throws(WardenFailure) -> Session
    {
        let env = ProcessInfo.processInfo.environment
        let identity = Identity.current(environment: env)
        let (workspace, marker) = Session.workspace(for: cwd, environment: env)
        var inputs = PolicyInputs(workspace: workspace)
        inputs.policyFiles = options.policyFiles
        inputs.allow = options.allow
        inputs.mode = options.mode
        inputs.member = options.member
        inputs.ignoreWorkspacePolicy = options.ignoreWorkspacePolicy
        inputs.home = identity.home
        inputs.environment = env
        do {
            let policy = try PolicyLoader.load(inputs)
            return Session(workspace: workspace, cwd: cwd, rootMarker: marker, environment: env, identity: identity, policy: policy)
        } catch {
            throw WardenFailure(error.description, code: WardenExit.usage)
        }
    }

    /// `tmpdir`: the run's private temporary directory, when one exists.
    public func runContext(tmpdir: String? = nil) -> RunContext {
        RunContext(workspace: workspace, buildSystem: policy.buildSystem, home: identity.home,
                   environment: environment, tmpdir: tmpdir, gitNamedFiles: gitNamedFiles())
    }

    /// The existing regular files git's system and global configuration name.
    func gitNamedFiles() -> [String] {
        GitConfiguration.configFiles(home: identity.home).flatMap { file -> [String] in
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
            return GitConfiguration.namedFiles(in: text, home: identity.home)
        }.filter { path in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
        }
    }

    /// The environment the child gets; TMPDIR points at the run's private directory.
    public func childEnvironment(tmpdir: String? = nil) -> [String: String] {
        var env = EnvironmentScrub.childEnvironment(parent: environment, policy: policy.effective, home: identity.home,
                                                    user: identity.user, cwd: cwd)
        if let tmpdir { env["TMPDIR"] = tmpdir }
        // git must not take .git/index.lock (`git status` refreshing the index): the
        // workspace is read-only, and .git must stay so (hooks live there).
        if env["GIT_OPTIONAL_LOCKS"] == nil { env["GIT_OPTIONAL_LOCKS"] = "0" }
        let output = policy.buildSystem.outputDirectory(workspace: workspace, environment: environment)
        for (k, v) in policy.buildSystem.cacheEnvironment(output: output) where environment[k] == nil { env[k] = v }
        return env
    }

    /// The layer of each hook for this policy on this kernel.
    public func layers() -> [LayerStatus] {
        let mode = policy.effective.mode.value
        func problem(_ kind: BPFObject.Kind) -> String? {
            if geteuid() != 0 { return "loading BPF programs needs root" }
            if case .failure(let e) = BPFObject.probe(kind) { return e.description }
            return nil
        }
        let netProblem = problem(.net), traceProblem = problem(.trace)
        switch Confinement.landlockABI() {
        case .success(let abi):
            return LayerProbe.layers(policy: policy.effective, mode: mode, landlockABI: abi, netProblem: netProblem, traceProblem: traceProblem)
        case .failure(let e):
            let why = e == .noFunction ? "the kernel has no Landlock (ENOSYS)"
                : e == .notSupported ? "Landlock is disabled: add landlock to the lsm= boot parameter" : "\(e)"
            return LayerProbe.layers(policy: policy.effective, mode: mode, landlockABI: nil, landlockProblem: why,
                                     netProblem: netProblem, traceProblem: traceProblem, lsmLoads: problem(.lsm) == nil)
        }
    }

    /// Allowlist names resolved through the child's PATH, as the kernel will see them.
    public func resolvedAllowlist() -> (resolved: [String: String], unresolved: [String]) {
        var resolved: [String: String] = [:]
        var unresolved: [String] = []
        let path = childEnvironment()["PATH"]
        for entry in policy.effective.execAllowed {
            if let found = ProgramLookup.resolve(entry.value, path: path, cwd: workspace)
                ?? ProgramLookup.compilerInternals(entry.value).first(where: { ($0 as NSString).lastPathComponent == entry.value }) {
                resolved[entry.value] = ProgramLookup.realPath(found)
            } else {
                unresolved.append(entry.value)
            }
        }
        return (resolved, unresolved)
    }
}

/// Where a run writes its audit trail: the workspace's state directory unless the user
/// names files (relative names are taken from the working directory).
public struct OutputPaths: Sendable {
    public var events: String
    public var metrics: String
    public var logAlias: Bool
    /// The state directory, when the event log is in it (warden creates it then).
    public var stateDirectory: String?

    public init(workspace: String, cwd: String, events: String?, metrics: String?, logAlias: Bool, environment: [String: String]) {
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
        if let events {
            self.events = absolute(events)
        } else {
            self.events = OutputPaths.defaultEvents(workspace: workspace, environment: environment)
            stateDirectory = StateDirectory.forWorkspace(workspace, environment: environment)
        }
        self.metrics = absolute(metrics ?? (URL(fileURLWithPath: self.events).deletingLastPathComponent().path + "/warden-metrics.json"))
        self.logAlias = logAlias
    }

    /// The event log `run`, `build`, `report` and `status` use when not told otherwise.
    public static func defaultEvents(workspace: String, environment: [String: String]) -> String {
        StateDirectory.forWorkspace(workspace, environment: environment) + "/warden-events.jsonl"
    }
}

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
        audit.watch = watch

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
        watch?.started(record) { audit.metrics }
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
        watch?.finished(final)
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

    /// Stops the run while a policy file still holds what an earlier run's build wrote
    /// into it, unless the user accepted that (`--accept-policy-change`); forgets the
    /// change once the file holds something else. The CLI calls it before the policy is
    /// even parsed: what the build wrote must not be read as policy first.
    /// Markers are looked for in the state directories of `cwd` and every directory above
    /// it, and concern the files that would shape a run started there (PolicyGuard).
    public static func refuseAPolicyTheBuildChose(cwd: String, root: String, environment: [String: String], accept: Bool) throws(WardenFailure) {
        let relevant = PolicyGuard.candidates(from: cwd)
        // Markers of cwd's state directory and of every one above (an earlier run's
        // workspace may have been any of them).
        for dir in directoryChain(from: cwd) {
            let path = StateDirectory.forWorkspace(dir, environment: environment) + "/" + PolicyGuard.markerName
            guard let data = FileManager.default.contents(atPath: path),
                  let marker = try? JSONDecoder().decode(PolicyGuard.Marker.self, from: data) else { continue }
            let still = PolicyGuard.stillChanged(marker)
            // The workspace's own marker concerns all it lists (a --policy file too).
            let concerned = still.filter { dir == root || relevant.contains($0) }
            if !concerned.isEmpty && !accept {
                throw WardenFailure("\(concerned.joined(separator: ", ")) changed during run \(marker.runId), written by what ran inside "
                                    + "it; warden does not let a build choose its next policy. Review the change (e.g. git diff), then "
                                    + "run again with --accept-policy-change, or restore the file. Nothing was run.", code: WardenExit.usage)
            }
            // Forgotten once accepted, or once nothing the build wrote is left as it was.
            if geteuid() == 0 && (accept || still.isEmpty) { unlink(path) }
        }
    }

    /// Keeps the change in the state directory (for the next run) and says so now.
    func rememberPolicyChange(_ marker: PolicyGuard.Marker, in stateDirectory: String) {
        log("warning: the build changed \(marker.files.keys.sorted().joined(separator: ", ")) during the run; "
            + "the next run in this workspace will refuse it until you review it (--accept-policy-change)")
        do {
            try StateDirectory.prepare(stateDirectory, environment: session.environment)
            let data = try JSONEncoder().encode(marker)
            try writeAtomically(data, to: stateDirectory + "/" + PolicyGuard.markerName, owner: (0, 0))
        } catch {
            log("error: cannot record the policy change in \(stateDirectory): \(error)")
        }
    }

    /// The output directory and the lock file get write rules, and rules follow symlinks:
    /// a build that planted `.build -> /etc` (or a lock file linked elsewhere) in an earlier
    /// run would be granted writing there. Inside the workspace both must be what they seem.
    func refuseLinksOutOfTheWorkspace(_ output: String) throws(WardenFailure) {
        var checked = [output]
        if let lock = session.policy.buildSystem.lockFile { checked.append(session.workspace + "/" + lock) }
        for path in checked where pathIsWithin(path, session.workspace) && path != session.workspace {
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }  // created by warden or the build
            let kind = st.st_mode & S_IFMT
            let real = ProgramLookup.realPath(path)
            if kind == S_IFLNK || real != path || (path == output ? kind != S_IFDIR : kind != S_IFREG) {
                throw WardenFailure("\(path) is \(kind == S_IFLNK ? "a symbolic link" : real != path ? "reached through a symbolic link" : "not what it should be") "
                                    + "(it resolves to \(real)); warden lets the build write there and will not follow a link out of the "
                                    + "workspace: remove it (a build may have planted it) and run again. Nothing was run.",
                                    code: WardenExit.sandbox)
            }
        }
    }

    /// SwiftPM writes Package.resolved only for a package with dependencies (a
    /// `.package(` in the manifest); Cargo always writes Cargo.lock.
    func needsLockFile() -> Bool {
        guard session.policy.buildSystem == .swiftpm else { return true }
        let manifest = (try? String(contentsOfFile: session.workspace + "/Package.swift", encoding: .utf8)) ?? ".package("
        return manifest.contains(".package(")
    }

    /// Creates the build tool's missing lock file with `lockFilePlaceholder`, owned by the
    /// child's user. O_EXCL|O_NOFOLLOW: a name the workspace already holds (a dangling
    /// symlink included) is never written through.
    func createLockFilePlaceholder() throws(WardenFailure) -> (path: String, content: String)? {
        let system = session.policy.buildSystem
        guard let lock = system.lockFile, let content = system.lockFilePlaceholder, needsLockFile() else { return nil }
        let path = session.workspace + "/" + lock
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0 {
            if errno == EEXIST { return nil }
            throw WardenFailure("cannot create the missing \(path) for the build: \(Errno(rawValue: errno))", code: WardenExit.sandbox)
        }
        defer { close(fd) }
        let written = content.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, content.utf8.count) }
        if written != content.utf8.count {
            unlink(path)
            throw WardenFailure("cannot write the missing \(path) for the build: \(Errno(rawValue: errno))", code: WardenExit.sandbox)
        }
        if session.identity.switchIDs { fchown(fd, session.identity.uid, session.identity.gid) }
        return (path, content)
    }

    /// Removes a placeholder lock file the build did not fill in: nothing half-done stays.
    func removeUnfilledLockFile(_ placeholder: (path: String, content: String)) {
        var st = stat()
        guard lstat(placeholder.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
              let now = FileManager.default.contents(atPath: placeholder.path),
              now == Data(placeholder.content.utf8) else { return }
        unlink(placeholder.path)
    }

    /// Makes a missing toolchain cache directory (and the missing directories above it,
    /// up to the home), owned by the build's user, as the tool would have. Best effort:
    /// without it the tool only loses its cache.
    func createCacheDirectory(_ path: String, home: String) {
        var missing: [String] = []
        var dir = path
        while !FileManager.default.fileExists(atPath: dir) && pathIsWithin(dir, home) && dir != home {
            missing.insert(dir, at: 0)
            dir = (dir as NSString).deletingLastPathComponent
        }
        for d in missing {
            guard mkdir(d, 0o755) == 0 else { return }
            if session.identity.switchIDs { chown(d, session.identity.uid, session.identity.gid) }
        }
    }

    func createOutputDirectory(_ path: String) throws(WardenFailure) {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw WardenFailure("cannot create the build output directory \(path): \(error.localizedDescription)", code: WardenExit.sandbox)
        }
        if session.identity.switchIDs { chown(path, session.identity.uid, session.identity.gid) }
    }

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
            HardeningStep("rlimits", applied: true, Runner.rlimitSummary(policy)),
            HardeningStep("capabilities", applied: true, "bounding, ambient, effective, permitted and inheritable sets emptied; securebits locked"),
            HardeningStep("identity", applied: id.switchIDs, id.switchIDs ? "uid \(id.uid) gid \(id.gid) (sudo caller)" : "stays uid \(id.uid)"),
            HardeningStep("no_new_privs", applied: true, "PR_SET_NO_NEW_PRIVS"),
            HardeningStep("env_scrub", applied: true, "\(childEnv.count) variables passed"),
            HardeningStep("landlock", applied: mode == .enforce && confinement.landlockFD >= 0, landlock),
            bpfLSM,
            HardeningStep("seccomp", applied: session.policy.seccompProfile != nil, LayerProbe.seccompSummary(policy, mode: mode)
                          + (confinement.unknownSyscalls.isEmpty ? "" : "; unknown here, skipped: \(confinement.unknownSyscalls.joined(separator: ", "))")),
            HardeningStep("warden_nondumpable", applied: true, "warden's /proc entries need CAP_SYS_PTRACE"),
        ]
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
        var files: [String] = []
        for (name, path) in resolved {
            files += Confinement.executionChain(path)
            files += ProgramLookup.implementationHelpers(name, resolved: path, home: session.identity.home)
                .flatMap(Confinement.executionChain)
        }
        let system = session.policy.buildSystem
        // The Swift driver runs the clang, ld and helpers of its own toolchain, which
        // need not be the ones PATH finds first: allowlisted names count there too.
        if system == .swiftpm, let driver = resolved["swiftc"] ?? resolved["swift"] {
            let dir = (ProgramLookup.realPath(driver) as NSString).deletingLastPathComponent
            for name in resolved.keys where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
                files += Confinement.executionChain(dir + "/" + name)
            }
        }
        let output = system.outputDirectory(workspace: session.workspace, environment: session.environment)
        var seen = Set<String>()
        return (files + system.executableDirectories(output: output, tmpdir: tmpdir)).filter { seen.insert($0).inserted }
    }

    /// A fresh 0700 directory for the run's temporary files, owned by the child's user.
    func makePrivateTmp() throws(WardenFailure) -> String {
        let base = session.environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        var template = Array("\(base)/warden-tmp-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw WardenFailure("cannot create a temporary directory in \(base): \(Errno(rawValue: errno))", code: WardenExit.sandbox)
        }
        let path = String(cString: made)
        if session.identity.switchIDs { chown(path, session.identity.uid, session.identity.gid) }
        return path
    }

    enum TierOneOutcome {
        case proven(BPFObject)
        case unavailable(String)
    }

    /// Loads, fills and attaches the tier-1 program, then proves it: a process in the
    /// cgroup must be refused (EPERM) a read the policy forbids, or an exec.
    func tierOne(decider: FileDecider, plan: FilesystemPlan?, cgroup: RunCgroup, allowed: Set<String>) -> TierOneOutcome {
        guard geteuid() == 0 else { return .unavailable("loading BPF programs needs root") }
        let rules = TierOneRules(decider)
        let l: BPFObject
        do {
            l = try BPFObject.load(.lsm, ringBytes: 0)
            try l.configureLSM(rules)
            try l.attach(cgroupFD: cgroup.fd.rawValue)
        } catch {
            return .unavailable(error.errno == .notPermitted
                ? "the kernel refuses BPF LSM programs (EPERM: add bpf to the lsm= boot parameter)" : error.description)
        }
        // Each kind of decision the programs make is proven: a forbidden read, a forbidden
        // directory creation (the path hooks) and a forbidden exec.
        var probes: [(what: String, open: String?, exec: String?, mkdir: String?)] = []
        if let path = Runner.forbiddenRead(plan) {
            probes.append(("open \(path)", path, nil, nil))
        }
        if let plan, plan.allowsWrite("/") == nil {
            let path = "/warden-canary-\(getpid())"
            probes.append(("create \(path)", nil, nil, path))
        }
        if rules.execAllowlist, let path = Runner.forbiddenExec(allowed: allowed) {
            probes.append(("execute \(path)", nil, path, nil))
        }
        guard !probes.isEmpty else { return .unavailable("no path the policy forbids to try the canary on") }
        for probe in probes {
            switch BPFObject.lsmCanary(cgroupFD: cgroup.fd.rawValue, open: probe.open, exec: probe.exec, mkdir: probe.mkdir) {
            case .success(true): continue
            case .success(false):
                return .unavailable("the BPF LSM programs loaded and attached but a canary could still \(probe.what) (is bpf in the lsm= boot parameter?)")
            case .failure(let e): return .unavailable("the BPF LSM canary could not run: \(e)")
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
        switch BPFObject.netCanary(cgroupFD: cgroup.fd.rawValue, port: port) {
        case .success(true): return
        case .success(false):
            throw .cannotEnforce("the cgroup-BPF connect hook attached but a canary could still connect to 127.0.0.1:\(port); refusing to claim it enforces")
        case .failure(let e):
            throw .cannotEnforce("the network canary could not run: \(e)")
        }
    }

    /// The canary: a process under the same ruleset must be refused a forbidden open
    /// and a forbidden exec. A layer that loads but does not deny is never trusted.
    func proveLandlock(_ c: Confinement, plan: FilesystemPlan?, allowed: Set<String>) throws(SandboxError) {
        if let probe = Runner.forbiddenRead(plan) {
            let r = warden_landlock_canary(c.landlockFD, probe, nil)
            guard r == 1 else {
                throw .cannotEnforce(r == 0 ? "Landlock was applied but a canary could still open \(probe); refusing to claim it enforces"
                                            : "the Landlock canary could not run: \(Errno(rawValue: errno))")
            }
        }
        if session.policy.effective.execDefault.value == .allowlist, let probe = Runner.forbiddenExec(allowed: allowed) {
            let r = warden_landlock_canary(c.landlockFD, nil, probe)
            guard r == 1 else {
                throw .cannotEnforce(r == 0 ? "Landlock was applied but a canary could still execute \(probe); refusing to claim it enforces"
                                            : "the Landlock exec canary could not run: \(Errno(rawValue: errno))")
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

    private func makeAlias() throws {
        let alias = URL(fileURLWithPath: outputs.events).deletingLastPathComponent().appendingPathComponent("warden.log").path
        let target = URL(fileURLWithPath: outputs.events).lastPathComponent
        if let existing = try? FileManager.default.destinationOfSymbolicLink(atPath: alias), existing == target { return }
        if FileManager.default.fileExists(atPath: alias) || (try? FileManager.default.destinationOfSymbolicLink(atPath: alias)) != nil {
            throw WardenFailure("\(alias) exists and is not a link to \(target); not replacing it", code: WardenExit.sandbox)
        }
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: target)
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
