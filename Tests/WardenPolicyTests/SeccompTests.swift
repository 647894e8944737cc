import Foundation
import Testing
@testable import WardenPolicy

/// A profile in Docker's format (archMap, includes/excludes, argument conditions), as
/// moby's default.json is shaped, with rules chosen to exercise each condition.
let dockerShaped = """
    {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                  {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
      "syscalls": [
        {"names": [\(SeccompProfile.buildCalls.filter { $0 != "clone" }.map { "\"\($0)\"" }.joined(separator: ", ")), "not_a_syscall_anywhere"],
         "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["mount", "umount2", "unshare"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
        {"names": ["pidfd_getfd"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.6"}},
        {"names": ["some_future_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}}
      ]
    }
    """

@Suite struct SeccompTests {
    let x86 = DockerProfile.Target(arch: "SCMP_ARCH_X86_64", kernel: [6, 1])

    func docker() throws -> DockerProfile { try JSONDecoder().decode(DockerProfile.self, from: Data(dockerShaped.utf8)) }

    @Test func dockerConditionsAreResolvedForACapabilityFreeSandbox() throws {
        let p = try docker().resolved(for: x86)
        let names = Set((p.syscalls ?? []).flatMap(\.names))
        #expect(p.architectures == ["SCMP_ARCH_X86_64"] && p.defaultAction == "SCMP_ACT_ERRNO" && p.defaultErrnoRet == 1)
        #expect(names.contains("clone"), "excluded only with CAP_SYS_ADMIN, which the sandbox lacks")
        #expect(!names.contains("mount") && !names.contains("unshare"), "included only with CAP_SYS_ADMIN")
        #expect(!names.contains("s390_pci_mmio_read"))
        #expect(names.contains("pidfd_getfd") && !names.contains("some_future_call"))
        let clone = try #require(p.syscalls?.first { $0.names == ["clone"] })
        #expect(clone.args == [SeccompArg(index: 0, value: 2_114_060_288, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")])
        // With the capability, the conditions flip.
        var admin = x86
        admin.capabilities = ["CAP_SYS_ADMIN"]
        let q = Set((try docker().resolved(for: admin).syscalls ?? []).flatMap(\.names))
        #expect(q.contains("mount") && !q.contains("clone"))
    }

    @Test func compilingKeepsConditionsAndObserveModeOnlyLogs() throws {
        let p = try docker().resolved(for: x86)
        let enforce = try p.compiled(observe: false)
        #expect(enforce.defaultAction == SeccompProfile.actErrno(1))
        let personality = enforce.rules.filter { $0.name == "personality" }
        #expect(personality.count == 2 && personality.allSatisfy { $0.action == SeccompProfile.actAllow && $0.args.count == 1 })
        #expect(personality.map { $0.args[0].op } == [4, 4])
        let clone = try #require(enforce.rules.first { $0.name == "clone" })
        #expect(clone.args == [CompiledFilter.Arg(index: 0, op: 7, value: 2_114_060_288, valueTwo: 0)])
        let observe = try p.compiled(observe: true)
        #expect(observe.defaultAction == SeccompProfile.actLog)
        #expect(observe.rules.allSatisfy { $0.action == SeccompProfile.actAllow || $0.action == SeccompProfile.actLog })
    }

