/// The child's environment: the toolchain baseline plus `allow.env.read`, nothing else.
/// Tokens and keys (GITHUB_TOKEN, AWS_*, CARGO_REGISTRY_TOKEN, SSH_AUTH_SOCK …) are gone
/// unless the policy names them.
public enum EnvironmentScrub {
    /// Passed through when set: what shells, compilers, Cargo, SwiftPM and make read to
    /// behave normally. Patterns ending in `*` match by prefix.
    public static let baseline: [String] = [
        "PATH", "LANG", "LANGUAGE", "LC_*", "TERM", "COLORTERM", "NO_COLOR", "TZ", "TMPDIR",
        "SOURCE_DATE_EPOCH", "CC", "CXX", "CPP", "AR", "LD", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS",
        "PKG_CONFIG_PATH", "MAKEFLAGS", "MAKELEVEL", "MFLAGS",
        "CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_BUILD_JOBS", "CARGO_TERM_COLOR", "CARGO_INCREMENTAL",
        "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "RUSTFLAGS", "RUSTDOCFLAGS", "RUST_BACKTRACE",
        "SWIFT_EXEC", "SWIFTPM_*", "DEVELOPER_DIR",
    ]

    /// `HOME`, `USER`, `LOGNAME` and `PWD` are always set, to the user the child runs as
    /// and its working directory, whatever the parent had (sudo may leave root's).
    public static func childEnvironment(
        parent: [String: String], policy: EffectivePolicy, home: String?, user: String?, cwd: String
    ) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in parent {
            let inBaseline = baseline.contains { EffectivePolicy.envPattern($0, matches: k) }
            if inBaseline || policy.allowsEnv(k) { out[k] = v }
        }
        if out["PATH"] == nil { out["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        if let home { out["HOME"] = home }
        if let user {
            out["USER"] = user
            out["LOGNAME"] = user
        }
        out["PWD"] = cwd
        return out
    }
}
