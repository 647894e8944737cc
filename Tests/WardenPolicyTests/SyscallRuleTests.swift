import Foundation
import Testing
@testable import WardenPolicy

/// `[[syscall.rule]]`: parsing with lines, every error a rule can carry, conflicts after
/// the merge, groups, the filters a policy becomes and the OCI round trip.
@Suite struct SyscallRuleTests {
    static let rules = """
        mode = "enforce"

        [[syscall.rule]]
        names  = ["socket"]
        action = "errno"
        errno  = "EAFNOSUPPORT"
        args   = [{ index = 0, op = "eq", value = 17 }]

        [[syscall.rule]]
        names = ["@mount", "personality"]
        action = "kill_process"

        [[syscall.rule]]
        names = ["ioctl"]
        action = "trap"
        args = [
          { index = 1, op = "masked_eq", mask = 0xffffffff, value = 0x5401 },
          { index = 0, op = "ge", value = 3 },
        ]
        """

    @Test func rulesAreParsedWithTheirLines() throws {
        let f = try parse(Self.rules)
        #expect(f.syscallRules.map(\.origin.line) == [3, 9, 13])
        #expect(f.syscallRules[0].value == SyscallRuleSpec(names: ["socket"], action: .errno, errno: 97,
                                                           args: [ArgCondition(index: 0, op: .eq, value: 17)]))
        #expect(f.syscallRules[1].value == SyscallRuleSpec(names: ["@mount", "personality"], action: .killProcess))
        #expect(f.syscallRules[2].value.args == [ArgCondition(index: 1, op: .maskedEq, value: 0x5401, mask: 0xffff_ffff),
                                                 ArgCondition(index: 0, op: .ge, value: 3)])
    }

    @Test func inlineFormAndEveryActionAndOp() throws {
        let actions = RuleAction.allCases.map { a in
            "{ names = [\"n\(a.rawValue)\"], action = \"\(a.rawValue)\"" + (a == .errno ? ", errno = 13" : "") + " }"
        }
        let ops = ArgOp.allCases.map { o in
            "{ index = 2, op = \"\(o.rawValue)\", value = -100" + (o == .maskedEq ? ", mask = -1" : "") + " }"
        }
        let text = "[syscall]\nrule = [\n" + actions.joined(separator: ",\n") + ",\n{ names = [\"openat\"], action = \"log\", args = [" + ops.joined(separator: ", ") + "] }\n]\n"
        let f = try parse(text)
        #expect(f.syscallRules.map(\.value.action) == RuleAction.allCases + [.log])
        #expect(f.syscallRules.map(\.origin.line) == Array(3...(3 + RuleAction.allCases.count)))
        #expect(f.syscallRules[RuleAction.allCases.firstIndex(of: .errno)!].value.errno == 13)
        let conds = f.syscallRules.last!.value.args
        #expect(conds.map(\.op) == ArgOp.allCases)
        #expect(conds.allSatisfy { $0.value == UInt64(bitPattern: -100) && $0.index == 2 })
        #expect(conds.last!.mask == UInt64.max)
    }

    /// Each mistake names the line it is on and what is wrong.
    @Test(arguments: [
        ("names = [\"socket\"]\naction = \"deny\"", 3, "syscall.rule[0].action: 'deny' is not \"allow\""),
        ("names = [\"socket\"]", 1, "syscall.rule[0]: a syscall rule needs action"),
        ("action = \"allow\"", 1, "needs names"),
        ("names = []\naction = \"allow\"", 2, "non-empty array"),
        ("names = [\"@nope\"]\naction = \"allow\"", 2, "'@nope' is not a syscall group"),
        ("names = [\"Socket\"]\naction = \"allow\"", 2, "'Socket' is not a syscall name"),
        ("names = [\"socket\"]\naction = \"allow\"\nerrno = 1", 4, "errno is only for action = \"errno\""),
        ("names = [\"socket\"]\naction = \"errno\"\nerrno = \"EWHAT\"", 4, "'EWHAT' is not an errno name"),
        ("names = [\"socket\"]\naction = \"errno\"\nerrno = 5000", 4, "5000 is not an errno number"),
        ("names = [\"socket\"]\naction = \"errno\"\nargs = [{ index = 6, op = \"eq\", value = 1 }]", 4, "args[0].index: 6 is not an argument index"),
        ("names = [\"socket\"]\naction = \"errno\"\nargs = [{ index = 0, op = \"like\", value = 1 }]", 4, "'like' is not a comparison"),
        ("names = [\"socket\"]\naction = \"errno\"\nargs = [{ index = 0, op = \"eq\", value = 1, mask = 1 }]", 4, "mask is only for op = \"masked_eq\""),
        ("names = [\"socket\"]\naction = \"errno\"\nargs = [{ index = 0, op = \"masked_eq\", value = 1 }]", 4, "needs a mask"),
        ("names = [\"socket\"]\naction = \"errno\"\nargs = [{ index = 0, op = \"eq\", value = \"1\" }]", 4, "value: expected an integer"),
        ("names = [\"socket\"]\naction = \"errno\"\nwhy = 1", 4, "why: unknown key in a syscall rule"),
    ])
    func mistakesAreLocated(_ body: String, _ offset: Int, _ message: String) throws {
        let text = "mode = \"enforce\"\n[[syscall.rule]]\n" + body + "\n"
        let e = try #require(parseError(text))
        #expect(e.line == 1 + offset, "\(e)")
        #expect(e.description.contains(message), "\(e)")
        #expect(e.file == "warden.toml")
    }

    @Test func aRuleThatIsNotATableIsRefused() throws {
        let e = try #require(parseError("[syscall]\nrule = [\"socket\"]\n"))
        #expect(e.line == 2 && e.description.contains("expected a table"), "\(e)")
        let single = try #require(parseError("[syscall.rule]\nnames = [\"x\"]\n"))
        #expect(single.description.contains("expected an array of tables"), "\(single)")
    }

    func merged(_ texts: [String]) throws -> EffectivePolicy {
        let layers = try texts.enumerated().map { i, t in try PolicyParser(source: "p\(i).toml", home: nil).parse(t) }
        return EffectivePolicy.merge(base: DefaultPolicy.fragment(), layers)
    }

    /// Contradictions are found across files, after the merge; the later rule is named
    /// with the earlier one's place. Agreeing or disjoint rules stand together.
    @Test func conflictsAcrossFilesExitWithBothPlaces() throws {
        let errnoSocket = "[[syscall.rule]]\nnames = [\"socket\"]\naction = \"errno\"\n"
        let trapSocket = "\n\n[[syscall.rule]]\nnames = [\"@network-io\"]\naction = \"trap\"\n"
        let p = try merged([errnoSocket, trapSocket])
        #expect(throws: PolicyError(file: "p1.toml", line: 3, key: "syscall.rule",
                                    message: "conflicting rules for socket: the rule at p0.toml:1 answers the same calls with errno EPERM, this one with trap")) {
            try p.checkSyscallRules()
        }
        let conditional = "[[syscall.rule]]\nnames = [\"socket\"]\naction = \"allow\"\nargs = [{ index = 0, op = \"eq\", value = 1 }]\n"
        #expect(throws: PolicyError.self) { try merged([errnoSocket, conditional]).checkSyscallRules() }
        let denied = "[syscall]\ndeny = [\"ptrace\"]\n[[syscall.rule]]\nnames = [\"@debug\"]\naction = \"log\"\n"
        #expect(throws: PolicyError.self) { try merged([denied]).checkSyscallRules() }
        // Same answer twice, or two conditions on different values: no conflict.
        let otherErrno = "[[syscall.rule]]\nnames = [\"socket\"]\naction = \"errno\"\nargs = [{ index = 0, op = \"eq\", value = 17 }]\n"
        let otherValue = "[[syscall.rule]]\nnames = [\"socket\"]\naction = \"allow\"\nargs = [{ index = 0, op = \"eq\", value = 1 }]\n"
        try merged([errnoSocket, errnoSocket, otherErrno.replacingOccurrences(of: "errno\"", with: "errno\"\nerrno = 1")]).checkSyscallRules()
        try merged([otherErrno, otherValue]).checkSyscallRules()
        #expect(try merged([errnoSocket, errnoSocket]).syscallRules.count == 1, "a repeated rule is kept once")
    }

    @Test func groupsExpandRecursivelyOnce() {
        let names = SyscallGroups.expand(["@privileged", "mount", "socket"])
        #expect(names.contains("mount") && names.contains("iopl") && names.contains("reboot") && names.contains("socket"))
        #expect(Set(names).count == names.count)
        #expect(!names.contains { $0.hasPrefix("@") })
        for g in SyscallGroups.all { #expect(g.name.hasPrefix("@") && !g.members.isEmpty) }
        for name in ["@mount", "@module", "@raw-io", "@reboot", "@swap", "@clock", "@debug", "@privileged", "@network-io", "@ipc", "@process", "@obsolete"] {
            #expect(SyscallGroups.group(name) != nil, "\(name)")
        }
    }

    /// allow rules join the profile's filter (replacing what it said of the call); the
    /// others form their own filter over a default of allow; the boundary filter is last.
    @Test func rulesBecomeTheirOwnFilter() throws {
        let p = try merged(["[syscall]\nprofile = \"basic\"\n" + Self.rules.replacingOccurrences(of: "mode = \"enforce\"", with: "")
                            + "\n[[syscall.rule]]\nnames = [\"ptrace\"]\naction = \"allow\"\n"])
        let filters = p.seccompFilters(ociProfile: nil, arch: "SCMP_ARCH_X86_64")
        #expect(filters.count == 3)
        let own = filters[0].syscalls ?? []
        #expect(own.contains(SeccompRule(names: ["ptrace"], action: "SCMP_ACT_ALLOW")))
        #expect(!own.contains { $0.action != "SCMP_ACT_ALLOW" && $0.names.contains("ptrace") }, "basic's refusal of ptrace is replaced")
        #expect(filters[1].defaultAction == "SCMP_ACT_ALLOW" && filters[1].syscalls?.count == 3)
        #expect(filters[1].syscalls?[1].names.contains("pivot_root") == true, "@mount expanded")
        #expect(filters[2] == SeccompProfile.boundaryFilter(execAllowlist: false, arch: "SCMP_ARCH_X86_64"))
        let compiled = try filters[1].compiled(observe: false)
        #expect(compiled.rules.first { $0.name == "socket" }?.action == SeccompProfile.actErrno(97))
        #expect(compiled.rules.first { $0.name == "personality" }?.action == SeccompProfile.actKillProcess)
        #expect(compiled.rules.first { $0.name == "ioctl" }?.args == [CompiledFilter.Arg(index: 1, op: 7, value: 0xffff_ffff, valueTwo: 0x5401),
                                                                      CompiledFilter.Arg(index: 0, op: 5, value: 3, valueTwo: 0)])
        let observed = try filters[1].compiled(observe: true)
        #expect(observed.rules.allSatisfy { $0.action == SeccompProfile.actLog }, "observe mode refuses nothing")
    }

    /// Export to OCI and back keeps every field: actions, errno, each op, masks, indexes.
    @Test func ociRoundTripKeepsEveryField() throws {
        var specs = RuleAction.allCases.map { SyscallRuleSpec(names: ["read", "write"], action: $0, errno: $0 == .errno ? 13 : nil) }
        specs += ArgOp.allCases.enumerated().map { i, op in
            SyscallRuleSpec(names: ["openat"], action: .errno, errno: UInt32(i + 1),
                            args: [ArgCondition(index: UInt32(i % 6), op: op, value: UInt64(i) << 40 | 7, mask: op == .maskedEq ? 0xf0f0 : nil),
                                   ArgCondition(index: 5, op: .ne, value: UInt64.max)])
        }
        let profile = SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", syscalls: specs.map { $0.oci() })
        let data = try JSONEncoder().encode(profile)
        let back = try JSONDecoder().decode(DockerProfile.self, from: data).resolved(for: DockerProfile.Target(arch: "SCMP_ARCH_X86_64", kernel: [6, 1]))
        #expect((back.syscalls ?? []).compactMap(SyscallRuleSpec.init(oci:)) == specs)
        // And through TOML: the rules as `[[syscall.rule]]` tables parse back to themselves.
        let toml = specs.map(\.toml).joined(separator: "\n")
        let reparsed = try parse(toml)
        #expect(reparsed.syscallRules.map(\.value) == specs, "\(toml)")
    }
}

