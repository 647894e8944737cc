/// warden's documented exit codes (README "Exit codes"). Otherwise warden exits with the
/// child's own status, or 128 + the signal that killed it.
public enum WardenExit {
    public static let success: Int32 = 0
    /// Bad usage or policy: nothing ran.
    public static let usage: Int32 = 2
    /// Enforce mode denied at least one operation, though the command itself succeeded.
    public static let denied: Int32 = 77
    /// `--fail-on` found drift: the run (or `warden diff`) did what the policy does not
    /// allow (would-deny) or what would add rules to it (new-rules), though the command
    /// itself succeeded.
    public static let drift: Int32 = 78
    /// warden could not set up or enforce the sandbox (cgroup v2, privileges, no
    /// enforcement layer, event log not writable): nothing ran unconfined.
    public static let sandbox: Int32 = 125
    public static let notExecutable: Int32 = 126
    public static let notFound: Int32 = 127
    /// Every code above: the README's exit-code table must list each (a test checks).
    public static let all: [Int32] = [success, usage, denied, drift, sandbox, notExecutable, notFound]
}

/// An error the CLI prints as "warden: error: …" before exiting with `code`.
public struct WardenFailure: Error, CustomStringConvertible {
    public var message: String
    public var code: Int32
    public init(_ message: String, code: Int32) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}
