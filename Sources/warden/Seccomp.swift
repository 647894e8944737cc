import ArgumentParser
import Foundation
import WardenPolicy
import WardenRun
import WardenSandbox

extension Warden {
    struct Seccomp: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export the policy's seccomp filter as an OCI profile, import one (Docker's format too), list the syscall groups.",
            subcommands: [Export.self, Import.self, Groups.self, Generate.self])

        struct Export: ParsableCommand, WardenCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write the effective seccomp filter as an OCI runtime-spec linux.seccomp object.")

            @OptionGroup var global: GlobalOptions

            @Option(help: "Output format; only oci.")
            var format = "oci"

            @Option(name: .long, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
            var output: String?

            func execute() throws(WardenFailure) -> Int32 {
                guard format == "oci" else { throw WardenFailure("--format \(format): only oci is supported", code: WardenExit.usage) }
                let session = try Session.load(global.policyOptions)
                // No filter at all is an allow-everything profile.
                let profile = session.policy.seccompProfile
                    ?? SeccompProfile(defaultAction: "SCMP_ACT_ALLOW", architectures: [DockerProfile.Target.current.arch], syscalls: [])
                try writeJSON(profile, to: output)
                return WardenExit.success
            }
        }

        struct Import: ParsableCommand, WardenCommand {
            static let configuration = CommandConfiguration(
                abstract: "Read an OCI or Docker seccomp profile, resolve it for warden's sandbox on this machine, and write a policy fragment using it.",
                discussion: """
                    Docker's conditions are resolved for the sandbox: no capabilities, this architecture, this \
                    kernel. The resolved profile is written to --profile-out and the fragment (a [syscall] table \
                    naming it) to --output or standard output; merge it with --policy or paste it into warden.toml.
                    """)

            @Argument(help: "The profile to read (JSON).")
            var file: String

            @Option(name: .long, help: ArgumentHelp("Where to write the resolved profile.", valueName: "file"))
            var profileOut = "warden-seccomp.json"

            @Option(name: .long, help: ArgumentHelp("Write the fragment here instead of standard output.", valueName: "file"))
            var output: String?

            func execute() throws(WardenFailure) -> Int32 {
                let cwd = FileManager.default.currentDirectoryPath
                func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
                let source = absolute(file)
                let profile: SeccompProfile
                do {
                    profile = try PolicyLoader.loadSeccomp(Located(source, Provenance(source: "warden seccomp import")))
                } catch {
                    throw WardenFailure(error.description, code: WardenExit.usage)
                }
                let names = Set((profile.syscalls ?? []).flatMap(\.names))
                let unknown = names.filter { !Confinement.isKnownSyscall($0) }.sorted()
                let target = absolute(profileOut)
                try writeJSON(profile, to: target)
                var fragment = "# Imported by `warden seccomp import` from \(source)\n"
                fragment += "# for \(profile.architectures?.joined(separator: ", ") ?? "this machine"), no capabilities: "
                fragment += "\(profile.syscalls?.count ?? 0) rules, default \(profile.defaultAction).\n"
                if !unknown.isEmpty {
                    fragment += "# Not system calls on this machine (skipped when the filter is built): \(unknown.joined(separator: ", "))\n"
                }
                fragment += "[syscall]\noci_profile = \"\(target)\"\n"
                if let output {
                    do {
                        try fragment.write(toFile: absolute(output), atomically: true, encoding: .utf8)
                    } catch {
                        throw WardenFailure("cannot write \(output): \(error.localizedDescription)", code: WardenExit.usage)
                    }
                } else {
                    print(fragment, terminator: "")
                }
                return WardenExit.success
            }
        }
    }
}

/// Pretty, key-sorted JSON, to a file or standard output.
func writeJSON<T: Encodable>(_ value: T, to path: String?) throws(WardenFailure) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    do {
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        if let path {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } else {
            try? FileHandle.standardOutput.write(contentsOf: data)
        }
    } catch {
        throw WardenFailure("cannot write \(path ?? "standard output"): \(error.localizedDescription)", code: WardenExit.usage)
    }
}
