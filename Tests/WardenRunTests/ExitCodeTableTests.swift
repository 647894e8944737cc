import Foundation
import Testing
import WardenRun

/// The README's exit-code table and `WardenExit` say the same: every code warden uses is
/// documented, and every single code the table lists is one warden uses.
@Suite struct ExitCodeTableTests {
    @Test func theREADMEDocumentsEveryCode() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try #require(text.range(of: "## Exit codes").map { text[$0.upperBound...] })
        let table = section.split(separator: "\n").drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        let codes: [Int32] = table.compactMap { row in
            row.split(separator: "|").first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        }
        #expect(Set(codes) == Set(WardenExit.all), "README lists \(codes), warden uses \(WardenExit.all)")
    }
}
