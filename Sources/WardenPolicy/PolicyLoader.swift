import Foundation
import TOMLKit

/// What the command line says about policy.
public struct PolicyInputs: Sendable {
    public var workspace: String
    public var policyFiles: [String] = []
    public var allow: [String] = []
    public var mode: Mode?
    public var member: String?
    public var home: String?
    public var environment: [String: String] = [:]
    /// Leave out `workspace.warden.toml` and the workspace's `warden.toml`.
    public var ignoreWorkspacePolicy = false

    public init(workspace: String) { self.workspace = workspace }
}

/// The outcome of discovery and merging: the policy plus where it came from.
public struct LoadedPolicy: Sendable {
    public var effective: EffectivePolicy
    /// Files merged, in order (the built-in default is always first).
    public var sources: [String]
    public var buildSystem: BuildSystem
    public var workspaceFile: String?
    public var member: String?
    /// The project's own `warden.toml`, if present: where reports point.
    public var policyFile: String?
    /// `syscall.oci_profile`, read and resolved for this machine.
    public var ociProfile: SeccompProfile?

    /// The seccomp filter the run installs (see `EffectivePolicy.seccompProfile`).
    public var seccompProfile: SeccompProfile? {
        effective.seccompProfile(ociProfile: ociProfile, arch: DockerProfile.Target.current.arch)
    }

    /// The seccomp filters the run installs, in order (see `EffectivePolicy.seccompFilters`).
    public var seccompFilters: [SeccompProfile] {
        effective.seccompFilters(ociProfile: ociProfile, arch: DockerProfile.Target.current.arch)
    }
}

public enum PolicyLoader {
    public static let fileName = "warden.toml"
    public static let workspaceFileName = "workspace.warden.toml"

    /// Merge order: built-in default → workspace [root] → workspace member → warden.toml
    /// → each --policy → --allow → --mode.
    public static func load(_ inputs: PolicyInputs) throws(PolicyError) -> LoadedPolicy {
        let fm = FileManager.default
        let names = Set((try? fm.contentsOfDirectory(atPath: inputs.workspace)) ?? [])
        let system = BuildSystem.detect(fileNames: names)
        var layers: [PolicyFragment] = []
        var sources = [DefaultPolicy.source]

        let (workspaceFile, workspaceLayers, member) = try workspacePolicy(inputs, system: system)
        layers += workspaceLayers
        if let workspaceFile { sources.append(workspaceFile) }

        if system == .cargo && !inputs.ignoreWorkspacePolicy {
            for (file, fragment) in try cargoMetadata(inputs) {
                layers.append(fragment)
                if !sources.contains(file) { sources.append(file) }
            }
        }

        let projectFile = inputs.workspace + "/" + fileName
        var policyFile: String?
        if !inputs.ignoreWorkspacePolicy && fm.fileExists(atPath: projectFile) {
            layers.append(try PolicyParser(source: projectFile, home: inputs.home).parse(try read(projectFile)))
            sources.append(projectFile)
            policyFile = projectFile
        }
        for file in inputs.policyFiles {
            layers.append(try PolicyParser(source: file, home: inputs.home).parse(try read(file)))
            sources.append(file)
            policyFile = policyFile ?? file
        }
        layers += try flagLayers(inputs)
        let effective = EffectivePolicy.merge(base: DefaultPolicy.fragment(), layers)
        try effective.checkSyscallRules()
        let oci = try effective.syscallOCIProfile.map { entry throws(PolicyError) in try loadSeccomp(entry) }
        return LoadedPolicy(effective: effective, sources: sources, buildSystem: system,
                            workspaceFile: workspaceFile, member: member, policyFile: policyFile, ociProfile: oci)
    }

    /// `workspace.warden.toml` (found upwards) and the member it names for this package or
    /// `--member`: the file, its layers, the member.
    static func workspacePolicy(_ inputs: PolicyInputs, system: BuildSystem) throws(PolicyError)
        -> (file: String?, layers: [PolicyFragment], member: String?)
    {
        guard let file = inputs.ignoreWorkspacePolicy ? nil : findUpwards(workspaceFileName, from: inputs.workspace) else {
            if let wanted = inputs.member {
                throw PolicyError(file: inputs.workspace + "/" + workspaceFileName,
                                  message: "--member '\(wanted)' given but no \(workspaceFileName) was found")
            }
            return (nil, [], nil)
        }
        let ws = try WorkspacePolicy.parse(try read(file), source: file, home: inputs.home)
        if let wanted = inputs.member {
            guard let m = ws.members[wanted] else {
                let known = ws.members.keys.sorted().joined(separator: ", ")
                throw PolicyError(file: file, key: "members.\(wanted)",
                                  message: "--member '\(wanted)' is not defined (members: \(known.isEmpty ? "none" : known))")
            }
            return (file, [ws.root, m], wanted)
        }
        if let name = packageName(in: inputs.workspace, system: system), let m = ws.members[name] {
            return (file, [ws.root, m], name)
        }
        return (file, [ws.root], nil)
    }