@Suite struct SeccompGeneratorTests {
    @Test func theAllowlistIsTheUnionPlusWardensNeeds() throws {
        let names = SeccompGenerator.allowlist([["openat": 3, "read": 9, "#999": 1], ["read": 1, "mkdirat": 1, "never": 0]])
        #expect(names == ["execve", "exit", "exit_group", "mkdirat", "openat", "prctl", "read", "seccomp", "sendmsg", "write"])
        let p = SeccompGenerator.profile(names, arch: "SCMP_ARCH_X86_64")
        #expect(p.defaultAction == "SCMP_ACT_ERRNO" && p.defaultErrnoRet == 1 && p.syscalls == [SeccompRule(names: names, action: "SCMP_ACT_ALLOW")])
        // The TOML form parses back to the allowlist profile with one allow rule.
        let f = try parse(SeccompGenerator.toml(names, runs: ["r1", "r2"]))
        #expect(f.syscallProfile?.value == .allowlist)
        #expect(f.syscallRules.map(\.value) == [SyscallRuleSpec(names: names, action: .allow)])
        let policy = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [f])
        let own = try #require(policy.seccompFilters(ociProfile: nil, arch: "SCMP_ARCH_X86_64").first)
        #expect(own.defaultAction == "SCMP_ACT_ERRNO" && own.syscalls == [SeccompRule(names: names, action: "SCMP_ACT_ALLOW")])
    }
}

