import ArgumentParser
import Foundation
import WardenPolicy
import WardenRun
import WardenSandbox

extension Warden.Seccomp {
    struct Groups: ParsableCommand, WardenCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the syscall groups [[syscall.rule]] names may use, resolved for x86_64 and aarch64.",
            discussion: "Each member is looked up in libseccomp's table for each architecture; a member an architecture lacks is skipped there when a filter is built.")

        @Option(help: "Only this architecture: x86_64 or aarch64.")
        var arch: String?

        @Flag(help: "JSON: one object per group with its members and, per architecture, their numbers.")
        var json = false

        struct Entry: Codable {
            var name: String
            var about: String
            var members: [String]
            /// architecture → call → number; calls the architecture lacks are absent.
            var numbers: [String: [String: Int32]]
        }

        func execute() throws(WardenFailure) -> Int32 {
            let arches = arch.map { [$0] } ?? Confinement.architectures
            if let bad = arches.first(where: { !Confinement.architectures.contains($0) }) {
                throw WardenFailure("--arch \(bad): warden resolves groups for \(Confinement.architectures.joined(separator: " and "))", code: WardenExit.usage)
            }
            let entries = SyscallGroups.all.map { g in
                let names = SyscallGroups.expand([g.name])
                let numbers = Dictionary(uniqueKeysWithValues: arches.map { a in
                    (a, Dictionary(uniqueKeysWithValues: names.compactMap { n in Confinement.syscallNumber(n, arch: a).map { (n, $0) } }))
                })
                return Entry(name: g.name, about: g.about, members: g.members, numbers: numbers)
            }
            if json {
                try writeJSON(entries, to: nil)
                return WardenExit.success
            }
            var out = ""
            for e in entries {
                out += "\(e.name)  \(e.about)\n  members: \(e.members.joined(separator: " "))\n"
                let all = SyscallGroups.expand([e.name])
                for a in arches {
                    let found = e.numbers[a] ?? [:]
                    let missing = all.filter { found[$0] == nil }
                    out += "  \(a): \(found.count) calls" + (missing.isEmpty ? "" : "; not on \(a): \(missing.joined(separator: " "))") + "\n"
                }
            }
            print(out, terminator: "")
            return WardenExit.success
        }
    }
}
