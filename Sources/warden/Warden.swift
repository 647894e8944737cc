import ArgumentParser
import Foundation
import WardenPolicy
import WardenRun

/// A subcommand that returns warden's exit code instead of throwing ExitCode.
protocol WardenCommand {
    func execute() throws(WardenFailure) -> Int32
}

struct Warden: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "Run builds inside a kernel-enforced sandbox from a TOML policy, with an audit trail.",
        discussion: """
            Exit codes: the command's own status (128+N when killed by signal N); 2 usage or policy \
            error; 77 enforce mode denied something but the command succeeded; 78 --fail-on found drift; \
            125 the sandbox (or the metrics port) could not be set up or enforced; 126 command not \
            executable; 127 command not found.
            """,
        version: version,
        subcommands: [Init.self, Build.self, Run.self, Status.self, Report.self, Diff.self, Doctor.self, Seccomp.self, Debug.self])
}

extension Mode: ExpressibleByArgument {}

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Merge another policy file (repeatable, in order).", valueName: "file"))
    var policy: [String] = []

    @Option(name: .long, help: ArgumentHelp("Allow executing this program (name on PATH or absolute path; repeatable).", valueName: "program"))
    var allow: [String] = []

    @Option(name: .long, help: "Override the policy's mode: observe or enforce.")
    var mode: Mode?

    @Option(name: .long, help: "Use this member's overrides from workspace.warden.toml.")
    var member: String?

    @Flag(name: .long, help: "Ignore the workspace's warden.toml, workspace.warden.toml and Cargo.toml metadata: only the built-in default, --policy files and flags apply.")
    var noWorkspacePolicy = false

    var policyOptions: PolicyOptions {
        var o = PolicyOptions()
        o.policyFiles = policy.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        o.allow = allow
        o.mode = mode
        o.member = member
        o.ignoreWorkspacePolicy = noWorkspacePolicy
        return o
    }
}

struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Event log to append to (default: the workspace's, in warden's state directory).", valueName: "file"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("Metrics snapshot (default: warden-metrics.json beside the event log).", valueName: "file"))
    var metrics: String?

    @Flag(name: .long, help: "Also create warden.log as a symlink to the event log.")
    var logAlias = false

    @Flag(name: .long, help: "Enforce mode: run even when a restricted hook cannot be enforced or a canary was not refused (said loudly; assurance \"partial\").")
    var allowDegraded = false

    @Option(name: .long, help: ArgumentHelp("Size of the kernel's event ring buffer: a power of two from 1 to 1024 (default 4).", valueName: "MiB"))
    var ringBufferMib: UInt32 = 4

    @Flag(name: .long, help: "Run although a policy file still holds what an earlier run's build wrote into it (after you reviewed it).")
    var acceptPolicyChange = false

    @OptionGroup var live: LiveOptions

    /// Refuses, before the policy is read, a policy file an earlier run's build changed.
    func checkPolicyIntegrity() throws(WardenFailure) {
        let cwd = FileManager.default.currentDirectoryPath
        let env = ProcessInfo.processInfo.environment
        try Runner.refuseAPolicyTheBuildChose(cwd: cwd, root: Session.workspace(for: cwd, environment: env).root, environment: env,
                                              accept: acceptPolicyChange)
    }

    /// Runs `command` under the session's policy, writing the audit trail where asked.
    func run(_ command: [String], in session: Session) throws(WardenFailure) -> Int32 {
        guard (1...1024).contains(ringBufferMib), ringBufferMib & (ringBufferMib - 1) == 0 else {
            throw WardenFailure("--ring-buffer-mib \(ringBufferMib): must be a power of two from 1 to 1024", code: WardenExit.usage)
        }
        let outputs = OutputPaths(workspace: session.workspace, cwd: session.cwd, events: events, metrics: metrics, logAlias: logAlias,
                                  environment: session.environment)
        var runner = Runner(session: session, command: command, outputs: outputs, log: stderrLine)
        runner.ringBytes = ringBufferMib << 20
        runner.allowDegraded = allowDegraded
        return try live.run(runner, session: session)
    }
}

/// What follows `--`; ArgumentParser's passthrough capture keeps the terminator itself.
func afterTerminator(_ args: [String]) -> [String] {
    args.first == "--" ? Array(args.dropFirst()) : args
}

/// `warden run --help` and `warden build -h`: the passthrough capture takes the flag as
/// the command, so it is looked for here; after `--` it belongs to the command.
func asksForHelp(_ captured: [String]) -> Bool {
    captured.first == "-h" || captured.first == "--help"
}

