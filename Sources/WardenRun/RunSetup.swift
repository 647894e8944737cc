import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
import SystemPackage
import WardenSandbox

/// The setup phases of a run: the workspace, the warnings, the child's seccomp filter and
/// Landlock ruleset, and the audit trail's log, all before the cgroup exists.
extension Runner {
    /// What the child is given, decided before it exists.
    struct Setup {
        var childEnv: [String: String]
        var plan: FilesystemPlan?
        var placeholder: (path: String, content: String)?
        var allow: (resolved: [String: String], unresolved: [String])
        var hosts: [HostResolver.Entry]
        var allowedPrograms: [String]
        var decider: FileDecider
        var confinement: Confinement
    }

    /// Prepares the workspace, gathers the warnings and builds the kernel objects of the
    /// child's layers (seccomp, Landlock), proving Landlock by its canary.
    func prepare(tmp: String, output: String, state: inout RunState) throws(WardenFailure) -> Setup {
        let policy = session.policy.effective
        let context = session.runContext(tmpdir: tmp)
        let allow = session.resolvedAllowlist()
        let allowedPrograms = executables(allow.resolved, tmpdir: tmp)
        // Nested repositories and submodules: their git directories and gitfiles are
        // mounted read-only like the top one.
        let runPlan = RunPlan(policy: policy, context: context, gitEntries: PolicyGuard.gitEntries, allowedPrograms: allowedPrograms,
                              realPath: ProgramLookup.realPath)
        let plan = runPlan.filesystem, decider = runPlan.decider
        let placeholder = try prepareWorkspace(plan: plan, output: output, mode: state.mode)
        let hosts = HostResolver.resolve(policy.netHosts.map(\.value))
        state.warnings += try warnings(plan: plan, allow: allow, hosts: hosts, mode: state.mode)
        let confinement = try confine(plan: plan, allowedPrograms: allowedPrograms, state: &state)
        // Baseline paths vary between distributions; only the user's own rules are worth a warning.
        state.warnings += confinement.skippedRules.filter { $0.why.hasPrefix("allow.") }.map { "\($0.why): \($0.path) does not exist; skipped" }
        // The child may run as the same uid: keep our /proc entries (environ, mem) out of its reach.
        SystemCalls.setNondumpable()
        return Setup(childEnv: session.childEnvironment(tmpdir: tmp), plan: plan, placeholder: placeholder, allow: allow, hosts: hosts,
                     allowedPrograms: allowedPrograms, decider: decider, confinement: confinement)
    }

    /// What must exist before Landlock makes the workspace read-only; returns the lock-file
    /// placeholder warden created, if any.
    func prepareWorkspace(plan: FilesystemPlan?, output: String, mode: Mode) throws(WardenFailure) -> (path: String, content: String)? {
        let policy = session.policy.effective
        if mode == .enforce, plan != nil || policy.execDefault.value == .allowlist {
            // The output directory gets write (strict files) or execute (an allowlist) rules.
            try refuseLinksOutOfTheWorkspace(output)
        }
        guard mode == .enforce, let plan else { return nil }
        try refusePlantedLinks(plan)
        // Landlock can only allow what exists, and the read-only workspace forbids
        // creating the output directory from inside: make it now, as the build would.
        try createOutputDirectory(output)
        if let home = session.identity.home {
            for dir in Toolchain.cacheDirectories(session.policy.buildSystem, home: home) { createCacheDirectory(dir, home: home) }
        }
        // The same for the lock file; removed after the run if the build left it unfilled.
        let placeholder = try createLockFilePlaceholder()
        if let placeholder { log("created \(placeholder.path) for the build to fill in (the workspace is read-only)") }
        return placeholder
    }

    /// The run's warnings; refuses an audit trail the build could write.
    func warnings(plan: FilesystemPlan?, allow: (resolved: [String: String], unresolved: [String]), hosts: [HostResolver.Entry],
                  mode: Mode) throws(WardenFailure) -> [String] {
        let policy = session.policy.effective
        var warnings = policy.secretWarnings(plan, home: session.identity.home, realPath: ProgramLookup.realPath).map { "policy exposes a secret: \($0)" }
        warnings += allow.unresolved.map { "allow.exec.allowed entry '\($0)' is not on the child's PATH; it allows nothing" }
        warnings += hosts.compactMap { h in h.error.map { "allow.net.hosts entry '\(h.entry)' did not resolve (\($0)); it allows nothing" } }
        if mode == .observe { warnings.append("observe mode: nothing is blocked") }
        if mode == .enforce, session.identity.uid == 0, let gap = Runner.plainRootGapHere { warnings.append(gap) }
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
        return warnings
    }

