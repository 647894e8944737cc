import Foundation
import WardenBPF

/// A kernel's refusal of the tier-1 object, remembered for the rest of the boot: trying it
/// costs every enforced run a load of that object (a parse of the kernel's BTF and the
/// verifier) only to hear the same EPERM. Only a refusal is remembered, never a success,
/// so the hint can make a run claim less, never more: every layer claimed is still proven
/// by its canary. The key holds the boot id, the kernel release and the object's SHA-256:
/// after a reboot (another lsm= line) or with another object, the kernel is asked again.
struct ProbeHint {
    let path: String
    let key: String

    /// Nil when there is nothing sound to key on (no boot id, objects from
    /// WARDEN_BPF_DIST_DIR).
    init?(_ kind: BPFObject.Kind, environment: [String: String]) {
        guard environment[BPFObject.distDirVariable] == nil,
              let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        path = StateDirectory.root(environment: environment) + "/refused-\(kind.rawValue).hint"
        key = [boot.trimmingCharacters(in: .whitespacesAndNewlines), release, BPFObject.sha256Hex(kind.embedded)].joined(separator: " ")
    }

    /// Why the kernel refused the object earlier this boot, or nil. The file must be
    /// root's own regular file (the state root is root's, 0755).
    func refusal() -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == 0, st.st_mode & 0o022 == 0,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", maxSplits: 1)
        guard lines.count == 2, lines[0] == key else { return nil }
        return String(lines[1])
    }

    /// Remembers `why`; a failure to write only costs the next run a load.
    func remember(_ why: String, environment: [String: String]) {
        let root = StateDirectory.root(environment: environment)
        guard (try? StateDirectory.prepare(root, environment: environment)) != nil else { return }
        try? (key + "\n" + why).write(toFile: path, atomically: true, encoding: .utf8)
    }
}
