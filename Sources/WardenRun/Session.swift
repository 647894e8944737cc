import Foundation
import WardenBPF
import WardenOutput
import WardenPolicy
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
        for (k, v) in Toolchain.cacheEnvironment(policy.buildSystem, output: output) where environment[k] == nil { env[k] = v }
        return env
    }

    /// The layer of each hook for this policy on this kernel.
    public func layers() -> [LayerStatus] {
        let mode = policy.effective.mode.value
        func problem(_ kind: BPFObject.Kind, sharing owner: BPFObject? = nil) -> String? {
            if geteuid() != 0 { return "loading BPF programs needs root" }
            if case .failure(let e) = BPFObject.probe(kind, sharing: owner) { return e.description }
            return nil
        }
        // The network object is probed as the run loads it, on the trace object's maps:
        // the run then takes both as they are, each verified once.
        let traceProblem = problem(.trace), netProblem = problem(.net, sharing: BPFObject.probedObject(.trace))
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