    /// The seccomp filter and the Landlock ruleset, built here so the child only has to
    /// apply them; Landlock is proven by its canary.
    func confine(plan: FilesystemPlan?, allowedPrograms: [String], state: inout RunState) throws(WardenFailure) -> Confinement {
        let policy = session.policy.effective
        let confinement = Confinement()
        var filters: [CompiledFilter] = []
        do {
            for f in session.policy.seccompFilters { filters.append(try f.compiled(observe: state.mode == .observe)) }
            // Warden's own pid is only known here; before the notify filter, which stays last.
            let shield = SeccompProfile.wardenShield(pid: getpid(), pgid: getpgrp(), arch: DockerProfile.Target.current.arch)
            let notifyLast = session.policy.effective.notifyRules.isEmpty ? 0 : 1
            filters.insert(try shield.compiled(observe: state.mode == .observe), at: filters.count - notifyLast)
        } catch {
            throw WardenFailure("the seccomp profile cannot be compiled: \(error)", code: WardenExit.usage)
        }
        // Only the last filter (the rules' notify filter) gets a listener.
        if filters.dropLast().contains(where: { $0.rules.contains { $0.action == SeccompProfile.actNotify } }) {
            throw WardenFailure("SCMP_ACT_NOTIFY in syscall.oci_profile is not supported: write notify rules as [[syscall.rule]] with action = \"notify\"",
                                code: WardenExit.usage)
        }
        if state.mode == .enforce, let plan {
            confinement.readOnlyPaths = plan.protected.map(\.path)
            if Confinement.canMountReadOnly {
                // Resolved here, after refusePlantedLinks: the child follows no link at all.
                // What does not exist has nothing to bind (and may lie behind a link).
                confinement.writablePaths = plan.mountWritable.filter { FileManager.default.fileExists(atPath: $0) }.map(ProgramLookup.realPath)
            } else {
                state.warnings.append("this kernel lacks mount_setattr (Linux 5.12): the files outside the write paths are not mounted read-only, "
                                      + "so their mode, owner, times and extended attributes are guarded only by what the other layers cover")
            }
        }
        do throws(SandboxError) {
            try Confinement.checkSyscallNames(deny: policy.syscallDeny, rules: policy.syscallRules)
            for filter in filters { try confinement.applySeccomp(filter) }
            if state.mode == .enforce, case .success(let abi) = Confinement.landlockABI(),
               let ll = policy.landlockPlan(plan, allowedPrograms: allowedPrograms, abi: abi) {
                try confinement.applyLandlock(ll, abi: abi)
                let executable = Set(ll.rules.filter { $0.rights.contains(.execute) }.map(\.path))
                if let problem = landlockProblem(confinement, plan: plan, allowed: executable) {
                    try state.degrade("Landlock (files, exec)", problem, allowed: allowDegraded)
                }
            }
        } catch {
            throw WardenFailure(error.description, code: error.exitCode)
        }
        return confinement
    }

    /// Opens the run's event log, root's and readable by the invoking user's group: the
    /// user reads it, the build (which runs as that user) cannot write it.
    func openEventLog() throws(WardenFailure) -> EventLog {
        if let state = outputs.stateDirectory { try StateDirectory.prepare(state, environment: session.environment) }
        do {
            // 1 MiB kept allocated past the end for the run_end (EventLog.reserveBytes).
            let eventLog = try EventLog(path: outputs.events, reserve: SystemCalls.reserveSpace)
            try eventLog.chown(uid: 0, gid: session.identity.gid)
            if outputs.logAlias { try makeAlias() }
            return eventLog
        } catch Errno.tooManySymbolicLinkLevels, Errno.notPermitted {
            throw WardenFailure("the event log \(outputs.events) is a symbolic link or not a regular file; warden runs as root "
                                + "and does not write through a name a build may have planted: remove it or pass --events",
                                code: WardenExit.sandbox)
        } catch Errno.noSpace {
            throw WardenFailure("no space for the event log \(outputs.events): warden keeps \(EventLog.reserveBytes >> 20) MiB "
                                + "free behind it for the run's record. Nothing was run.", code: WardenExit.sandbox)
        } catch {
            throw WardenFailure("cannot open the event log \(outputs.events): \(error)", code: WardenExit.sandbox)
        }
    }
}