@Suite struct NotifyPolicyTests {
    static let rules = """
        [syscall]
        notify_default = "allow"

        [[syscall.rule]]
        names = ["getppid"]
        action = "notify"
        errno = "EXDEV"
        answer = "errno"
        args = [{ index = 0, op = "ge", value = 10 }]

        [[syscall.rule]]
        names = ["@ipc"]
        action = "notify"
        """

    @Test func answersFollowTheRuleThenTheDefault() throws {
        let p = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try parse(Self.rules)])
        #expect(p.syscallNotifyDefault.value == .allow && p.syscallNotifyDefault.origin.line == 2)
        let refused = p.notifyAnswer(syscall: "getppid", args: [11, 0, 0, 0, 0, 0], observe: false)
        #expect(refused.rule?.origin.line == 4 && !refused.allow && refused.errno == 18)
        #expect(p.notifyAnswer(syscall: "getppid", args: [11, 0, 0, 0, 0, 0], observe: true).allow, "observe mode allows")
        let uncovered = p.notifyAnswer(syscall: "getppid", args: [9, 0, 0, 0, 0, 0], observe: false)
        #expect(uncovered.rule == nil && !uncovered.allow, "no rule covers it: refused")
        let byDefault = p.notifyAnswer(syscall: "pipe2", args: [0, 0, 0, 0, 0, 0], observe: false)
        #expect(byDefault.rule?.origin.line == 11 && byDefault.allow)
        // Without notify_default the agent refuses (EPERM).
        let strict = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try parse(Self.rules.replacingOccurrences(of: "notify_default = \"allow\"", with: ""))])
        let e = strict.notifyAnswer(syscall: "pipe2", args: [0, 0, 0, 0, 0, 0], observe: false)
        #expect(!e.allow && e.errno == 1)
        // The notify rules are the last filter, and the only one with NOTIFY.
        let filters = p.seccompFilters(ociProfile: nil, arch: "SCMP_ARCH_X86_64")
        #expect(filters.last?.syscalls?.allSatisfy { $0.action == "SCMP_ACT_NOTIFY" } == true)
        #expect(filters.dropLast().allSatisfy { ($0.syscalls ?? []).allSatisfy { $0.action != "SCMP_ACT_NOTIFY" } })
        #expect(try filters.last!.compiled(observe: true).rules.allSatisfy { $0.action == SeccompProfile.actNotify }, "observe keeps NOTIFY")
    }

    @Test func eachConditionHoldsLikeSeccomp() {
        let v: UInt64 = 10
        let cases: [(ArgOp, [Bool])] = [(.eq, [false, true, false]), (.ne, [true, false, true]), (.lt, [true, false, false]),
                                        (.le, [true, true, false]), (.gt, [false, false, true]), (.ge, [false, true, true])]
        for (op, want) in cases {
            #expect([9, 10, 11].map { ArgCondition(index: 0, op: op, value: v).holds($0) } == want, "\(op)")
        }
        #expect(ArgCondition(index: 0, op: .maskedEq, value: 0x10, mask: 0xf0).holds(0x1f))
        #expect(!ArgCondition(index: 0, op: .maskedEq, value: 0x10, mask: 0xf0).holds(0x0a))
        #expect(ArgCondition(index: 0, op: .lt, value: 1).holds(UInt64.max) == false, "unsigned, like seccomp")
    }

    @Test func callsBeforeTheListenerCannotBeNotified() throws {
        for name in ["sendmsg", "execve", "exit_group"] {
            let p = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try parse("[[syscall.rule]]\nnames = [\"\(name)\"]\naction = \"notify\"\n")])
            #expect(throws: PolicyError.self) { try p.checkSyscallRules() }
        }
        // From a group they are left out instead.
        let g = SyscallRuleSpec(names: ["@network-io", "@process"], action: .notify).oci()
        #expect(!g.names.contains("sendmsg") && !g.names.contains("execve") && g.names.contains("connect"))
        let e = try #require(parseError("[[syscall.rule]]\nnames = [\"read\"]\naction = \"log\"\nanswer = \"allow\"\n"))
        #expect(e.description.contains("answer is only for action = \"notify\""), "\(e)")
    }
}
