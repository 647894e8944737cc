import Testing
@testable import WardenPolicy

/// The tier-1 trie rules decide exactly as the agent's FileDecider (and so as Landlock's
/// accumulated rights) for every path: checked on fixed cases and on random trees.
@Suite struct TierOneTests {
    let decider = FileDecider(read: ["/", "/usr", "/home/u/proj"], write: ["/home/u/proj/target", "/dev/null"],
                              exec: ["/usr/bin/cc", "/home/u/proj/target"])

    func same(_ d: FileDecider, _ path: String, file: String = #fileID, line: Int = #line) {
        let t = TierOneRules(d)
        for (r, w) in [(true, false), (false, true), (true, true)] {
            #expect(t.allows(path, read: r, write: w, exec: false) == d.decide(.open, path: path, read: r, write: w).allowed, "\(path) r\(r) w\(w)")
        }
        #expect(t.allows(path, read: true, write: false, exec: true) == d.decide(.exec, path: path, read: true, write: false).allowed, "exec \(path)")
    }

    @Test func keysAreWholeComponents() {
        let t = TierOneRules(FileDecider(read: ["/usr"], write: [], exec: nil))
        #expect(t.allows("/usr/bin/cc", read: true, write: false, exec: false))
        #expect(t.allows("/usr", read: true, write: false, exec: false))
        #expect(!t.allows("/usrx/bin", read: true, write: false, exec: false))
        #expect(!t.allows("/us", read: true, write: false, exec: false))
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

    @Test func randomTreesAgree() {
        var rng = SystemRandomNumberGenerator()
        let names = ["a", "b", "ab", "c", "usr", "bin", "x"]
        func randomPath() -> String {
            "/" + (0..<Int.random(in: 0...4, using: &rng)).map { _ in names.randomElement(using: &rng)! }.joined(separator: "/")
        }
        for _ in 0..<300 {
            let read = (0..<Int.random(in: 0...4, using: &rng)).map { _ in randomPath() }
            let write = (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomPath() }
            let exec: [String]? = Bool.random(using: &rng) ? (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomPath() } : nil
            let d = FileDecider(read: Bool.random(using: &rng) ? read + write : nil, write: write, exec: exec)
            for _ in 0..<20 { same(FileDecider(read: d.read, write: d.read == nil ? nil : write, exec: exec), randomPath()) }
        }
    }

    @Test func pathsTheKernelCouldNotNameAreNeverCovered() {
        let d = FileDecider(read: ["/"], write: ["/"], exec: nil)
        #expect(!d.decide(.open, path: "?/d/d/f", read: true, write: false).allowed)
        #expect(d.decide(.open, path: "pipefs:", read: true, write: true).allowed, "pipes are not in the tree")
        #expect(d.decide(.open, path: "/d/d/f", read: true, write: false).allowed)
    }

    @Test func overlongRulesAreLeftOut() {
        let long = "/" + String(repeating: "d", count: 300)
        let t = TierOneRules(FileDecider(read: ["/usr", long], write: [], exec: nil))
        #expect(t.tooLong == [long] && t.fs.count == 1)
    }
}
