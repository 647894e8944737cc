import Foundation
import Testing
@testable import WardenPolicy

/// Deterministic generator, so a failure reproduces from the printed seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of a randomised test: WARDEN_TEST_SEED when set (to repeat a failure), else
/// `fixed` when the test has one, else a fresh one. Printed, so every run can be repeated.
enum TestSeed {
    static func value(for test: String, fixed: UInt64? = nil) -> UInt64 {
        let given = ProcessInfo.processInfo.environment["WARDEN_TEST_SEED"].flatMap { UInt64($0) }
        let seed = given ?? fixed ?? UInt64.random(in: 0...UInt64.max)
        print("\(test): seed \(seed) (WARDEN_TEST_SEED=\(seed) repeats it)")
        return seed
    }
}

@Suite struct PolicyFuzzTests {
    static let corpus: [String] = [ParserTests.full, DefaultPolicy.toml]
        + BuildSystem.allCases.map(DefaultPolicy.starter(for:))

    static let tokens = [
        "[", "]", "[[", "]]", "=", "\"", "'", "'''", "\"\"\"", ".", ",", "{", "}", "\n", "#", "~", "/", "..", ":",
        "::", "[::1]:", "65536", "0", "-1", "true", "1979-05-27", "3.14", "mode", "fs", "net", "exec", "allow",
        "default", "allowed", "hosts", "write_extra", "read_extra", "env", "read", "syscall", "deny", "strict",
        "observe", "enforce", "allowlist", "\\u0000", "\\", "é", "\u{0}", "  ", "\t", "\r\n", "members", "root",
    ]

    func mutate(_ text: String, _ rng: inout SplitMix64) -> String {
        var s = Array(text.unicodeScalars)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let pos = s.isEmpty ? 0 : Int.random(in: 0..<s.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !s.isEmpty: s.remove(at: pos)
            case 1: s.insert(contentsOf: Self.tokens.randomElement(using: &rng)!.unicodeScalars, at: pos)
            case 2 where !s.isEmpty: s[pos] = Unicode.Scalar(UInt8.random(in: 0x20...0x7e, using: &rng))
            case 3:
                let lines = String(String.UnicodeScalarView(s)).split(separator: "\n", omittingEmptySubsequences: false)
                var l = lines.map(String.init)
                if l.count > 1 { l.swapAt(Int.random(in: 0..<l.count, using: &rng), Int.random(in: 0..<l.count, using: &rng)) }
                s = Array(l.joined(separator: "\n").unicodeScalars)
            case 4 where !s.isEmpty:
                let end = min(s.count, pos + Int.random(in: 1...40, using: &rng))
                s.insert(contentsOf: s[pos..<end], at: Int.random(in: 0...s.count, using: &rng))
            default:
                s.insert(contentsOf: "\n\(Self.tokens.randomElement(using: &rng)!) = \(Self.tokens.randomElement(using: &rng)!)\n".unicodeScalars, at: pos)
            }
        }
        return String(String.UnicodeScalarView(s))
    }

    /// 6000 mutated policies: parsing never crashes and ends in either a valid fragment
    /// whose values keep the schema's invariants, or an error naming the file and a line.
    @Test func mutatedPoliciesAreRejectedWithALocationOrAccepted() {
        let seed = TestSeed.value(for: "PolicyFuzzTests.mutatedPolicies", fixed: 0x5eed_0f_3a1d)
        var rng = SplitMix64(state: seed)
        var accepted = 0, rejected = 0
        for i in 0..<6000 {
            let seedText = Self.corpus[i % Self.corpus.count]
            let text = mutate(seedText, &rng)
            if let dump = ProcessInfo.processInfo.environment["WARDEN_FUZZ_DUMP"] { try? text.write(toFile: dump, atomically: false, encoding: .utf8) }
            do {
                let f = try PolicyParser(source: "fuzz.toml", home: "/home/f").parse(text)
                accepted += 1
                for p in f.fsReadExtra + f.fsWriteExtra { #expect(p.value.hasPrefix("/"), "case \(i), seed \(seed): \(p.value)") }
                for e in f.execAllowed { #expect(!e.value.isEmpty && (e.value.hasPrefix("/") || !e.value.contains("/"))) }
                for e in f.envRead { #expect(PolicyParser.isEnvPattern(e.value)) }
                for h in f.netHosts { #expect(h.value.port > 0) }
            } catch {
                rejected += 1
                #expect(error.file == "fuzz.toml")
                #expect(error.line != nil, "case \(i), seed \(seed), has no line: \(error)\n---\n\(text)")
                #expect(!error.message.isEmpty)
            }
        }
        // Both outcomes must actually be exercised for the test to mean anything.
        #expect(accepted > 100)
        #expect(rejected > 1000)
    }

    @Test func workspaceFilesToo() {
        let seed = TestSeed.value(for: "PolicyFuzzTests.workspaceFilesToo", fixed: 42)
        var rng = SplitMix64(state: seed)
        let base = "[root]\nmode = \"observe\"\nallow.exec.allowed = [\"make\"]\n[members.a]\nnet.default = \"allow\"\n[members.b.allow.net]\nhosts = [\"[::1]:80\"]\n"
        for i in 0..<2000 {
            let text = mutate(base, &rng)
            if let dump = ProcessInfo.processInfo.environment["WARDEN_FUZZ_DUMP"] { try? text.write(toFile: dump, atomically: false, encoding: .utf8) }
            do {
                _ = try WorkspacePolicy.parse(text, source: "ws.toml", home: nil)
            } catch {
                #expect(error.line != nil, "case \(i), seed \(seed), has no line: \(error)\n---\n\(text)")
            }
        }
    }
}
