import CWardenLSMHost
import Foundation
import Testing
@testable import WardenPolicy

/// The tier-1 trie rules decide exactly as the agent's FileDecider (and so as Landlock's
/// accumulated rights) for every path: checked on fixed cases and on random trees. The
/// tier-1 side is lsm.bpf.c's own file_open decision (bpf/include/warden/lsm_decide.h,
/// compiled on the host by CWardenLSMHost) over a trie filled as the loader fills the
/// kernel's, from the rules warden would load.
@Suite struct TierOneTests {
    let decider = FileDecider(read: ["/", "/usr", "/home/u/proj"], write: ["/home/u/proj/target", "/dev/null"],
                              exec: ["/usr/bin/cc", "/home/u/proj/target"])

    /// The BPF program's tries, as BPFObject.configureLSM fills them.
    final class Tries {
        let raw: OpaquePointer

        init(_ rules: TierOneRules) {
            raw = warden_host_tries_new(rules.fsStrict ? 1 : 0, rules.execAllowlist ? 1 : 0)
            for rule in rules.fs { #expect(warden_host_tries_add(raw, 0, rule.key, rule.key.count, rule.rights) == 0) }
            for key in rules.exec { #expect(warden_host_tries_add(raw, 1, key, key.count, 0) == 0) }
        }

        deinit { warden_host_tries_free(raw) }

        /// file_open's answer for an open with this access; an exec is opened for reading
        /// with __FMODE_EXEC.
        func allows(_ path: String, read: Bool, write: Bool, exec: Bool) -> Bool {
            let mode = UInt32((read ? 0x1 : 0) | (write ? 0x2 : 0) | (exec ? 0x20 : 0))
            return warden_host_file_open_refused(raw, mode, exec ? 0x20 : 0, path) == 0
        }
    }

    func same(_ d: FileDecider, _ path: String, seed: UInt64? = nil, file: String = #fileID, line: Int = #line) {
        let t = Tries(TierOneRules(d))
        let context = seed.map { " (seed \($0))" } ?? ""
        for (r, w) in [(true, false), (false, true), (true, true)] {
            #expect(t.allows(path, read: r, write: w, exec: false) == d.decide(.open, path: path, read: r, write: w).allowed,
                    "\(path) r\(r) w\(w) read \(d.read ?? []) write \(d.write ?? []) exec \(d.exec ?? [])\(context)")
        }
        #expect(t.allows(path, read: true, write: false, exec: true) == d.decide(.exec, path: path, read: true, write: false).allowed,
                "exec \(path) read \(d.read ?? []) exec \(d.exec ?? [])\(context)")
    }

    @Test func keysAreWholeComponents() {
        let t = Tries(TierOneRules(FileDecider(read: ["/usr"], write: [], exec: nil)))
        #expect(t.allows("/usr/bin/cc", read: true, write: false, exec: false))
        #expect(t.allows("/usr", read: true, write: false, exec: false))
        #expect(!t.allows("/usrx/bin", read: true, write: false, exec: false))
        #expect(!t.allows("/us", read: true, write: false, exec: false))
        #expect(!t.allows("/usr/bin/cc", read: false, write: true, exec: false))
        #expect(TierOneRules.key("/") == Array("/".utf8) && TierOneRules.key("/a") == Array("/a/".utf8))
    }

    @Test func rightsAccumulateFromRulesAbove() {
        // /home/u/proj/target/x is writable (its own rule) and readable (from /): one key says both.
        let t = TierOneRules(decider)
        let target = t.fs.first { $0.key == TierOneRules.key("/home/u/proj/target") }
        #expect(target?.rights == TierOneRules.read | TierOneRules.write)
        for p in ["/home/u/proj/target/debug/x", "/home/u/proj/src/main.rs", "/usr/bin/cc", "/etc/shadow", "/dev/null",
                  "/home/u/.ssh/id_rsa", "/home/u/proj", "/home/u/projx/a", "/usr/bin/gcc", "/home/u/proj/target"] {
            same(decider, p)
        }
    }

    @Test func unrestrictedAndNoExecAllowlist() {
        same(FileDecider(read: nil, write: nil, exec: nil), "/anything")
        same(FileDecider(read: nil, write: nil, exec: ["/usr/bin/cc"]), "/usr/bin/gcc")
        same(FileDecider(read: ["/usr"], write: [], exec: nil), "/usr/bin/gcc")
        same(FileDecider(read: ["/usr"], write: [], exec: nil), "/opt/x")
    }

    /// Random trees of rules and paths over a few names that prefix one another (a, ab,
    /// usr, …). The seed is printed; WARDEN_TEST_SEED repeats a run.
    @Test func randomTreesAgree() {
        let seed = TestSeed.value(for: "TierOneTests.randomTreesAgree")
        var rng = SplitMix64(state: seed)
        let names = ["a", "b", "ab", "c", "usr", "bin", "x"]
        func randomPath() -> String {
            "/" + (0..<Int.random(in: 0...4, using: &rng)).map { _ in names.randomElement(using: &rng)! }.joined(separator: "/")
        }
        for _ in 0..<300 {
            let read = (0..<Int.random(in: 0...4, using: &rng)).map { _ in randomPath() }
            let write = (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomPath() }
            let exec: [String]? = Bool.random(using: &rng) ? (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomPath() } : nil
            let d = FileDecider(read: Bool.random(using: &rng) ? read + write : nil, write: write, exec: exec)
            let decider = FileDecider(read: d.read, write: d.read == nil ? nil : write, exec: exec)
            for _ in 0..<20 { same(decider, randomPath(), seed: seed) }
        }
    }

    @Test func pathsTheKernelCouldNotNameAreNeverCovered() {
        let d = FileDecider(read: ["/"], write: ["/"], exec: nil)
        #expect(!d.decide(.open, path: "?/d/d/f", read: true, write: false).allowed)
        #expect(d.decide(.open, path: "pipefs:", read: true, write: true).allowed, "pipes are not in the tree")
        #expect(d.decide(.open, path: "/d/d/f", read: true, write: false).allowed)
        // The program: a name too long for a key is refused, a pipe is not in the tree.
        let t = Tries(TierOneRules(d))
        #expect(!t.allows("/" + String(repeating: "d", count: 300), read: true, write: false, exec: false))
        #expect(t.allows("pipe:[123]", read: true, write: true, exec: false))
    }

    @Test func overlongRulesAreLeftOut() {
        let long = "/" + String(repeating: "d", count: 300)
        let t = TierOneRules(FileDecider(read: ["/usr", long], write: [], exec: nil))
        #expect(t.tooLong == [long] && t.fs.count == 1)
    }
}

/// TierOneRules writes the rights and keys lsm.bpf.c reads: the same numbers on both sides.
@Suite struct TierOneABITests {
    @Test func rightsAndKeySizeMatchTheBPFHeaders() {
        let abi = warden_host_abi()
        #expect(TierOneRules.read == abi.access_read)
        #expect(TierOneRules.write == abi.access_write)
        #expect(TierOneRules.connect == abi.access_connect)
        #expect(TierOneRules.maxKey == Int(abi.lpm_data))
    }
}