    /// What `--allow` and `--mode` say, as the last layers.
    static func flagLayers(_ inputs: PolicyInputs) throws(PolicyError) -> [PolicyFragment] {
        var layers: [PolicyFragment] = []
        if !inputs.allow.isEmpty {
            let parser = PolicyParser(source: "--allow", home: inputs.home)
            var f = PolicyFragment()
            for a in inputs.allow {
                let value = try parser.executable(a) { PolicyError(file: "--allow", key: a, message: $0) }
                f.execAllowed.append(Located(value, Provenance(source: "--allow")))
            }
            layers.append(f)
        }
        if let mode = inputs.mode {
            var f = PolicyFragment()
            f.mode = Located(mode, Provenance(source: "--mode"))
            layers.append(f)
        }
        return layers
    }

    /// `[workspace.metadata.warden]` from the nearest manifest at or above the workspace
    /// that has a `[workspace]` table, then `[package.metadata.warden]` from the package's.
    static func cargoMetadata(_ inputs: PolicyInputs) throws(PolicyError) -> [(String, PolicyFragment)] {
        var out: [(String, PolicyFragment)] = []
        for dir in directoryChain(from: inputs.workspace) {
            let manifest = (dir == "/" ? "" : dir) + "/Cargo.toml"
            guard let text = try? String(contentsOfFile: manifest, encoding: .utf8), text.contains("[workspace") else { continue }
            for (_, f) in try CargoMetadataPolicy.parse(text, source: manifest, home: inputs.home, only: ["workspace.metadata.warden"]) {
                out.append((manifest, f))
            }
            break
        }
        let manifest = inputs.workspace + "/Cargo.toml"
        if let text = try? String(contentsOfFile: manifest, encoding: .utf8) {
            for (_, f) in try CargoMetadataPolicy.parse(text, source: manifest, home: inputs.home, only: ["package.metadata.warden"]) {
                out.append((manifest, f))
            }
        }
        return out
    }

    /// Reads an OCI (or Docker) seccomp profile named by `syscall.oci_profile` and checks
    /// that every action and comparison in it can be compiled.
    public static func loadSeccomp(_ entry: Located<String>) throws(PolicyError) -> SeccompProfile {
        let text = try read(entry.value)
        let profile: SeccompProfile
        do {
            profile = try JSONDecoder().decode(DockerProfile.self, from: Data(text.utf8)).resolved(for: .current)
        } catch {
            throw PolicyError(file: entry.value, message: "not an OCI seccomp profile (named by syscall.oci_profile at \(entry.origin)): \(error)")
        }
        do {
            _ = try profile.compiled(observe: false)
        } catch {
            throw PolicyError(file: entry.value, message: "\(error) (profile named by syscall.oci_profile at \(entry.origin))")
        }
        return profile
    }

    static func read(_ path: String) throws(PolicyError) -> String {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let text = String(data: data, encoding: .utf8) else {
                throw PolicyError(file: path, message: "not UTF-8 text")
            }
            return text
        } catch let e as PolicyError {
            throw e
        } catch {
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? "\(error.localizedDescription)"
            let exists = FileManager.default.fileExists(atPath: path)
            throw PolicyError(file: path, message: exists ? "cannot read the file (\(reason))" : "no such file")
        }
    }

    static func findUpwards(_ name: String, from dir: String) -> String? {
        var url = URL(fileURLWithPath: dir).standardizedFileURL
        while true {
            let candidate = url.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return nil }
            url = parent
        }
    }

    /// The package name, to pick a workspace member: Cargo's [package] name, or the
    /// first `name:` argument of a SwiftPM manifest.
    public static func packageName(in dir: String, system: BuildSystem) -> String? {
        switch system {
        case .cargo:
            guard let text = try? String(contentsOfFile: dir + "/Cargo.toml", encoding: .utf8),
                  let table = try? TOMLTable(string: text) else { return nil }
            return table["package"]?.table?["name"]?.string
        case .swiftpm:
            guard let text = try? String(contentsOfFile: dir + "/Package.swift", encoding: .utf8),
                  let start = text.range(of: "Package(") else { return nil }
            let rest = text[start.upperBound...]
            guard let nameKey = rest.range(of: "name:") else { return nil }
            let after = rest[nameKey.upperBound...].drop(while: { $0 == " " || $0 == "\n" })
            guard after.first == "\"" else { return nil }
            return String(after.dropFirst().prefix(while: { $0 != "\"" }))
        case .make, .other:
            return nil
        }
    }
}
