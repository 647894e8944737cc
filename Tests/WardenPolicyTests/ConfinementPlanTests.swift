import Testing
@testable import WardenPolicy

@Suite struct LandlockPlanTests {
    func policy(fs: FsDefault, exec: ExecDefault) -> EffectivePolicy {
        var f = PolicyFragment()
        f.fsDefault = Located(fs, .builtIn)
        f.execDefault = Located(exec, .builtIn)
        return EffectivePolicy.merge(base: DefaultPolicy.fragment(), [f])
    }

    func fsPlan(_ p: EffectivePolicy) -> FilesystemPlan? {
        p.filesystemPlan(RunContext(workspace: "/w", buildSystem: .cargo, home: "/home/u", environment: [:], tmpdir: "/tmp/warden-tmp-x"))
    }

    @Test func strictFilesWithFreeExec() throws {
        let p = policy(fs: .strict, exec: .allow)
        let plan = try #require(p.landlockPlan(fsPlan(p), allowedPrograms: [], abi: 7))
        #expect(!plan.handled.contains(.execute), "exec is not restricted, so not handled")
        #expect(plan.handled.isSuperset(of: [.readFile, .writeFile, .refer, .truncate, .ioctlDev]))
        #expect(plan.rules.allSatisfy { plan.handled.isSuperset(of: $0.rights) }, "no rule grants an unhandled right (EINVAL)")
        let ws = try #require(plan.rules.first { $0.path == "/w" })
        #expect(ws.rights == .read)
        let target = try #require(plan.rules.first { $0.path == "/w/target" })
        #expect(target.rights.contains(.writeFile) && target.rights.contains(.removeFile) && target.rights.contains(.makeReg))
        #expect(plan.rules.contains { $0.path == "/tmp/warden-tmp-x" && $0.rights.contains(.writeFile) })
        #expect(!plan.rules.contains { $0.path == "/tmp" }, "the shared /tmp is not granted")
        #expect(plan.scopeSignalsAndSockets)
    }

    @Test func execAllowlistGrantsExecuteOnlyOnTheListedFiles() throws {
        let p = policy(fs: .strict, exec: .allowlist)
        let plan = try #require(p.landlockPlan(fsPlan(p), allowedPrograms: ["/usr/bin/make", "/lib64/ld-linux-x86-64.so.2"], abi: 7))
        #expect(plan.handled.contains(.execute))
        let executable = plan.rules.filter { $0.rights.contains(.execute) }.map(\.path)
        #expect(executable == ["/usr/bin/make", "/lib64/ld-linux-x86-64.so.2"])
    }

    @Test func unrestrictedFilesWithAnAllowlistHandlesOnlyExecute() throws {
        let p = policy(fs: .unrestricted, exec: .allowlist)
        #expect(fsPlan(p) == nil)
        let plan = try #require(p.landlockPlan(nil, allowedPrograms: ["/usr/bin/cc"], abi: 3))
        #expect(plan.handled == .execute)
        #expect(plan.rules.map(\.path) == ["/usr/bin/cc"])
        #expect(!plan.scopeSignalsAndSockets, "scoping needs ABI 6")
    }

    @Test func nothingToDoWhenNothingIsRestricted() {
        let p = policy(fs: .unrestricted, exec: .allow)
        #expect(p.landlockPlan(nil, allowedPrograms: [], abi: 7) == nil)
    }

    @Test(arguments: 1...7)
    func rightsFollowTheABI(_ abi: Int) throws {
        let p = policy(fs: .strict, exec: .allow)
        let plan = try #require(p.landlockPlan(fsPlan(p), allowedPrograms: [], abi: abi))
        #expect(plan.handled.contains(.refer) == (abi >= 2))
        #expect(plan.handled.contains(.truncate) == (abi >= 3))
        #expect(plan.handled.contains(.ioctlDev) == (abi >= 5))
        #expect(LandlockRights.known(abi: abi).isSuperset(of: plan.handled))
    }
}
