import Testing
@testable import WardenPolicy

/// The run's plan from the policy and what the session found on disk, without a kernel.
@Suite struct RunPlanTests {
    func policy(_ text: String) throws -> EffectivePolicy {
        EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try PolicyParser(source: "t", home: nil).parse(text)])
    }

    @Test func aMakeWorkspaceKeepsNestedRepositoriesReadOnly() throws {
        let p = try policy("net.default = \"allow\"\n")
        let ctx = RunContext(workspace: "/w", buildSystem: .make, home: "/home/u", environment: [:], tmpdir: "/tmp/t")
        var asked: [String] = []
        let plan = RunPlan(policy: p, context: ctx, gitEntries: { asked.append($0); return ["/w/.git", "/w/vendor/x/.git", "/w/sub/.git"] },
                           allowedPrograms: [], realPath: { $0 })
        #expect(asked == ["/w"], "the repositories below the workspace are asked for once")
        let protected = Set(plan.filesystem?.protected.map(\.path) ?? [])
        #expect(protected.isSuperset(of: ["/w/vendor/x/.git", "/w/sub/.git", "/w/.git"]), "\(protected)")
        #expect(plan.decider.decide(.open, path: "/w/src/a.c", read: true, write: true).allowed)
        #expect(!plan.decider.decide(.open, path: "/w/vendor/x/.git/config", read: false, write: true).allowed)
        #expect(plan.executables == nil && plan.unixSockets == nil, "exec and net allowed: nothing listed")
    }

    @Test func anAllowlistAndADeniedNetworkAreCarried() throws {
        let p = try policy("exec.default = \"allowlist\"\n[allow.net]\nunix = [\"/run/x.sock\"]\n")
        let ctx = RunContext(workspace: "/w", buildSystem: .cargo, home: "/home/u", environment: [:], tmpdir: "/tmp/t")
        let plan = RunPlan(policy: p, context: ctx, gitEntries: { _ in Issue.record("a cargo workspace keeps no repository read-only"); return [] },
                           allowedPrograms: ["/usr/bin/cc"], realPath: { $0 })
        #expect(plan.executables == ["/usr/bin/cc"])
        #expect(plan.decider.decide(.exec, path: "/usr/bin/cc", read: true, write: false).allowed)
        #expect(!plan.decider.decide(.exec, path: "/usr/bin/curl", read: true, write: false).allowed)
        #expect(plan.unixSockets?.contains("/run/x.sock") == true)
        #expect(plan.decider.decide(.unixConnect, path: "/run/x.sock", read: false, write: true).allowed)
        #expect(!plan.decider.decide(.unixConnect, path: "/run/other.sock", read: false, write: true).allowed)
    }
}

/// A conditional allow of a call a profile refuses outright lifts the refusal for the
/// matching calls only.
@Suite struct ConditionalAllowTests {
    func profile(_ text: String) throws -> SeccompProfile? {
        let p = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try PolicyParser(source: "t", home: nil).parse(text)])
        return p.ownProfile(ociProfile: nil, arch: "SCMP_ARCH_X86_64")
    }

    @Test func theProfilesRefusalStaysForCallsThatDoNotMatch() throws {
        let p = try #require(try profile("[syscall]\nprofile = \"basic\"\n[[syscall.rule]]\nnames = [\"ptrace\"]\naction = \"allow\"\n"
            + "args = [{ index = 0, op = \"eq\", value = 0 }]\n"))
        let ptrace = (p.syscalls ?? []).filter { $0.names.contains("ptrace") }
        #expect(ptrace.contains { $0.action == "SCMP_ACT_ALLOW" && $0.args?.first?.op == "SCMP_CMP_EQ" })
        #expect(ptrace.contains { $0.action == "SCMP_ACT_ERRNO" && $0.args == [SeccompArg(index: 0, value: 0, op: "SCMP_CMP_NE")] },
                "\(ptrace)")
        #expect(!ptrace.contains { $0.action == "SCMP_ACT_ERRNO" && $0.args == nil })
        // An unconditional allow still replaces the refusal whole.
        let whole = try #require(try profile("[syscall]\nprofile = \"basic\"\n[[syscall.rule]]\nnames = [\"ptrace\"]\naction = \"allow\"\n"))
        #expect((whole.syscalls ?? []).filter { $0.names.contains("ptrace") }.allSatisfy { $0.action == "SCMP_ACT_ALLOW" })
    }
}