    @Test func badActionsAndComparisonsAreErrors() {
        let notify = SeccompProfile(defaultAction: "SCMP_ACT_NOTIFY")
        #expect(throws: SeccompError.self) { try notify.compiled(observe: false) }
        let badOp = SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
            SeccompRule(names: ["read"], action: "SCMP_ACT_ERRNO", args: [SeccompArg(index: 0, value: 1, op: "SCMP_CMP_SORTA")]),
        ])
        #expect(throws: SeccompError("rule 1: comparison SCMP_CMP_SORTA is not an SCMP_CMP_* operator")) { try badOp.compiled(observe: false) }
        let badIndex = SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
            SeccompRule(names: ["read"], action: "SCMP_ACT_ERRNO", args: [SeccompArg(index: 6, value: 1, op: "SCMP_CMP_EQ")]),
        ])
        #expect(throws: SeccompError("rule 1: argument index 6 is not 0…5")) { try badIndex.compiled(observe: false) }
    }

    @Test func theDenyListWinsOverTheProfile() throws {
        let strict = try #require(SeccompProfile.builtIn(.strict))
        #expect(strict.syscalls?.first?.names.contains("mkdir") == true)
        let p = strict.denying([("mkdir", "warden.toml:3")])
        let rules = try p.compiled(observe: false).rules.filter { $0.name == "mkdir" }
        #expect(rules.map(\.action) == [SeccompProfile.actErrno(1)])
    }

    @Test func builtInProfiles() throws {
        #expect(SeccompProfile.builtIn(.none) == nil)
        #expect(Set(SeccompProfile.hostCalls).isDisjoint(with: SeccompProfile.buildCalls), "strict must not allow what basic refuses")
        let basic = try #require(SeccompProfile.builtIn(.basic))
        #expect(basic.defaultAction == "SCMP_ACT_ALLOW")
        for call in ["ptrace", "mount", "bpf", "unshare", "init_module", "kexec_load", "io_uring_setup", "perf_event_open", "keyctl"] {
            #expect(basic.syscalls?.first?.names.contains(call) == true, "\(call)")
        }
    }

    @Test func policyKeys() throws {
        let f = try parse("[syscall]\nprofile = \"strict\"\noci_profile = \"/etc/warden/docker.json\"\n[limits]\ncpu_seconds = 600\nopen_files = 4096\naddress_space_mib = 8192\nprocesses = 512\n")
        #expect(f.syscallProfile?.value == .strict && f.syscallProfile?.origin.line == 2)
        #expect(f.syscallOCIProfile?.value == "/etc/warden/docker.json")
        #expect(f.limits[.cpuSeconds]?.value == 600 && f.limits[.openFiles]?.value == 4096)
        #expect(f.limits[.addressSpaceMiB]?.value == 8192 && f.limits[.processes]?.value == 512)
        #expect(parseError("[syscall]\nprofile = \"paranoid\"\n")?.description == "warden.toml:2: syscall.profile: 'paranoid' is not \"none\" or \"basic\" or \"strict\" or \"allowlist\"")
        #expect(parseError("[syscall]\noci_profile = \"docker.json\"\n")?.description.contains("relative path") == true)
        #expect(parseError("[limits]\nopen_files = 0\n")?.description == "warden.toml:2: limits.open_files: expected a positive integer, found 0")
        #expect(parseError("[limits]\nopen_files = \"many\"\n")?.line == 2)
        #expect(parseError("[limits]\nthreads = 5\n")?.description.contains("unknown key") == true)
    }

    @Test func mergeAndEffectiveFilter() {
        var a = PolicyFragment()
        a.syscallProfile = Located(.basic, Provenance(source: "a"))
        a.limits[.openFiles] = Located(100, Provenance(source: "a"))
        var b = PolicyFragment()
        b.limits[.openFiles] = Located(200, Provenance(source: "b"))
        b.syscallDeny = [Located("mkdir", Provenance(source: "b", line: 4))]
        let eff = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [a, b])
        #expect(eff.syscallProfile.value == .basic && eff.limits[.openFiles]?.value == 200)
        let p = eff.seccompProfile(ociProfile: nil, arch: "SCMP_ARCH_X86_64")
        #expect(p?.architectures == ["SCMP_ARCH_X86_64"])
        #expect(p?.syscalls?.dropLast(SeccompProfile.boundaryRules.count).last?.names == ["mkdir"])
        #expect(Array(p?.syscalls?.suffix(SeccompProfile.boundaryRules.count) ?? []) == SeccompProfile.boundaryRules)
        // With no profile and no deny list, the boundary rules stay: they are the sandbox's.
        var none = DefaultPolicy.fragment()
        none.syscallDeny = []
        none.syscallProfile = Located(.none, .builtIn)
        let bare = EffectivePolicy.merge(base: none, []).seccompProfile(ociProfile: nil, arch: "SCMP_ARCH_X86_64")
        #expect(bare?.defaultAction == "SCMP_ACT_ALLOW" && bare?.syscalls == SeccompProfile.boundaryRules)
    }

    /// The boundary rules, pinned here rather than read back from the implementation.
    @Test func boundaryRulesRefuseTheWaysOut() throws {
        let rules = SeccompProfile.boundaryRules
        #expect(rules.first == SeccompRule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        for call in ["clone", "unshare"] {
            let masks = rules.filter { $0.names == [call] }.compactMap { $0.args?.first }
            #expect(Set(masks.map(\.value)) == [0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x80], "\(call)")
            #expect(masks.allSatisfy { $0.op == "SCMP_CMP_MASKED_EQ" && $0.valueTwo == $0.value && $0.index == 0 }, "\(call)")
        }
        #expect(rules.contains(SeccompRule(names: ["prlimit64"], action: "SCMP_ACT_ERRNO", errnoRet: 1,
                                           args: [SeccompArg(index: 0, value: 0, op: "SCMP_CMP_NE")])))
        let ioctls = rules.filter { $0.names == ["ioctl"] }.compactMap { $0.args?.first }
        // TIOCSTI, TIOCLINUX; then the inode-flag ioctls (chattr).
        #expect(ioctls.map(\.valueTwo) == [0x5412, 0x541C, 0x4008_6602, 0x4004_6602, 0x401C_5820]
                    && ioctls.allSatisfy { $0.value == 0xFFFF_FFFF && $0.index == 1 && $0.op == "SCMP_CMP_MASKED_EQ" })
        // Set-ID bits: each mode-setting call, for each bit, at the mode's argument.
        func setID(_ name: String) -> [[SeccompArg]] { rules.filter { $0.names == [name] && $0.errnoRet == 1 }.compactMap(\.args) }
        for (name, index) in [("chmod", UInt32(1)), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2), ("creat", 1), ("mknod", 1), ("mknodat", 2)] {
            #expect(Set(setID(name).map { $0.map(\.value) }) == [[0o4000], [0o2000]], "\(name)")
            #expect(setID(name).allSatisfy { $0.count == 1 && $0[0].index == index && $0[0].valueTwo == $0[0].value }, "\(name)")
        }
        for (name, flags) in [("openat", UInt32(2)), ("open", 1)] {
            let combos: [String] = setID(name).map { args in args.map { "\($0.index):\($0.value)" }.joined(separator: " ") }
            let expected: Set<String> = ["\(flags):64 \(flags + 1):2048", "\(flags):64 \(flags + 1):1024",
                                         "\(flags):4194304 \(flags + 1):2048", "\(flags):4194304 \(flags + 1):1024"]
            #expect(Set(combos) == expected && combos.count == 4, "\(name)")
        }
        #expect(rules.contains(SeccompRule(names: ["openat2"], action: "SCMP_ACT_ERRNO", errnoRet: 38)))
        // Added once, even to a profile that already carries them (an export re-imported).
        let p = SeccompProfile(defaultAction: "SCMP_ACT_ALLOW").withBoundary()
        #expect(p.withBoundary() == p)
        #expect(try p.compiled(observe: true).rules.allSatisfy { $0.action == SeccompProfile.actLog })
    }
}
