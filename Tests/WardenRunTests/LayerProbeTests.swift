import Foundation
import Testing
import WardenOutput
import WardenPolicy
import WardenRun

@Suite struct LayerProbeTests {
    func policy(_ text: String) throws -> EffectivePolicy {
        EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try PolicyParser(source: "t", home: nil).parse(text)])
    }

    @Test func aRestrictedHookWithoutALayerIsUnenforced() throws {
        let p = try policy("exec.default = \"allowlist\"\n[syscall]\ndeny = [\"ptrace\"]\n")
        let none = LayerProbe.layers(policy: p, mode: .enforce, landlockABI: nil, landlockProblem: "off", netProblem: "no BPF")
        #expect(Set(LayerProbe.unenforced(none).map(\.hook)) == [.fileOpen, .renameUnlink, .exec, .connect])
        let all = LayerProbe.layers(policy: p, mode: .enforce, landlockABI: 7, netProblem: nil)
        #expect(LayerProbe.unenforced(all).isEmpty)
        #expect(all.first { $0.hook == .syscalls }?.layer == .seccomp)
    }

    @Test func unrestrictedHooksNeedNoLayer() throws {
        let p = try policy("fs.default = \"unrestricted\"\nnet.default = \"allow\"\n")
        let layers = LayerProbe.layers(policy: p, mode: .enforce, landlockABI: nil, netProblem: "no BPF")
        #expect(LayerProbe.unenforced(layers).isEmpty)
    }

    @Test func observeModeEnforcesNothing() throws {
        let layers = LayerProbe.layers(policy: try policy(""), mode: .observe, landlockABI: 7, netProblem: nil)
        #expect(layers.allSatisfy { !$0.enforcing })
        #expect(layers.first { $0.hook == .connect }?.layer == .cgroupBPF, "connects are still recorded")
    }
}


/// An exec allowlist is partial on every tier: the routes it leaves open are said with it.
@Suite struct ExecOpenRouteTests {
    @Test func anAllowlistSaysWhatStaysOpen() throws {
        let p = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try PolicyParser(source: "t", home: nil).parse("exec.default = \"allowlist\"\n")])
        let exec = try #require(LayerProbe.layers(policy: p, mode: .enforce, landlockABI: 6, netProblem: nil).first { $0.hook == .exec })
        #expect(exec.layer == .landlock && exec.enforcing && exec.openRoutes == LayerProbe.execOpenRoutes)
        #expect(exec.text().contains("    partial: the dynamic loader run as a program"))
        let tierOne = try #require(LayerProbe.layers(policy: p, mode: .enforce, landlockABI: nil, netProblem: nil, lsmLoads: true)
            .first { $0.hook == .exec })
        #expect(tierOne.layer == .bpfLSM && tierOne.openRoutes == LayerProbe.execOpenRoutes)
        let open = EffectivePolicy.merge(base: DefaultPolicy.fragment(), [try PolicyParser(source: "t", home: nil).parse("exec.default = \"allow\"\n")])
        #expect(LayerProbe.layers(policy: open, mode: .enforce, landlockABI: 6, netProblem: nil).allSatisfy { $0.openRoutes == nil })
    }
}
