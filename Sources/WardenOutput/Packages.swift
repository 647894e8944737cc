/// Which package a build script's or macro's events belong to. The kernel keeps, per
/// process, the tgid whose exec started its build script or macro (`origin`,
/// bpf/include/warden/classify.h); that exec's event names the program, and the program's
/// path names the package. This is the naming half, fed every event in ring order, so an
/// origin's exec arrives before anything its process or children do.
public struct PackageNames: Sendable {
    private var byOrigin: [UInt32: String] = [:]

    public init() {}

    /// The package `e` belongs to; learnt from `e` itself when it is the exec that started
    /// its unit (the first successful exec by the origin: later ones, such as a build
    /// script exec'ing a shell, do not rename it).
    public mutating func package(of e: WardenEvent) -> String? {
        guard e.origin != 0 else { return nil }
        if e.action == .exec, e.result == 0, e.tgid == e.origin, byOrigin[e.origin] == nil {
            byOrigin[e.origin] = PackageNames.name(program: e.pathOrAddr)
        }
        return byOrigin[e.origin]
    }

    /// The package a build-script, manifest or macro program belongs to, from its path:
    /// - Cargo: `target/<profile>/build/<crate>-<hash>/build-script-build` → crate;
    /// - SwiftPM manifests: `…/<package>-manifest` → package;
    /// - SwiftPM macros: `…/<target>-tool` → target; plugins: the program's name.
    public static func name(program path: String) -> String? {
        // "?…": the kernel could not name the whole path; its last part may be anything.
        guard !path.hasPrefix("?") else { return nil }
        let parts = path.split(separator: "/")
        guard let base = parts.last.map(String.init), !base.isEmpty else { return nil }
        if base.hasPrefix("build-script-") || base.hasPrefix("build_script_"), parts.count >= 3,
           parts[parts.count - 3] == "build", let crate = withoutHash(String(parts[parts.count - 2])) {
            return crate
        }
        for suffix in ["-manifest", "-tool"] where base.hasSuffix(suffix) && base.count > suffix.count {
            return String(base.dropLast(suffix.count))
        }
        return base
    }

    /// "serde-1a2b3c4d5e6f7a8b" → "serde": cargo's build directories end in a hex hash.
    static func withoutHash(_ dir: String) -> String? {
        guard let dash = dir.lastIndex(of: "-"), dash != dir.startIndex else { return nil }
        let hash = dir[dir.index(after: dash)...]
        guard hash.count >= 8, hash.allSatisfy(\.isHexDigit) else { return nil }
        return String(dir[..<dash])
    }
}