func stderrLine(_ s: String) {
    try? FileHandle.standardError.write(contentsOf: Data("warden: \(s)\n".utf8))
}

extension Warden {
    struct Run: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(abstract: "Run any command under the policy: warden run [--mode observe] -- CMD [ARGS…]")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
        var command: [String] = []

        func execute() throws(WardenFailure) -> Int32 {
            if asksForHelp(command) {
                print(Warden.helpMessage(for: Run.self))
                return WardenExit.success
            }
            let cmd = afterTerminator(command)
            guard !cmd.isEmpty else {
                throw WardenFailure("no command given; usage: warden run [--mode observe] -- CMD [ARGS…]", code: WardenExit.usage)
            }
            try output.checkPolicyIntegrity()
            return try output.run(cmd, in: try Session.load(global.policyOptions))
        }
    }

    struct Build: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the project's build (swift build or cargo build) under the policy, forwarding ARGS after --.",
            discussion: "For SwiftPM, cargo's --release is passed as --configuration release, so `warden build -- --release` works for both.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        @Argument(parsing: .captureForPassthrough, help: "Arguments for the build tool, after --.")
        var arguments: [String] = []

        func execute() throws(WardenFailure) -> Int32 {
            if asksForHelp(arguments) {
                print(Warden.helpMessage(for: Build.self))
                return WardenExit.success
            }
            try output.checkPolicyIntegrity()
            let session = try Session.load(global.policyOptions)
            guard let command = session.policy.buildSystem.buildCommand(forwarding: afterTerminator(arguments)) else {
                throw WardenFailure(
                    "no Package.swift or Cargo.toml in \(session.workspace); use `warden run -- <command>` for other builds",
                    code: WardenExit.usage)
            }
            return try output.run(command, in: session)
        }
    }

    struct Init: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a commented starter warden.toml for this directory's build system, or learn one from a run.",
            discussion: "With --from-last-run (or --from-events FILE), the narrowest rules that allow what the run needed are merged "
                + "into the workspace's warden.toml (created from the built-in default when missing), keeping its comments and order.")

        @Option(help: "Preset to use instead of detecting one: swift, cargo or make.")
        var preset: String?

        @Flag(help: "Overwrite an existing warden.toml.")
        var force = false

        @Flag(name: .long, help: "Learn from the last run in this workspace's event log (or --run ID) and merge into warden.toml.")
        var fromLastRun = false

        @Option(name: .long, help: ArgumentHelp("Learn from a run in this event log instead.", valueName: "file"))
        var fromEvents: String?

        @Option(name: .long, help: "With --from-last-run/--from-events: the run to learn from (default: the last).")
        var run: String?

        @Option(name: .long, help: "With --from-last-run/--from-events: set the policy's mode (enforce or observe).")
        var mode: Mode?

        @Flag(name: .long, help: "With --from-last-run/--from-events: print the merged policy instead of writing it.")
        var dryRun = false

        func execute() throws(WardenFailure) -> Int32 {
            if fromLastRun || fromEvents != nil {
                guard preset == nil && !force else {
                    throw WardenFailure("--preset and --force do not go with --from-last-run/--from-events", code: WardenExit.usage)
                }
                return try learn()
            }
            guard run == nil && mode == nil && !dryRun else {
                throw WardenFailure("--run, --mode and --dry-run need --from-last-run or --from-events", code: WardenExit.usage)
            }
            let dir = FileManager.default.currentDirectoryPath
            let system: BuildSystem
            switch preset {
            case nil:
                system = BuildSystem.detect(fileNames: Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []))
            case "swift": system = .swiftpm
            case "cargo": system = .cargo
            case "make": system = .make
            case let other?:
                throw WardenFailure("--preset '\(other)' is not swift, cargo or make", code: WardenExit.usage)
            }
            let path = dir + "/" + PolicyLoader.fileName
            if FileManager.default.fileExists(atPath: path) && !force {
                throw WardenFailure("\(path) already exists; pass --force to overwrite it", code: WardenExit.usage)
            }
            do {
                try Data(DefaultPolicy.starter(for: system).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw WardenFailure("cannot write \(path): \(error.localizedDescription)", code: WardenExit.usage)
            }
            print("wrote \(path) (\(system == .other ? "generic" : system.rawValue) preset)")
            return WardenExit.success
        }
    }
}
